#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/error.h"
#include "broker/core/peer_identity.h"
#include "broker/simtrust/received_log.h"

namespace tb::simtrust {

// The MLLP side of a simulated trust: takes one HL7 v2 message, records it and builds the ACK.
//   accepted      AA (CA in enhanced mode), one line in the received log;
//   unparseable   NAK from hl7v2::MakeNak (MSA-1 AR, the hl7v2 library's rule for messages
//                 whose header cannot be read);
//   invalid       AE/AR from hl7v2::Validate (missing MSH fields, invalid NHS number in PID-3);
//   not allowed   AR (kForbidden) when `clients` is set and the sender's CN is not in it;
//   refused type  AR (kUnsupportedEvent, at MSH-9) for a type in `refuse_types` ("ADT^A06", or
//                 "ADT" for all its triggers).
// Only accepted messages are recorded. Thread-safe; Accept may block on the log's file I/O.
class Hl7Receiver {
 public:
  // `received` (may be null) and `clock` must outlive the receiver.
  Hl7Receiver(std::string ods, std::vector<std::string> clients, ReceivedLog* received,
              const core::Clock& clock, std::vector<std::string> refuse_types = {});

  // The ACK (ER7) for one frame's payload; empty when MSH-15/16 ask for none.
  std::string Accept(std::string payload, const core::PeerIdentity& peer);
  // The NAK for a frame refused before it was read whole (too large): `head` is its beginning.
  std::string Refuse(std::string_view head, const core::Error& error);

 private:
  std::string NextControlId();

  const std::string ods_;
  const std::vector<std::string> clients_;
  const std::vector<std::string> refuse_types_;
  ReceivedLog* const received_;
  const core::Clock& clock_;
  const std::uint32_t id_prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace tb::simtrust
