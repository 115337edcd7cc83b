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
  Value encounter(kObjectType);
  const std::string status = EncounterStatus(pv1);
  encounter.AddMember("status", ctx_.Str(status), alloc());
  {
    std::string scratch;
    const std::string_view patient_class = V2Text(pv1.Field(2).Component(1), scratch);
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kEncounterClass, patient_class)) {
      encounter.AddMember(
          "class", CodingValue(ctx_, row->fhir_system, row->fhir_code, row->fhir_display), alloc());
    } else if (!patient_class.empty()) {
      encounter.AddMember("class", CodingValue(ctx_, ctx_.SystemUri("HL70004"), patient_class, {}),
                          alloc());
    } else {
      encounter.AddMember("class",
                          CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                      "UNK", "unknown"),
                          alloc());
    }
  }
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : pv1.Field(19).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "PV1-19", "VN"));  // visit number
  }
  ctx_.Put(encounter, "identifier", std::move(identifiers));
  {
    std::string scratch;
    Value types(kArrayType);
    ctx_.Push(types,
              TableCodeableConcept(ctx_, KnownTable::kAdmissionType,
                                   V2Text(pv1.Field(4).Component(1), scratch), {}, "HL70007"));
    ctx_.Put(encounter, "type", std::move(types));
  }
  {
    std::string scratch;
    std::string text_scratch;
    const hl7v2::Value service = pv1.Field(10);
    const std::string_view code = V2Text(service.Component(1), scratch);
    if (!code.empty()) {
      Value cc(kObjectType);
      Value codings(kArrayType);
      ctx_.Push(codings, CodingValue(ctx_, ctx_.SystemUri("HL70069"), code,
                                     V2Text(service.Component(2), text_scratch)));
      cc.AddMember("coding", codings, alloc());
      encounter.AddMember("serviceType", cc, alloc());
    }
  }
  encounter.AddMember("subject", Reference(patient_id_), alloc());
  Value participants(kArrayType);
  const auto add_participants = [&](std::size_t field, std::string_view code,
                                    std::string_view display) {
    for (const hl7v2::Value& rep : pv1.Field(field).Repetitions()) {
      const std::string id = PractitionerFor(rep);
      if (id.empty()) {
        continue;
      }
      Value participant(kObjectType);
      Value types(kArrayType);
      Value type(kObjectType);
      Value codings(kArrayType);
      codings.PushBack(CodingValue(ctx_, kParticipationTypeSystem, code, display), alloc());
      type.AddMember("coding", codings, alloc());
      types.PushBack(type, alloc());
      participant.AddMember("type", types, alloc());
      participant.AddMember("individual", Reference(id), alloc());
      participants.PushBack(participant, alloc());
    }
  };
  add_participants(7, "ATND", "attender");
  add_participants(8, "REF", "referrer");
  add_participants(9, "CON", "consultant");
  add_participants(17, "ADM", "admitter");
  ctx_.Put(encounter, "participant", std::move(participants));
  {
    Value period(kObjectType);
    ctx_.Put(period, "start", TimeValue(ctx_, pv1.Field(44), FhirTimeType::kDateTime, "PV1-44"));
    ctx_.Put(period, "end", TimeValue(ctx_, pv1.Field(45), FhirTimeType::kDateTime, "PV1-45"));
    ctx_.Put(encounter, "period", std::move(period));
  }
  if (pv2) {
    Value reasons(kArrayType);
    ctx_.Push(reasons, CweToCodeableConcept(ctx_, pv2->Field(3)));
    ctx_.Put(encounter, "reasonCode", std::move(reasons));
  }
  {
    Value hospitalization(kObjectType);
    Value pre_admission = CxToIdentifier(ctx_, pv1.Field(5), "PV1-5");
    ctx_.Put(hospitalization, "preAdmissionIdentifier", std::move(pre_admission));
    const auto v2_concept = [&](std::size_t field, std::string_view table) {
      std::string scratch;
      std::string text_scratch;
      const hl7v2::Value value = pv1.Field(field);
      const std::string_view code = V2Text(value.Component(1), scratch);
      if (code.empty()) {
        return Value();
      }
      Value cc(kObjectType);
      Value codings(kArrayType);
      codings.PushBack(
          CodingValue(ctx_, ctx_.SystemUri(table), code, V2Text(value.Component(2), text_scratch)),
          alloc());
      cc.AddMember("coding", codings, alloc());
      return cc;
    };
    ctx_.Put(hospitalization, "admitSource", v2_concept(14, "HL70023"));
    ctx_.Put(hospitalization, "reAdmission", v2_concept(13, "HL70092"));
    Value diets(kArrayType);
    ctx_.Push(diets, CweToCodeableConcept(ctx_, pv1.Field(38)));
    ctx_.Put(hospitalization, "dietPreference", std::move(diets));
    ctx_.Put(hospitalization, "dischargeDisposition", v2_concept(36, "HL70112"));
    ctx_.Put(encounter, "hospitalization", std::move(hospitalization));
  }
  {
    Value locations(kArrayType);
    const auto add_location = [&](const hl7v2::Value& pl, std::string_view location_status) {
      std::string display;
      const std::string id = LocationFor(pl, &display);
      if (id.empty()) {
        return;
      }
      Value entry(kObjectType);
      entry.AddMember("location", Reference(id, display), alloc());
      entry.AddMember("status", Lit(location_status), alloc());
      locations.PushBack(entry, alloc());
    };
    add_location(pv1.Field(3), status == "finished" ? "completed" : "active");
    add_location(pv1.Field(6), "completed");
    ctx_.Put(encounter, "location", std::move(locations));
  }
  {
    const std::string provider = OrganizationForHd(Msh(4));
    if (!provider.empty()) {
      encounter.AddMember("serviceProvider", Reference(provider), alloc());
    }
  }
  encounter_entry_ = entries_.size();
  AddResource("Encounter", encounter_id_, std::move(encounter));
  focus_.push_back(encounter_id_);
}

}  // namespace tb::mappings::v2fhir
