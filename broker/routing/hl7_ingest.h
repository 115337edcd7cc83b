#pragma once

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
};

// HL7 v2 ingest at the broker's edge: parse, identify the sender, check, store, acknowledge.
//   1. Unparseable input: a NAK (AR/CR) carrying what could be read of MSH (hl7v2::MakeNak).
//   2. The sender is the participant of the client certificate's CN. No participant, or an MSH-4
//      (sending facility, HD-1) naming another organisation than the participant's ODS code:
//      AR/CR, kForbidden at MSH-4. An empty MSH-4 does not contradict.
//   3. hl7v2::Validate (required MSH fields, known type and trigger, NHS number check digit):
//      AE/CE or AR/CR per the ErrorCode table, with ERR segments naming the field.
//   4. InboundStore::Accept: the ACK (AA/CA) is built only once the store says the message is
//      durable; a duplicate (same dedupe key and content) is acknowledged again; a reused
//      control id with other content is refused (kConflict, AE/CE at MSH-10); a storage failure
//      gets AE/CE (never AA) so the sender retries.
//   5. The hop goes into the audit ledger (when one is given): an inbound record for a stored
//      message (sender, patient, SHA-256 of the message), a refusal record for every refused one
//      (with the error code). A duplicate adds nothing: the first copy was recorded. A ledger
//      that fails is logged as an error; the acknowledgement stands (the message is durable).
//   6. A stored message that names a patient (NHS number in PID-3) tells the record locator that
//      the sender holds data for that patient. When the store writes announcements
//      (InboundStore::WritesLocatorAnnouncements, as SqlInboundStore does) this is part of the
//      message's own commit: one durable transaction per ACK, and a failed announcement fails the
//      store (AE/CE, the sender resends). Otherwise it runs after the ACK-deciding commit; if it
//      fails the message is still acknowledged (it is durable) and the failure is logged: the
//      locator is relearnt from the patient's next message.
// The dedupe key is sender|MSH-3|MSH-4|MSH-10 (DESIGN.md: idempotent on the control id); the
// message is stored and digested in canonical ER7 form (segments ending in "\r").
//
// Thread-safety: Ingest may run on many threads at once. It blocks on the store: call it from
// the blocking pool, never from an I/O thread. The directory, store and clock must outlive it.
class Hl7Ingest {
 public:
  // `locator` may be null (no learning).
  Hl7Ingest(const ParticipantDirectory& directory, core::InboundStore& store,
            core::RecordLocator* locator, const core::Clock& clock, Hl7IngestSettings settings = {},
            ledger::Ledger* ledger = nullptr);

  Hl7IngestResult Ingest(std::string_view payload, const core::PeerIdentity& peer);

  // The NAK for a frame refused before it was read whole (over the frame limit): `head` is the
  // frame's beginning, from which MSH is salvaged so the sender can match MSA-2. Never blocks.
  hl7v2::Ack RefuseFrame(std::string_view head, const core::Error& error);

 private:
  hl7v2::AckOptions NextAckOptions();
  // What the audit record of one frame needs, gathered while it is processed.
  struct HopFacts {
    std::string control_id;
    std::string nhs_number;
    std::string digest;      // SHA-256 of the stored (canonical) message, or of the raw frame
    std::string error_code;  // ErrorCode name of a refusal
  };
  Hl7IngestResult Process(std::string_view payload, const core::PeerIdentity& peer,
                          HopFacts& facts);
  void RecordHop(const Hl7IngestResult& result, const core::PeerIdentity& peer,
                 const HopFacts& facts);

  const ParticipantDirectory& directory_;
  core::InboundStore& store_;
  core::RecordLocator* locator_;
  ledger::Ledger* ledger_;
  const core::Clock& clock_;
  Hl7IngestSettings settings_;
  core::ControlIdGenerator ids_;
  core::Logger log_{"tb.hl7_ingest"};
};

}  // namespace tb::routing
