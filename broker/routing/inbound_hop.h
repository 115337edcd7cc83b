#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "broker/core/log.h"
#include "broker/ledger/ledger.h"

namespace tb::routing {

// What the ledger keeps of one inbound message (HL7 v2 over MLLP or a FHIR message), whichever
// door it came in by: an `inbound` hop when it was stored, else a `refusal`.
struct InboundHopFacts {
  bool stored = false;
  std::int64_t time_ms = 0;
  std::string control_id;  // MSH-10 or the Bundle id
  std::string broker_ods;
  std::string sender;           // the participant of the client certificate
  std::string sender_address;   // its network address
  std::string nhs_number;       // as read; recorded only when it is a valid NHS number
  std::string digest;           // SHA-256 of the stored form, or of what was received
  std::int64_t message_id = 0;  // the stored row (stored only)
  std::string destination_ods;  // a refused destination, when that was the fault
  std::string outcome_detail;   // the message type when stored, else the error code
  // The other patients a stored message carries (core::InboundMessage::other_nhs_numbers): each
  // gets a record of its own, so that every patient's journey shows the message came in.
  std::vector<std::string> other_patients;
};

// The ledger's records of it: the hop for `nhs_number` first, then (stored) one per other patient.
std::vector<ledger::HopRecord> InboundHops(const InboundHopFacts& facts);

// Appends the hop; a failure is logged on `log` (the message's own fate is already decided).
void RecordInboundHop(ledger::Ledger& ledger, const InboundHopFacts& facts,
                      const core::Logger& log);

// The same without blocking (Ledger::AppendAsync): `then` runs once the record is durable or its
// batch failed (logged on `log`), on the ledger's committer thread or on the calling one; it must
// be short and must not block. `log` must outlive that call.
void RecordInboundHopAsync(ledger::Ledger& ledger, const InboundHopFacts& facts,
                           const core::Logger& log, std::function<void()> then);

}  // namespace tb::routing
