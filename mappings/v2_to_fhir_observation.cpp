// v2 -> FHIR: OBX -> Observation (value by OBX-2).
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

std::size_t Mapper::MapObservation(const CachedSegment& obx, std::size_t index,
                                   const CachedSegment* obr) {
  const ResourceId id = NewId("Observation/OBX", index);
  // The members after the id; an ED value's extension goes before them, and is known only when
  // the value is read, so it is written apart.
  JsonBuffer body;
  JsonBuffer extension;
  JsonText out(body);
  const auto list = [&](std::string_view quoted_key, auto&& write_items) {
    const std::size_t mark = out.Key(quoted_key);
    out.Put('[');
    write_items();
    out.CloseOrDrop(mark, ']');
  };
  list("\"identifier\":", [&] { out.Item([&] { WriteEiIdentifier(ctx_, out, obx.Field(21)); }); });
  {
    std::string scratch;
    const std::string_view status = V2Text(obx.Field(11), scratch);
    out.Key("\"status\":");
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kObservationStatus, status)) {
      out.StringOrNull(row->fhir_code);
    } else {
      out.Raw("\"unknown\"");
      WriteMappedCode(ctx_, out, "status", KnownTable::kObservationStatus, status, "HL70085");
    }
  }
  if (kind_ == MessageKind::kOru && obr != nullptr) {
    std::string scratch;
    const std::string_view section = V2Text(obr->Field(24), scratch);
    if (section.empty() || IsLabSection(section)) {
      out.Key("\"category\":[{\"coding\":[");
      WriteCoding(out, "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                  "Laboratory");
      out.Raw("]}]");
    }
  }
  WriteRequiredCode(out, obx.Field(3));  // required in v2: the value stays, the code is flagged
  if (has_patient_) {
    out.Key("\"subject\":");
    WriteReference(out, patient_id_);
  }
  WriteEncounterReference(out);
  if (!out.Member(
          "\"effectiveDateTime\":",
          [&] { WriteTime(ctx_, out, obx.Field(14), FhirTimeType::kDateTime, "OBX-14"); }) &&
      obr != nullptr) {
    out.Member("\"effectiveDateTime\":",
               [&] { WriteTime(ctx_, out, obr->Field(7), FhirTimeType::kDateTime, "OBR-7"); });
  }
  list("\"performer\":", [&] {
    for (const hl7v2::Value& rep : obx.Field(16).Repetitions()) {
      const ResourceId pid = PractitionerFor(rep);
      if (!pid.empty()) {
        out.Element();
        WriteReference(out, pid);
      }
    }
    for (const hl7v2::Value& rep : obx.Field(23).Repetitions()) {
      const ResourceId oid = OrganizationForXon(rep);
      if (!oid.empty()) {
        out.Element();
        WriteReference(out, oid);
      }
    }
  });
  // The value, by OBX-2.
  {
    std::string type_scratch;
    const std::string_view type = V2Text(obx.Field(2), type_scratch);
    const hl7v2::Value value = obx.Field(5);
    const hl7v2::Value units = obx.Field(6);
    std::size_t reps = 0;
    for (const hl7v2::Value& rep : value.Repetitions()) {
      (void)rep;
      ++reps;
    }
    const auto join_reps = [&](bool formatted) {
      std::string text;
      bool first = true;
      for (const hl7v2::Value& rep : value.Repetitions()) {
        if (!first) {
          text.push_back(formatted ? '\n' : ' ');
        }
        first = false;
        if (rep.HasValue()) {
          if (formatted) {
            text.append(rep.Text());
          } else {
            std::string scratch;
            text.append(V2Text(rep, scratch));
          }
        }
      }
      return text;
    };
    if (value.HasValue()) {
      if (type == "NM") {
        std::string scratch;
        const bool quantity = reps == 1 && out.Member("\"valueQuantity\":", [&] {
          WriteNmQuantity(ctx_, out, V2Text(value, scratch), units);
        });
        if (!quantity) {
          out.StringMember("\"valueString\":", join_reps(false));
        }
      } else if (type == "SN") {
        WriteSnValue(ctx_, out, value.Repetition(1), units);
      } else if (type == "CE" || type == "CWE" || type == "CNE") {
        out.Member("\"valueCodeableConcept\":",
                   [&] { WriteCweCodeableConcept(ctx_, out, value.Repetition(1)); });
      } else if (type == "DT" || type == "DTM" || type == "TS") {
        out.Member("\"valueDateTime\":", [&] {
          WriteTime(ctx_, out, value.Repetition(1), FhirTimeType::kDateTime, "OBX-5");
        });
      } else if (type == "TX" || type == "FT") {
        out.StringMember("\"valueString\":", join_reps(true));
      } else if (type == "ED") {
        JsonText ext(extension);
        ext.Raw("\"extension\":[{\"url\":");
        ext.String(kObservationValueR5Url);
        ext.Raw(",\"valueAttachment\":");
        const std::size_t value_start = ext.Mark();
        WriteEdAttachment(ctx_, ext, value.Repetition(1));
        if (ext.Mark() == value_start) {
          ext.Rollback(0);
        } else {
          ext.Raw("}]");
        }
      } else {
        // ST and anything else (RP, ID, IS, TM, ...) is kept as text.
        out.StringMember("\"valueString\":", join_reps(false));
      }
    }
  }
  list("\"interpretation\":", [&] {
    for (const hl7v2::Value& rep : obx.Field(8).Repetitions()) {
      std::string s1, s2;
      out.Item([&] {
        WriteTableCodeableConcept(ctx_, out, KnownTable::kInterpretation,
                                  V2Text(ComponentOf(rep, 1), s1), V2Text(ComponentOf(rep, 2), s2),
                                  "HL70078");
      });
    }
  });
  {
    std::string scratch;
    const std::string_view text = V2Text(obx.Field(7), scratch);
    if (!text.empty()) {
      out.Key("\"referenceRange\":[{");
      const std::size_t dash = text.find('-', 1);
      if (dash != std::string_view::npos) {
        const auto low = CanonicalDecimal(text.substr(0, dash));
        const auto high = CanonicalDecimal(text.substr(dash + 1));
        if (low && high) {
          const hl7v2::Value units = obx.Field(6);
          out.Raw("\"low\":{\"value\":");
          out.Raw(*low);
          WriteUnits(ctx_, out, units);
          out.Raw("},\"high\":{\"value\":");
          out.Raw(*high);
          WriteUnits(ctx_, out, units);
          out.Put('}');
        }
      }
      out.Key("\"text\":");
      out.String(text);
      out.Raw("}]");
    }
  }
  out.Member("\"method\":", [&] { WriteCweCodeableConcept(ctx_, out, obx.Field(17)); });
  out.Member("\"bodySite\":", [&] { WriteCweCodeableConcept(ctx_, out, obx.Field(20)); });
  JsonBuffer text;
  JsonText resource(text);
  BeginResource(resource, "Observation", id);
  if (!extension.empty()) {
    resource.Put(',');
    resource.Raw(extension.view());
  }
  if (!body.empty()) {
    resource.Put(',');
    resource.Raw(body.view());
  }
  const std::size_t entry = entries_.size();
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  return entry;
}

}  // namespace tb::mappings::v2fhir
