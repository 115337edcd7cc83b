#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/core/clock.h"
#include "broker/core/http_types.h"
#include "broker/core/id_generator.h"
#include "broker/core/inbound_store.h"
#include "broker/core/log.h"
#include "broker/core/record_locator.h"
#include "broker/ledger/ledger.h"
#include "broker/routing/fhir_message_ingest.h"
#include "broker/routing/participant.h"

namespace tb::app {

struct ProcessMessageSettings {
  std::string broker_id;   // names the broker in the response's MessageHeader.source
  std::string broker_ods;  // a destination naming it is routed by the record locator
  std::size_t max_body_bytes = 8 * 1024 * 1024;  // larger messages: 413
  // Schema + UK Core validation with fhir::DefaultValidator(), compiled on the first message (a
  // few seconds), not at start; false: structural checks only (tests of the API alone).
  bool validate = true;
};

// `POST /fhir/$process-message` (DESIGN.md "Publish", docs/process-message.md): a participant
// publishes a FHIR message Bundle; routing::FhirMessageIngest checks, routes and stores it on the
// blocking pool, and the answer is sent only after the commit (never a 2xx before it):
//   200  stored, or a duplicate of a stored message: a response message (Bundle type message)
//        whose MessageHeader.response has identifier = the request's MessageHeader.id, code "ok"
//        and details = an OperationOutcome entry (information) saying what was done;
//   4xx  bad input (405 not POST, 415 not FHIR JSON, 413 too large, 400/422 invalid, 403 unknown
//        certificate, foreign sender or unregistered destination, 409 conflict): code
//        "fatal-error" with the OperationOutcome of every problem — resending will not help;
//   503  storage failure: code "transient-error" — resend later.
// Errors found before the request's MessageHeader could be read are a bare OperationOutcome.
// Every answer's body is application/fhir+json. One `fhir_message` log line per request
// (sender, type, outcome, status, stored row id, size): no NHS numbers, no payload.
// `on_stored` (may be empty) runs after each newly stored message, e.g. to wake the delivery
// worker. Everything passed in must outlive the API and its pending work.
class ProcessMessageApi {
 public:
  ProcessMessageApi(const routing::ParticipantDirectory& directory, core::InboundStore& store,
                    core::RecordLocator* locator, ledger::Ledger* ledger, const core::Clock& clock,
                    BlockingExecutor blocking, ProcessMessageSettings settings,
                    std::function<void()> on_stored = {});

  static bool Handles(std::string_view path) { return path == "/fhir/$process-message"; }

  // Thread-safe; answers through `respond`, from the blocking pool for anything that was read.
  void Handle(core::HttpRequest request, net::Responder respond) const;

 private:
  core::HttpResponse Answer(const core::HttpRequest& request,
                            const routing::FhirMessageIngestResult& result) const;
  // The ingest, built on first use (with the validator, when asked for); null with `error` set
  // when the validator cannot be loaded. Blocks: call from the blocking pool.
  routing::FhirMessageIngest* Ingest(core::Error& error) const;

  const core::Clock& clock_;
  BlockingExecutor blocking_;
  ProcessMessageSettings settings_;
  std::function<void()> on_stored_;
  const routing::ParticipantDirectory& directory_;
  core::InboundStore& store_;
  core::RecordLocator* locator_;
  ledger::Ledger* ledger_;
  mutable std::once_flag ingest_once_;
  mutable std::unique_ptr<routing::FhirMessageIngest> ingest_;
  mutable core::Error ingest_error_;
  mutable core::ControlIdGenerator ids_;
  core::Logger log_{"tb.process_message"};
};

}  // namespace tb::app
