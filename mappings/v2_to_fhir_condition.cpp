// v2 -> FHIR: DG1 -> Condition and Encounter.diagnosis.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapDiagnosis(const CachedSegment& dg1, std::size_t index) {
  const std::string id = NewId("Condition/DG1[" + std::to_string(index) + "]");
  Value condition(kObjectType);
  Value identifiers(kArrayType);
  ctx_.Push(identifiers, EiToIdentifier(ctx_, dg1.Field(20)));
  ctx_.Put(condition, "identifier", std::move(identifiers));
  {
    Value categories(kArrayType);
    Value category(kObjectType);
    Value codings(kArrayType);
    codings.PushBack(CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/condition-category",
                                 "encounter-diagnosis", "Encounter Diagnosis"),
                     alloc());
    category.AddMember("coding", codings, alloc());
    categories.PushBack(category, alloc());
    condition.AddMember("category", categories, alloc());
  }
  {
    // DG1-4 is the text when DG1-3 gives none.
    std::string scratch;
    ctx_.Put(condition, "code",
             CweToCodeableConcept(ctx_, dg1.Field(3), V2Text(dg1.Field(4), scratch)));
  }
  condition.AddMember("subject", Reference(patient_id_), alloc());
  if (has_encounter_) {
    condition.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  ctx_.Put(condition, "onsetDateTime",
           TimeValue(ctx_, dg1.Field(5), FhirTimeType::kDateTime, "DG1-5"));
  ctx_.Put(condition, "recordedDate",
           TimeValue(ctx_, dg1.Field(19), FhirTimeType::kDateTime, "DG1-19"));
  {
    const std::string asserter = PractitionerFor(dg1.Field(16).Repetition(1));
    if (!asserter.empty()) {
      condition.AddMember("asserter", Reference(asserter), alloc());
    }
  }
  AddResource("Condition", id, std::move(condition));
  if (has_encounter_) {
    Value& encounter = entries_[encounter_entry_].resource;
    if (!encounter.HasMember("diagnosis")) {
      encounter.AddMember("diagnosis", Value(kArrayType), alloc());
    }
    Value diagnosis(kObjectType);
    diagnosis.AddMember("condition", Reference(id), alloc());
    std::string s6, s6t;
    const hl7v2::Value type = dg1.Field(6);
    ctx_.Put(diagnosis, "use",
             TableCodeableConcept(ctx_, KnownTable::kDiagnosisRole, V2Text(type.Component(1), s6),
                                  V2Text(type.Component(2), s6t), "HL70052"));
    std::string s15;
    const auto rank = CanonicalDecimal(V2Text(dg1.Field(15), s15));
    if (rank && rank->find('.') == std::string::npos && *rank != "0" && rank->front() != '-') {
      diagnosis.AddMember("rank", ctx_.Number(*rank), alloc());
    }
    encounter["diagnosis"].PushBack(diagnosis, alloc());
  }
}

}  // namespace tb::mappings::v2fhir
