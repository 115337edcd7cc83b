#include "broker/ledger/records.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "broker/ledger/base64.h"

namespace tb::ledger {
namespace {

using Alloc = rapidjson::Document::AllocatorType;
using rapidjson::Value;

constexpr std::string_view kParticipantTypeSystem =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
constexpr std::string_view kDataOperationSystem =
    "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
constexpr std::string_view kPurposeOfUseSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kDicomSystem = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kRestfulSystem = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view kEntityTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRoleSystem = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kParticipationSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kSourceTypeSystem =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view kNetworkTypeSystem = "2";  // AuditEvent.agent.network.type: IP address

Value Str(std::string_view text, Alloc& alloc) { return fhir::StringValue(text, alloc); }

Value Coding(std::string_view system, std::string_view code, std::string_view display,
             Alloc& alloc) {
  Value coding(rapidjson::kObjectType);
  coding.AddMember("system", Str(system, alloc), alloc);
  coding.AddMember("code", Str(code, alloc), alloc);
  if (!display.empty()) {
    coding.AddMember("display", Str(display, alloc), alloc);
  }
  return coding;
}

Value Concept(std::string_view system, std::string_view code, std::string_view display,
              Alloc& alloc) {
  Value concept_value(rapidjson::kObjectType);
  Value codings(rapidjson::kArrayType);
  codings.PushBack(Coding(system, code, display, alloc), alloc);
  concept_value.AddMember("coding", codings, alloc);
  return concept_value;
}

// {"identifier": {"system": ..., "value": ...}} (a logical Reference).
Value IdentifierRef(std::string_view system, std::string_view value, Alloc& alloc) {
  Value identifier(rapidjson::kObjectType);
  identifier.AddMember("system", Str(system, alloc), alloc);
  identifier.AddMember("value", Str(value, alloc), alloc);
  Value reference(rapidjson::kObjectType);
  reference.AddMember("identifier", identifier, alloc);
  return reference;
}

Value OdsRef(std::string_view ods, Alloc& alloc) { return IdentifierRef(kOdsSystem, ods, alloc); }

Value ProvenanceAgent(std::string_view role, std::string_view ods, Alloc& alloc) {
  Value agent(rapidjson::kObjectType);
  agent.AddMember("type", Concept(kParticipantTypeSystem, role, {}, alloc), alloc);
  agent.AddMember("who", OdsRef(ods, alloc), alloc);
  return agent;
}

bool IsLowerHex64(std::string_view text) {
  if (text.size() != 64) {
    return false;
  }
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

struct AuditType {
  std::string_view code;  // DICOM
  std::string_view display;
  std::string_view action;   // C R U D E
  std::string_view subtype;  // restful-interaction, or empty
};

AuditType AuditTypeOf(HopKind kind) {
  switch (kind) {
    case HopKind::kInbound:
      return {"110107", "Import", "C", ""};
    case HopKind::kDelivery:
      return {"110106", "Export", "E", ""};
    case HopKind::kQuery:
      return {"110112", "Query", "E", "search-type"};
    case HopKind::kResponse:
      return {"110106", "Export", "R", "search-type"};
    case HopKind::kRefusal:
      return {"110113", "Security Alert", "E", ""};
    case HopKind::kAuditAccess:
      return {"110101", "Audit Log Used", "R", "search-type"};
  }
  return {"110113", "Security Alert", "E", ""};
}

}  // namespace

int OutcomeNumber(HopOutcome outcome) {
  switch (outcome) {
    case HopOutcome::kSuccess:
      return 0;
    case HopOutcome::kMinorFailure:
      return 4;
    case HopOutcome::kSeriousFailure:
      return 8;
    case HopOutcome::kMajorFailure:
      return 12;
  }
  return 12;
}

core::Result<HopOutcome> OutcomeFromNumber(std::int64_t number) {
  for (const HopOutcome outcome : {HopOutcome::kSuccess, HopOutcome::kMinorFailure,
                                   HopOutcome::kSeriousFailure, HopOutcome::kMajorFailure}) {
    if (OutcomeNumber(outcome) == number) {
      return outcome;
    }
  }
  return core::MakeError(core::ErrorCode::kInvalidValue, "unknown outcome code", "outcome");
}

std::string_view ToString(HopKind kind) {
  switch (kind) {
    case HopKind::kInbound:
      return "inbound";
    case HopKind::kDelivery:
      return "delivery";
    case HopKind::kQuery:
      return "query";
    case HopKind::kResponse:
      return "response";
    case HopKind::kRefusal:
      return "refusal";
    case HopKind::kAuditAccess:
      return "audit-access";
  }
  return "refusal";
}

core::Result<HopKind> ParseHopKind(std::string_view text) {
  for (const HopKind kind : {HopKind::kInbound, HopKind::kDelivery, HopKind::kQuery,
                             HopKind::kResponse, HopKind::kRefusal, HopKind::kAuditAccess}) {
    if (ToString(kind) == text) {
      return kind;
    }
  }
  return core::MakeError(core::ErrorCode::kInvalidValue, "unknown hop kind", "HopRecord.kind");
}

std::vector<HopRecord> HopPerPatient(HopRecord hop, std::span<const std::string> other_patients) {
  std::vector<HopRecord> hops;
  hops.reserve(1 + other_patients.size());
  hops.push_back(std::move(hop));
  for (const std::string& other : other_patients) {
    if (core::IsValidNhsNumber(other)) {
      hops.push_back(hops.front());
      hops.back().nhs_number = other;
    }
  }
  return hops;
}

core::Status ValidateHop(const HopRecord& hop) {
  if (hop.time_ms <= 0) {
    return core::MakeError(core::ErrorCode::kRequiredFieldMissing, "hop time missing",
                           "HopRecord.time_ms");
  }
  if (hop.broker_ods.empty()) {
    return core::MakeError(core::ErrorCode::kRequiredFieldMissing, "broker ODS code missing",
                           "HopRecord.broker_ods");
  }
  if (!hop.nhs_number.empty() && !core::IsValidNhsNumber(hop.nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                           "HopRecord.nhs_number");
  }
  if (!hop.source_digest.empty() && !IsLowerHex64(hop.source_digest)) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "source digest is not 64 lowercase hex characters",
                           "HopRecord.source_digest");
  }
  return core::Ok();
}

rapidjson::Document BuildProvenance(const HopRecord& hop, std::int64_t recorded_ms) {
  rapidjson::Document doc(rapidjson::kObjectType);
  Alloc& alloc = doc.GetAllocator();
  doc.AddMember("resourceType", "Provenance", alloc);

  Value targets(rapidjson::kArrayType);
  if (!hop.target.empty()) {
    Value reference(rapidjson::kObjectType);
    reference.AddMember("reference", Str(hop.target, alloc), alloc);
    targets.PushBack(reference, alloc);
  }
  if (!hop.nhs_number.empty()) {
    Value patient = IdentifierRef(kNhsNumberSystem, hop.nhs_number, alloc);
    patient.AddMember("type", "Patient", alloc);
    targets.PushBack(patient, alloc);
  }
  if (targets.Empty() && !hop.source_digest.empty()) {
    targets.PushBack(IdentifierRef(kDigestSystem, hop.source_digest, alloc), alloc);
  }
  if (targets.Empty()) {
    // Provenance.target is 1..*: name the broker's own action when nothing else is known.
    Value reference(rapidjson::kObjectType);
    reference.AddMember("display", Str(std::string(ToString(hop.kind)) + " hop", alloc), alloc);
    targets.PushBack(reference, alloc);
  }
  doc.AddMember("target", targets, alloc);
  if (recorded_ms > 0) {
    doc.AddMember("occurredDateTime", Str(FormatInstant(hop.time_ms), alloc), alloc);
  }
  doc.AddMember("recorded", Str(FormatInstant(recorded_ms > 0 ? recorded_ms : hop.time_ms), alloc),
                alloc);

  Value policy(rapidjson::kArrayType);
  if (!hop.scope.empty()) {
    policy.PushBack(Str("urn:trustbridge:scope:" + hop.scope, alloc), alloc);
  }
  if (!hop.consent_decision.empty()) {
    policy.PushBack(Str("urn:trustbridge:consent:" + hop.consent_decision, alloc), alloc);
  }
  if (!policy.Empty()) {
    doc.AddMember("policy", policy, alloc);
  }
  if (!hop.purpose_of_use.empty()) {
    Value reasons(rapidjson::kArrayType);
    reasons.PushBack(Concept(kPurposeOfUseSystem, hop.purpose_of_use, {}, alloc), alloc);
    doc.AddMember("reason", reasons, alloc);
  }
  if (hop.mapped_v2_to_fhir) {
    doc.AddMember(
        "activity",
        Concept(kV2ToFhirActivitySystem, kV2ToFhirActivityCode, "V2 To FHIR Transformation", alloc),
        alloc);
  } else {
    const bool creates = hop.kind == HopKind::kInbound;
    doc.AddMember("activity",
                  Concept(kDataOperationSystem, creates ? "CREATE" : "EXECUTE",
                          creates ? "create" : "execute", alloc),
                  alloc);
  }

  Value agents(rapidjson::kArrayType);
  if (!hop.source_ods.empty()) {
    agents.PushBack(ProvenanceAgent("custodian", hop.source_ods, alloc), alloc);
  }
  agents.PushBack(ProvenanceAgent("assembler", hop.broker_ods, alloc), alloc);
  if (!hop.destination_ods.empty()) {
    agents.PushBack(ProvenanceAgent("informant", hop.destination_ods, alloc), alloc);
  }
  if (!hop.requester_ods.empty()) {
    agents.PushBack(ProvenanceAgent("enterer", hop.requester_ods, alloc), alloc);
  }
  doc.AddMember("agent", agents, alloc);

  if (!hop.source_digest.empty()) {
    Value entities(rapidjson::kArrayType);
    Value entity(rapidjson::kObjectType);
    entity.AddMember(
        "role", Str(hop.derived || hop.mapped_v2_to_fhir ? "derivation" : "source", alloc), alloc);
    entity.AddMember("what", IdentifierRef(kDigestSystem, hop.source_digest, alloc), alloc);
    entities.PushBack(entity, alloc);
    doc.AddMember("entity", entities, alloc);
  }
  return doc;
}

rapidjson::Document BuildAuditEvent(const HopRecord& hop, std::int64_t recorded_ms) {
  rapidjson::Document doc(rapidjson::kObjectType);
  Alloc& alloc = doc.GetAllocator();
  const AuditType type = AuditTypeOf(hop.kind);
  doc.AddMember("resourceType", "AuditEvent", alloc);
  doc.AddMember("type", Coding(kDicomSystem, type.code, type.display, alloc), alloc);
  if (!type.subtype.empty()) {
    Value subtypes(rapidjson::kArrayType);
    subtypes.PushBack(Coding(kRestfulSystem, type.subtype, {}, alloc), alloc);
    doc.AddMember("subtype", subtypes, alloc);
  }
  doc.AddMember("action", Str(type.action, alloc), alloc);
  if (recorded_ms > 0) {
    Value period(rapidjson::kObjectType);
    period.AddMember("start", Str(FormatInstant(hop.time_ms), alloc), alloc);
    period.AddMember("end", Str(FormatInstant(hop.time_ms), alloc), alloc);
    doc.AddMember("period", period, alloc);
  }
  doc.AddMember("recorded", Str(FormatInstant(recorded_ms > 0 ? recorded_ms : hop.time_ms), alloc),
                alloc);
  doc.AddMember("outcome", Str(std::to_string(OutcomeNumber(hop.outcome)), alloc), alloc);
  if (!hop.outcome_detail.empty()) {
    doc.AddMember("outcomeDesc", Str(hop.outcome_detail, alloc), alloc);
  }
  if (!hop.purpose_of_use.empty()) {
    Value purposes(rapidjson::kArrayType);
    purposes.PushBack(Concept(kPurposeOfUseSystem, hop.purpose_of_use, {}, alloc), alloc);
    doc.AddMember("purposeOfEvent", purposes, alloc);
  }

  Value agents(rapidjson::kArrayType);
  // The requesting agent: the participant that asked, or for inbound messages the sender.
  const std::string& requester = !hop.requester_ods.empty() ? hop.requester_ods : hop.source_ods;
  if (!requester.empty()) {
    Value agent(rapidjson::kObjectType);
    agent.AddMember("type", Concept(kParticipationSystem, "IRCP", "information recipient", alloc),
                    alloc);
    agent.AddMember("who", OdsRef(requester, alloc), alloc);
    agent.AddMember("requestor", true, alloc);
    if (!hop.requester_address.empty()) {
      Value network(rapidjson::kObjectType);
      network.AddMember("address", Str(hop.requester_address, alloc), alloc);
      network.AddMember("type", Str(kNetworkTypeSystem, alloc), alloc);
      agent.AddMember("network", network, alloc);
    }
    if (!hop.purpose_of_use.empty()) {
      Value purposes(rapidjson::kArrayType);
      purposes.PushBack(Concept(kPurposeOfUseSystem, hop.purpose_of_use, {}, alloc), alloc);
      agent.AddMember("purposeOfUse", purposes, alloc);
    }
    agents.PushBack(agent, alloc);
  }
  {
    Value agent(rapidjson::kObjectType);
    agent.AddMember("type", Concept(kParticipationSystem, "CST", "custodian", alloc), alloc);
    agent.AddMember("who", OdsRef(hop.broker_ods, alloc), alloc);
    agent.AddMember("requestor", false, alloc);
    agents.PushBack(agent, alloc);
  }
  if (!hop.destination_ods.empty()) {
    Value agent(rapidjson::kObjectType);
    agent.AddMember("type",
                    Concept(kParticipationSystem, "PRCP", "primary information recipient", alloc),
                    alloc);
    agent.AddMember("who", OdsRef(hop.destination_ods, alloc), alloc);
    agent.AddMember("requestor", false, alloc);
    agents.PushBack(agent, alloc);
  }
  doc.AddMember("agent", agents, alloc);

  Value source(rapidjson::kObjectType);
  source.AddMember("observer", OdsRef(hop.broker_ods, alloc), alloc);
  Value source_types(rapidjson::kArrayType);
  source_types.PushBack(Coding(kSourceTypeSystem, "4", "Application Server", alloc), alloc);
  source.AddMember("type", source_types, alloc);
  doc.AddMember("source", source, alloc);

  Value entities(rapidjson::kArrayType);
  if (!hop.nhs_number.empty()) {
    Value entity(rapidjson::kObjectType);
    Value what = IdentifierRef(kNhsNumberSystem, hop.nhs_number, alloc);
    what.AddMember("type", "Patient", alloc);
    entity.AddMember("what", what, alloc);
    entity.AddMember("type", Coding(kEntityTypeSystem, "1", "Person", alloc), alloc);
    entity.AddMember("role", Coding(kObjectRoleSystem, "1", "Patient", alloc), alloc);
    entities.PushBack(entity, alloc);
  }
  if (!hop.query.empty()) {
    Value entity(rapidjson::kObjectType);
    entity.AddMember("type", Coding(kEntityTypeSystem, "2", "System Object", alloc), alloc);
    entity.AddMember("role", Coding(kObjectRoleSystem, "24", "Query", alloc), alloc);
    entity.AddMember("query", Str(Base64Encode(hop.query), alloc), alloc);
    entities.PushBack(entity, alloc);
  }
  if (!hop.source_digest.empty()) {
    Value entity(rapidjson::kObjectType);
    entity.AddMember("what", IdentifierRef(kDigestSystem, hop.source_digest, alloc), alloc);
    entity.AddMember("type", Coding(kEntityTypeSystem, "2", "System Object", alloc), alloc);
    entity.AddMember("role", Coding(kObjectRoleSystem, "3", "Report", alloc), alloc);
    entities.PushBack(entity, alloc);
  }
  if (!hop.request_id.empty()) {
    Value entity(rapidjson::kObjectType);
    entity.AddMember("what", IdentifierRef("urn:trustbridge:request-id", hop.request_id, alloc),
                     alloc);
    entity.AddMember("type", Coding(kEntityTypeSystem, "2", "System Object", alloc), alloc);
    entities.PushBack(entity, alloc);
  }
  if (!entities.Empty()) {
    doc.AddMember("entity", entities, alloc);
  }
  return doc;
}

}  // namespace tb::ledger
