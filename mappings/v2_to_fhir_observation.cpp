// v2 -> FHIR: OBX -> Observation (value by OBX-2).
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

namespace {

// OBX-4 -> the observation-v2-subid extension (IG OG[Extension-Subidentifier]), a complex
// extension shaped like OG: original-sub-identifier (OG-1; all of OBX-4 before v2.8.2, where it
// is an ST), group (OG-2) and sequence (OG-3) as decimals, identifier (OG-4). The broker does not
// know a sender's OBX-4 conventions well enough to build partOf/hasMember from it, so it passes
// the sub-id on (the IG's rule for that case): it is what ties a susceptibility to its organism.
void WriteSubIdExtension(V2MapContext& ctx, JsonText& out, const hl7v2::Value& og) {
  if (!og.HasValue()) {
    return;
  }
  const std::size_t element = out.Element();
  out.Raw("{\"url\":");
  out.String(kObservationSubIdUrl);
  out.Raw(",\"extension\":[");
  const std::size_t parts_start = out.Mark();
  const auto text_part = [&](std::size_t n, std::string_view name) {
    std::string scratch;
    const std::string_view text = V2Text(ComponentOf(og, n), scratch);
    if (!text.empty()) {
      out.Element();
      out.Raw(name);
      out.Raw(",\"valueString\":");
      out.String(text);
      out.Put('}');
    }
  };
  const auto decimal_part = [&](std::size_t n, std::string_view name) {
    std::string scratch;
    const std::string_view text = V2Text(ComponentOf(og, n), scratch);
    if (text.empty()) {
      return;
    }
    const std::optional<std::string> number = CanonicalDecimal(text);
    if (!number) {
      ctx.Lossy(MakeError(ErrorCode::kInvalidValue, "OG group or sequence is not a number",
                          n == 2 ? "OBX-4.2" : "OBX-4.3"));
      return;
    }
    out.Element();
    out.Raw(name);
    out.Raw(",\"valueDecimal\":");
    out.Raw(*number);
    out.Put('}');
  };
  text_part(1, "{\"url\":\"original-sub-identifier\"");
  decimal_part(2, "{\"url\":\"group\"");
  decimal_part(3, "{\"url\":\"sequence\"");
  text_part(4, "{\"url\":\"identifier\"");
  if (out.Mark() == parts_start) {
    out.Rollback(element);
    return;
  }
  out.Raw("]}");
}

// The text of one repetition of OBX-5. A value whose type has no components (ST, TX, FT, ...)
// may still arrive with separators; its parts are joined with spaces, never passed through as
// the wire's '^' and '&' (which FHIR -> v2 would then escape as text). `formatted` renders FT/TX
// formatting escapes (\.br\ -> line break).
void AppendText(std::string& text, const hl7v2::Value& rep, bool formatted) {
  const hl7v2::Encoding& encoding = rep.encoding();
  const std::string_view raw = rep.raw();
  const bool composite =
      (encoding.component != '\0' && raw.find(encoding.component) != std::string_view::npos) ||
      (encoding.subcomponent != '\0' && raw.find(encoding.subcomponent) != std::string_view::npos);
  if (!composite) {
    if (formatted) {
      text.append(rep.Text());
    } else {
      std::string scratch;
      text.append(V2Text(rep, scratch));
    }
    return;
  }
  bool first = true;
  for (const hl7v2::Value& component : rep.Components()) {
    for (const hl7v2::Value& part : component.Subcomponents()) {
      std::string scratch;
      const std::string piece = formatted ? part.Text() : std::string(V2Text(part, scratch));
      if (piece.empty()) {
        continue;
      }
      if (!first) {
        text.push_back(' ');
      }
      first = false;
      text.append(piece);
    }
  }
}

// v2 TM (HH[MM[SS[.S...]]]) -> FHIR time (hh:mm:ss[.s...], which has no zone); nullopt for
// anything else, a time with an offset included (kept as text by the caller).
std::optional<std::string> V2TimeOfDay(std::string_view tm) {
  const auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string_view whole = tm;
  std::string_view fraction;
  if (const std::size_t dot = tm.find('.'); dot != std::string_view::npos) {
    whole = tm.substr(0, dot);
    fraction = tm.substr(dot + 1);
    if (fraction.empty() || !digits(fraction) || whole.size() != 6) {
      return std::nullopt;
    }
  }
  if ((whole.size() != 2 && whole.size() != 4 && whole.size() != 6) || !digits(whole)) {
    return std::nullopt;
  }
  const auto number = [&](std::size_t at) {
    return at < whole.size() ? (whole[at] - '0') * 10 + (whole[at + 1] - '0') : 0;
  };
  if (number(0) > 23 || number(2) > 59 || number(4) > 59) {
    return std::nullopt;
  }
  std::string out;
  out.append(whole.substr(0, 2)).push_back(':');
  out.append(whole.size() >= 4 ? whole.substr(2, 2) : "00").push_back(':');
  out.append(whole.size() >= 6 ? whole.substr(4, 2) : "00");
  if (!fraction.empty()) {
    out.push_back('.');
    out.append(fraction);
  }
  return out;
}

}  // namespace

std::size_t Mapper::MapObservation(const CachedSegment& obx, std::size_t index,
                                   const CachedSegment* obr) {
  const ResourceId id = NewId("Observation/OBX", index);
  // The members after the id. The extensions (OBX-4's sub-id, an ED or RP value) go before them
  // and the components (a repeating OBX-5) after them; each is known only when its field is read,
  // so they are written apart.
  JsonBuffer body;
  JsonBuffer extension;  // the elements of Observation.extension
  JsonBuffer component;  // the elements of Observation.component
  JsonText out(body);
  JsonText ext(extension);
  WriteSubIdExtension(ctx_, ext, obx.Field(4));
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
  // The value, by OBX-2. A result is never dropped: every repetition is mapped (see below), and
  // what FHIR has no room for keeps the segment verbatim too.
  {
    std::string type_scratch;
    const std::string_view type = V2Text(obx.Field(2), type_scratch);
    const hl7v2::Value value = obx.Field(5);
    const hl7v2::Value units = obx.Field(6);
    std::size_t reps = 0;
    std::size_t present = 0;
    hl7v2::Value first_present;
    for (const hl7v2::Value& rep : value.Repetitions()) {
      ++reps;
      if (rep.HasValue() && present++ == 0) {
        first_present = rep;
      }
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
          AppendText(text, rep, formatted);
        }
      }
      return text;
    };
    // One value[x] member of the object `into` is writing, from one repetition; false when
    // nothing was written.
    const auto write_one = [&](JsonText& into, const hl7v2::Value& rep) -> bool {
      if (type == "SN") {
        return WriteSnValue(ctx_, into, rep, units);
      }
      if (type == "CE" || type == "CWE" || type == "CNE") {
        return into.Member("\"valueCodeableConcept\":",
                           [&] { WriteCweCodeableConcept(ctx_, into, rep); });
      }
      if (type == "TM") {
        std::string scratch;
        const std::string_view tm = V2Text(ComponentOf(rep, 1), scratch);
        if (const std::optional<std::string> time = V2TimeOfDay(tm)) {
          into.StringMember("\"valueTime\":", *time);
        } else {
          into.StringMember("\"valueString\":", tm);  // with an offset, or not a time
        }
        return !tm.empty();
      }
      return into.Member("\"valueDateTime\":", [&] {
        WriteTime(ctx_, into, rep, FhirTimeType::kDateTime, "OBX-5");
      });  // DT, DTM, TS
    };
    // ED and RP: R4 Observation.value[x] has no Attachment; the R5 cross-version extension
    // carries it (IG OBX-5 rows for ED and RP). It holds one value: further repetitions keep
    // the segment verbatim.
    const auto write_attachment =
        [&](void (*write)(V2MapContext&, JsonText&, const hl7v2::Value&)) {
          bool written = false;
          for (const hl7v2::Value& rep : value.Repetitions()) {
            if (!rep.HasValue()) {
              continue;
            }
            if (written) {
              ctx_.KeepVerbatim();
              break;
            }
            const std::size_t element = ext.Element();
            ext.Raw("{\"url\":");
            ext.String(kObservationValueR5Url);
            ext.Raw(",\"valueAttachment\":");
            const std::size_t value_start = ext.Mark();
            write(ctx_, ext, rep);
            if (ext.Mark() == value_start) {
              ext.Rollback(element);
            } else {
              ext.Put('}');
              written = true;
            }
          }
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
      } else if (In(type, {"SN", "CE", "CWE", "CNE", "DT", "DTM", "TS", "TM"})) {
        if (present == 1) {
          write_one(out, first_present);
        } else if (present > 1) {
          // value[x] holds one value: each repetition (two organisms grown, say) is a component
          // with the observation's code, so none is dropped.
          JsonText components(component);
          for (const hl7v2::Value& rep : value.Repetitions()) {
            if (!rep.HasValue()) {
              continue;
            }
            const std::size_t element = components.Element();
            components.Put('{');
            WriteRequiredCode(components, obx.Field(3));
            if (write_one(components, rep)) {
              components.Put('}');
            } else {
              components.Rollback(element);
            }
          }
        }
      } else if (type == "TX" || type == "FT") {
        out.StringMember("\"valueString\":", join_reps(true));
      } else if (type == "ED") {
        write_attachment(&WriteEdAttachment);
      } else if (type == "RP") {
        write_attachment(&WriteRpAttachment);
      } else {
        // ST and anything else (ID, IS, ...) is kept as text.
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
  if (!component.empty()) {
    out.Key("\"component\":[");
    out.Raw(component.view());
    out.Put(']');
  }
  JsonBuffer text;
  JsonText resource(text);
  BeginResource(resource, "Observation", id);
  if (!extension.empty()) {
    resource.Raw(",\"extension\":[");
    resource.Raw(extension.view());
    resource.Put(']');
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
