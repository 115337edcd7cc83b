#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/core/clock.h"
#include "broker/core/consent_records.h"
#include "broker/core/http_types.h"
#include "broker/core/id_generator.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/consent_store.h"
#include "broker/policy/scope.h"

namespace tb::app {

// policy::ConsentStore over the broker's stored records (core::ConsentRecords, tb::store): each
// record is parsed with policy::ParseConsent when read, so the engine sees what was stored.
// Errors: the store's; kStorage for a stored record that no longer parses (fail closed).
// Blocks (storage I/O): call from the blocking pool. Thread-safe when `records` is.
class RecordsConsentStore final : public policy::ConsentStore {
 public:
  RecordsConsentStore(core::ConsentRecords& records, const core::Clock& clock)
      : records_(records), clock_(clock) {}

  core::Result<std::vector<policy::Consent>> GetByNhsNumber(
      std::string_view nhs_number) const override;
  core::Result<policy::Consent> GetById(std::string_view id) const override;
  // Stores consent.json as it is (version 1 for a new id, else the stored version + 1).
  core::Status Put(policy::Consent consent) override;

 private:
  core::ConsentRecords& records_;
  const core::Clock& clock_;
};

// The /fhir/Consent endpoints (issue 6, docs/policy.md "In the broker"):
//   POST /fhir/Consent                 create: 201, Location, the stored resource (server id)
//   PUT  /fhir/Consent/{id}            update (e.g. status inactive = withdrawal): 200
//   GET  /fhir/Consent/{id}            read: 200 or 404
//   GET  /fhir/Consent?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|N   searchset
// Each needs the matching permission on Consent in the caller's scopes (c, u, r, s), else 403.
// Bodies are validated with policy::ParseConsent (400 OperationOutcome naming the FHIRPath).
// The server sets id, meta.versionId and meta.lastUpdated; on PUT a body id must equal the path's
// and Consent.patient the stored one's (400: a Consent never moves to another patient). Writes are
// compare-and-set on the version (core::ConsentRecords::Put): a PUT that another update beat is
// 409, or 412 when it sent If-Match (W/"N", also 412 when the stored version is not N). Storage
// runs on the blocking pool. A stored Consent applies from the next request. Every interaction is
// recorded in the audit ledger before it is answered (access_record.h): a write before the Consent
// is stored, a read or search (a disclosure of the patient's choices) before the answer goes out, a
// 403 as a refusal.
class ConsentApi {
 public:
  // `ledger` null: nothing is recorded (tests of the API alone).
  ConsentApi(core::ConsentRecords* records, const core::Clock& clock, BlockingExecutor blocking,
             ledger::Ledger* ledger, std::string broker_ods);

  static bool Handles(std::string_view path) {
    return path == "/fhir/Consent" || path.rfind("/fhir/Consent/", 0) == 0 ||
           path == "/fhir/Consent/_search";
  }

  // `requester` is the caller's ODS code or peer id (for the log only).
  void Handle(core::HttpRequest request, const policy::ScopeSet& scopes, std::string requester,
              net::Responder respond) const;

 private:
  core::ConsentRecords* records_;  // null: the endpoints answer 501
  const core::Clock& clock_;
  BlockingExecutor blocking_;
  ledger::Ledger* ledger_;
  std::string broker_ods_;
  mutable core::ControlIdGenerator ids_;
};

}  // namespace tb::app
