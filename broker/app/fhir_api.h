#pragma once

#include <string>

#include "adapters/net/https_server.h"
#include "broker/app/admin_api.h"
#include "broker/app/config.h"
#include "broker/core/http_types.h"
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
// `federation` may be null (then the searches answer 501).
class FhirApi {
 public:
  FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory,
          routing::FederatedQuery* federation, BlockingExecutor blocking);

  void Handle(core::HttpRequest request, net::Responder respond) const;

  static core::HttpResponse RenderError(const core::Error& error);

 private:
  // Federated search and $everything: parse, then run on the blocking pool (the locator
  // lookup blocks); the answer arrives when every trust answered or the deadline passed.
  void Federate(core::HttpRequest request, routing::FederatedKind kind, std::string type,
                std::string requester, net::Responder respond) const;

  const BrokerConfig& config_;
  const routing::ParticipantDirectory& directory_;
  routing::FederatedQuery* federation_;
  BlockingExecutor blocking_;
  std::string capability_statement_;  // built once: it only changes with the config
};

}  // namespace tb::app
