// v2 -> FHIR: PID -> Patient (UK Core), PD1 -> generalPractitioner, MRG (A40) -> the merged
// Patient.
#include <algorithm>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapPatient(const CachedSegment& pid, std::size_t index) {
  mapped_[index] = true;
  has_patient_ = true;
  patient_id_ = NewId("Patient/PID");
  // Identifiers: the NHS number first (from whichever repetition of PID-3, or PID-2, carries
  // it), then every other identifier with its assigning authority. Each is written as it is read
  // (into one of two lists) and left out when an earlier one had the same system and value.
  JsonBuffer nhs_text;
  JsonBuffer others_text;
  JsonText nhs(nhs_text);
  JsonText others(others_text);
  bool all_have_system = true;
  // (system, value): systems are views that live as long as the mapping (IdentifierFacts). An
  // identifier without a system is told apart by its assigning authority (CX-4.1, written as
  // assigner.display): the same hospital number from two trusts is two identifiers.
  struct Seen {
    std::string_view system;
    std::string authority;
    std::string value;
  };
  std::vector<Seen> seen;
  seen.reserve(4);
  // PID-32 (identity reliability) carries the NHS number status in UK ITK messages: an extension
  // put first in the NHS number's Identifier.
  JsonBuffer verification;
  bool verification_read = false;
  const auto nhs_extension = [&]() -> std::string_view {
    if (!verification_read) {
      verification_read = true;
      for (const hl7v2::Value& rep : pid.Field(32).Repetitions()) {
        std::string scratch;
        const std::string_view code = V2Text(ComponentOf(rep, 1), scratch);
        if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kNhsNumberStatus, code)) {
          JsonText out(verification);
          out.Raw("\"extension\":[{\"url\":");
          out.String(kNhsVerificationExtensionUrl);
          out.Raw(",\"valueCodeableConcept\":{\"coding\":[");
          WriteCoding(out, row->fhir_system, row->fhir_code, row->fhir_display);
          out.Raw("]}}]");
          break;
        }
      }
    }
    return verification.view();
  };
  const auto add_cx = [&](const hl7v2::Value& cx, const std::string& location) {
    IdentifierFacts identifier;
    if (!ReadCx(ctx_, cx, location, identifier)) {
      return;
    }
    const bool is_nhs = identifier.system == core::kNhsNumberSystem;  // checked by ReadCx
    std::string authority;
    if (identifier.system.empty()) {
      std::string scratch;
      authority = V2Text(SubcomponentOf(identifier.assigner, 1), scratch);  // HD-1 of CX-4
    }
    if (std::any_of(seen.begin(), seen.end(), [&](const Seen& earlier) {
          return earlier.system == identifier.system && earlier.authority == authority &&
                 earlier.value == identifier.value;
        })) {
      return;
    }
    seen.push_back(Seen{identifier.system, std::move(authority), identifier.value});
    if (identifier.system.empty()) {
      all_have_system = false;
    }
    JsonText& out = is_nhs ? nhs : others;
    out.Element();
    WriteIdentifier(ctx_, out, identifier, is_nhs ? nhs_extension() : std::string_view());
  };
  std::size_t rep_index = 0;
  for (const hl7v2::Value& rep : pid.Field(3).Repetitions()) {
    ++rep_index;
    add_cx(rep, "PID-3(" + std::to_string(rep_index) + ")");
  }
  for (const hl7v2::Value& rep : pid.Field(2).Repetitions()) {
    add_cx(rep, "PID-2");
  }
  for (const hl7v2::Value& rep : pid.Field(4).Repetitions()) {
    add_cx(rep, "PID-4");
  }
  // PID-19 (SSN, US) and PID-20 (driver's licence) as the IG maps them.
  const auto add_plain = [&](const hl7v2::Value& value, std::string_view type,
                             std::string_view system) {
    std::string scratch;
    const std::string_view text = V2Text(value, scratch);
    if (text.empty()) {
      return;
    }
    IdentifierFacts identifier;
    identifier.value = std::string(text);
    identifier.system = system;  // a literal
    identifier.type = std::string(type);
    if (system.empty()) {
      all_have_system = false;
    }
    others.Element();
    WriteIdentifier(ctx_, others, identifier);
  };
  add_plain(pid.Field(19), "SB", "http://hl7.org/fhir/sid/us-ssn");
  add_plain(ComponentOf(pid.Field(20), 1), "DL", {});
  const bool has_identifiers = !nhs_text.empty() || !others_text.empty();
  if (!has_identifiers) {
    // PID-3 is required in v2, and the broker routes patients by identifier.
    ctx_.Fail(
        MakeError(ErrorCode::kRequiredFieldMissing, "the patient has no identifier", "PID-3"));
  }
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "Patient", patient_id_);
  if (all_have_system && has_identifiers) {
    out.Raw(",\"meta\":{\"profile\":[");
    out.String(kUkCorePatientProfile);
    out.Raw("]}");
  }
  // Extensions: mother's maiden name (the birth time extends birthDate, below).
  {
    const std::size_t extensions = out.Key("\"extension\":");
    out.Put('[');
    std::string scratch;
    const std::string_view maiden =
        V2Text(SubcomponentOf(ComponentOf(pid.Field(6), 1), 1), scratch);
    if (!maiden.empty()) {
      out.Element();
      out.Raw("{\"url\":");
      out.String(kMothersMaidenNameUrl);
      out.Raw(",\"valueString\":");
      out.String(maiden);
      out.Put('}');
    }
    out.CloseOrDrop(extensions, ']');
  }
  if (has_identifiers) {
    out.Raw(",\"identifier\":[");
    out.Raw(nhs_text.view());
    if (!nhs_text.empty() && !others_text.empty()) {
      out.Put(',');
    }
    out.Raw(others_text.view());
    out.Put(']');
  }
  const auto list = [&](std::string_view quoted_key, auto&& write_items) {
    const std::size_t mark = out.Key(quoted_key);
    out.Put('[');
    write_items();
    out.CloseOrDrop(mark, ']');
  };
  list("\"name\":", [&] {
    for (const hl7v2::Value& rep : pid.Field(5).Repetitions()) {
      out.Item([&] { WriteHumanName(ctx_, out, rep); });
    }
  });
  list("\"telecom\":", [&] {
    for (const hl7v2::Value& rep : pid.Field(13).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "home"); });
    }
    for (const hl7v2::Value& rep : pid.Field(14).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "work"); });
    }
    for (const hl7v2::Value& rep : pid.Field(40).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "home"); });
    }
  });
  {
    std::string scratch;
    WriteMappedCode(ctx_, out, "gender", KnownTable::kAdministrativeGender,
                    V2Text(ComponentOf(pid.Field(8), 1), scratch), "HL70001");
  }
  out.Member("\"birthDate\":",
             [&] { WriteTime(ctx_, out, pid.Field(7), FhirTimeType::kDate, "PID-7"); });
  {
    // IG PID rows 12-13: a time of birth is the patient-birthTime extension of birthDate itself
    // (_birthDate), where FHIR -> v2 and every other reader look for it.
    std::string birth_scratch;
    const hl7v2::Value birth = pid.Field(7);
    if (HasTimeOfDay(V2Text(ComponentOf(birth, 1), birth_scratch))) {
      const std::size_t member = out.Key("\"_birthDate\":{\"extension\":[{\"url\":");
      out.String(kBirthTimeUrl);
      out.Raw(",\"valueDateTime\":");
      const std::size_t value_start = out.Mark();
      WriteTime(ctx_, out, birth, FhirTimeType::kDateTime, "PID-7");
      if (out.Mark() == value_start) {
        out.Rollback(member);
      } else {
        out.Raw("}]}");
      }
    }
  }
  if (!out.Member("\"deceasedDateTime\":", [&] {
        WriteTime(ctx_, out, pid.Field(29), FhirTimeType::kDateTime, "PID-29");
      })) {
    std::string scratch;
    const std::string_view flag = V2Text(pid.Field(30), scratch);
    if (flag == "Y" || flag == "N") {
      out.Key("\"deceasedBoolean\":");
      out.Raw(flag == "Y" ? "true" : "false");
    }
  }
  list("\"address\":", [&] {
    for (const hl7v2::Value& rep : pid.Field(11).Repetitions()) {
      out.Item([&] { WriteAddress(ctx_, out, rep); });
    }
  });
  {
    std::string scratch;
    const hl7v2::Value marital = pid.Field(16);
    std::string text_scratch;
    out.Member("\"maritalStatus\":", [&] {
      WriteTableCodeableConcept(ctx_, out, KnownTable::kMaritalStatus,
                                V2Text(ComponentOf(marital, 1), scratch),
                                V2Text(ComponentOf(marital, 2), text_scratch), "HL70002");
    });
  }
  {
    std::string scratch;
    const std::string_view multiple = V2Text(pid.Field(24), scratch);
    std::string order_scratch;
    const auto order = CanonicalDecimal(V2Text(pid.Field(25), order_scratch));
    if (order && order->find('.') == std::string::npos && *order != "0" && order->front() != '-') {
      out.Key("\"multipleBirthInteger\":");
      out.Raw(*order);
    } else if (multiple == "Y" || multiple == "N") {
      out.Key("\"multipleBirthBoolean\":");
      out.Raw(multiple == "Y" ? "true" : "false");
    }
  }
  {
    const std::size_t communication = out.Key("\"communication\":[{\"language\":");
    const std::size_t value_start = out.Mark();
    WriteCweCodeableConcept(ctx_, out, pid.Field(15));
    if (out.Mark() == value_start) {
      out.Rollback(communication);
    } else {
      out.Raw(",\"preferred\":true}]");
    }
  }
  patient_entry_ = entries_.size();
  entries_.push_back(Entry{patient_id_, std::move(text), {}, {}});
  focus_.push_back(patient_id_);
}

void Mapper::MapPd1(const CachedSegment& pd1) {
  if (!has_patient_) {
    return;
  }
  std::vector<ResourceId> ids;
  ids.reserve(4);
  for (const hl7v2::Value& rep : pd1.Field(3).Repetitions()) {
    ResourceId id = OrganizationForXon(rep);
    if (!id.empty()) {
      ids.push_back(std::move(id));
    }
  }
  for (const hl7v2::Value& rep : pd1.Field(4).Repetitions()) {
    ResourceId id = PractitionerFor(rep);
    if (!id.empty()) {
      ids.push_back(std::move(id));
    }
  }
  if (ids.empty()) {
    return;
  }
  JsonText out(entries_[patient_entry_].text);
  out.Key("\"generalPractitioner\":");
  out.Put('[');
  for (const ResourceId& id : ids) {
    out.Element();
    WriteReference(out, id);
  }
  out.Put(']');
}

void Mapper::MapMerge(const CachedSegment& mrg) {
  // A40: the surviving record (PID) replaces the record named in MRG-1, which is kept as its own
  // Patient, inactive, pointing at the survivor.
  const ResourceId old_id = NewId("Patient/MRG");
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "Patient", old_id);
  {
    const std::size_t identifiers = out.Key("\"identifier\":");
    out.Put('[');
    const auto add = [&](std::size_t field, const char* location) {
      for (const hl7v2::Value& rep : mrg.Field(field).Repetitions()) {
        out.Item([&] {
          IdentifierFacts identifier;
          if (ReadCx(ctx_, rep, location, identifier)) {
            WriteIdentifier(ctx_, out, identifier);
          }
        });
      }
    };
    add(1, "MRG-1");
    add(2, "MRG-2");
    if (!out.CloseOrDrop(identifiers, ']')) {
      ctx_.Fail(MakeError(ErrorCode::kRequiredFieldMissing, "the merged record has no identifier",
                          "MRG-1"));
    }
  }
  out.Raw(",\"active\":false");
  {
    const std::size_t names = out.Key("\"name\":");
    out.Put('[');
    for (const hl7v2::Value& rep : mrg.Field(7).Repetitions()) {
      out.Item([&] { WriteHumanName(ctx_, out, rep); });
    }
    out.CloseOrDrop(names, ']');
  }
  out.Raw(",\"link\":[{\"other\":");
  WriteReference(out, patient_id_);
  out.Raw(",\"type\":\"replaced-by\"}]");
  {
    JsonText survivor(entries_[patient_entry_].text);
    survivor.Key("\"link\":[{\"other\":");
    WriteReference(survivor, old_id);
    survivor.Raw(",\"type\":\"replaces\"}]");
  }
  entries_.push_back(Entry{old_id, std::move(text), {}, {}});
  focus_.push_back(old_id);
}

}  // namespace tb::mappings::v2fhir
