// v2 -> FHIR: DG1 -> Condition and Encounter.diagnosis.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapDiagnosis(const CachedSegment& dg1, std::size_t index) {
  const ResourceId id = NewId("Condition/DG1", index);
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "Condition", id);
  out.Member("\"identifier\":", [&] {
    out.Put('[');
    WriteEiIdentifier(ctx_, out, dg1.Field(20));
    out.Put(']');
  });
  out.Raw(",\"category\":[{\"coding\":[");
  WriteCoding(out, "http://terminology.hl7.org/CodeSystem/condition-category",
              "encounter-diagnosis", "Encounter Diagnosis");
  out.Raw("]}]");
  {
    // DG1-4 is the text when DG1-3 gives none.
    std::string scratch;
    out.Member("\"code\":", [&] {
      WriteCweCodeableConcept(ctx_, out, dg1.Field(3), V2Text(dg1.Field(4), scratch));
    });
  }
  out.Key("\"subject\":");
  WriteReference(out, patient_id_);
  WriteEncounterReference(out);
  out.Member("\"onsetDateTime\":",
             [&] { WriteTime(ctx_, out, dg1.Field(5), FhirTimeType::kDateTime, "DG1-5"); });
  out.Member("\"recordedDate\":",
             [&] { WriteTime(ctx_, out, dg1.Field(19), FhirTimeType::kDateTime, "DG1-19"); });
  {
    const ResourceId asserter = PractitionerFor(dg1.Field(16).Repetition(1));
    if (!asserter.empty()) {
      out.Key("\"asserter\":");
      WriteReference(out, asserter);
    }
  }
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  if (has_encounter_) {
    // Encounter.diagnosis, added to the Encounter when the Bundle is assembled.
    JsonText diagnosis(diagnoses_);
    diagnosis.Element();
    diagnosis.Raw("{\"condition\":");
    WriteReference(diagnosis, id);
    std::string s6, s6t;
    const hl7v2::Value type = dg1.Field(6);
    diagnosis.Member("\"use\":", [&] {
      WriteTableCodeableConcept(ctx_, diagnosis, KnownTable::kDiagnosisRole,
                                V2Text(ComponentOf(type, 1), s6), V2Text(ComponentOf(type, 2), s6t),
                                "HL70052");
    });
    std::string s15;
    const auto rank = CanonicalDecimal(V2Text(dg1.Field(15), s15));
    if (rank && rank->find('.') == std::string::npos && *rank != "0" && rank->front() != '-') {
      diagnosis.Key("\"rank\":");
      diagnosis.Raw(*rank);
    }
    diagnosis.Put('}');
  }
}

}  // namespace tb::mappings::v2fhir
