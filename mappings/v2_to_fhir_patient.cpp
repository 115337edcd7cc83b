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
  Value patient(kObjectType);
  // Identifiers: the NHS number first (from whichever repetition of PID-3, or PID-2, carries
  // it), then every other identifier with its assigning authority.
  Value nhs(kArrayType);
  Value others(kArrayType);
  bool all_have_system = true;
  std::vector<std::pair<std::string, std::string>> seen;
  const auto add_cx = [&](const hl7v2::Value& cx, const std::string& location) {
    Value identifier = CxToIdentifier(ctx_, cx, location);
    if (identifier.IsNull()) {
      return;
    }
    const std::string system(fhir::FindString(identifier, "system").value_or(""));
    std::string value(identifier["value"].GetString(), identifier["value"].GetStringLength());
    if (system == core::kNhsNumberSystem) {
      value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
      if (!core::IsValidNhsNumber(value)) {
        ctx_.Fail(MakeError(ErrorCode::kInvalidValue,
                            "NHS number is not 10 digits with a valid Modulus 11 check digit",
                            location));
        return;
      }
      identifier["value"] = ctx_.Str(value);
    }
    if (std::find(seen.begin(), seen.end(), std::make_pair(system, value)) != seen.end()) {
      return;
    }
    seen.emplace_back(system, value);
    if (system.empty()) {
      all_have_system = false;
    }
    if (system == core::kNhsNumberSystem) {
      // PID-32 (identity reliability) carries the NHS number status in UK ITK messages.
      for (const hl7v2::Value& rep : pid.Field(32).Repetitions()) {
        std::string scratch;
        const std::string_view code = V2Text(rep.Component(1), scratch);
        if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kNhsNumberStatus, code)) {
          Value coding = CodingValue(ctx_, row->fhir_system, row->fhir_code, row->fhir_display);
          Value codings(kArrayType);
          codings.PushBack(coding, alloc());
          Value concept_value(kObjectType);
          concept_value.AddMember("coding", codings, alloc());
          Value extension(kObjectType);
          extension.AddMember("url", Lit(kNhsVerificationExtensionUrl), alloc());
          extension.AddMember("valueCodeableConcept", concept_value, alloc());
          Value extensions(kArrayType);
          extensions.PushBack(extension, alloc());
          Value with_extension(kObjectType);
          with_extension.AddMember("extension", extensions, alloc());
          MoveMembers(identifier, with_extension, alloc());
          identifier = std::move(with_extension);
          break;
        }
      }
      nhs.PushBack(identifier, alloc());
    } else {
      others.PushBack(identifier, alloc());
    }
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
    Value identifier(kObjectType);
    identifier.AddMember(
        "type", TableCodeableConcept(ctx_, KnownTable::kIdentifierType, type, {}, "HL70203"),
        alloc());
    ctx_.Put(identifier, "system", ctx_.Str(system));
    identifier.AddMember("value", ctx_.Str(text), alloc());
    if (system.empty()) {
      all_have_system = false;
    }
    others.PushBack(identifier, alloc());
  };
  add_plain(pid.Field(19), "SB", "http://hl7.org/fhir/sid/us-ssn");
  add_plain(pid.Field(20).Component(1), "DL", {});
  if (nhs.Empty() && others.Empty()) {
    // PID-3 is required in v2, and the broker routes patients by identifier.
    ctx_.Fail(
        MakeError(ErrorCode::kRequiredFieldMissing, "the patient has no identifier", "PID-3"));
  }
  Value identifiers(kArrayType);
  for (auto& identifier : nhs.GetArray()) {
    identifiers.PushBack(identifier, alloc());
  }
  for (auto& identifier : others.GetArray()) {
    identifiers.PushBack(identifier, alloc());
  }
  if (all_have_system && !identifiers.Empty()) {
    Value meta(kObjectType);
    Value profiles(kArrayType);
    profiles.PushBack(Lit(kUkCorePatientProfile), alloc());
    meta.AddMember("profile", profiles, alloc());
    patient.AddMember("meta", meta, alloc());
  }
  // Extensions: mother's maiden name, birth time.
  Value extensions(kArrayType);
  {
    std::string scratch;
    const std::string_view maiden = V2Text(pid.Field(6).Component(1).Subcomponent(1), scratch);
    if (!maiden.empty()) {
      Value extension(kObjectType);
      extension.AddMember("url", Lit(kMothersMaidenNameUrl), alloc());
      extension.AddMember("valueString", ctx_.Str(maiden), alloc());
      extensions.PushBack(extension, alloc());
    }
  }
  {
    std::string scratch;
    const hl7v2::Value birth = pid.Field(7);
    if (HasTimeOfDay(V2Text(birth.Component(1), scratch))) {
      Value time = TimeValue(ctx_, birth, FhirTimeType::kDateTime, "PID-7");
      if (!time.IsNull()) {
        Value extension(kObjectType);
        extension.AddMember("url", Lit(kBirthTimeUrl), alloc());
        extension.AddMember("valueDateTime", time, alloc());
        extensions.PushBack(extension, alloc());
      }
    }
  }
  ctx_.Put(patient, "extension", std::move(extensions));
  ctx_.Put(patient, "identifier", std::move(identifiers));
  Value names(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(5).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  ctx_.Put(patient, "name", std::move(names));
  Value telecom(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(13).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  for (const hl7v2::Value& rep : pid.Field(14).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "work"));
  }
  for (const hl7v2::Value& rep : pid.Field(40).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  ctx_.Put(patient, "telecom", std::move(telecom));
  {
    std::string scratch;
    PutMappedCode(ctx_, patient, "gender", KnownTable::kAdministrativeGender,
                  V2Text(pid.Field(8).Component(1), scratch), "HL70001");
  }
  ctx_.Put(patient, "birthDate", TimeValue(ctx_, pid.Field(7), FhirTimeType::kDate, "PID-7"));
  {
    Value deceased = TimeValue(ctx_, pid.Field(29), FhirTimeType::kDateTime, "PID-29");
    if (!deceased.IsNull()) {
      patient.AddMember("deceasedDateTime", deceased, alloc());
    } else {
      std::string scratch;
      const std::string_view flag = V2Text(pid.Field(30), scratch);
      if (flag == "Y" || flag == "N") {
        patient.AddMember("deceasedBoolean", flag == "Y", alloc());
      }
    }
  }
  Value addresses(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(11).Repetitions()) {
    ctx_.Push(addresses, XadToAddress(ctx_, rep));
  }
  ctx_.Put(patient, "address", std::move(addresses));
  {
    std::string scratch;
    const hl7v2::Value marital = pid.Field(16);
    std::string text_scratch;
    ctx_.Put(patient, "maritalStatus",
             TableCodeableConcept(ctx_, KnownTable::kMaritalStatus,
                                  V2Text(marital.Component(1), scratch),
                                  V2Text(marital.Component(2), text_scratch), "HL70002"));
  }
  {
    std::string scratch;
    const std::string_view multiple = V2Text(pid.Field(24), scratch);
    std::string order_scratch;
    const auto order = CanonicalDecimal(V2Text(pid.Field(25), order_scratch));
    if (order && order->find('.') == std::string::npos && *order != "0" && order->front() != '-') {
      patient.AddMember("multipleBirthInteger", ctx_.Number(*order), alloc());
    } else if (multiple == "Y" || multiple == "N") {
      patient.AddMember("multipleBirthBoolean", multiple == "Y", alloc());
    }
  }
  {
    Value language = CweToCodeableConcept(ctx_, pid.Field(15));
    if (!language.IsNull()) {
      Value communication(kObjectType);
      communication.AddMember("language", language, alloc());
      communication.AddMember("preferred", true, alloc());
      Value list(kArrayType);
      list.PushBack(communication, alloc());
      patient.AddMember("communication", list, alloc());
    }
  }
  patient_entry_ = entries_.size();
  AddResource("Patient", patient_id_, std::move(patient));
  focus_.push_back(patient_id_);
}

void Mapper::MapPd1(const CachedSegment& pd1) {
  if (!has_patient_) {
    return;
  }
  Value practitioners(kArrayType);
  for (const hl7v2::Value& rep : pd1.Field(3).Repetitions()) {
    const std::string id = OrganizationForXon(rep);
    if (!id.empty()) {
      ctx_.Push(practitioners, Reference(id));
    }
  }
  for (const hl7v2::Value& rep : pd1.Field(4).Repetitions()) {
    const std::string id = PractitionerFor(rep);
    if (!id.empty()) {
      ctx_.Push(practitioners, Reference(id));
    }
  }
  ctx_.Put(entries_[patient_entry_].resource, "generalPractitioner", std::move(practitioners));
}

void Mapper::MapMerge(const CachedSegment& mrg) {
  // A40: the surviving record (PID) replaces the record named in MRG-1, which is kept as its own
  // Patient, inactive, pointing at the survivor.
  const std::string old_id = NewId("Patient/MRG");
  Value old_patient(kObjectType);
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : mrg.Field(1).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "MRG-1"));
  }
  for (const hl7v2::Value& rep : mrg.Field(2).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "MRG-2"));
  }
  if (identifiers.Empty()) {
    ctx_.Fail(MakeError(ErrorCode::kRequiredFieldMissing, "the merged record has no identifier",
                        "MRG-1"));
  }
  ctx_.Put(old_patient, "identifier", std::move(identifiers));
  old_patient.AddMember("active", false, alloc());
  Value names(kArrayType);
  for (const hl7v2::Value& rep : mrg.Field(7).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  ctx_.Put(old_patient, "name", std::move(names));
  const auto link = [&](const std::string& other, std::string_view type) {
    Value entry(kObjectType);
    entry.AddMember("other", Reference(other), alloc());
    entry.AddMember("type", Lit(type), alloc());
    Value links(kArrayType);
    links.PushBack(entry, alloc());
    return links;
  };
  old_patient.AddMember("link", link(patient_id_, "replaced-by"), alloc());
  entries_[patient_entry_].resource.AddMember("link", link(old_id, "replaces"), alloc());
  AddResource("Patient", old_id, std::move(old_patient));
  focus_.push_back(old_id);
}

}  // namespace tb::mappings::v2fhir
