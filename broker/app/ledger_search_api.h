#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/capability_statement.h"
#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/core/http_types.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/purpose.h"

namespace tb::app {

// FHIR search over the audit ledger (docs/ledger.md, "FHIR search"):
//   GET /fhir/Provenance?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|N
//                       &target=Bundle/x &agent=<ODS> &recorded=ge2026-11-23 ...
//   GET /fhir/AuditEvent?patient:identifier=...|N &agent=<ODS> &date=ge...&date=lt...
//                       &outcome=0|4|8|12 &type=<DICOM code> &subtype=search-type
// Common: _count (default 50, at most 500), _sort=-date (default, newest first) or date (oldest
// first; Provenance also -recorded/recorded), _cursor (set by the next link: keyset by ledger seq,
// never an offset). agent also as agent:identifier=https://fhir.nhs.uk/Id/ods-organization-code|X;
// it matches the hop's requester, source or destination. date prefixes eq (default), ge, le, gt,
// lt. Parameters AND, comma values of type/subtype OR. An unknown parameter is 400 (a filter the
// client believes applied must not be silently dropped); an invalid NHS number is 400.
// Answers a searchset Bundle (entries' ids are ledger seqs, as in the journey) with self and next
// links. Only for requesters granted unconstrained search on the type (system/AuditEvent.rs,
// system/Provenance.rs): anyone else gets 403 and the refusal is recorded in the ledger.
// Every criterion is an indexed column (migration 006); reads run on the blocking pool.
//
// Holds nothing a request needs after Handle returns: it may be built per request.
class LedgerSearchApi {
 public:
  LedgerSearchApi(ledger::Ledger* ledger, BlockingExecutor blocking, std::string broker_ods)
      : ledger_(ledger), blocking_(std::move(blocking)), broker_ods_(std::move(broker_ods)) {}

  static bool Handles(std::string_view path) {
    return path == "/fhir/Provenance" || path == "/fhir/AuditEvent";
  }
  void Handle(core::HttpRequest request, const policy::ParticipantPolicy& who,
              net::Responder respond) const;

  // Provenance and AuditEvent with the parameters above, for the CapabilityStatement.
  static std::vector<fhir::ResourceSpec> CapabilityResources();

 private:
  ledger::Ledger* ledger_;  // null: 501
  BlockingExecutor blocking_;
  std::string broker_ods_;
};

}  // namespace tb::app
