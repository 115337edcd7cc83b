#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/clock.h"
#include "broker/core/id_generator.h"
#include "broker/core/inbound_store.h"
#include "broker/core/log.h"
#include "broker/core/peer_identity.h"
#include "broker/core/record_locator.h"
#include "broker/ledger/ledger.h"
#include "broker/routing/inbound_hop.h"
#include "broker/routing/participant.h"

namespace tb::routing {

// The message types the broker accepts over MLLP when the config does not narrow them: the ADT
// events the mapping engine handles plus result, order and document messages. Each is
// "TYPE^TRIGGER".
const std::set<std::string, std::less<>>& DefaultHl7MessageTypes();

struct Hl7IngestSettings {
  std::string broker_ods;        // for the audit records (HopRecord.broker_ods)
  hl7v2::ValidationRules rules;  // message_types empty: DefaultHl7MessageTypes()
  hl7v2::ParseLimits limits;     // max_message_bytes is also enforced by the MLLP frame limit
};

// What became of one received frame, for the transport and the log.
struct Hl7IngestResult {
  hl7v2::Ack ack;       // send ack.er7 unless !ack.should_send
  std::string outcome;  // "stored", "duplicate", "conflict", "refused", "invalid", "unparseable",
                        // "storage_error"
  std::string sender;   // participant ODS; empty when the certificate maps to none
  std::string message_type;     // "ADT^A01"; empty when unparseable
  std::int64_t message_id = 0;  // the stored row (stored/duplicate/conflict)
  // Deliveries queued with a newly stored message (one per destination); 0 otherwise. The
  // delivery worker needs waking only when this is not 0.
  std::size_t routes = 0;
};

// HL7 v2 ingest at the broker's edge: parse, identify the sender, check, store, acknowledge.
//   1. Unparseable input: a NAK (AR/CR) carrying what could be read of MSH (hl7v2::MakeNak).
//   2. The sender is the participant of the client certificate's CN. No participant, or an MSH-4
//      (sending facility, HD-1) naming another organisation than the participant's ODS code:
//      AR/CR, kForbidden at MSH-4. An empty MSH-4 does not contradict.
//   3. hl7v2::Validate (required MSH fields, known type and trigger, NHS number check digit):
//      AE/CE or AR/CR per the ErrorCode table (AR/CR for MSH-9, -11 or -12, v2.5.1 section
//      2.9.2.2 a), with ERR segments naming the field.
//   4. InboundStore::Accept: the ACK (AA/CA) is built only once the store says the message is
//      durable; a duplicate (same dedupe key and content) is acknowledged again; a reused
//      control id with other content is refused (kConflict, AE/CE at MSH-10); a storage failure
//      gets AR/CR (never AA), which tells the sender to resend the message unchanged later.
//   5. The hop goes into the audit ledger (when one is given): an inbound record for a stored
//      message (sender, patient, SHA-256 of the message), a refusal record for every refused one
//      (with the error code). A duplicate adds nothing: the first copy was recorded. When the
//      store writes ledger hops (InboundStore::WritesLedgerHops: SQLite) the record of a stored
//      or conflicting message is written in the message's own batch transaction, so a record
//      that cannot be written fails the store (AR/CR); otherwise, and for refusals decided before
//      the store, it is appended after (Ledger::AppendAsync) and a ledger that fails is logged as
//      an error while the acknowledgement stands (the message is durable). Either way the answer
//      waits for the record's commit.
//   6. A stored message that names a patient (NHS number in PID-3) tells the record locator that
//      the sender holds data for that patient. When the store writes announcements
//      (InboundStore::WritesLocatorAnnouncements, as SqlInboundStore does) this is part of the
//      message's own commit: one durable transaction per ACK, and a failed announcement fails the
//      store (AR/CR, the sender resends). Otherwise it runs after the ACK-deciding commit; if it
//      fails the message is still acknowledged (it is durable) and the failure is logged: the
//      locator is relearnt from the patient's next message.
// The dedupe key is sender|MSH-3|MSH-4|MSH-10 (DESIGN.md: idempotent on the control id;
// Hl7DedupeKey); the message is stored and digested in canonical ER7 form (segments ending in
// "\r").
//
// Thread-safety: Ingest and IngestAsync may run on many threads at once. Ingest blocks on the
// store: call it from the blocking pool, never from an I/O thread; so does IngestAsync unless
// IngestsWithoutBlocking(). The directory, store, locator, ledger and clock must outlive it; the
// destructor waits for the frames in flight.
// The dedupe key of a message from participant `ods`, from the raw MSH-3, MSH-4 and MSH-10, the
// decoded MSH-10 and the message's escape character. An ordinary message (no '|' in MSH-3,
// MSH-4 or the decoded MSH-10, no escape in MSH-10) keeps the key every message had before
// 2026-11-25, "ods|MSH-3|MSH-4|MSH-10", so resends of stored messages still dedupe. Any other
// message gets "ods||" then each of the three (MSH-10 raw) as "<length>:<bytes>" joined by
// '|': its parts cannot run into each other (MSH-3 "A|B" with MSH-4 "C" against "A" with
// "B|C", under another field separator than '|'; MSH-10 "A\F\B" against other escapes that
// decode alike), and with more than three '|' it is never an ordinary message's key.
std::string Hl7DedupeKey(std::string_view ods, std::string_view msh3, std::string_view msh4,
                         std::string_view msh10_raw, std::string_view msh10_decoded, char escape);

class Hl7Ingest {
 public:
  // `locator` may be null (no learning).
  Hl7Ingest(const ParticipantDirectory& directory, core::InboundStore& store,
            core::RecordLocator* locator, const core::Clock& clock, Hl7IngestSettings settings = {},
            ledger::Ledger* ledger = nullptr);
  ~Hl7Ingest();
  Hl7Ingest(const Hl7Ingest&) = delete;
  Hl7Ingest& operator=(const Hl7Ingest&) = delete;

  Hl7IngestResult Ingest(std::string_view payload, const core::PeerIdentity& peer);

  // Ingest without waiting for the commits: the checks and routing run in the calling thread
  // (routing by the locator's holders reads the locator here, or, when the store routes in its
  // commit, in the store's batch transaction: IngestsWithoutBlocking), then the message joins
  // the store's next batch (InboundStore::AcceptAsync) and its hop the ledger's
  // (Ledger::AppendAsync). `done` gets the same result as Ingest, after the same commits: the
  // message's, then its hop's. It runs in the calling thread (refusals; a store without a
  // committer), on the store's committer thread or on the ledger's, so it must be short, must
  // not throw and must not block: post real work elsewhere. No thread is parked per message, so
  // group commit gets large batches from few threads.
  using IngestCallback = std::function<void(Hl7IngestResult)>;
  void IngestAsync(std::string_view payload, const core::PeerIdentity& peer, IngestCallback done);

  // True when IngestAsync never blocks the calling thread, so an I/O thread may call it: no
  // record locator, or one read in the store's transaction (InboundStore::
  // RoutesByHoldersInCommit, SqlInboundStore on SQLite) with a store that writes the
  // announcements and has its own committer. The MLLP listener then skips the blocking pool:
  // one thread hand-off fewer per message (docs/hl7v2-ingest.md, Performance).
  bool IngestsWithoutBlocking() const;

  // Returns once every frame taken so far has been answered (its `done` has returned).
  void WaitForInFlight();

  // The NAK for a frame refused before it was read whole (over the frame limit): `head` is the
  // frame's beginning, from which MSH is salvaged so the sender can match MSA-2. Never blocks.
  hl7v2::Ack RefuseFrame(std::string_view head, const core::Error& error);

 private:
  hl7v2::AckOptions NextAckOptions();
  // Routing by the locator's holders runs in the store's commit (InboundMessage::route_by_holders).
  bool RoutesInCommit() const;
  // What the audit record of one frame needs, gathered while it is processed.
  struct HopFacts {
    std::string control_id;
    std::string nhs_number;
    std::string digest;      // SHA-256 of the stored (canonical) message, or of the raw frame
    std::string error_code;  // ErrorCode name of a refusal
    std::string refused_destination;          // MSH-6 of a message refused for where it was sent
    std::vector<std::string> other_patients;  // core::InboundMessage::other_nhs_numbers
  };
  struct Frame;
  // Steps 1-3 and the routing: the message to store, or nothing when frame.result is final.
  std::optional<core::InboundMessage> Process(std::string_view payload,
                                              const core::PeerIdentity& peer, Frame& frame);
  // Step 4 once the store has answered: the outcome and its ACK.
  void OnAccepted(Frame& frame, core::Result<core::AcceptResult> accepted);
  InboundHopFacts HopFactsOf(const Frame& frame, bool stored) const;
  // The hops as the store writes them in the message's transaction (InboundMessage::audit).
  std::vector<core::LedgerDraft> HopDrafts(const Frame& frame,
                                           const core::AcceptResult& accepted) const;
  // Step 5 unless the store did it, then the answer.
  void Finish(std::shared_ptr<Frame> frame);
  void Complete(Frame& frame);

  const ParticipantDirectory& directory_;
  core::InboundStore& store_;
  core::RecordLocator* locator_;
  ledger::Ledger* ledger_;
  const core::Clock& clock_;
  Hl7IngestSettings settings_;
  core::ControlIdGenerator ids_;
  core::Logger log_{"tb.hl7_ingest"};

  std::mutex in_flight_mutex_;
  std::condition_variable idle_;  // in_flight_ reached 0
  std::size_t in_flight_ = 0;     // frames taken and not yet answered
};

}  // namespace tb::routing
