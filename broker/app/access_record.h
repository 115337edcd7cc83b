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

// The audit records of the FHIR API's requests (docs/ledger.md, "What the ledger records"): what
// every hop of one request shares (HopContext), and the records of requests the broker answers
// from its own stores rather than by a federated query: the Consent endpoints, the audit trail's
// own search and journey, and the admin locator endpoints. A read of a patient's consents, of who
// saw their record or of where they are held is a disclosure like any other, and a Consent or
// locator entry written changes what later requests see or where messages go, so each is recorded
// before it is answered, like the federated searches' hops.
struct HopContext {
  std::string broker_ods;
  std::string requester;  // who asked: the participant, or the original requester a peer named
  std::string recipient;  // who gets the answer: the requester, or the peer broker that asked
  std::string address;    // the requester's network address
  std::string purpose;
  std::string nhs_number;  // the patient the request names or touches; empty when none
  std::string request_id;  // X-Request-ID
  // What was asked: "Consent", "AuditEvent", "Patient/$journey", "Patient/$everything" or the
  // searched type; parameters are not kept.
  std::string query;
  std::string break_glass_reason;  // recorded with the answer (the audit needs it; never logged)

  // A request answered to the participant that made it: address and X-Request-ID from it.
  static HopContext Of(const core::HttpRequest& request, std::string broker_ods,
                       std::string requester, std::string query);
};

// The hop of `kind` with what every record of the request shares.
ledger::HopRecord MakeHop(const HopContext& context, ledger::HopKind kind, std::int64_t time_ms);

// The patient a request names (`identifier` or `patient:identifier` with a valid NHS number), for
// its audit record; empty when none is named or it is not valid.
std::string PatientNamedIn(const std::vector<fhir::SearchParam>& params);
std::string PatientNamedIn(std::string_view query_string);

// A read answered to the recipient, "released=N": kResponse for a patient's records (Consent),
// kAuditAccess for the audit trail.
ledger::HopRecord ReadHop(const HopContext& context, std::size_t released, std::int64_t time_ms,
                          ledger::HopKind kind = ledger::HopKind::kResponse);
// A resource stored from the requester (kInbound): `target` the version written
// ("Consent/c-1/_history/2"), with the SHA-256 of `stored` (the resource as stored).
ledger::HopRecord WriteHop(const HopContext& context, std::string target, std::string_view stored,
                           std::string detail, std::int64_t time_ms);
// A write recorded by WriteHop that then failed (kRefusal, serious failure): "not stored: <code>".
ledger::HopRecord FailedWriteHop(const HopContext& context, std::string target,
                                 const core::Error& error, std::int64_t time_ms);
// A request refused (kRefusal, minor failure), with the reason.
ledger::HopRecord AccessRefusalHop(const HopContext& context, std::string reason,
                                   std::int64_t time_ms);

// Appends `hop` and waits until it is durable (call on the blocking pool). False, logged, when it
// could not be written (a refusal is answered anyway: it discloses nothing).
bool RecordAccess(ledger::Ledger& ledger, const ledger::HopRecord& hop);

// Answers with `response` once `hop` is recorded; if it cannot be, with 503 and nothing released.
// Without a ledger (tests of an API alone) answers at once. Blocks: call on the blocking pool.
void RespondWhenAccessRecorded(ledger::Ledger* ledger, const ledger::HopRecord& hop,
                               core::HttpResponse response, const net::Responder& respond);

}  // namespace tb::app
