#pragma once

#include <functional>
#include <set>
#include <string>

#include "adapters/net/https_server.h"
#include "broker/core/clock.h"
#include "broker/core/http_types.h"
#include "broker/core/outbound_queue.h"
#include "broker/core/record_locator.h"
#include "broker/routing/participant.h"

namespace tb::ledger {
class Ledger;
}

namespace tb::app {

// Runs blocking work (storage) off the I/O threads.
using BlockingExecutor = std::function<void(std::function<void()>)>;

// Operator endpoints under /admin, on the same mutual-TLS listener as /fhir, for certificates
// whose subject CN is listed in config `admin.cert_cns` (anyone else: 403). JSON in, JSON out;
// NHS numbers travel in bodies, never in URLs (which end up in logs).
//   POST /admin/locator           {"nhs_number": "...", "ods": "RGT"}  -> 204: RGT holds data
//   POST /admin/locator/_forget   {"nhs_number": "...", "ods": "RGT"}  -> 204
//   POST /admin/locator/_search   {"nhs_number": "..."}  -> 200 {"entries": [{ods, source,
//                                  first_seen, last_seen}]}
//   POST /admin/queue/_dead      -> 200 the dead letters (no payloads, no NHS numbers)
//   POST /admin/queue/_counts    -> 200 items per state
//   POST /admin/queue/replay     {"id": N} -> 204: a dead item is due again (a new attempt)
//   POST /admin/queue/discard    {"id": N} -> 204: given up; the patient's later items flow
//   GET  /admin/health           -> 200 {"status": "pass", ...} when the store answers a read,
//                                   503 {"status": "fail", ...} when it does not: for a load
//                                   balancer's health check, which may use a certificate listed
//                                   in `admin.health_cns` (allowed this endpoint only).
// The ODS code must be a registered participant (data only ever goes to registered ones).
// Where a patient is held is about the patient: an announce or forget is recorded in the ledger
// before the change, a _search before its answer (access_record.h).
// Errors are OperationOutcomes (400 bad JSON / NHS number, 404 unknown route, 503 storage).
class AdminApi {
 public:
  AdminApi(std::set<std::string, std::less<>> admin_cns,
           const routing::ParticipantDirectory& directory, core::RecordLocator& locator,
           core::OutboundQueue* queue, const core::Clock& clock, BlockingExecutor blocking,
           ledger::Ledger* ledger = nullptr, std::string broker_ods = {});

  // Certificate CNs that may ask GET /admin/health and nothing else (a load balancer's).
  void AllowHealthChecks(std::set<std::string, std::less<>> health_cns) {
    health_cns_ = std::move(health_cns);
  }

  static bool Handles(std::string_view path) { return path.rfind("/admin/", 0) == 0; }
  void Handle(core::HttpRequest request, net::Responder respond) const;

 private:
  void HandleHealth(const core::HttpRequest& request, net::Responder respond) const;

  std::set<std::string, std::less<>> admin_cns_;
  std::set<std::string, std::less<>> health_cns_;
  const routing::ParticipantDirectory& directory_;
  // `admin` is the caller's certificate CN (recorded with a replay).
  void HandleQueue(const std::string& path, const std::string& body, std::string admin,
                   net::Responder respond) const;

  core::RecordLocator& locator_;
  core::OutboundQueue* queue_;  // null: the queue endpoints answer 501
  const core::Clock& clock_;
  BlockingExecutor blocking_;
  ledger::Ledger* ledger_;  // null: replays are not recorded (tests of the API alone)
  std::string broker_ods_;
};

}  // namespace tb::app
