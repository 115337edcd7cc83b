// v2 -> FHIR: NK1 -> RelatedPerson.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapNextOfKin(const CachedSegment& nk1, std::size_t index) {
  Value person(kObjectType);
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(33).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "NK1-33"));
  }
  ctx_.Put(person, "identifier", std::move(identifiers));
  person.AddMember("patient", Reference(patient_id_), alloc());
  Value relationships(kArrayType);
  {
    std::string s1, s2;
    const hl7v2::Value rel = nk1.Field(3);
    ctx_.Push(relationships,
              TableCodeableConcept(ctx_, KnownTable::kRelationship, V2Text(rel.Component(1), s1),
                                   V2Text(rel.Component(2), s2), "HL70063"));
  }
  {
    std::string s1, s2;
    const hl7v2::Value role = nk1.Field(7);
    ctx_.Push(relationships,
              TableCodeableConcept(ctx_, KnownTable::kContactRole, V2Text(role.Component(1), s1),
                                   V2Text(role.Component(2), s2), "HL70131"));
  }
  ctx_.Put(person, "relationship", std::move(relationships));
  Value names(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(2).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  if (names.Empty()) {
    for (const hl7v2::Value& rep : nk1.Field(30).Repetitions()) {
      ctx_.Push(names, XpnToHumanName(ctx_, rep));
    }
  }
  ctx_.Put(person, "name", std::move(names));
  Value telecom(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(5).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  for (const hl7v2::Value& rep : nk1.Field(6).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "work"));
  }
  for (const hl7v2::Value& rep : nk1.Field(40).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  ctx_.Put(person, "telecom", std::move(telecom));
  {
    std::string scratch;
    PutMappedCode(ctx_, person, "gender", KnownTable::kAdministrativeGender,
                  V2Text(nk1.Field(15).Component(1), scratch), "HL70001");
  }
  ctx_.Put(person, "birthDate", TimeValue(ctx_, nk1.Field(16), FhirTimeType::kDate, "NK1-16"));
  Value addresses(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(4).Repetitions()) {
    ctx_.Push(addresses, XadToAddress(ctx_, rep));
  }
  ctx_.Put(person, "address", std::move(addresses));
  {
    Value period(kObjectType);
    ctx_.Put(period, "start", TimeValue(ctx_, nk1.Field(8), FhirTimeType::kDateTime, "NK1-8"));
    ctx_.Put(period, "end", TimeValue(ctx_, nk1.Field(9), FhirTimeType::kDateTime, "NK1-9"));
    ctx_.Put(person, "period", std::move(period));
  }
  {
    Value language = CweToCodeableConcept(ctx_, nk1.Field(20));
    if (!language.IsNull()) {
      Value communication(kObjectType);
      communication.AddMember("language", language, alloc());
      Value list(kArrayType);
      list.PushBack(communication, alloc());
      person.AddMember("communication", list, alloc());
    }
  }
  AddResource("RelatedPerson", NewId("RelatedPerson/NK1[" + std::to_string(index) + "]"),
              std::move(person));
}

}  // namespace tb::mappings::v2fhir
