// v2 -> FHIR: AL1 -> AllergyIntolerance.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapAllergy(const CachedSegment& al1, std::size_t index) {
  const ResourceId id = NewId("AllergyIntolerance/AL1", index);
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "AllergyIntolerance", id);
  out.Raw(",\"clinicalStatus\":{\"coding\":[");
  WriteCoding(out, "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active",
              "Active");
  out.Raw("]}");
  std::string s2;
  const std::string_view allergen_type = V2Text(ComponentOf(al1.Field(2), 1), s2);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyType, allergen_type)) {
    out.Key("\"type\":");
    out.StringOrNull(row->fhir_code);
  }
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCategory, allergen_type)) {
    out.Key("\"category\":[");
    out.StringOrNull(row->fhir_code);
    out.Put(']');
  } else if (!allergen_type.empty()) {
    WriteMappedCode(ctx_, out, "type", KnownTable::kAllergyType, allergen_type, "HL70127");
  }
  std::string s4;
  const std::string_view severity = V2Text(ComponentOf(al1.Field(4), 1), s4);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCriticality, severity)) {
    out.Key("\"criticality\":");
    out.StringOrNull(row->fhir_code);
  }
  out.Member("\"code\":", [&] { WriteCweCodeableConcept(ctx_, out, al1.Field(3)); });
  out.Key("\"patient\":");
  WriteReference(out, patient_id_);
  WriteEncounterReference(out);
  out.Member("\"onsetDateTime\":",
             [&] { WriteTime(ctx_, out, al1.Field(6), FhirTimeType::kDateTime, "AL1-6"); });
  {
    const std::size_t reaction = out.Key("\"reaction\":[{\"manifestation\":[");
    for (const hl7v2::Value& rep : al1.Field(5).Repetitions()) {
      std::string scratch;
      const std::string_view manifestation = V2Text(rep, scratch);
      if (manifestation.empty()) {
        continue;
      }
      out.Element();
      out.Raw("{\"text\":");
      out.String(manifestation);
      out.Put('}');
    }
    if (out.CloseOrDrop(reaction, ']')) {
      if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReactionSeverity, severity)) {
        out.Key("\"severity\":");
        out.StringOrNull(row->fhir_code);
      }
      out.Raw("}]");
    }
  }
  entries_.push_back(Entry{id, std::move(text), {}, {}});
}

}  // namespace tb::mappings::v2fhir
