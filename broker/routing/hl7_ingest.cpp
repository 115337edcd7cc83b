#include "broker/routing/hl7_ingest.h"

#include <future>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"
#include "broker/routing/destinations.h"
#include "broker/routing/inbound_hop.h"
#include "mappings/v2_to_fhir.h"

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

// The other NHS numbers the message names a patient by (core::InboundMessage::other_nhs_numbers,
// hl7v2::PatientNhsNumbers: a second patient's, a merge's retired record's), valid ones only
// (the edge check can be turned off). Only a message with a routing key has any: the queue
// orders by it.
std::vector<std::string> OtherPatients(const hl7v2::Message& message,
                                       const std::string& nhs_number) {
  std::vector<std::string> others;
  if (nhs_number.empty()) {
    return others;
  }
  for (std::string& number : hl7v2::PatientNhsNumbers(message)) {
    if (number != nhs_number && core::IsValidNhsNumber(number)) {
      others.push_back(std::move(number));
    }
  }
  return others;
}

}  // namespace

const std::set<std::string, std::less<>>& DefaultHl7MessageTypes() {
  static const std::set<std::string, std::less<>> kTypes = {
      "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A05", "ADT^A06", "ADT^A07",
      "ADT^A08", "ADT^A09", "ADT^A10", "ADT^A11", "ADT^A12", "ADT^A13", "ADT^A17",
      "ADT^A24", "ADT^A28", "ADT^A31", "ADT^A34", "ADT^A37", "ADT^A40", "ORU^R01",
      "ORM^O01", "OML^O21", "MDM^T02", "SIU^S12"};
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

std::string Hl7DedupeKey(std::string_view ods, std::string_view msh3, std::string_view msh4,
                         std::string_view msh10_raw, std::string_view msh10_decoded, char escape) {
  const auto has_bar = [](std::string_view part) {
    return part.find('|') != std::string_view::npos;
  };
  const bool escaped = escape != '\0' && msh10_raw.find(escape) != std::string_view::npos;
  std::string key(ods);
  if (!has_bar(msh3) && !has_bar(msh4) && !has_bar(msh10_decoded) && !escaped) {
    key.append("|").append(msh3).append("|").append(msh4).append("|").append(msh10_decoded);
    return key;
  }
  key += '|';
  for (const std::string_view part : {msh3, msh4, msh10_raw}) {
    key.append("|").append(std::to_string(part.size())).append(":").append(part);
  }
  return key;
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

// One frame from its arrival to its answer; shared by the callbacks that carry it through the
// store's commit and the ledger's.
struct Hl7Ingest::Frame {
  Hl7IngestResult result;
  HopFacts facts;
  std::string sender_address;
  std::optional<hl7v2::Message> message;  // parsed: the ACK built after the commit quotes it
  // Stored and to be announced after the commit (a store that does not write announcements).
  bool announce_after = false;
  std::int64_t received_at_ms = 0;
  std::size_t routes = 0;  // queue rows written with the message when it is stored
  // The store writes the hop in the message's transaction (InboundStore::WritesLedgerHops), and
  // did (the store answered: the batch committed).
  bool hop_in_commit = false;
  bool hop_written = false;
  IngestCallback done;
};

Hl7Ingest::~Hl7Ingest() { WaitForInFlight(); }

bool Hl7Ingest::RoutesInCommit() const {
  // The locator must be the one in the store's database, which a store that writes the
  // announcements of its messages has (broker_server: one Database for both).
  return locator_ != nullptr && store_.RoutesByHoldersInCommit() &&
         store_.WritesLocatorAnnouncements();
}

bool Hl7Ingest::IngestsWithoutBlocking() const { return locator_ == nullptr || RoutesInCommit(); }

void Hl7Ingest::WaitForInFlight() {
  std::unique_lock lock(in_flight_mutex_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

Hl7IngestResult Hl7Ingest::Ingest(std::string_view payload, const core::PeerIdentity& peer) {
  // Shared: the answer may be set on another thread, which must not outlive the promise.
  auto promise = std::make_shared<std::promise<Hl7IngestResult>>();
  std::future<Hl7IngestResult> answer = promise->get_future();
  IngestAsync(payload, peer,
              [promise](Hl7IngestResult result) { promise->set_value(std::move(result)); });
  return answer.get();
}

void Hl7Ingest::IngestAsync(std::string_view payload, const core::PeerIdentity& peer,
                            IngestCallback done) {
  {
    std::lock_guard lock(in_flight_mutex_);
    ++in_flight_;
  }
  auto frame = std::make_shared<Frame>();
  frame->sender_address = peer.remote_address;
  frame->done = std::move(done);
  std::optional<core::InboundMessage> inbound = Process(payload, peer, *frame);
  if (!inbound) {
    if (frame->facts.digest.empty()) {
      frame->facts.digest = core::Sha256Hex(payload);
    }
    Finish(std::move(frame));
    return;
  }
  store_.AcceptAsync(std::move(*inbound),
                     [this, frame](core::Result<core::AcceptResult> accepted) mutable {
                       OnAccepted(*frame, std::move(accepted));
                       Finish(std::move(frame));
                     });
}

InboundHopFacts Hl7Ingest::HopFactsOf(const Frame& frame, bool stored) const {
  InboundHopFacts hop;
  hop.stored = stored;
  hop.time_ms = core::ToUnixMs(clock_.Now());
  hop.control_id = frame.facts.control_id;
  hop.broker_ods = settings_.broker_ods;
  hop.sender = frame.result.sender;
  hop.sender_address = frame.sender_address;
  hop.nhs_number = frame.facts.nhs_number;
  hop.digest = frame.facts.digest;
  hop.message_id = frame.result.message_id;
  hop.outcome_detail = stored ? frame.result.message_type : frame.facts.error_code;
  hop.destination_ods = frame.facts.refused_destination;
  hop.other_patients = frame.facts.other_patients;
  return hop;
}

std::vector<core::LedgerDraft> Hl7Ingest::HopDrafts(const Frame& frame,
                                                    const core::AcceptResult& accepted) const {
  std::vector<core::LedgerDraft> drafts;
  if (accepted.outcome == core::AcceptOutcome::kDuplicate) {
    return drafts;  // the first copy was recorded
  }
  const bool stored = accepted.outcome == core::AcceptOutcome::kStored;
  InboundHopFacts facts = HopFactsOf(frame, stored);
  facts.message_id = accepted.message_id;
  if (!stored) {
    facts.outcome_detail = "kConflict";
  }
  for (const ledger::HopRecord& hop : InboundHops(facts)) {
    core::Result<core::LedgerDraft> draft = ledger::Ledger::Draft(hop);
    if (!draft) {  // a bug: our own hop is always valid
      log_.Error(
          "ledger_draft_failed",
          {{"sender", facts.sender}, {"code", std::string(core::Info(draft.error().code).name)}});
      continue;
    }
    drafts.push_back(std::move(*draft));
  }
  return drafts;
}

void Hl7Ingest::Finish(std::shared_ptr<Frame> frame) {
  // A duplicate adds no hop: the first copy was recorded. A hop written in the message's
  // commit is durable already.
  if (ledger_ == nullptr || frame->result.outcome == "duplicate" || frame->hop_written) {
    Complete(*frame);
    return;
  }
  const InboundHopFacts hop = HopFactsOf(*frame, frame->result.outcome == "stored");
  // The answer waits for the hop's durable receipt, as it did for a blocking Append; no thread
  // waits meanwhile.
  RecordInboundHopAsync(*ledger_, hop, log_, [this, frame] { Complete(*frame); });
}

void Hl7Ingest::Complete(Frame& frame) {
  IngestCallback done = std::move(frame.done);
  done(std::move(frame.result));
  std::lock_guard lock(in_flight_mutex_);
  if (--in_flight_ == 0) {
    idle_.notify_all();
  }
}

std::optional<core::InboundMessage> Hl7Ingest::Process(std::string_view payload,
                                                       const core::PeerIdentity& peer,
                                                       Frame& frame) {
  Hl7IngestResult& result = frame.result;
  HopFacts& facts = frame.facts;
  const Participant* participant = directory_.FindByCertCn(peer.subject_cn);
  if (participant != nullptr) {
    result.sender = participant->ods;
  }

  auto parsed = hl7v2::Message::Parse(std::string(payload), settings_.limits);
  if (!parsed) {
    facts.error_code = std::string(core::Info(parsed.error().code).name);
    result.outcome = "unparseable";
    result.ack = hl7v2::MakeNak(payload, parsed.error(), NextAckOptions());
    return std::nullopt;
  }
  const hl7v2::Message& message = frame.message.emplace(std::move(*parsed));
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
    return std::nullopt;
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
    return std::nullopt;
  }

  const std::vector<core::Error> problems = hl7v2::Validate(message, settings_.rules);
  if (!problems.empty()) {
    facts.error_code = std::string(core::Info(problems.front().code).name);
    result.outcome = "invalid";
    result.ack = hl7v2::MakeAck(message, problems, NextAckOptions());
    return std::nullopt;
  }

  // Where it goes (issue 5 item 4): decided before or in the commit, so that its queue rows are
  // written in the same transaction as the message (nothing routed is ever lost, nothing is
  // half-written).
  const std::string& nhs_number = facts.nhs_number;
  DestinationRequest request{
      participant->ods,
      result.message_type,
      message.Get("MSH-6.1").Decoded(),
      nhs_number,
      mappings::HasFhirMapping(message.MessageType(), message.TriggerEvent()),
      OtherPatients(message, nhs_number)};
  core::InboundMessage inbound;
  inbound.sender = participant->ods;
  inbound.other_nhs_numbers = request.other_nhs_numbers;  // before `request` may be moved
  facts.other_patients = request.other_nhs_numbers;
  if (RoutesInCommit() && RoutesByHolders(request, settings_.broker_ods)) {
    // The locator read in the store's transaction: nothing here blocks (IngestsWithoutBlocking).
    // `frame` outlives the call: the store calls this before it reports the message.
    inbound.route_by_holders =
        [this, &frame, request = std::move(request)](const std::vector<std::string>& holders) {
          std::vector<core::OutboundRoute> routes;
          for (Destination& destination : DestinationsOfHolders(request, directory_, holders)) {
            routes.push_back(
                core::OutboundRoute{std::move(destination.ods), std::move(destination.format)});
          }
          frame.routes = routes.size();
          return routes;
        };
  } else {
    auto destinations = ResolveDestinations(request, directory_, locator_, settings_.broker_ods);
    if (!destinations) {
      facts.error_code = std::string(core::Info(destinations.error().code).name);
      const core::ErrorCode code = destinations.error().code;
      const bool refused =
          code == core::ErrorCode::kForbidden || code == core::ErrorCode::kUndeliverable;
      result.outcome = refused ? "refused" : "storage_error";
      if (refused) {
        facts.refused_destination = request.addressed_to;
      }
      result.ack = hl7v2::MakeAck(message, destinations.error(), NextAckOptions());
      return std::nullopt;
    }
    for (const Destination& destination : *destinations) {
      inbound.routes.push_back(core::OutboundRoute{destination.ods, destination.format});
    }
    frame.routes = inbound.routes.size();
  }
  inbound.protocol = "hl7v2";
  inbound.message_type = result.message_type;
  inbound.control_id = message.Get("MSH-10").Decoded();
  inbound.dedupe_key =
      Hl7DedupeKey(participant->ods, message.Get("MSH-3").raw(), message.Get("MSH-4").raw(),
                   message.Get("MSH-10").raw(), inbound.control_id, message.encoding().escape);
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

  // Step 5 in the same transaction when the store can: the hop's own group commit was a second
  // commit (and fsync) on every message's way to its ACK (docs/ledger.md).
  if (ledger_ != nullptr && store_.WritesLedgerHops()) {
    frame.hop_in_commit = true;
    // `frame` outlives the call: the store calls this before it reports the message.
    inbound.audit = [this, &frame](const core::AcceptResult& accepted) {
      return HopDrafts(frame, accepted);
    };
  }
  frame.received_at_ms = inbound.received_at_ms;
  frame.announce_after = learns && !inbound.announce;
  return inbound;
}

void Hl7Ingest::OnAccepted(Frame& frame, core::Result<core::AcceptResult> accepted) {
  Hl7IngestResult& result = frame.result;
  HopFacts& facts = frame.facts;
  const hl7v2::Message& message = *frame.message;
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
    return;
  }
  frame.hop_written = frame.hop_in_commit;
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
    return;
  }
  if (accepted->outcome == core::AcceptOutcome::kStored) {
    result.routes = frame.routes;
  }
  if (accepted->outcome == core::AcceptOutcome::kStored && frame.announce_after) {
    // Only with a store that does not write announcements (none of ours with a committer), so
    // this blocking call runs on the calling thread.
    const core::Status learnt =
        AnnounceSender(*locator_, facts.nhs_number, facts.other_patients, result.sender,
                       "hl7v2:" + result.message_type, frame.received_at_ms);
    if (!learnt) {
      log_.Warn("locator_announce_failed",
                {{"sender", result.sender},
                 {"message_id", std::to_string(result.message_id)},
                 {"code", std::string(core::Info(learnt.error().code).name)}});
    }
  }
  result.ack = hl7v2::MakeAck(message, NextAckOptions());
}

}  // namespace tb::routing
