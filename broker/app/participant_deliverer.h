#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/mllp/client_pool.h"
#include "adapters/net/https_client.h"
#include "broker/core/clock.h"
#include "broker/core/outbound_queue.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/consent_store.h"
#include "broker/policy/delivery.h"
#include "broker/policy/labels.h"
#include "broker/policy/scope.h"
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
// participant's `cert_cn` as CN. A message that cannot be mapped is a permanent failure. MLLP
// connections are kept open between deliveries (mllp::MllpClientPool, `mllp_pool`): a connection
// goes back to the pool only after an acknowledgement it could read; a reused connection the
// destination had dropped is replaced within the attempt (docs/queue.md, "Connections").
// Policy on every attempt (a replay re-checks): the destination is a requester with purpose
// TREAT and its configured scopes; the message, as a FHIR message Bundle (a v2 message mapped
// first), passes policy::CheckMessageBundle against the patient's consents read now. A refusal
// is core::DeliveryOutcome::kRefused (nothing is sent). Resources the destination may not see are
// removed from a FHIR delivery; an HL7 v2 delivery is all or nothing (segments are not removed:
// a v2 message with withheld parts is refused), except that a FHIR message mapped to v2 is mapped
// from the reduced Bundle. docs/policy.md, "Push path".
// Every attempt is a hop in the audit ledger (when one is given): a delivery hop (destination,
// patient, SHA-256 of the bytes sent, outcome, whether a mapping happened, what was withheld), or
// a refusal hop; plus one refusal record per withheld resource (type/id and why).
// Thread-safety: Deliver may run on many threads at once.
struct DeliveryPolicy {
  const policy::ConsentStore* consents = nullptr;   // null: no consents (implied consent)
  const policy::SensitivityTable* table = nullptr;  // null: no table labelling
};

class ParticipantDeliverer final : public core::Deliverer {
 public:
  ParticipantDeliverer(const routing::ParticipantDirectory& directory,
                       std::shared_ptr<boost::asio::ssl::context> client_tls,
                       std::shared_ptr<net::HttpsClient> https,
                       const mappings::MappingTables& tables, std::string broker_ods,
                       ledger::Ledger* ledger, const core::Clock& clock, DeliveryPolicy policy = {},
                       mllp::MllpClientPoolSettings mllp_pool = {});

  core::Result<core::DeliveryResult> Deliver(const core::OutboundItem& item) override;

 private:
  // What one attempt did, for the ledger.
  struct AttemptRecord {
    std::string sent;  // the bytes that went out (for the digest)
    std::string decision;
    std::vector<policy::Removal> removed;
    // The patients the message carries besides the routing key (OutboundItem::nhs_number): each
    // one's journey records the delivery or refusal too.
    std::vector<std::string> other_patients;
  };
  core::Result<core::DeliveryResult> Attempt(const core::OutboundItem& item, AttemptRecord& record);
  core::Result<core::DeliveryResult> SendHl7(const routing::Participant& to, std::string er7,
                                             std::string& sent);
  core::Result<core::DeliveryResult> SendFhir(const routing::Participant& to,
                                              const core::OutboundItem& item, std::string bundle,
                                              std::string& sent);
  void RecordHop(const core::OutboundItem& item, const AttemptRecord& record,
                 const core::Result<core::DeliveryResult>& result);

  const routing::ParticipantDirectory& directory_;
  std::shared_ptr<boost::asio::ssl::context> client_tls_;
  std::shared_ptr<net::HttpsClient> https_;
  const mappings::MappingTables& tables_;
  std::string broker_ods_;
  ledger::Ledger* ledger_;
  const core::Clock& clock_;
  DeliveryPolicy policy_;
  std::unique_ptr<mllp::MllpClientPool> mllp_pool_;  // MLLP/TLS connections, by destination
  // Each participant's scopes, parsed once (validated when the config was loaded), by ODS code.
  std::map<std::string, policy::ScopeSet, std::less<>> scopes_;
};

}  // namespace tb::app
