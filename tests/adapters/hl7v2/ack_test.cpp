#include "adapters/hl7v2/ack.h"

#include <chrono>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"

namespace tb::hl7v2 {
namespace {

using namespace std::chrono_literals;

Message Parse(std::string text) {
  auto parsed = Message::Parse(std::move(text));
  EXPECT_TRUE(parsed.has_value());
  return std::move(parsed).value();
}

// A message with the given MSH-15/MSH-16 (acknowledgement types) and version.
Message Original(std::string_view accept = "", std::string_view application = "",
                 std::string_view version = "2.5") {
  std::string text = "MSH|^~\\&|PAS|RA1|BROKER|NHS|20240501093000||ADT^A01^ADT_A01|CTRL1|P|";
  text += version;
  text += "|||";
  text += accept;
  text += '|';
  text += application;
  text += "\rPID|1||9434765919^^^NHS^NH\r";
  return Parse(std::move(text));
}

AckOptions Options() {
  AckOptions options;
  options.control_id = "ACK1";
  options.time = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 9h + 30min + 15s;
  return options;
}

constexpr std::string_view kAckMsh =
    "MSH|^~\\&|BROKER|NHS|PAS|RA1|20240501093015+0000||ACK^A01^ACK|ACK1|P|2.5\r";

TEST(MakeAck, OriginalModeSuccessIsAA) {
  const Ack ack = MakeAck(Original(), Options());
  EXPECT_EQ(ack.code, AckCode::kAA);
  EXPECT_TRUE(ack.should_send);
  EXPECT_EQ(ack.er7, std::string(kAckMsh) + "MSA|AA|CTRL1\r");
}

TEST(MakeAck, DataErrorIsAEWithErrPointingAtTheField) {
  const core::Error error =
      core::MakeError(core::ErrorCode::kInvalidValue, "NHS number fails its check", "PID-3");
  const Ack ack = MakeAck(Original(), error, Options());
  EXPECT_EQ(ack.code, AckCode::kAE);
  EXPECT_EQ(ack.er7,
            std::string(kAckMsh) +
                "MSA|AE|CTRL1\r"
                "ERR||PID^1^3|102^Data type error^HL70357|E||||NHS number fails its check\r");
}

// v2.5.1 section 2.9.2.2: a failure of the receiver unrelated to the message (system down,
// internal error) is AR, so the sender resends the message unchanged later; AE would tell it to
// correct the message, and the broker's own deliverer (and others) then give up on it.
TEST(MakeAck, ReceiverFailuresAreARNotAE) {
  for (const core::ErrorCode code :
       {core::ErrorCode::kStorage, core::ErrorCode::kInternal, core::ErrorCode::kTimeout,
        core::ErrorCode::kUpstreamUnavailable, core::ErrorCode::kConfig}) {
    const Ack ack = MakeAck(Original(), core::MakeError(code, "resend later"), Options());
    EXPECT_EQ(ack.code, AckCode::kAR) << core::Info(code).name;
    AckOptions accept = Options();
    accept.kind = AckKind::kAccept;
    EXPECT_EQ(MakeAck(Original(), core::MakeError(code, "resend later"), accept).code, AckCode::kCR)
        << core::Info(code).name;
  }
}

// v2.5.1 section 2.9.2.2 a: MSH-9, MSH-11 or MSH-12 missing or not acceptable is AR, though a
// missing field elsewhere is AE (both ERR-3 101).
TEST(MakeAck, AMissingMsh9Msh11OrMsh12IsARAndOtherMissingFieldsAE) {
  for (const char* location : {"MSH-9", "MSH-9.1", "MSH-9.2", "MSH-11", "MSH-12", "MSH-12.1"}) {
    const Ack ack = MakeAck(
        Original(), core::MakeError(core::ErrorCode::kRequiredFieldMissing, "missing", location),
        Options());
    EXPECT_EQ(ack.code, AckCode::kAR) << location;
    const auto parsed = Message::Parse(ack.er7);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->Get("ERR-3.1").raw(), "101") << location;
  }
  for (const char* location : {"MSH-10", "MSH-7", "MSH-1", "MSH-90", "PID-3", "MSH"}) {
    const Ack ack = MakeAck(
        Original(), core::MakeError(core::ErrorCode::kRequiredFieldMissing, "missing", location),
        Options());
    EXPECT_EQ(ack.code, AckCode::kAE) << location;
  }
}

TEST(MakeAck, UnsupportedTypeIsAR) {
  const core::Error error =
      core::MakeError(core::ErrorCode::kUnsupportedMessage, "not accepted", "MSH-9.1");
  const Ack ack = MakeAck(Original(), error, Options());
  EXPECT_EQ(ack.code, AckCode::kAR);
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("MSA-1").raw(), "AR");
  EXPECT_EQ(parsed->Get("ERR-2").raw(), "MSH^1^9^1^1");
  EXPECT_EQ(parsed->Get("ERR-3").raw(), "200^Unsupported message type^HL70357");
  EXPECT_EQ(parsed->Get("ERR-4").raw(), "E");
}

TEST(MakeAck, WorstErrorDecidesAndEachErrorGetsAnErr) {
  const std::vector<core::Error> errors = {
      core::MakeError(core::ErrorCode::kRequiredFieldMissing, "missing", "PV1-3(2).1.2"),
      core::MakeError(core::ErrorCode::kUnsupportedEvent, "no such trigger", "MSH-9.2"),
  };
  const Ack ack = MakeAck(Original(), errors, Options());
  EXPECT_EQ(ack.code, AckCode::kAR);
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->CountSegments("ERR"), 2u);
  EXPECT_EQ(parsed->Get("ERR[1]-2").raw(), "PV1^1^3^2^1^2");
  EXPECT_EQ(parsed->Get("ERR[1]-3.1").raw(), "101");
  EXPECT_EQ(parsed->Get("ERR[2]-3.1").raw(), "201");
}

TEST(MakeAck, WarningsAddErrWithSeverityW) {
  AckOptions options = Options();
  options.warnings.push_back(
      core::MakeError(core::ErrorCode::kUnknownCode, "code mapped", "PV1-2"));
  const Ack ack = MakeAck(Original(), options);
  EXPECT_EQ(ack.code, AckCode::kAA);
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("ERR-4").raw(), "W");
  EXPECT_EQ(parsed->Get("ERR-3.1").raw(), "103");
}

struct EnhancedCase {
  std::string_view name;
  std::string_view msh15;
  std::string_view msh16;
  bool fail;
  core::ErrorCode code;
  AckCode expected;
  bool should_send;
};

void PrintTo(const EnhancedCase& c, std::ostream* out) { *out << c.name; }

class EnhancedMode : public testing::TestWithParam<EnhancedCase> {};

TEST_P(EnhancedMode, UsesAcceptCodesAndHonoursMsh15) {
  const EnhancedCase& c = GetParam();
  const Message original = Original(c.msh15, c.msh16);
  EXPECT_EQ(ReadAckPolicy(original).mode, AckMode::kEnhanced);
  const core::Error error = core::MakeError(c.code, "problem", "PID-3");
  const Ack ack = c.fail ? MakeAck(original, error, Options()) : MakeAck(original, Options());
  EXPECT_EQ(ack.code, c.expected);
  EXPECT_EQ(ack.should_send, c.should_send);
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("MSA-1").raw(), ToString(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Codes, EnhancedMode,
    testing::Values(EnhancedCase{"AlwaysSuccess", "AL", "NE", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, true},
                    EnhancedCase{"AlwaysError", "AL", "AL", true, core::ErrorCode::kInvalidValue,
                                 AckCode::kCE, true},
                    EnhancedCase{"AlwaysReject", "AL", "", true,
                                 core::ErrorCode::kUnsupportedMessage, AckCode::kCR, true},
                    // MSH-15 NE with MSH-16 AL: no accept ACK, but the application ACK the
                    // sender asked for (before: nothing at all, the sender waited forever).
                    EnhancedCase{"NeverAcceptAlwaysApplicationSuccess", "NE", "AL", false,
                                 core::ErrorCode::kInternal, AckCode::kAA, true},
                    EnhancedCase{"NeverAcceptAlwaysApplicationError", "NE", "AL", true,
                                 core::ErrorCode::kInvalidValue, AckCode::kAE, true},
                    EnhancedCase{"NeverAcceptAlwaysApplicationReject", "NE", "AL", true,
                                 core::ErrorCode::kStorage, AckCode::kAR, true},
                    EnhancedCase{"NeverBoth", "NE", "NE", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, false},
                    EnhancedCase{"NeverAcceptApplicationOnErrorSuccess", "NE", "ER", false,
                                 core::ErrorCode::kInternal, AckCode::kCA, false},
                    EnhancedCase{"NeverAcceptApplicationOnErrorError", "NE", "ER", true,
                                 core::ErrorCode::kInvalidValue, AckCode::kAE, true},
                    EnhancedCase{"OnErrorApplicationAlwaysSuccess", "ER", "AL", false,
                                 core::ErrorCode::kInternal, AckCode::kAA, true},
                    EnhancedCase{"AlwaysBoth", "AL", "AL", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, true},
                    EnhancedCase{"OnErrorSuccess", "ER", "", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, false},
                    EnhancedCase{"OnErrorError", "ER", "", true, core::ErrorCode::kTooLarge,
                                 AckCode::kCR, true},
                    EnhancedCase{"OnSuccessSuccess", "SU", "", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, true},
                    EnhancedCase{"OnlyMsh16Valued", "", "AL", false, core::ErrorCode::kInternal,
                                 AckCode::kCA, true}),
    [](const testing::TestParamInfo<EnhancedCase>& p) { return std::string(p.param.name); });

TEST(MakeAck, ApplicationAckInEnhancedModeFollowsMsh16) {
  const Message original = Original("AL", "ER");
  AckOptions options = Options();
  options.kind = AckKind::kApplication;
  const Ack ok = MakeAck(original, options);
  EXPECT_EQ(ok.code, AckCode::kAA);
  EXPECT_FALSE(ok.should_send);
  const Ack failed = MakeAck(
      original, core::MakeError(core::ErrorCode::kNotFound, "no patient", "PID-3"), options);
  EXPECT_EQ(failed.code, AckCode::kAE);
  EXPECT_TRUE(failed.should_send);
}

TEST(MakeAck, OriginalModeIgnoresAckTypesItDoesNotHave) {
  EXPECT_EQ(ReadAckPolicy(Original()).mode, AckMode::kOriginal);
  AckOptions options = Options();
  options.kind = AckKind::kAccept;
  const Ack ack = MakeAck(Original(), options);
  EXPECT_EQ(ack.code, AckCode::kCA);
  EXPECT_TRUE(ack.should_send);
}

TEST(MakeAck, UsesTheOriginalsDelimitersAndVersion) {
  const Message original = Parse("MSH#@!$%#PAS#RA1#BRK#NHS#2024##ADT@A04#C@2#T#2.6\rPID#1\r");
  AckOptions options = Options();
  options.control_id = "ID#1";
  const core::Error error =
      core::MakeError(core::ErrorCode::kInvalidValue, "bad value #1 ^here", "PID-3.1");
  const Ack ack = MakeAck(original, error, options);
  EXPECT_EQ(ack.er7,
            "MSH#@!$%#BRK#NHS#PAS#RA1#20240501093015+0000##ACK@A04@ACK#ID$F$1#T#2.6\r"
            "MSA#AE#C@2\r"
            "ERR##PID@1@3@1@1#102@Data type error@HL70357#E####bad value $F$1 ^here\r");
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("ERR-8").Decoded(), "bad value #1 ^here");
}

TEST(MakeAck, OldVersionsAlsoGetErr1AndMsa3) {
  const Message original = Original("", "", "2.3.1");
  const core::Error error =
      core::MakeError(core::ErrorCode::kRequiredFieldMissing, "visit number missing", "PV1-19");
  const Ack ack = MakeAck(original, error, Options());
  const auto parsed = Message::Parse(ack.er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("MSH-12").raw(), "2.3.1");
  EXPECT_EQ(parsed->Get("MSA-3").raw(), "visit number missing");
  EXPECT_EQ(parsed->Get("ERR-1").raw(), "PV1^1^19^101&Required field missing&HL70357");
  EXPECT_EQ(parsed->Get("ERR-2").raw(), "PV1^1^19");
  // 2.5 and later have no ERR-1 and no MSA-3.
  const Ack modern = MakeAck(Original(), error, Options());
  const auto modern_parsed = Message::Parse(modern.er7);
  ASSERT_TRUE(modern_parsed.has_value());
  EXPECT_EQ(modern_parsed->Get("ERR-1").raw(), "");
  EXPECT_EQ(modern_parsed->Get("MSA-3").raw(), "");
}

TEST(MakeAck, AnsweringAMessageWithoutTriggerWritesBareAck) {
  const Message original = Parse("MSH|^~\\}|A|B|C|D|1993||ACK^|X1|P|2.1\rMSA|AA|Y\r");
  const auto parsed = Message::Parse(MakeAck(original, Options()).er7);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Get("MSH-9").raw(), "ACK");
  EXPECT_EQ(parsed->Get("MSH-2").raw(), "^~\\}");
}

TEST(MakeNak, GarbageGetsARWithDefaults) {
  const core::Error error =
      core::MakeError(core::ErrorCode::kSegmentSequence, "message does not start with MSH", "MSH");
  const Ack nak = MakeNak("\x01\x02garbage", error, Options());
  EXPECT_EQ(nak.code, AckCode::kAR);
  EXPECT_EQ(nak.er7,
            "MSH|^~\\&|||||20240501093015+0000||ACK|ACK1||2.5\r"
            "MSA|AR|\r"
            "ERR||MSH^1|100^Segment sequence error^HL70357|E||||message does not start with MSH\r");
  EXPECT_TRUE(Message::Parse(nak.er7).has_value());
}

TEST(MakeNak, SalvagesAPartlyReadableHeader) {
  const std::string raw =
      "MSH|^~\\&|PAS|RA1|BRK|NHS|2024||ADT^A01|CTRL9|P|2.5|||AL|NE\rPID|1\rthis is not a segment";
  const auto parsed = Message::Parse(raw);
  ASSERT_FALSE(parsed.has_value());
  const Ack nak = MakeNak(raw, parsed.error(), Options());
  EXPECT_EQ(nak.code, AckCode::kCR);  // MSH-15 asks for enhanced mode
  EXPECT_TRUE(nak.should_send);
  const auto ack = Message::Parse(nak.er7);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->Get("MSA-2").raw(), "CTRL9");
  EXPECT_EQ(ack->Get("MSH-3").raw(), "BRK");
  EXPECT_EQ(ack->Get("MSH-9").raw(), "ACK^A01^ACK");
  EXPECT_EQ(ack->Get("ERR-3.1").raw(), "100");
}

TEST(MakeNak, KeepsCustomDelimitersAndDropsOverlongValues) {
  const std::string raw = "MSH#@!$%#" + std::string(300, 'A') + "#RA1#####X@Y#C1#P#2.4\rbad";
  const core::Error error = core::MakeError(core::ErrorCode::kSegmentSequence, "bad", "");
  const Ack nak = MakeNak(raw, error, Options());
  const auto ack = Message::Parse(nak.er7);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->encoding().field, '#');
  EXPECT_EQ(ack->Get("MSH-5").raw(), "");  // the 300-byte MSH-3 was left out
  EXPECT_EQ(ack->Get("MSH-6").raw(), "RA1");
  EXPECT_EQ(ack->Get("MSA-2").raw(), "C1");
  EXPECT_EQ(ack->Get("ERR-2").raw(), "");
}

TEST(MakeNak, FallsBackWhenTheDelimitersAreUnreadable) {
  const core::Error error = core::MakeError(core::ErrorCode::kInvalidValue, "bad MSH-2", "MSH-2");
  const Ack nak = MakeNak("MSH|^^^^|A|B|C|D||ADT|X|P|2.5\r", error, Options());
  const auto ack = Message::Parse(nak.er7);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->Get("MSH-2").raw(), "^~\\&");
  EXPECT_EQ(ack->Get("MSA-2").raw(), "");
  EXPECT_EQ(ack->Get("ERR-2").raw(), "MSH^1^2");
}

TEST(LocationToErl, RendersEveryLevel) {
  const Encoding enc;
  EXPECT_EQ(LocationToErl("PID-3", enc), "PID^1^3");
  EXPECT_EQ(LocationToErl("OBX[3]-5", enc), "OBX^3^5");
  EXPECT_EQ(LocationToErl("PID-3(2)", enc), "PID^1^3^2");
  EXPECT_EQ(LocationToErl("PID-3.1.2", enc), "PID^1^3^1^1^2");
  EXPECT_EQ(LocationToErl("MSH", enc), "MSH^1");
  EXPECT_EQ(LocationToErl("Patient.birthDate", enc), "");
}

TEST(Hl7ErrorText, CoversEveryCodeInTheErrorTable) {
  for (int i = 0; i <= static_cast<int>(core::ErrorCode::kInternal); ++i) {
    const auto code = static_cast<core::ErrorCode>(i);
    EXPECT_FALSE(Hl7ErrorText(core::Info(code).err3).empty()) << core::Info(code).name;
  }
}

}  // namespace
}  // namespace tb::hl7v2
