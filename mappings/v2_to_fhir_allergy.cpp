// v2 -> FHIR: AL1 -> AllergyIntolerance.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapAllergy(const CachedSegment& al1, std::size_t index) {
  Value allergy(kObjectType);
  {
    Value clinical(kObjectType);
    Value codings(kArrayType);
    codings.PushBack(
        CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "active", "Active"),
        alloc());
    clinical.AddMember("coding", codings, alloc());
    allergy.AddMember("clinicalStatus", clinical, alloc());
  }
  std::string s2;
  const std::string_view allergen_type = V2Text(al1.Field(2).Component(1), s2);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyType, allergen_type)) {
    allergy.AddMember("type", ctx_.Str(row->fhir_code), alloc());
  }
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCategory, allergen_type)) {
    Value categories(kArrayType);
    categories.PushBack(ctx_.Str(row->fhir_code), alloc());
    allergy.AddMember("category", categories, alloc());
  } else if (!allergen_type.empty()) {
    PutMappedCode(ctx_, allergy, "type", KnownTable::kAllergyType, allergen_type, "HL70127");
  }
  std::string s4;
  const std::string_view severity = V2Text(al1.Field(4).Component(1), s4);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCriticality, severity)) {
    allergy.AddMember("criticality", ctx_.Str(row->fhir_code), alloc());
  }
  ctx_.Put(allergy, "code", CweToCodeableConcept(ctx_, al1.Field(3)));
  allergy.AddMember("patient", Reference(patient_id_), alloc());
  if (has_encounter_) {
    allergy.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  ctx_.Put(allergy, "onsetDateTime",
           TimeValue(ctx_, al1.Field(6), FhirTimeType::kDateTime, "AL1-6"));
  Value manifestations(kArrayType);
  for (const hl7v2::Value& rep : al1.Field(5).Repetitions()) {
    Value text = ctx_.Str(rep);
    if (text.IsNull()) {
      continue;
    }
    Value cc(kObjectType);
    cc.AddMember("text", text, alloc());
    manifestations.PushBack(cc, alloc());
  }
  if (!manifestations.Empty()) {
    Value reaction(kObjectType);
    reaction.AddMember("manifestation", manifestations, alloc());
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReactionSeverity, severity)) {
      reaction.AddMember("severity", ctx_.Str(row->fhir_code), alloc());
    }
    Value reactions(kArrayType);
    reactions.PushBack(reaction, alloc());
    allergy.AddMember("reaction", reactions, alloc());
  }
  AddResource("AllergyIntolerance", NewId("AllergyIntolerance/AL1[" + std::to_string(index) + "]"),
              std::move(allergy));
}

}  // namespace tb::mappings::v2fhir
