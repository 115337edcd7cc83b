#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/message.h"
#include "broker/core/error.h"

namespace tb::hl7v2 {

// MSA-1 values. Original mode uses AA/AE/AR; enhanced mode's accept (commit) ACK uses CA/CE/CR.
enum class AckCode : std::uint8_t { kAA, kAE, kAR, kCA, kCE, kCR };
std::string_view ToString(AckCode code);

// Original mode when MSH-15 and MSH-16 are both empty; enhanced when either is valued.
enum class AckMode : std::uint8_t { kOriginal, kEnhanced };
// HL7 table 0155 (MSH-15/MSH-16): AL, NE, ER, SU.
enum class AckCondition : std::uint8_t { kAlways, kNever, kOnError, kOnSuccess };

// What the sender asked for. Empty or unknown conditions read as kAlways: sending an ACK that
// was not wanted is harmless, silently withholding one makes the sender time out and resend.
struct AckPolicy {
  AckMode mode = AckMode::kOriginal;
  AckCondition accept = AckCondition::kAlways;       // MSH-15
  AckCondition application = AckCondition::kAlways;  // MSH-16

  bool ShouldSendAccept(bool success) const;
  bool ShouldSendApplication(bool success) const;
};
AckPolicy ReadAckPolicy(const Message& message);

// Which acknowledgement to build.
//   kAuto         original mode: the application ACK (AA/AE/AR); enhanced mode: the accept ACK
//                 (CA/CE/CR), which the broker sends once the message is safely stored; but
//                 when MSH-15 suppresses that for this outcome (NE, or ER on success, SU on
//                 error) and a valued MSH-16 asks for the application ACK, the application ACK
//                 (the broker's application processing is that same store). Both wanted
//                 (AL/AL): the accept ACK only, one reply per message.
//   kAccept       always CA/CE/CR.
//   kApplication  always AA/AE/AR (an enhanced-mode application ACK).
enum class AckKind : std::uint8_t { kAuto, kAccept, kApplication };

struct AckOptions {
  std::string control_id;                      // MSH-10 of the ACK, from the caller's id source
  std::chrono::system_clock::time_point time;  // MSH-7, written in UTC (inject a Clock)
  AckKind kind = AckKind::kAuto;
  std::vector<core::Error> warnings;  // extra ERR segments with ERR-4 = W
};

struct Ack {
  std::string er7;  // the ACK message, "\r"-terminated segments (frame it for MLLP as is)
  AckCode code = AckCode::kAA;
  // What MSH-15/MSH-16 ask for this outcome (e.g. false for MSH-15 = NE). Advisory: the transport
  // decides, and may still send (some engines expect an ACK whatever they declare).
  bool should_send = true;
};

// Builds the acknowledgement of `original` for these outcomes; no errors means success.
//   MSH: the original's delimiters and version (MSH-12), sending and receiving application and
//        facility swapped, MSH-7 from options.time, MSH-9 = ACK^<trigger>^ACK, MSH-10 from
//        options.control_id, MSH-11 copied.
//   MSA: MSA-1 from the ErrorCode table (v2_ack AE/AR; the worst error wins; CE/CR in enhanced
//        accept mode), MSA-2 = the original's MSH-10. Versions before 2.5 also get MSA-3 (the
//        first error's text), which is all such receivers display.
//   ERR: one per error, then one per warning: ERR-2 the location as ERL (PID^1^3), ERR-3 the
//        table 0357 code as CWE (102^Data type error^HL70357), ERR-4 severity E/W, ERR-8 the
//        error's message. Versions before 2.5 also get ERR-1 (ELD), the only field they know.
// Never fails and quotes no message content beyond the original's header fields. Thread-safe.
Ack MakeAck(const Message& original, std::span<const core::Error> errors,
            const AckOptions& options);
Ack MakeAck(const Message& original, const core::Error& error, const AckOptions& options);
Ack MakeAck(const Message& original, const AckOptions& options);  // success

// A negative ACK (AR, or CR when the readable header asks for enhanced mode) for input that
// would not parse. It salvages what it can from a partly readable MSH (delimiters, MSH-3..6,
// MSH-9.2, MSH-10, MSH-11, MSH-12, MSH-15/16) and falls back to "|^~\&", version 2.5 and an
// empty MSA-2 otherwise. Salvaged header values longer than 199 bytes are left out.
Ack MakeNak(std::string_view raw, const core::Error& error, const AckOptions& options);

// Table 0357 text for an ERR-3 code ("102" -> "Data type error"); empty when unknown.
std::string_view Hl7ErrorText(std::string_view code);

// Renders an error location ("PID-3(2).1", "OBX[3]-5", "MSH") as an ERL value in `enc`
// ("PID^1^3^2^1"); empty when the location is not a v2 path.
std::string LocationToErl(std::string_view location, const Encoding& enc);

}  // namespace tb::hl7v2
