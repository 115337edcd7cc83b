#include "mappings/fhir_to_v2.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mappings/fhir_to_v2_mapper.h"

// Which message the input makes (ADT or ORU, and the trigger), whose it is, and the segments in
// order; the segment writers are in fhir_to_v2_msh_pid.cpp, _visit.cpp and _oru.cpp.
namespace tb::mappings {

namespace f2v {

// ---- the message --------------------------------------------------------------------------------

const Res* FirstOfType(const Index& index, std::string_view type) {
  std::vector<const Res*> all = index.OfType(type);
  return all.empty() ? nullptr : all.front();
}

// The subject of `res` (its "subject" or "patient" reference).
std::optional<Subject> SubjectOf(const Index& index, const Res& res, Reader& r) {
  const Value* ref = r.Obj(*res.value, "subject", res.path);
  std::string path = res.path + ".subject";
  if (ref == nullptr) {
    ref = r.Obj(*res.value, "patient", res.path);
    path = res.path + ".patient";
  }
  if (ref == nullptr) {
    return std::nullopt;
  }
  Subject s;
  s.patient = index.Resolve(ref, res, r, path);
  if (s.patient != nullptr && s.patient->type != "Patient") {
    s.patient = nullptr;
  }
  s.reference = ref;
  s.reference_path = path;
  return s;
}

bool SameSubject(const Subject& a, const Subject& b, Reader& r) {
  if (a.patient != nullptr || b.patient != nullptr) {
    return a.patient == b.patient;
  }
  const Value* ia = r.Obj(*a.reference, "identifier", a.reference_path);
  const Value* ib = r.Obj(*b.reference, "identifier", b.reference_path);
  if (ia == nullptr || ib == nullptr) {
    return false;
  }
  return r.Str(*ia, "system", a.reference_path) == r.Str(*ib, "system", b.reference_path) &&
         r.Str(*ia, "value", a.reference_path) == r.Str(*ib, "value", b.reference_path);
}

// The Patient for PID: the subject of the focus resources when they name one, else the first
// Patient. A subject that is named but neither in the input nor carrying an identifier is an
// error: results must never be filed against a guessed patient.
core::Result<Subject> ChooseSubject(const Index& index, const std::vector<const Res*>& focus,
                                    Reader& r) {
  std::optional<Subject> chosen;
  for (const Res* res : focus) {
    std::optional<Subject> s = SubjectOf(index, *res, r);
    if (!s) {
      continue;
    }
    if (s->patient == nullptr && r.Obj(*s->reference, "identifier", s->reference_path) == nullptr) {
      return core::MakeError(ErrorCode::kRequiredFieldMissing,
                             "the subject Patient is not in the input", "Patient");
    }
    if (!chosen) {
      chosen = *s;
    } else if (!SameSubject(*chosen, *s, r)) {
      return core::MakeError(ErrorCode::kUnsupportedMessage,
                             "resources for more than one patient in one message",
                             s->reference_path);
    }
  }
  if (chosen) {
    return *chosen;
  }
  if (const Res* patient = FirstOfType(index, "Patient")) {
    Subject s;
    s.patient = patient;
    return s;
  }
  return core::MakeError(ErrorCode::kRequiredFieldMissing, "no Patient in the input", "Patient");
}

// A message Bundle's MessageHeader.eventCoding naming one of our ADT events (v2-0003 A28, A31,
// A08), else kDefault.
AdtTrigger TriggerFromMessageHeader(const Index& index, Reader& r) {
  const Res* header = FirstOfType(index, "MessageHeader");
  if (header == nullptr) {
    return AdtTrigger::kDefault;
  }
  const Value* event = r.Obj(*header->value, "eventCoding", header->path);
  if (event == nullptr) {
    return AdtTrigger::kDefault;
  }
  const std::string path = header->path + ".eventCoding";
  if (r.Str(*event, "system", path).value_or("") !=
      "http://terminology.hl7.org/CodeSystem/v2-0003") {
    return AdtTrigger::kDefault;
  }
  const std::string_view code = r.Str(*event, "code", path).value_or("");
  if (code == "A28") {
    return AdtTrigger::kA28;
  }
  if (code == "A31") {
    return AdtTrigger::kA31;
  }
  if (code == "A08") {
    return AdtTrigger::kA08;
  }
  return AdtTrigger::kDefault;
}

core::Status BuildIndex(const Value& root, Index& index, Reader& r) {
  if (!root.IsObject()) {
    return core::MakeError(ErrorCode::kInvalidValue, "a FHIR resource must be a JSON object", "");
  }
  core::Result<std::string_view> type = fhir::GetString(root, "resourceType");
  if (!type) {
    return std::move(type).error();
  }
  if (*type != "Bundle") {
    index.Add(root, std::string(*type), {}, -1, r);
    return core::Ok();
  }
  r.ForEachObject(root, "entry", "Bundle", [&](const Value& entry, const std::string& p) {
    const Value* resource = r.Obj(entry, "resource", p);
    if (resource == nullptr) {
      return;  // e.g. a DELETE in a transaction: nothing to send
    }
    const std::string rpath = p + ".resource";
    if (fhir::FindMember(*resource, "resourceType") == nullptr) {
      r.Fail(ErrorCode::kRequiredFieldMissing, "resource without resourceType",
             rpath + ".resourceType");
      return;
    }
    index.Add(*resource, rpath, r.Str(entry, "fullUrl", p).value_or(""), -1, r);
  });
  return core::Ok();
}

core::Result<std::string> Map(const Value& root, const FhirToV2Options& options,
                              std::uint64_t input_hash) {
  if (!options.encoding.IsComplete()) {
    return core::MakeError(ErrorCode::kInvalidValue,
                           "the encoding must declare all five delimiters", "options.encoding");
  }
  Reader r;
  Index index;
  BROKER_RETURN_IF_ERROR(BuildIndex(root, index, r));
  index.Finish();
  if (!r.ok()) {
    return r.TakeError();
  }
  const std::vector<const Res*> reports = index.OfType("DiagnosticReport");
  const std::vector<const Res*> observations = index.OfType("Observation");
  FhirToV2Message kind = options.message;
  if (kind == FhirToV2Message::kAuto) {
    // Reports make an ORU; Observations alone make one only without an Encounter (an ADT
    // Bundle from v2 carries OBX observations beside its Encounter).
    const bool has_encounter = FirstOfType(index, "Encounter") != nullptr;
    kind = (!reports.empty() || (!observations.empty() && !has_encounter)) ? FhirToV2Message::kOru
                                                                           : FhirToV2Message::kAdt;
  }
  if (kind == FhirToV2Message::kOru && reports.empty() && observations.empty()) {
    return core::MakeError(ErrorCode::kRequiredFieldMissing,
                           "no DiagnosticReport or Observation to map to ORU^R01",
                           "DiagnosticReport");
  }

  Mapper m(options, r);
  const std::string control_id =
      !options.control_id.empty() ? options.control_id : "TB" + Hex16(input_hash);
  const core::SystemClock system_clock;
  const core::Clock& clock = options.clock != nullptr ? *options.clock : system_clock;
  const std::string timestamp =
      !options.timestamp.empty() ? options.timestamp : UtcDtm(clock.Now());

  if (kind == FhirToV2Message::kAdt) {
    const std::vector<const Res*> encounters = index.OfType("Encounter");
    core::Result<Subject> subject = ChooseSubject(index, encounters, r);
    if (!subject) {
      return std::move(subject).error();
    }
    if (subject->patient == nullptr) {
      return core::MakeError(ErrorCode::kRequiredFieldMissing, "no Patient in the input",
                             "Patient");
    }
    const Res* encounter = nullptr;
    for (const Res* e : encounters) {
      std::optional<Subject> s = SubjectOf(index, *e, r);
      if (!s || s->patient == subject->patient) {
        encounter = e;
        break;
      }
    }
    AdtTrigger trigger = options.adt_trigger;
    if (trigger == AdtTrigger::kDefault) {
      trigger = TriggerFromMessageHeader(index, r);
    }
    if (trigger == AdtTrigger::kDefault) {
      trigger = encounter != nullptr ? AdtTrigger::kA08 : AdtTrigger::kA31;
    }
    const std::string_view event = trigger == AdtTrigger::kA28   ? "A28"
                                   : trigger == AdtTrigger::kA31 ? "A31"
                                                                 : "A08";
    WriteMsh(m, "ADT", event, trigger == AdtTrigger::kA08 ? "ADT_A01" : "ADT_A05", control_id,
             timestamp);
    m.Set("EVN-1", event);
    m.Set("EVN-2", timestamp);
    m.AddSegment("PID");
    WritePid(m, index, *subject);
    WriteNk1s(m, index, *subject);
    m.AddSegment("PV1");
    WritePv1(m, index, encounter);
    WritePv2(m, encounter);
  } else {
    std::vector<const Res*> focus = reports;
    if (focus.empty()) {
      focus = observations;
    }
    core::Result<Subject> subject = ChooseSubject(index, focus, r);
    if (!subject) {
      return std::move(subject).error();
    }
    WriteMsh(m, "ORU", "R01", "ORU_R01", control_id, timestamp);
    m.AddSegment("PID");
    WritePid(m, index, *subject);
    // PV1 from the report's encounter, if it is in the input.
    const Res* encounter = nullptr;
    for (const Res* res : focus) {
      const Res* e = index.Resolve(r.Obj(*res->value, "encounter", res->path), *res, r,
                                   res->path + ".encounter");
      if (e != nullptr && e->type == "Encounter") {
        encounter = e;
        break;
      }
    }
    if (encounter == nullptr) {
      encounter = FirstOfType(index, "Encounter");
    }
    if (encounter != nullptr) {
      m.AddSegment("PV1");
      WritePv1(m, index, encounter);
    }
    WriteOruGroups(m, index, reports, observations);
  }
  if (!r.ok()) {
    return r.TakeError();
  }
  return m.builder().Serialize();
}

}  // namespace f2v

core::Result<std::string> MapFhirToV2(std::string_view json, const FhirToV2Options& options) {
  core::Result<rapidjson::Document> doc = fhir::ParseJson(json, options.json_limits);
  if (!doc) {
    return std::move(doc).error();
  }
  return f2v::Map(*doc, options, f2v::Fnv1a(json));
}

core::Result<std::string> MapFhirToV2(const rapidjson::Value& resource,
                                      const FhirToV2Options& options) {
  return f2v::Map(resource, options, f2v::Fnv1a(fhir::ToJson(resource)));
}

}  // namespace tb::mappings
