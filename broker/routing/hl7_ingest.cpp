#include "broker/routing/hl7_ingest.h"

#include <utility>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"
#include "broker/routing/destinations.h"
#include "broker/routing/inbound_hop.h"

namespace tb::routing {

namespace {

std::string ResultMessageType(const hl7v2::Message& message) {
  std::string type(message.MessageType());
  if (!message.TriggerEvent().empty()) {
    type += '^';
    type += message.TriggerEvent();
  }
  return type;
}

}  // namespace

const std::set<std::string, std::less<>>& DefaultHl7MessageTypes() {
  static const std::set<std::string, std::less<>> kTypes = {
      "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A05", "ADT^A06", "ADT^A07", "ADT^A08",
      "ADT^A09", "ADT^A10", "ADT^A11", "ADT^A12", "ADT^A13", "ADT^A28", "ADT^A31", "ADT^A34",
      "ADT^A40", "ORU^R01", "ORM^O01", "OML^O21", "MDM^T02", "SIU^S12"};
  return kTypes;
}

Hl7Ingest::Hl7Ingest(const ParticipantDirectory& directory, core::InboundStore& store,
                     core::RecordLocator* locator, const core::Clock& clock,
                     Hl7IngestSettings settings, ledger::Ledger* ledger)
    : directory_(directory),
      store_(store),
      locator_(locator),
      ledger_(ledger),
      clock_(clock),
      settings_(std::move(settings)) {
  if (settings_.rules.message_types.empty()) {
    settings_.rules.message_types = DefaultHl7MessageTypes();
  }
}

hl7v2::AckOptions Hl7Ingest::NextAckOptions() {
  hl7v2::AckOptions options;
  options.control_id = ids_.Next();
  options.time = clock_.Now();
  return options;
}

hl7v2::Ack Hl7Ingest::RefuseFrame(std::string_view head, const core::Error& error) {
  return hl7v2::MakeNak(head, error, NextAckOptions());
}

Hl7IngestResult Hl7Ingest::Ingest(std::string_view payload, const core::PeerIdentity& peer) {
  HopFacts facts;
  Hl7IngestResult result = Process(payload, peer, facts);
  if (ledger_ != nullptr && result.outcome != "duplicate") {
    if (facts.digest.empty()) {
      facts.digest = core::Sha256Hex(payload);
    }
    RecordHop(result, peer, facts);
  }
  return result;
}

void Hl7Ingest::RecordHop(const Hl7IngestResult& result, const core::PeerIdentity& peer,
                          const HopFacts& facts) {
  const bool stored = result.outcome == "stored";
  InboundHopFacts hop;
  hop.stored = stored;
  hop.time_ms = core::ToUnixMs(clock_.Now());
  hop.control_id = facts.control_id;
  hop.broker_ods = settings_.broker_ods;
  hop.sender = result.sender;
  hop.sender_address = peer.remote_address;
  hop.nhs_number = facts.nhs_number;
  hop.digest = facts.digest;
  hop.message_id = result.message_id;
  hop.outcome_detail = stored ? result.message_type : facts.error_code;
  RecordInboundHop(*ledger_, hop, log_);
}

Hl7IngestResult Hl7Ingest::Process(std::string_view payload, const core::PeerIdentity& peer,
                                   HopFacts& facts) {
  Hl7IngestResult result;
  const Participant* participant = directory_.FindByCertCn(peer.subject_cn);
  if (participant != nullptr) {
    result.sender = participant->ods;
  }

  auto parsed = hl7v2::Message::Parse(std::string(payload), settings_.limits);
  if (!parsed) {
    facts.error_code = std::string(core::Info(parsed.error().code).name);
    result.outcome = "unparseable";
    result.ack = hl7v2::MakeNak(payload, parsed.error(), NextAckOptions());
    return result;
  }
  const hl7v2::Message& message = *parsed;
  result.message_type = ResultMessageType(message);
  facts.control_id = message.Get("MSH-10").Decoded();
  facts.nhs_number = hl7v2::ExtractNhsNumber(message).value_or("");

  if (participant == nullptr) {
    facts.error_code = "kForbidden";
    result.outcome = "refused";
    result.ack = hl7v2::MakeAck(
        message,
        core::MakeError(core::ErrorCode::kForbidden,
                        "the client certificate is not registered to any participant", "MSH-4"),
        NextAckOptions());
    return result;
  }
  const std::string facility = message.Get("MSH-4.1").Decoded();
  if (!facility.empty() && !core::EqualsIgnoreCase(facility, participant->ods)) {
    facts.error_code = "kForbidden";
    result.outcome = "refused";
    result.ack = hl7v2::MakeAck(
        message,
        core::MakeError(core::ErrorCode::kForbidden,
                        "sending facility does not match the participant of the client certificate",
                        "MSH-4"),
        NextAckOptions());
    return result;
  }

  const std::vector<core::Error> problems = hl7v2::Validate(message, settings_.rules);
  if (!problems.empty()) {
    facts.error_code = std::string(core::Info(problems.front().code).name);
    result.outcome = "invalid";
    result.ack = hl7v2::MakeAck(message, problems, NextAckOptions());
    return result;
  }

  // Where it goes (issue 5 item 4): decided before the commit, so that its queue rows are written
  // in the same transaction as the message (nothing routed is ever lost, nothing is half-written).
  const std::string& nhs_number = facts.nhs_number;
  auto destinations = ResolveDestinations(
      {participant->ods, result.message_type, message.Get("MSH-6.1").Decoded(), nhs_number},
      directory_, locator_, settings_.broker_ods);
  if (!destinations) {
    facts.error_code = std::string(core::Info(destinations.error().code).name);
    result.outcome =
        destinations.error().code == core::ErrorCode::kForbidden ? "refused" : "storage_error";
    result.ack = hl7v2::MakeAck(message, destinations.error(), NextAckOptions());
    return result;
  }

  core::InboundMessage inbound;
  inbound.sender = participant->ods;
  for (const Destination& destination : *destinations) {
    inbound.routes.push_back(core::OutboundRoute{destination.ods, destination.format});
  }
  inbound.protocol = "hl7v2";
  inbound.message_type = result.message_type;
  inbound.control_id = message.Get("MSH-10").Decoded();
  inbound.dedupe_key = participant->ods + '|' + std::string(message.Get("MSH-3").raw()) + '|' +
                       std::string(message.Get("MSH-4").raw()) + '|' + inbound.control_id;
  // Digest and store the canonical form ("\r" after every segment, including the last): a
  // resend that differs only in line endings or a trailing terminator is the same message, so
  // it must be a duplicate rather than a conflict. Senders differ in exactly these bytes.
  inbound.payload = std::string(message.er7());
  inbound.content_sha256 = core::Sha256Hex(inbound.payload);
  facts.digest = inbound.content_sha256;
  inbound.nhs_number = nhs_number;
  inbound.received_at_ms = core::ToUnixMs(clock_.Now());
  // Step 6 in the message's own transaction when the store can: a second durable commit per
  // message (a separate Announce) was most of the ACK latency under load (docs/hl7v2-ingest.md).
  const bool learns = locator_ != nullptr && core::IsValidNhsNumber(nhs_number);
  if (learns && store_.WritesLocatorAnnouncements()) {
    inbound.announce = core::LocatorAnnouncement{
        nhs_number, inbound.sender, "hl7v2:" + inbound.message_type, inbound.received_at_ms};
  }

  auto accepted = store_.Accept(inbound);
  if (!accepted) {
    facts.error_code = std::string(core::Info(accepted.error().code).name);
    result.outcome = "storage_error";
    log_.Error("hl7_store_failed", {{"sender", result.sender},
                                    {"type", result.message_type},
                                    {"code", std::string(core::Info(accepted.error().code).name)}});
    // Never AA/CA: the message is not durable, so the sender must keep it and resend.
    result.ack =
        hl7v2::MakeAck(message,
                       core::MakeError(accepted.error().code,
                                       "the broker could not store the message; resend later"),
                       NextAckOptions());
    return result;
  }
  result.message_id = accepted->message_id;
  result.outcome = std::string(core::ToString(accepted->outcome));
  if (accepted->outcome == core::AcceptOutcome::kConflict) {
    facts.error_code = "kConflict";
    result.ack = hl7v2::MakeAck(
        message,
        core::MakeError(core::ErrorCode::kConflict,
                        "control id already used for a different message from this sender",
                        "MSH-10"),
        NextAckOptions());
    return result;
  }
  if (accepted->outcome == core::AcceptOutcome::kStored && learns && !inbound.announce) {
    core::Status learnt =
        locator_->Announce(inbound.nhs_number, inbound.sender, "hl7v2:" + inbound.message_type,
                           inbound.received_at_ms);
    if (!learnt) {
      log_.Warn("locator_announce_failed",
                {{"sender", result.sender},
                 {"message_id", std::to_string(result.message_id)},
                 {"code", std::string(core::Info(learnt.error().code).name)}});
    }
  }
  result.ack = hl7v2::MakeAck(message, NextAckOptions());
  return result;
}

}  // namespace tb::routing
