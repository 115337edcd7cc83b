#pragma once

#include <memory>
#include <string>

#include "adapters/net/https_client.h"
#include "broker/core/clock.h"
#include "broker/core/outbound_queue.h"
#include "broker/ledger/ledger.h"
#include "broker/routing/participant.h"
#include "mappings/mapping_tables.h"

namespace boost::asio::ssl {
class context;
}

namespace tb::app {

// core::Deliverer over the participants' own endpoints, with mutual TLS both ways:
//   format "hl7v2": MLLP/TLS to the participant's `mllp` (a FHIR message is first mapped with
//                   mappings::MapFhirToV2); MSA-1 AA/CA = delivered, AE/AR/CE/CR = permanent
//                   (the destination refused it; retrying will not help), no answer = transient;
//   format "fhir":  POST {fhir_base}/$process-message with the message Bundle (a v2 message is
//                   first mapped with mappings::MapV2ToFhir); 2xx = delivered, 4xx = permanent,
//                   5xx or no answer = transient.
// The server certificate must chain to our CA, carry the endpoint's name or IP and have the
// participant's `cert_cn` as CN. A message that cannot be mapped is a permanent failure. One
// MLLP connection per delivery (simple and safe; pooling is a later optimisation).
// Every attempt is a delivery hop in the audit ledger (when one is given): destination, patient,
// SHA-256 of the bytes sent, outcome, and whether a mapping happened.
// Thread-safety: Deliver may run on many threads at once.
class ParticipantDeliverer final : public core::Deliverer {
 public:
  ParticipantDeliverer(const routing::ParticipantDirectory& directory,
                       std::shared_ptr<boost::asio::ssl::context> client_tls,
                       std::shared_ptr<net::HttpsClient> https,
                       const mappings::MappingTables& tables, std::string broker_ods,
                       ledger::Ledger* ledger, const core::Clock& clock);

  core::Result<core::DeliveryResult> Deliver(const core::OutboundItem& item) override;

 private:
  // `sent` receives the bytes that went out (for the ledger digest).
  core::Result<core::DeliveryResult> Attempt(const core::OutboundItem& item, std::string& sent);
  core::Result<core::DeliveryResult> DeliverHl7(const routing::Participant& to,
                                                const core::OutboundItem& item, std::string& sent);
  core::Result<core::DeliveryResult> DeliverFhir(const routing::Participant& to,
                                                 const core::OutboundItem& item, std::string& sent);
  void RecordHop(const core::OutboundItem& item, const std::string& sent,
                 const core::Result<core::DeliveryResult>& result);

  const routing::ParticipantDirectory& directory_;
  std::shared_ptr<boost::asio::ssl::context> client_tls_;
  std::shared_ptr<net::HttpsClient> https_;
  const mappings::MappingTables& tables_;
  std::string broker_ods_;
  ledger::Ledger* ledger_;
  const core::Clock& clock_;
};

}  // namespace tb::app
