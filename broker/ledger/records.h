#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/clock.h"
#include "broker/core/result.h"

// FHIR R4 Provenance and AuditEvent (IHE BALP in spirit) for one hop through the broker. The
// ledger stores them; the FHIR API serves them (ids are assigned on read from the ledger seq).
// Minimisation (issue 7): a hop carries digests, references, codes and decisions, never a
// clinical payload. Thread-safety: the functions are reentrant.
namespace tb::ledger {

enum class HopKind {
  kInbound,   // a message arrived from a trust (HL7 v2 or FHIR)
  kDelivery,  // a message was delivered to a trust
  kQuery,     // a federated query was sent to a trust
  kResponse,  // the (merged) answer went back to the requester
  kRefusal,   // a request or message was refused (policy, consent, scope, validation)
  // The audit trail itself was read (AuditEvent or Provenance search, a patient's journey):
  // DICOM 110101 "Audit Log Used", so that who looked at whose trail is on the trail too.
  kAuditAccess,
};

// The AuditEvent.outcome codes (0, 4, 8, 12).
enum class HopOutcome { kSuccess, kMinorFailure, kSeriousFailure, kMajorFailure };

// What happened on one hop. Every string is optional unless noted; empty means "not known" and
// the matching element is left out.
struct HopRecord {
  HopKind kind = HopKind::kInbound;
  std::int64_t time_ms = 0;        // when the hop happened, UTC ms since the epoch (required)
  std::string request_id;          // X-Request-ID or MSH-10, to join hops of one request
  std::string broker_ods;          // this broker's ODS code (required)
  std::string requester_ods;       // the participant that asked (query, response, refusal)
  std::string requester_address;   // its network address ("10.0.0.5" or "10.0.0.5:443")
  std::string purpose_of_use;      // v3 PurposeOfUse code: "TREAT", "ETREAT" (break-glass), ...
  std::string source_ods;          // where the data came from
  std::string destination_ods;     // where it went (delivery, query target)
  std::string nhs_number;          // the patient (10 digits), empty when none
  std::string source_digest;       // hex SHA-256 of the source message or response body
  bool derived = false;            // the target derives from the source (a mapping) vs. is it
  bool mapped_v2_to_fhir = false;  // a v2-to-FHIR transformation happened on this hop
  std::string target;            // FHIR reference of what the hop produced ("Bundle/abc"), or empty
  std::string scope;             // the scope that allowed it ("patient/*.read")
  std::string consent_decision;  // "permit", "deny", "break-glass", ...
  std::string query;             // the query, without host ("Patient?identifier=...")
  HopOutcome outcome = HopOutcome::kSuccess;
  std::string outcome_detail;  // error code name or short reason, never PHI beyond the above
};

// The AuditEvent.outcome code of `outcome` (0, 4, 8, 12) and back (kInvalidValue otherwise).
int OutcomeNumber(HopOutcome outcome);
core::Result<HopOutcome> OutcomeFromNumber(std::int64_t number);

// `hop` once per patient whose data it moved: as it is (its nhs_number), then a copy for each
// valid NHS number in `other_patients` (a message about two patients, a merge's other record),
// so that every one's journey shows it. Invalid numbers are skipped: they name nobody.
std::vector<HopRecord> HopPerPatient(HopRecord hop, std::span<const std::string> other_patients);

// "inbound", "delivery", "query", "response", "refusal", "audit-access"
std::string_view ToString(HopKind kind);
core::Result<HopKind> ParseHopKind(std::string_view text);

// kInvalidValue (location "HopRecord.<field>") when time_ms or broker_ods is missing, the NHS
// number is not valid, or source_digest is not 64 lowercase hex characters.
core::Status ValidateHop(const HopRecord& hop);

// The Provenance resource for `hop` (no id): target, recorded, activity (the v2-to-FHIR IG's
// v2-fhir-transformation code when mapped, else a v3-DataOperation code), policy (scope and
// consent decision as URIs), reason (purpose of use), agents (source trust, broker, destination
// or requester, with provenance-participant-type roles), entity (the source digest with role
// source or derivation). `recorded_ms` (when the ledger recorded the hop) gives `recorded`, with
// the hop's own time as occurredDateTime; 0: `recorded` is the hop's time. Call ValidateHop first.
rapidjson::Document BuildProvenance(const HopRecord& hop, std::int64_t recorded_ms = 0);

// The AuditEvent resource for `hop` (no id): type/subtype, action, recorded, outcome, agents
// (the requesting agent with network address and purpose of use, the broker), source, entities
// (the patient by NHS number, the query). `recorded_ms` as for BuildProvenance (the hop's own time
// then goes to `period`). Call ValidateHop first.
rapidjson::Document BuildAuditEvent(const HopRecord& hop, std::int64_t recorded_ms = 0);

using core::FormatInstant;  // "2026-11-23T11:20:52.123Z" for UTC ms (broker/core/clock.h)

// Code systems used above, for readers of the records.
inline constexpr std::string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";
inline constexpr std::string_view kOdsSystem = "https://fhir.nhs.uk/Id/ods-organization-code";
inline constexpr std::string_view kV2ToFhirActivitySystem =
    "http://hl7.org/fhir/uv/v2mappings/CodeSystem/provenance-activity-type-v2-to-fhir";
inline constexpr std::string_view kV2ToFhirActivityCode = "v2-fhir-transformation";
inline constexpr std::string_view kDigestSystem = "urn:trustbridge:sha256";

}  // namespace tb::ledger
