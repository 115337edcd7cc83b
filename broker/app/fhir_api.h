#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/app/config.h"
#include "broker/app/consent_api.h"
#include "broker/app/journey_api.h"
#include "broker/core/clock.h"
#include "broker/core/consent_records.h"
#include "broker/core/http_types.h"
#include "broker/core/record_locator.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/access_token.h"
#include "broker/policy/labels.h"
#include "broker/policy/paging.h"
#include "broker/policy/pseudonymise.h"
#include "broker/policy/purpose.h"
#include "broker/routing/federated_query.h"
#include "broker/routing/participant.h"

namespace tb::app {

// The broker's FHIR REST surface under /fhir. Every request is first tied to a registered
// participant or peer by the client certificate's subject CN; anyone else gets 403 with an
// OperationOutcome, whatever the path. Errors are OperationOutcomes with the status from
// broker/core/error_codes.def.
//
// Served (and listed in the CapabilityStatement, which is built from the same table):
//   GET  /fhir/metadata
//   GET  /fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|N      federated search
//   GET  /fhir/{Type}?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|N
//   POST /fhir/{Type}/_search (form body, keeps the NHS number out of URLs and logs)
//   GET|POST /fhir/Patient/$everything?identifier=...|N                     the whole record
//   POST|PUT|GET /fhir/Consent...                                           see consent_api.h
//   GET  /fhir/_page?token=T&offset=N      the next pages of a search made with _count
//   GET  /fhir/.well-known/smart-configuration, POST /fhir/auth/token    when policy.smart is set
// Access tokens (docs/policy.md, "Access tokens"): a request with `Authorization: Bearer T` gets
// the scopes of T that its participant still holds, when T verifies and is bound to the
// certificate presented; otherwise 401 with WWW-Authenticate. Without the header the
// certificate's scopes apply, unless policy.smart.require_tokens is set (then 401).
// Counts and paging (docs/policy.md): _summary=count, _total and _count are answered here from
// the filtered merged result (never sent to trusts). A search with more matches than _count is
// kept in memory for a few minutes under a random token bound to the requester's certificate CN
// (anyone else gets 404), and each page is filtered again when served (current consents).
// `federation` may be null (then the searches answer 501).
//
// Policy (docs/policy.md, "In the broker"): the requester's scopes, purposes and break-glass
// right come from its config entry, found by certificate CN only (a peer broker gets the peer's
// scopes and the purpose its broker passed on). Each search and $everything: X-Purpose-Of-Use /
// X-Break-Glass-Reason checked (400/403), the interaction and type checked against the scopes
// (403), the patient's consents read from the store and checked at ingress (a certain deny answers
// an empty searchset), the outbound query narrowed to a constrained scope's parameters, and the
// merged Bundle labelled, filtered (scopes + consents, total recounted) and pseudonymised for
// secondary purposes, on the blocking pool. Removals are logged as counts, types and reasons.
struct PolicyServices {
  core::ConsentRecords* consents = nullptr;              // null: no consents (all implied)
  const policy::SensitivityTable* table = nullptr;       // null: no table labelling
  const policy::Pseudonymiser* pseudonymiser = nullptr;  // null: secondary use refused (403)
  const core::Clock* clock = nullptr;                    // required
  ledger::Ledger* ledger = nullptr;  // null: hops are not recorded (tests of the API alone)
  // null: no token endpoint, bearer tokens refused (401). Otherwise /fhir/auth/token issues
  // certificate-bound tokens and a request's bearer token narrows its scopes.
  const policy::TokenService* tokens = nullptr;
};

class FhirApi {
 public:
  FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory,
          routing::FederatedQuery* federation, BlockingExecutor blocking, PolicyServices policy);

  void Handle(core::HttpRequest request, net::Responder respond) const;

  static core::HttpResponse RenderError(const core::Error& error);

 private:
  // Federated search and $everything: parse, then run on the blocking pool (the locator
  // lookup blocks); the answer arrives when every trust answered or the deadline passed.
  // GET /fhir/_page?token=T&offset=N: a page of a cached search, filtered again now.
  void ServePage(core::HttpRequest request, const policy::ParticipantPolicy& who,
                 net::Responder respond) const;
  // After identity and any bearer token: `who` carries the scopes the token leaves.
  void HandleAuthorised(core::HttpRequest request, const policy::ParticipantPolicy& who,
                        bool is_peer, net::Responder respond) const;
  // POST /fhir/auth/token (form body): SMART Backend Services client_credentials with a
  // private_key_jwt assertion; the token is bound to the caller's certificate. OAuth JSON errors.
  void ServeToken(core::HttpRequest request, const policy::ParticipantPolicy& who,
                  net::Responder respond) const;
  void Federate(core::HttpRequest request, routing::FederatedKind kind, std::string type,
                const policy::ParticipantPolicy& who, bool is_peer, net::Responder respond) const;

  // The patient's consents (none without a consent store), blocking.
  core::Result<std::vector<policy::Consent>> LoadConsents(const std::string& nhs_number) const;
  struct PatientReads {
    std::vector<policy::Consent> consents;
    std::vector<core::LocatorEntry> holders;
  };
  // The consents and the record locator's entries if the store gives both without waiting
  // (core::NoWaitReads), else nothing: the caller reads them on the blocking pool.
  std::optional<PatientReads> ReadPatientWithoutWaiting(const std::string& nhs_number) const;

  const BrokerConfig& config_;
  const routing::ParticipantDirectory& directory_;
  routing::FederatedQuery* federation_;
  BlockingExecutor blocking_;
  std::string capability_statement_;  // built once: it only changes with the config
  PolicyServices policy_;
  std::unique_ptr<RecordsConsentStore> consent_store_;  // over policy_.consents, when set
  std::unique_ptr<ConsentApi> consent_api_;
  std::unique_ptr<JourneyApi> journey_api_;
  std::unique_ptr<policy::PageCache> pages_;  // searches being paged (bounded, expiring)
  // Parsed once from the config (validated at load): by cert CN.
  std::map<std::string, policy::ParticipantPolicy, std::less<>> policies_;
};

}  // namespace tb::app
