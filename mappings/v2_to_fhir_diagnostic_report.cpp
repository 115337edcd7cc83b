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
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "DiagnosticReport", id);
  {
    const std::size_t identifiers = out.Key("\"identifier\":");
    out.Put('[');
    out.Item([&] { WriteEiIdentifier(ctx_, out, obr.Field(2), "PLAC"); });
    out.Item([&] { WriteEiIdentifier(ctx_, out, obr.Field(3), "FILL"); });
    out.CloseOrDrop(identifiers, ']');
  }
  {
    std::string scratch;
    const std::string_view status = V2Text(obr.Field(25), scratch);
    out.Key("\"status\":");
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReportStatus, status)) {
      out.StringOrNull(row->fhir_code);
    } else {
      out.Raw("\"unknown\"");
      WriteMappedCode(ctx_, out, "status", KnownTable::kReportStatus, status, "HL70123");
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
    if (!category.empty() || !section.empty()) {
      out.Key("\"category\":[{\"coding\":[");
      if (!category.empty()) {
        out.Element();
        WriteCoding(out, "http://terminology.hl7.org/CodeSystem/v2-0074", category, {});
      }
      if (!section.empty() && section != category) {
        out.Element();
        WriteCoding(out, "http://terminology.hl7.org/CodeSystem/v2-0074", section, {});
      }
      out.Raw("]}]");
    }
  }
  WriteRequiredCode(out, obr.Field(4));  // required in v2: absent, not dropped
  if (has_patient_) {
    out.Key("\"subject\":");
    WriteReference(out, patient_id_);
  }
  WriteEncounterReference(out);
  {
    JsonBuffer start;
    JsonBuffer end;
    {
      JsonText start_out(start);
      WriteTime(ctx_, start_out, obr.Field(7), FhirTimeType::kDateTime, "OBR-7");
      JsonText end_out(end);
      WriteTime(ctx_, end_out, obr.Field(8), FhirTimeType::kDateTime, "OBR-8");
    }
    if (!end.empty()) {
      out.Key("\"effectivePeriod\":{");
      if (!start.empty()) {
        out.Raw("\"start\":");
        out.Raw(start.view());
      }
      out.Key("\"end\":");
      out.Raw(end.view());
      out.Put('}');
    } else if (!start.empty()) {
      out.Key("\"effectiveDateTime\":");
      out.Raw(start.view());
    }
  }
  out.Member("\"issued\":",
             [&] { WriteTime(ctx_, out, obr.Field(22), FhirTimeType::kInstant, "OBR-22"); });
  {
    const std::size_t performers = out.Key("\"resultsInterpreter\":");
    out.Put('[');
    for (const hl7v2::Value& rep : obr.Field(32).Repetitions()) {
      // NDL: the first component is a CNN (id & family & given ...).
      const hl7v2::Value cnn = ComponentOf(rep, 1);
      if (!cnn.HasValue()) {
        continue;
      }
      JsonBuffer practitioner;
      {
        JsonText name(practitioner);
        name.Raw("\"name\":[{");
        std::string family_scratch;
        name.StringMember("\"family\":", V2Text(SubcomponentOf(cnn, 2), family_scratch));
        const std::size_t given = name.Key("\"given\":");
        name.Put('[');
        std::string given_scratch;
        name.StringElement(V2Text(SubcomponentOf(cnn, 3), given_scratch));
        name.CloseOrDrop(given, ']');
        if (name.CloseOrDrop(0, '}')) {
          name.Put(']');
        }
      }
      ResourceId pid;
      if (const ResourceId* found = FindDedup("Practitioner/cnn/", cnn.raw())) {
        pid = *found;
      } else if (!practitioner.empty()) {
        pid = NewId(key_);
        JsonBuffer resource;
        JsonText resource_out(resource);
        BeginResource(resource_out, "Practitioner", pid);
        resource_out.Put(',');
        resource_out.Raw(practitioner.view());
        entries_.push_back(Entry{pid, std::move(resource), {}, {}});
        dedup_.push_back(Dedup{"Practitioner/cnn/", cnn.raw(), pid});
      }
      if (!pid.empty()) {
        out.Element();
        WriteReference(out, pid);
      }
    }
    out.CloseOrDrop(performers, ']');
  }
  const std::size_t entry = entries_.size();
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  focus_.push_back(id);
  return entry;
}

}  // namespace tb::mappings::v2fhir
