#pragma once

#include "adapters/net/https_server.h"
#include "broker/app/config.h"
#include "broker/core/http_types.h"
#include "broker/routing/participant.h"

namespace tb::app {

// The broker's FHIR REST surface under /fhir. Every request is first tied to a registered
// participant or peer by the client certificate's subject CN; anyone else gets 403 with an
// OperationOutcome, whatever the path. Errors are OperationOutcomes with the status from
// broker/core/error_codes.def.
class FhirApi {
 public:
  FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory);

  void Handle(core::HttpRequest request, net::Responder respond) const;

  static core::HttpResponse RenderError(const core::Error& error);

 private:
  // The CapabilityStatement lists only what this build really serves.
  std::string BuildCapabilityStatement() const;

  const BrokerConfig& config_;
  const routing::ParticipantDirectory& directory_;
  std::string capability_statement_;  // built once: it only changes with the config
};

}  // namespace tb::app
