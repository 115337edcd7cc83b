// Fuzz property for the ER7 codec. For any input:
//   - Parse never crashes; when it fails, MakeNak builds a NAK that parses, with MSA-1 AR/CR;
//   - when it succeeds, Serialize re-parses to the same bytes, the builder's copy serializes to
//     the same bytes, every piece can be visited and decoded, escaping round-trips the decoded
//     text, Validate runs and MakeAck builds an ACK that parses and echoes MSH-10;
//   - ParseBatch never crashes and, when it succeeds, its serialization re-parses identically.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/batch.h"
#include "adapters/hl7v2/builder.h"
#include "adapters/hl7v2/escape.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb::hl7v2;

using tb::fuzz::Check;

AckOptions Options() {
  AckOptions options;
  options.control_id = "FUZZ1";
  options.time = std::chrono::system_clock::time_point{};
  return options;
}

void VisitEverything(const Message& msg) {
  const Encoding& enc = msg.encoding();
  for (std::size_t i = 1; i <= msg.SegmentCount(); ++i) {
    const SegmentView seg = msg.Segment(i);
    const std::size_t fields = seg.FieldCount();
    for (std::size_t f = 1; f <= fields && f <= 64; ++f) {
      for (const Value& rep : seg.Field(f).Repetitions()) {
        for (const Value& comp : rep.Components()) {
          for (const Value& sub : comp.Subcomponents()) {
            const std::string decoded = sub.Decoded();
            (void)sub.Text();
            if (enc.escape != '\0' && sub.level() != Level::kOpaque) {
              Check(Unescape(Escape(decoded, enc), enc) == decoded);
            }
          }
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  ParseLimits limits;
  limits.max_message_bytes = 64 * 1024;
  limits.max_segments = 200;
  limits.max_fields = 100;

  auto parsed = Message::Parse(input, limits);
  if (!parsed) {
    const Ack nak = MakeNak(input, parsed.error(), Options());
    auto nak_parsed = Message::Parse(nak.er7);
    Check(nak_parsed.has_value());
    Check(nak.code == AckCode::kAR || nak.code == AckCode::kCR);
  } else {
    const std::string once = parsed->Serialize();
    auto again = Message::Parse(once, limits);
    Check(again.has_value() && again->Serialize() == once);
    Check(MessageBuilder::From(*parsed).Serialize() == once);
    VisitEverything(*parsed);
    (void)parsed->Get("PID-3(2).4.1");
    (void)ExtractNhsNumber(*parsed);
    const auto errors = Validate(*parsed, {});
    const Ack ack = MakeAck(*parsed, errors, Options());
    auto ack_parsed = Message::Parse(ack.er7);
    Check(ack_parsed.has_value());
    Check(ack_parsed->Get("MSA-2").raw() == parsed->Get("MSH-10").raw());
  }

  BatchLimits batch_limits;
  batch_limits.max_bytes = 64 * 1024;
  batch_limits.max_messages = 50;
  batch_limits.message = limits;
  auto batch = ParseBatch(input, batch_limits);
  if (batch) {
    const std::string serialized = SerializeBatch(*batch);
    auto reparsed = ParseBatch(serialized, batch_limits);
    Check(reparsed.has_value() && SerializeBatch(*reparsed) == serialized);
  }
  return 0;
}
