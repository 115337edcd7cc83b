#include "broker/app/participant_deliverer.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <utility>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "adapters/mllp/client.h"
#include "adapters/mllp/client_pool.h"
#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/core/nhs_number.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/v2_to_fhir.h"

namespace tb::app {
namespace {

using core::DeliveryOutcome;
using core::DeliveryResult;

constexpr std::chrono::seconds kAttemptTimeout{30};
// Acknowledgements of other messages skipped while waiting for one message's own (SendHl7).
constexpr int kMaxStaleAcks = 4;

DeliveryResult Permanent(std::string detail) {
  return DeliveryResult{DeliveryOutcome::kPermanentFailure, std::move(detail)};
}
DeliveryResult Transient(std::string detail) {
  return DeliveryResult{DeliveryOutcome::kTransientFailure, std::move(detail)};
}

// The patients a message carries: the routing key first, then every other valid NHS number in
// it, each once. An invalid number names no patient anyone could hold consents for (and the
// ingest refuses one in a Patient or a PID).
std::vector<std::string> PatientsOf(const core::OutboundItem& item,
                                    std::vector<std::string> carried) {
  std::vector<std::string> patients;
  if (!item.nhs_number.empty()) {
    patients.push_back(item.nhs_number);
  }
  for (std::string& number : carried) {
    if (core::IsValidNhsNumber(number) &&
        std::find(patients.begin(), patients.end(), number) == patients.end()) {
      patients.push_back(std::move(number));
    }
  }
  return patients;
}

}  // namespace

ParticipantDeliverer::ParticipantDeliverer(const routing::ParticipantDirectory& directory,
                                           std::shared_ptr<boost::asio::ssl::context> client_tls,
                                           std::shared_ptr<net::HttpsClient> https,
                                           const mappings::MappingTables& tables,
                                           std::string broker_ods, ledger::Ledger* ledger,
                                           const core::Clock& clock, DeliveryPolicy policy,
                                           mllp::MllpClientPoolSettings mllp_pool)
    : directory_(directory),
      client_tls_(std::move(client_tls)),
      https_(std::move(https)),
      tables_(tables),
      broker_ods_(std::move(broker_ods)),
      ledger_(ledger),
      clock_(clock),
      policy_(policy),
      mllp_pool_(std::make_unique<mllp::MllpClientPool>(client_tls_, mllp_pool)) {
  // Scopes were validated when the config was loaded; one that still fails here is dropped,
  // which can only narrow what a destination receives.
  for (const routing::Participant& participant : directory_.participants()) {
    std::vector<policy::Scope> scopes;
    for (const std::string& text : participant.scopes) {
      if (auto scope = policy::ParseScope(text); scope) {
        scopes.push_back(std::move(*scope));
      }
    }
    scopes_.emplace(participant.ods, policy::ScopeSet(std::move(scopes)));
  }
}

core::Result<DeliveryResult> ParticipantDeliverer::Deliver(const core::OutboundItem& item) {
  AttemptRecord record;
  core::Result<DeliveryResult> result = Attempt(item, record);
  RecordHop(item, record, result);
  return result;
}

void ParticipantDeliverer::RecordHop(const core::OutboundItem& item, const AttemptRecord& record,
                                     const core::Result<DeliveryResult>& result) {
  if (ledger_ == nullptr) {
    return;
  }
  const bool refused = result && result->outcome == DeliveryOutcome::kRefused;
  ledger::HopRecord hop;
  hop.kind = refused ? ledger::HopKind::kRefusal : ledger::HopKind::kDelivery;
  hop.time_ms = core::ToUnixMs(clock_.Now());
  hop.request_id = item.control_id;
  hop.broker_ods = broker_ods_;
  hop.source_ods = item.sender;
  hop.destination_ods = item.destination;
  hop.requester_ods = refused ? item.destination : std::string();
  hop.purpose_of_use = std::string(policy::kDefaultPurpose);
  hop.nhs_number = item.nhs_number;
  hop.source_digest = core::Sha256Hex(record.sent.empty() ? item.payload : record.sent);
  hop.derived = item.protocol != (item.format == "hl7v2" ? "hl7v2" : "fhir");
  hop.mapped_v2_to_fhir = item.protocol == "hl7v2" && item.format == "fhir";
  hop.consent_decision = record.decision;
  const bool delivered = result && result->outcome == DeliveryOutcome::kDelivered;
  hop.outcome = delivered ? ledger::HopOutcome::kSuccess : ledger::HopOutcome::kMinorFailure;
  hop.outcome_detail = result ? result->detail : std::string(core::Info(result.error().code).name);
  if (!record.removed.empty() && !refused) {
    hop.outcome_detail += " withheld=" + std::to_string(record.removed.size());
  }
  // A failure is logged by the ledger; the delivery result stands.
  for (const ledger::HopRecord& each : ledger::HopPerPatient(hop, record.other_patients)) {
    (void)ledger_->Append(each);
  }
  // One record per withheld resource (what, and why), when the message went out without it.
  if (!delivered) {
    return;
  }
  for (const policy::Removal& removal : record.removed) {
    ledger::HopRecord withheld = hop;
    withheld.kind = ledger::HopKind::kRefusal;
    withheld.requester_ods = item.destination;
    withheld.target = removal.resource_type.empty() || removal.id.empty()
                          ? std::string()
                          : removal.resource_type + "/" + removal.id;
    withheld.consent_decision =
        removal.reason == policy::WithholdReason::kConsent ? removal.detail : std::string();
    withheld.outcome = ledger::HopOutcome::kMinorFailure;
    withheld.outcome_detail = "withheld " +
                              std::string(policy::WithholdReasonCode(removal.reason)) + " " +
                              removal.resource_type;
    (void)ledger_->Append(withheld);
  }
}

core::Result<DeliveryResult> ParticipantDeliverer::Attempt(const core::OutboundItem& item,
                                                           AttemptRecord& record) {
  const routing::Participant* to = directory_.FindByOds(item.destination);
  if (to == nullptr) {  // removed from the config since the message was routed
    return Permanent("destination " + item.destination + " is no longer a registered participant");
  }
  if (item.format != "hl7v2" && item.format != "fhir") {
    return Permanent("unknown delivery format");
  }
  // The message read once. Its patients: the routing key, and any other patient it carries (a
  // two-patient v2 event, ADT^A17, A24 or A37; a merge's retired or linked record). Whoever
  // receives it receives every one's data, so every one's consents apply.
  std::optional<hl7v2::Message> v2;
  std::optional<rapidjson::Document> bundle;
  std::vector<std::string> carried;
  if (item.protocol == "fhir") {
    auto parsed = fhir::ParseJson(item.payload);
    if (!parsed) {
      return Permanent("the message is not FHIR JSON: " +
                       std::string(core::Info(parsed.error().code).name));
    }
    carried = policy::PatientNhsNumbers(*parsed);
    bundle.emplace(std::move(*parsed));
  } else {
    auto parsed = hl7v2::Message::Parse(item.payload);
    if (!parsed) {
      return Permanent("the message is not HL7 v2: " +
                       std::string(core::Info(parsed.error().code).name));
    }
    carried = hl7v2::PatientNhsNumbers(*parsed, tables_.nhs_number_namespaces());
    v2.emplace(std::move(*parsed));
  }
  const std::vector<std::string> patients = PatientsOf(item, std::move(carried));
  record.other_patients.assign(patients.begin() + (item.nhs_number.empty() ? 0 : 1),
                               patients.end());
  // Their consents, read now: a Consent stored since the message arrived applies, and a replay
  // re-checks. Across consents any deny wins (policy::Evaluate), so one list serves them all.
  std::vector<policy::Consent> consents;
  if (policy_.consents != nullptr) {
    for (const std::string& patient : patients) {
      auto loaded = policy_.consents->GetByNhsNumber(patient);
      if (!loaded) {  // fail closed, and try again later
        return Transient("consents unavailable: " +
                         std::string(core::Info(loaded.error().code).name));
      }
      std::move(loaded->begin(), loaded->end(), std::back_inserter(consents));
    }
  }
  const auto scopes = scopes_.find(item.destination);
  const policy::RequestContext destination = policy::DestinationContext(
      item.destination, scopes != scopes_.end() ? scopes->second : policy::ScopeSet());
  const auto now = clock_.Now();
  // First at message level, so that a consent refusing the destination applies even to a message
  // that cannot be mapped (and to a dead letter being replayed).
  const policy::DeliveryCheck first = policy::CheckDestination(destination, consents, now);
  record.decision = policy::Describe(first.decision);
  if (first.verdict == policy::DeliveryVerdict::kRefuse) {
    return DeliveryResult{DeliveryOutcome::kRefused, first.reason};
  }

  // The message as a FHIR message Bundle, to check (and reduce) resource by resource.
  std::string bundle_json;
  if (item.protocol == "fhir") {
    bundle_json = item.payload;
  } else {
    auto mapped = mappings::MapV2ToFhir(*v2, tables_);
    if (!mapped) {
      if (item.format == "fhir") {
        return Permanent(
            "cannot map to FHIR: " + std::string(core::Info(mapped.error().code).name) + " at " +
            mapped.error().location);
      }
      // v2 to a v2 destination without a FHIR mapping: judged as a whole.
      const policy::DeliveryCheck opaque = policy::CheckOpaqueMessage(destination, consents, now);
      record.decision = policy::Describe(opaque.decision);
      if (opaque.verdict == policy::DeliveryVerdict::kRefuse) {
        return DeliveryResult{DeliveryOutcome::kRefused, opaque.reason};
      }
      return SendHl7(*to, item.payload, record.sent);
    }
    bundle_json = std::move(*mapped);
    auto parsed = fhir::ParseJson(bundle_json);
    if (!parsed) {
      return Permanent("the mapped message is not FHIR JSON: " +
                       std::string(core::Info(parsed.error().code).name));
    }
    bundle.emplace(std::move(*parsed));
  }
  policy::DeliveryCheck check =
      policy::CheckMessageBundle(*bundle, destination, consents, policy_.table, now);
  record.decision = policy::Describe(check.decision);
  record.removed = std::move(check.removed);
  if (check.verdict == policy::DeliveryVerdict::kRefuse) {
    return DeliveryResult{DeliveryOutcome::kRefused, check.reason};
  }
  const bool reduced = !record.removed.empty();
  if (item.format == "fhir") {
    return SendFhir(*to, item, reduced ? fhir::ToJson(*bundle) : std::move(bundle_json),
                    record.sent);
  }
  if (item.protocol == "hl7v2") {
    if (reduced) {
      return DeliveryResult{DeliveryOutcome::kRefused,
                            "scope/consent: parts of the message are withheld from " +
                                item.destination + " and HL7 v2 segments are not removed"};
    }
    return SendHl7(*to, item.payload, record.sent);
  }
  mappings::FhirToV2Options options;
  options.sending_facility = broker_ods_;
  options.receiving_facility = to->ods;
  options.control_id = item.control_id;
  auto er7 = mappings::MapFhirToV2(reduced ? fhir::ToJson(*bundle) : item.payload, options);
  if (!er7) {
    const std::string why =
        std::string(core::Info(er7.error().code).name) + " at " + er7.error().location;
    if (reduced) {  // what the destination may see is not a complete v2 message
      return DeliveryResult{
          DeliveryOutcome::kRefused,
          "scope/consent: what may be delivered cannot be mapped to HL7 v2: " + why};
    }
    return Permanent("cannot map to HL7 v2: " + why);
  }
  return SendHl7(*to, std::move(*er7), record.sent);
}

core::Result<DeliveryResult> ParticipantDeliverer::SendHl7(const routing::Participant& to,
                                                           std::string er7, std::string& sent) {
  if (to.mllp.host.empty()) {
    return Permanent("participant " + to.ods + " has no MLLP endpoint");
  }
  mllp::MllpClientSettings settings;
  settings.host = to.mllp.host;
  settings.port = to.mllp.port;
  settings.reply_timeout = kAttemptTimeout;
  sent = er7;
  auto client = mllp_pool_->Acquire(settings);
  if (!client) {
    return Transient(std::string(core::Info(client.error().code).name) + " from " + to.ods);
  }
  // As on the FHIR path (HttpsTarget::expected_cn): the CA vouches for the host name, but only
  // the participant's own certificate may receive its messages. Nothing is sent otherwise, and
  // the connection is dropped rather than pooled.
  const std::string& server_cn = client->client().ServerIdentity().subject_cn;
  if (!to.cert_cn.empty() && server_cn != to.cert_cn) {
    return Transient("the MLLP endpoint of " + to.ods + " presented certificate CN " + server_cn +
                     ", not " + to.cert_cn);
  }
  // The answer to this message is the acknowledgement whose MSA-2 is its MSH-10: a destination
  // may send two frames per message (a commit ACK, then an application ACK) or a late duplicate,
  // and taking such a frame as this message's answer marks a message delivered that may never
  // have been read (or refuses one on another message's NAK).
  auto sent_message = hl7v2::Message::Parse(er7);
  const std::string control_id =
      sent_message ? sent_message->Get("MSH-10").Decoded() : std::string();
  if (control_id.empty()) {
    return Permanent("the message for " + to.ods + " has no MSH-10");
  }
  // On any failure below `client` is dropped, which closes it: only a connection whose last
  // acknowledgement was read and understood carries the next message.
  // One deadline for the answer, stale acknowledgements included: skipping them must not make
  // an attempt outlive the reply timeout (and the queue's lease, docs/queue.md).
  const auto answer_deadline = std::chrono::steady_clock::now() + kAttemptTimeout;
  auto reply = mllp_pool_->Send(*client, er7);
  std::optional<hl7v2::Message> ack;
  for (int stale = 0;; ++stale) {
    if (!reply) {
      return Transient(std::string(core::Info(reply.error().code).name) + " from " + to.ods);
    }
    auto parsed = hl7v2::Message::Parse(*reply);
    if (!parsed) {
      return Transient("unreadable acknowledgement from " + to.ods);
    }
    if (parsed->Get("MSA-2").Decoded() == control_id) {
      ack.emplace(std::move(*parsed));
      break;
    }
    // An answer to an earlier message (or to none): skip it and read on, a few times at most.
    // Past that, the connection is out of step: dropped, and the message is sent again later.
    if (stale == kMaxStaleAcks) {
      return Transient("acknowledgements from " + to.ods + " answer other messages than " +
                       control_id);
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        answer_deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds::zero()) {
      return Transient("no acknowledgement of " + control_id + " from " + to.ods + " within " +
                       std::to_string(kAttemptTimeout.count()) + " s");
    }
    reply = client->client().Receive(left);
  }
  const std::string code = ack->Get("MSA-1").Decoded();
  const bool accepted = code == "AA" || code == "CA";
  const bool error = code == "AE" || code == "CE";
  const bool rejected = code == "AR" || code == "CR";
  if (!accepted && !error && !rejected) {
    return Transient("acknowledgement without MSA-1 from " + to.ods);
  }
  mllp_pool_->Release(std::move(*client));  // answered in order: fit for the next message
  if (accepted) {
    return DeliveryResult{DeliveryOutcome::kDelivered, code};
  }
  const std::string err3 = ack->Get("ERR-3.1").Decoded();
  const std::string detail = code + " " + err3 + " from " + to.ods;
  // v2.5.1 section 2.9.2.2: AE/CE is an error in the message (correct it, do not resend as is);
  // AR/CR is either a failure of the receiver unrelated to the message (system down, disk full:
  // resend later, unchanged) or a message type, processing id or version it does not take
  // (section 2.9.2.2 a, ERR-3 200-203 in table 0357). Only the latter is final: before, every AR
  // was, so a trustbridge destination whose disk was full dead-lettered the message.
  const bool unsupported = err3 == "200" || err3 == "201" || err3 == "202" || err3 == "203";
  if (rejected && !unsupported) {
    return Transient(detail);
  }
  return Permanent(detail);
}

core::Result<DeliveryResult> ParticipantDeliverer::SendFhir(const routing::Participant& to,
                                                            const core::OutboundItem& item,
                                                            std::string bundle, std::string& sent) {
  if (to.fhir_base.empty()) {
    return Permanent("participant " + to.ods + " has no FHIR endpoint");
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
