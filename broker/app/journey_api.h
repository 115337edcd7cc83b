#pragma once

#include <string_view>

#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/core/http_types.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/purpose.h"
#include "broker/policy/scope.h"

namespace tb::app {

// The patient's data journey (DESIGN.md): `GET|POST /fhir/Patient/$journey` with
// `identifier=https://fhir.nhs.uk/Id/nhs-number|N` (POST: form body, which keeps the NHS number
// out of URLs and logs). Answers a searchset Bundle of the ledger's Provenance and AuditEvent
// records about that patient, oldest first: every hop, who asked, for what purpose, what was
// released or refused. Ids are "<seq>" (the ledger sequence number), so an entry can be found
// again in `trustbridge audit verify` output.
// Only for requesters granted search on AuditEvent and Provenance (e.g. system/AuditEvent.rs and
// system/Provenance.rs): the journey itself is sensitive. Reads run on the blocking pool.
class JourneyApi {
 public:
  JourneyApi(ledger::Ledger* ledger, BlockingExecutor blocking, std::string broker_ods)
      : ledger_(ledger), blocking_(std::move(blocking)), broker_ods_(std::move(broker_ods)) {}

  static bool Handles(std::string_view path) { return path == "/fhir/Patient/$journey"; }
  // A requester without those scopes gets 403, and the refusal is recorded in the ledger.
  void Handle(core::HttpRequest request, const policy::ParticipantPolicy& who,
              net::Responder respond) const;

 private:
  ledger::Ledger* ledger_;  // null: 501
  BlockingExecutor blocking_;
  std::string broker_ods_;
};

}  // namespace tb::app
