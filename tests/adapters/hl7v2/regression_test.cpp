// Hostile and odd inputs, including every crash or failure the fuzzer found
// (tests/fuzz/hl7v2/hl7v2_parse_fuzz.cpp). Each case runs the fuzzer's own property: parse; if
// that succeeds, serialize, re-parse to the same bytes and build an ACK that parses; if not,
// build a NAK that parses.
#include <chrono>
#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/batch.h"
#include "adapters/hl7v2/builder.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"

namespace tb::hl7v2 {
namespace {

AckOptions Options() {
  AckOptions options;
  options.control_id = "R1";
  options.time = std::chrono::sys_days{std::chrono::year{2024} / 1 / 1};
  return options;
}

void CheckProperty(const std::string& input) {
  auto parsed = Message::Parse(input);
  if (!parsed) {
    const Ack nak = MakeNak(input, parsed.error(), Options());
    auto nak_parsed = Message::Parse(nak.er7);
    ASSERT_TRUE(nak_parsed.has_value()) << nak_parsed.error().message;
    EXPECT_EQ(nak_parsed->Get("MSA-1").raw().substr(1), "R");
    return;
  }
  const std::string once = parsed->Serialize();
  auto again = Message::Parse(once);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->Serialize(), once);
  EXPECT_EQ(MessageBuilder::From(*parsed).Serialize(), once);
  const Ack ack = MakeAck(*parsed, Validate(*parsed, {}), Options());
  auto ack_parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(ack_parsed.has_value()) << ack_parsed.error().message;
  EXPECT_EQ(ack_parsed->Get("MSA-2").raw(), parsed->ControlId());
}

struct Hostile {
  std::string_view name;
  std::string input;
};

void PrintTo(const Hostile& hostile, std::ostream* out) { *out << hostile.name; }

class HostileInput : public testing::TestWithParam<Hostile> {};

TEST_P(HostileInput, KeepsTheFuzzProperty) { CheckProperty(GetParam().input); }

INSTANTIATE_TEST_SUITE_P(
    Cases, HostileInput,
    testing::Values(
        Hostile{"OnlyMsh", "MSH|^~\\&"}, Hostile{"MshWithCr", "MSH|^~\\&\r"},
        Hostile{"NulBytes", std::string("MSH|^~\\&|\0A|\0\r", 13)},
        Hostile{"ManyRepetitions", "MSH|^~\\&\rPID|1||" + std::string(100'000, '~') + "\r"},
        Hostile{"ManyComponents", "MSH|^~\\&\rPID|1||" + std::string(100'000, '^') + "\r"},
        Hostile{"EscapeAtEnd", "MSH|^~\\&|\\\rPID|\\X\\\r"},
        Hostile{"HexOddDigits", "MSH|^~\\&|\\X0\\|\\XG0\\\r"},
        Hostile{"TruncationEscape", "MSH|^~\\&#|a#b|\\P\\\r"},
        Hostile{"MsaInControlId", "MSH|^~\\&|||||||||\rMSA|AA\r"},
        Hostile{"LongHeaderFields", "MSH|^~\\&|" + std::string(5000, 'A') + "|B|C|D|E||ADT^A01|" +
                                        std::string(5000, '1') + "|P|2.3\r"},
        Hostile{"CrOnlyInput", "\r\r\r"}, Hostile{"BomOnly", "\xEF\xBB\xBF"},
        Hostile{"ControlCharDelimiter", "MSH\x01^~\\&\r"},
        Hostile{"HighBitDelimiter", "MSH\xA6^~\\&\r"},
        Hostile{"VersionGarbage", "MSH|^~\\&|||||||||P|2.\r"},
        Hostile{"VersionHugeMinor", "MSH|^~\\&|||||||||P|2.99999999999999999999\r"},
        // fuzz crash-369afeb8: a segment holding one empty field lost its separator in the builder
        Hostile{"SegmentWithOneEmptyField", "MSH|^~\\&|A\rOBX|\rNTE|1\r"},
        Hostile{"MshWithEmptyMsh3Only", "MSH|^~\\&|\r"}),
    [](const testing::TestParamInfo<Hostile>& p) { return std::string(p.param.name); });

TEST(Hostile, DeepAccessIntoAHugeFieldIsBounded) {
  const std::string input = "MSH|^~\\&\rPID|1||" + std::string(100'000, '~') + "\r";
  auto parsed = Message::Parse(input);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("PID-3").RepetitionCount(), 100'001u);
  EXPECT_EQ(parsed->Get("PID-3(99999).1").raw(), "");
  EXPECT_EQ(parsed->Get("PID-3(100000).1").state(), ValueState::kEmpty);
}

TEST(Hostile, BatchOfGarbageFailsCleanly) {
  EXPECT_FALSE(ParseBatch("\x01\x02\x03").has_value());
  EXPECT_FALSE(ParseBatch("FHS").has_value());
  EXPECT_FALSE(ParseBatch("BHS|^~\\&\rBTS|x\rBTS|y\r").has_value());
}

}  // namespace
}  // namespace tb::hl7v2
