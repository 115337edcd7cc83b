// v2 -> FHIR: OBR (in ORU^R01) -> DiagnosticReport.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

// HL7 table 0074 (diagnostic service section): the laboratory sections, and the imaging ones.
bool IsLabSection(std::string_view section) {
  return In(section, {"LAB", "CH", "HM",  "IMM", "MB", "MCB", "MYC", "PAR", "SR",  "TX", "VR",
                      "SP",  "CP", "BLB", "HLA", "CG", "URN", "OSL", "BG",  "CUS", "EN", "SC"});
}

bool IsImagingSection(std::string_view section) {
  return In(section, {"RAD", "RX", "CT", "MR", "NMR", "US", "XRC", "NMS", "RUS", "VUS", "OUS"});
}

std::size_t Mapper::MapObservationRequest(const CachedSegment& obr, std::size_t index) {
  const ResourceId id = NewId("DiagnosticReport/OBR", index);
  Value report(kObjectType);
  Value identifiers(kArrayType);
  const auto order_identifier = [&](std::size_t field, std::string_view type) {
    Value identifier = EiToIdentifier(ctx_, obr.Field(field), type);
    if (!identifier.IsNull()) {
      identifiers.PushBack(identifier, alloc());
    }
  };
  order_identifier(2, "PLAC");
  order_identifier(3, "FILL");
  ctx_.Put(report, "identifier", std::move(identifiers));
  {
    std::string scratch;
    const std::string_view status = V2Text(obr.Field(25), scratch);
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReportStatus, status)) {
      report.AddMember("status", ctx_.Str(row->fhir_code), alloc());
    } else {
      report.AddMember("status", Lit("unknown"), alloc());
      PutMappedCode(ctx_, report, "status", KnownTable::kReportStatus, status, "HL70123");
    }
  }
  {
    std::string scratch;
    const std::string_view section = V2Text(obr.Field(24), scratch);
    std::string_view category;
    if (IsLabSection(section) || (section.empty() && kind_ == MessageKind::kOru)) {
      category = "LAB";
    } else if (IsImagingSection(section)) {
      category = "RAD";
    }
    Value categories(kArrayType);
    if (!category.empty() || !section.empty()) {
      Value cc(kObjectType);
      Value codings(kArrayType);
      if (!category.empty()) {
        codings.PushBack(
            CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0074", category, {}),
            alloc());
      }
      if (!section.empty() && section != category) {
        codings.PushBack(
            CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0074", section, {}),
            alloc());
      }
      cc.AddMember("coding", codings, alloc());
      categories.PushBack(cc, alloc());
    }
    ctx_.Put(report, "category", std::move(categories));
  }
  Value code = CweToCodeableConcept(ctx_, obr.Field(4));
  if (code.IsNull()) {
    code = AbsentCode();  // OBR-4 is required in v2; say so rather than drop the report
  }
  report.AddMember("code", code, alloc());
  if (has_patient_) {
    report.AddMember("subject", Reference(patient_id_), alloc());
  }
  if (has_encounter_) {
    report.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  {
    Value start = TimeValue(ctx_, obr.Field(7), FhirTimeType::kDateTime, "OBR-7");
    Value end = TimeValue(ctx_, obr.Field(8), FhirTimeType::kDateTime, "OBR-8");
    if (!end.IsNull()) {
      Value period(kObjectType);
      ctx_.Put(period, "start", std::move(start));
      period.AddMember("end", end, alloc());
      report.AddMember("effectivePeriod", period, alloc());
    } else {
      ctx_.Put(report, "effectiveDateTime", std::move(start));
    }
  }
  ctx_.Put(report, "issued", TimeValue(ctx_, obr.Field(22), FhirTimeType::kInstant, "OBR-22"));
  {
    Value performers(kArrayType);
    for (const hl7v2::Value& rep : obr.Field(32).Repetitions()) {
      // NDL: the first component is a CNN (id & family & given ...).
      const hl7v2::Value cnn = rep.Component(1);
      if (!cnn.HasValue()) {
        continue;
      }
      Value practitioner(kObjectType);
      Value names(kArrayType);
      Value name(kObjectType);
      ctx_.Put(name, "family", ctx_.Str(cnn.Subcomponent(2)));
      Value given(kArrayType);
      ctx_.Push(given, ctx_.Str(cnn.Subcomponent(3)));
      ctx_.Put(name, "given", std::move(given));
      ctx_.Push(names, std::move(name));
      ctx_.Put(practitioner, "name", std::move(names));
      ResourceId pid;
      if (const ResourceId* found = FindDedup("Practitioner/cnn/", cnn.raw())) {
        pid = *found;
      } else if (practitioner.MemberCount() > 0) {
        pid = NewId(key_);
        AddResource("Practitioner", pid, std::move(practitioner));
        dedup_.push_back(Dedup{"Practitioner/cnn/", cnn.raw(), pid});
      }
      if (!pid.empty()) {
        performers.PushBack(Reference(pid), alloc());
      }
    }
    ctx_.Put(report, "resultsInterpreter", std::move(performers));
  }
  const std::size_t entry = entries_.size();
  AddResource("DiagnosticReport", id, std::move(report));
  focus_.push_back(id);
  return entry;
}

}  // namespace tb::mappings::v2fhir
