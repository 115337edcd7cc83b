#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/search_params.h"
#include "adapters/net/https_server.h"
#include "broker/core/http_types.h"
#include "broker/core/result.h"
#include "broker/ledger/ledger.h"
#include "broker/ledger/records.h"

namespace tb::app {

// The audit records of requests the broker answers from its own stores rather than by a federated
// query: the Consent endpoints and the audit trail's own search and journey (docs/ledger.md,
// "What the ledger records"). A read of a patient's consents or of who saw their record is a
// disclosure like any other, and a Consent written changes what every later request may see, so
// each is recorded before it is answered, like the federated searches' hops.
struct AccessContext {
  std::string broker_ods;
  std::string requester_ods;  // the participant's ODS code or the peer broker's id
  std::string address;        // the requester's network address
  std::string request_id;     // X-Request-ID
  std::string what;           // "Consent", "AuditEvent", "Provenance", "Patient/$journey"
  std::string nhs_number;     // the patient the request names or touches; empty when none

  // Read from the request: address and X-Request-ID.
  static AccessContext Of(const core::HttpRequest& request, std::string broker_ods,
                          std::string requester_ods, std::string what);
};

// The patient a request names (`identifier` or `patient:identifier` with a valid NHS number), for
// its audit record; empty when none is named or it is not valid.
std::string PatientNamedIn(const std::vector<fhir::SearchParam>& params);
std::string PatientNamedIn(std::string_view query_string);

// A read answered to the requester, "released=N": kResponse for a patient's records (Consent),
// kAuditAccess for the audit trail.
ledger::HopRecord ReadHop(const AccessContext& access, std::size_t released, std::int64_t time_ms,
                          ledger::HopKind kind = ledger::HopKind::kResponse);
// A resource stored from the requester (kInbound): `target` the version written
// ("Consent/c-1/_history/2"), with the SHA-256 of `stored` (the resource as stored).
ledger::HopRecord WriteHop(const AccessContext& access, std::string target, std::string_view stored,
                           std::string detail, std::int64_t time_ms);
// A request refused (kRefusal, minor failure), with the reason.
ledger::HopRecord AccessRefusalHop(const AccessContext& access, std::string reason,
                                   std::int64_t time_ms);

// Appends `hop` and waits until it is durable (call on the blocking pool). False, logged, when it
// could not be written (a refusal is answered anyway: it discloses nothing).
bool RecordAccess(ledger::Ledger& ledger, const ledger::HopRecord& hop);

// Answers with `response` once `hop` is recorded; if it cannot be, with 503 and nothing released.
// Without a ledger (tests of an API alone) answers at once. Blocks: call on the blocking pool.
void RespondWhenAccessRecorded(ledger::Ledger* ledger, const ledger::HopRecord& hop,
                               core::HttpResponse response, const net::Responder& respond);

}  // namespace tb::app
