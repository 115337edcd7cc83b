// v2 -> FHIR: PV1 (+ PV2) -> Encounter.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

std::string Mapper::EncounterStatus(const CachedSegment& pv1) const {
  std::string status;
  if (const CodeMapRow* row =
          ctx_.tables().Get(KnownTable::kEventEncounterStatus).FindV2(trigger_)) {
    status = row->fhir_code;
  }
  if (status.empty() || status == "unknown") {
    // The event does not say (A08, A28, A31, A40, ORU): read it from the visit.
    if (pv1.Field(45).HasValue()) {
      status = "finished";
    } else if (pv1.Field(44).HasValue()) {
      status = "in-progress";
    } else {
      status = "unknown";
    }
  }
  return status;
}

void Mapper::MapEncounter(const CachedSegment& pv1, const CachedSegment* pv2) {
  encounter_id_ = NewId("Encounter/PV1");
  has_encounter_ = true;
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "Encounter", encounter_id_);
  const std::string status = EncounterStatus(pv1);
  out.StringMember("\"status\":", status);
  {
    std::string scratch;
    const std::string_view patient_class = V2Text(ComponentOf(pv1.Field(2), 1), scratch);
    out.Key("\"class\":");
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kEncounterClass, patient_class)) {
      WriteCoding(out, row->fhir_system, row->fhir_code, row->fhir_display);
    } else if (!patient_class.empty()) {
      WriteV2Coding(ctx_, out, "HL70004", patient_class, {});
    } else {
      WriteCoding(out, "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK", "unknown");
    }
  }
  const auto list = [&](std::string_view quoted_key, auto&& write_items) {
    const std::size_t mark = out.Key(quoted_key);
    out.Put('[');
    write_items();
    out.CloseOrDrop(mark, ']');
  };
  list("\"identifier\":", [&] {
    for (const hl7v2::Value& rep : pv1.Field(19).Repetitions()) {
      out.Item([&] {
        IdentifierFacts identifier;
        if (ReadCx(ctx_, rep, "PV1-19", identifier)) {
          WriteIdentifier(ctx_, out, identifier, {}, "VN");  // a visit number
        }
      });
    }
  });
  {
    std::string scratch;
    list("\"type\":", [&] {
      out.Item([&] {
        WriteTableCodeableConcept(ctx_, out, KnownTable::kAdmissionType,
                                  V2Text(ComponentOf(pv1.Field(4), 1), scratch), {}, "HL70007");
      });
    });
  }
  // A CodeableConcept of one coding: CE code and text in a v2 table's system.
  const auto v2_concept = [&](const hl7v2::Value& value, std::string_view table) {
    std::string scratch;
    std::string text_scratch;
    const std::string_view code = V2Text(ComponentOf(value, 1), scratch);
    if (code.empty()) {
      return;
    }
    out.Raw("{\"coding\":[");
    WriteV2Coding(ctx_, out, table, code, V2Text(ComponentOf(value, 2), text_scratch));
    out.Raw("]}");
  };
  out.Member("\"serviceType\":", [&] { v2_concept(pv1.Field(10), "HL70069"); });
  out.Key("\"subject\":");
  WriteReference(out, patient_id_);
  list("\"participant\":", [&] {
    const auto add_participants = [&](std::size_t field, std::string_view code,
                                      std::string_view display) {
      for (const hl7v2::Value& rep : pv1.Field(field).Repetitions()) {
        const ResourceId id = PractitionerFor(rep);
        if (id.empty()) {
          continue;
        }
        out.Element();
        out.Raw("{\"type\":[{\"coding\":[");
        WriteCoding(out, kParticipationTypeSystem, code, display);
        out.Raw("]}],\"individual\":");
        WriteReference(out, id);
        out.Put('}');
      }
    };
    add_participants(7, "ATND", "attender");
    add_participants(8, "REF", "referrer");
    add_participants(9, "CON", "consultant");
    add_participants(17, "ADM", "admitter");
  });
  out.Member("\"period\":", [&] {
    out.Put('{');
    out.Member("\"start\":",
               [&] { WriteTime(ctx_, out, pv1.Field(44), FhirTimeType::kDateTime, "PV1-44"); });
    out.Member("\"end\":",
               [&] { WriteTime(ctx_, out, pv1.Field(45), FhirTimeType::kDateTime, "PV1-45"); });
    out.Put('}');
  });
  if (pv2) {
    list("\"reasonCode\":",
         [&] { out.Item([&] { WriteCweCodeableConcept(ctx_, out, pv2->Field(3)); }); });
  }
  out.Member("\"hospitalization\":", [&] {
    out.Put('{');
    out.Member("\"preAdmissionIdentifier\":", [&] {
      IdentifierFacts identifier;
      if (ReadCx(ctx_, pv1.Field(5), "PV1-5", identifier)) {
        WriteIdentifier(ctx_, out, identifier);
      }
    });
    out.Member("\"admitSource\":", [&] { v2_concept(pv1.Field(14), "HL70023"); });
    out.Member("\"reAdmission\":", [&] { v2_concept(pv1.Field(13), "HL70092"); });
    list("\"dietPreference\":",
         [&] { out.Item([&] { WriteCweCodeableConcept(ctx_, out, pv1.Field(38)); }); });
    out.Member("\"dischargeDisposition\":", [&] { v2_concept(pv1.Field(36), "HL70112"); });
    out.Put('}');
  });
  list("\"location\":", [&] {
    const auto add_location = [&](const hl7v2::Value& pl, std::string_view location_status) {
      std::string display;
      const ResourceId id = LocationFor(pl, &display);
      if (id.empty()) {
        return;
      }
      out.Element();
      out.Raw("{\"location\":");
      WriteReference(out, id, display);
      out.Raw(",\"status\":");
      out.String(location_status);
      out.Put('}');
    };
    add_location(pv1.Field(3), status == "finished" ? "completed" : "active");
    add_location(pv1.Field(6), "completed");
  });
  {
    const ResourceId provider = OrganizationForHd(Msh(4));
    if (!provider.empty()) {
      out.Key("\"serviceProvider\":");
      WriteReference(out, provider);
    }
  }
  encounter_entry_ = entries_.size();
  entries_.push_back(Entry{encounter_id_, std::move(text), {}, {}});
  focus_.push_back(encounter_id_);
}

}  // namespace tb::mappings::v2fhir
