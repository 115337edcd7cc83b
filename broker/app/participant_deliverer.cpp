#include "broker/app/participant_deliverer.h"

#include <chrono>
#include <utility>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/v2_to_fhir.h"

namespace tb::app {
namespace {

using core::DeliveryOutcome;
using core::DeliveryResult;

constexpr std::chrono::seconds kAttemptTimeout{30};

DeliveryResult Permanent(std::string detail) {
  return DeliveryResult{DeliveryOutcome::kPermanentFailure, std::move(detail)};
}
DeliveryResult Transient(std::string detail) {
  return DeliveryResult{DeliveryOutcome::kTransientFailure, std::move(detail)};
}

}  // namespace

ParticipantDeliverer::ParticipantDeliverer(const routing::ParticipantDirectory& directory,
                                           std::shared_ptr<boost::asio::ssl::context> client_tls,
                                           std::shared_ptr<net::HttpsClient> https,
                                           const mappings::MappingTables& tables,
                                           std::string broker_ods, ledger::Ledger* ledger,
                                           const core::Clock& clock)
    : directory_(directory),
      client_tls_(std::move(client_tls)),
      https_(std::move(https)),
      tables_(tables),
      broker_ods_(std::move(broker_ods)),
      ledger_(ledger),
      clock_(clock) {}

core::Result<DeliveryResult> ParticipantDeliverer::Deliver(const core::OutboundItem& item) {
  std::string sent;
  core::Result<DeliveryResult> result = Attempt(item, sent);
  RecordHop(item, sent, result);
  return result;
}

void ParticipantDeliverer::RecordHop(const core::OutboundItem& item, const std::string& sent,
                                     const core::Result<DeliveryResult>& result) {
  if (ledger_ == nullptr) {
    return;
  }
  ledger::HopRecord hop;
  hop.kind = ledger::HopKind::kDelivery;
  hop.time_ms = core::ToUnixMs(clock_.Now());
  hop.request_id = item.control_id;
  hop.broker_ods = broker_ods_;
  hop.source_ods = item.sender;
  hop.destination_ods = item.destination;
  hop.nhs_number = item.nhs_number;
  hop.source_digest = core::Sha256Hex(sent.empty() ? item.payload : sent);
  hop.derived = item.protocol != (item.format == "hl7v2" ? "hl7v2" : "fhir");
  hop.mapped_v2_to_fhir = item.protocol == "hl7v2" && item.format == "fhir";
  const bool delivered = result && result->outcome == DeliveryOutcome::kDelivered;
  hop.outcome = delivered ? ledger::HopOutcome::kSuccess : ledger::HopOutcome::kMinorFailure;
  hop.outcome_detail = result ? result->detail : std::string(core::Info(result.error().code).name);
  (void)ledger_->Append(hop);  // a failure is logged by the ledger; the delivery result stands
}

core::Result<DeliveryResult> ParticipantDeliverer::Attempt(const core::OutboundItem& item,
                                                           std::string& sent) {
  const routing::Participant* to = directory_.FindByOds(item.destination);
  if (to == nullptr) {  // removed from the config since the message was routed
    return Permanent("destination " + item.destination + " is no longer a registered participant");
  }
  if (item.format == "hl7v2") {
    return DeliverHl7(*to, item, sent);
  }
  if (item.format == "fhir") {
    return DeliverFhir(*to, item, sent);
  }
  return Permanent("unknown delivery format");
}

core::Result<DeliveryResult> ParticipantDeliverer::DeliverHl7(const routing::Participant& to,
                                                              const core::OutboundItem& item,
                                                              std::string& sent) {
  if (to.mllp.host.empty()) {
    return Permanent("participant " + to.ods + " has no MLLP endpoint");
  }
  std::string er7 = item.payload;
  if (item.protocol == "fhir") {
    mappings::FhirToV2Options options;
    options.sending_facility = broker_ods_;
    options.receiving_facility = to.ods;
    options.control_id = item.control_id;
    auto mapped = mappings::MapFhirToV2(item.payload, options);
    if (!mapped) {
      return Permanent(
          "cannot map to HL7 v2: " + std::string(core::Info(mapped.error().code).name) + " at " +
          mapped.error().location);
    }
    er7 = std::move(*mapped);
  }
  mllp::MllpClientSettings settings;
  settings.host = to.mllp.host;
  settings.port = to.mllp.port;
  settings.reply_timeout = kAttemptTimeout;
  mllp::MllpClient client(client_tls_, settings);
  sent = er7;
  auto reply = client.Send(er7);
  client.Close();
  if (!reply) {
    return Transient(std::string(core::Info(reply.error().code).name) + " from " + to.ods);
  }
  auto ack = hl7v2::Message::Parse(*reply);
  if (!ack) {
    return Transient("unreadable acknowledgement from " + to.ods);
  }
  const std::string code = ack->Get("MSA-1").Decoded();
  if (code == "AA" || code == "CA") {
    return DeliveryResult{DeliveryOutcome::kDelivered, code};
  }
  if (code == "AE" || code == "AR" || code == "CE" || code == "CR") {
    return Permanent(code + " " + ack->Get("ERR-3.1").Decoded() + " from " + to.ods);
  }
  return Transient("acknowledgement without MSA-1 from " + to.ods);
}

core::Result<DeliveryResult> ParticipantDeliverer::DeliverFhir(const routing::Participant& to,
                                                               const core::OutboundItem& item,
                                                               std::string& sent) {
  if (to.fhir_base.empty()) {
    return Permanent("participant " + to.ods + " has no FHIR endpoint");
  }
  std::string bundle = item.payload;
  if (item.protocol == "hl7v2") {
    auto mapped = mappings::MapV2ToFhir(item.payload, tables_);
    if (!mapped) {
      return Permanent("cannot map to FHIR: " + std::string(core::Info(mapped.error().code).name) +
                       " at " + mapped.error().location);
    }
    bundle = std::move(*mapped);
  }
  auto url = net::ParseHttpsUrl(to.fhir_base);
  if (!url) {
    return Permanent("participant " + to.ods + " has an invalid fhir_base");
  }
  url->target.expected_cn = to.cert_cn;
  core::HttpRequest request;
  request.method = "POST";
  request.target = url->path + "/$process-message";
  request.headers.Set("Content-Type", "application/fhir+json");
  request.headers.Set("Accept", "application/fhir+json");
  request.headers.Set("X-Request-ID", item.control_id);
  sent = bundle;
  request.body = std::move(bundle);
  auto response = https_->Request(url->target, std::move(request), kAttemptTimeout);
  if (!response) {
    return Transient(std::string(core::Info(response.error().code).name) + " from " + to.ods);
  }
  if (response->status >= 200 && response->status < 300) {
    return DeliveryResult{DeliveryOutcome::kDelivered, std::to_string(response->status)};
  }
  if (response->status >= 400 && response->status < 500) {
    return Permanent("HTTP " + std::to_string(response->status) + " from " + to.ods);
  }
  return Transient("HTTP " + std::to_string(response->status) + " from " + to.ods);
}

}  // namespace tb::app
