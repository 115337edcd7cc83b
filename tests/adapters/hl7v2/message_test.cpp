#include "adapters/hl7v2/message.h"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

// A small ADT with repetitions, subcomponents, escapes, an explicit null, a Z-segment, three
// OBX segments and trailing delimiters.
constexpr std::string_view kAdt =
    "MSH|^~\\&|PAS|RA1|BROKER|NHS|20240501093015||ADT^A01^ADT_A01|CTRL1|P|2.5|||AL|NE\r"
    "EVN|A01|20240501093000\r"
    "PID|1||RA123^^^RA1^MR~9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH||"
    "O\\S\\BRIEN^Mary\\T\\Jo||19700101|F|||\"\"||\r"
    "OBX|1|TX|N^Note||first line\\.br\\second line||||||F\r"
    "OBX|2|NM|HR^Heart rate||72|bpm\r"
    "OBX|3|ST|X^Y||value \\F\\ with bar\r"
    "ZPI|custom^data|||\r";

Message ParseOk(std::string_view text) {
  auto parsed = Message::Parse(std::string(text));
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return parsed ? std::move(*parsed) : Message::Parse("MSH|^~\\&\r").value();
}

struct PathRead {
  std::string_view path;
  std::string_view raw;
};

void PrintTo(const PathRead& c, std::ostream* out) { *out << c.path; }

class PathAccess : public testing::TestWithParam<PathRead> {};

TEST_P(PathAccess, ReadsTheRawPiece) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.Get(GetParam().path).raw(), GetParam().raw) << GetParam().path;
}

INSTANTIATE_TEST_SUITE_P(
    Adt, PathAccess,
    testing::Values(
        PathRead{"MSH-1", "|"}, PathRead{"MSH-2", "^~\\&"}, PathRead{"MSH-2.1", "^~\\&"},
        PathRead{"MSH-3", "PAS"}, PathRead{"MSH-9", "ADT^A01^ADT_A01"}, PathRead{"MSH-9.1", "ADT"},
        PathRead{"MSH-9.2", "A01"}, PathRead{"MSH-9.3", "ADT_A01"}, PathRead{"MSH-9.4", ""},
        PathRead{"MSH-10", "CTRL1"}, PathRead{"MSH-16", "NE"}, PathRead{"MSH-17", ""},
        PathRead{"EVN-1", "A01"},
        PathRead{"PID-3", "RA123^^^RA1^MR~9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH"},
        PathRead{"PID-3.1", "RA123"}, PathRead{"PID-3(1).1", "RA123"},
        PathRead{"PID-3(2).1", "9434765919"},
        PathRead{"PID-3(2).4", "NHS&2.16.840.1.113883.2.1.4.1&ISO"},
        PathRead{"PID-3(2).4.1", "NHS"}, PathRead{"PID-3(2).4.2", "2.16.840.1.113883.2.1.4.1"},
        PathRead{"PID-3(2).5", "NH"}, PathRead{"PID-3(3).1", ""}, PathRead{"PID-3.4.1", "RA1"},
        PathRead{"PID-5.1", "O\\S\\BRIEN"}, PathRead{"PID-11", "\"\""}, PathRead{"PID-13", ""},
        PathRead{"OBX-5", "first line\\.br\\second line"}, PathRead{"OBX[1]-1", "1"},
        PathRead{"OBX[2]-5", "72"}, PathRead{"OBX[3]-5", "value \\F\\ with bar"},
        PathRead{"OBX[4]-5", ""}, PathRead{"ZPI-1.2", "data"}, PathRead{"ZPI-4", ""},
        PathRead{"PV1-3.1", ""}, PathRead{"not a path", ""}));

TEST(Message, KeepsCanonicalInputByteForByte) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.Serialize(), kAdt);
  EXPECT_EQ(msg.SegmentCount(), 7u);
  EXPECT_EQ(msg.ControlId(), "CTRL1");
  EXPECT_EQ(msg.MessageType(), "ADT");
  EXPECT_EQ(msg.TriggerEvent(), "A01");
  EXPECT_EQ(msg.Version(), "2.5");
}

TEST(Message, DecodesOnReadAccess) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.Get("PID-5.1").Decoded(), "O^BRIEN");
  EXPECT_EQ(msg.Get("PID-5.2").Decoded(), "Mary&Jo");
  EXPECT_EQ(msg.Get("OBX[3]-5").Decoded(), "value | with bar");
  // Plain decoding keeps formatting escapes; Text() renders them.
  EXPECT_EQ(msg.Get("OBX-5").Decoded(), "first line\\.br\\second line");
  EXPECT_EQ(msg.Get("OBX-5").Text(), "first line\nsecond line");
  // MSH-2 is never unescaped.
  EXPECT_EQ(msg.Get("MSH-2").Decoded(), "^~\\&");
}

TEST(Message, TellsNullFromEmptyFromPresent) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.Get("PID-11").state(), ValueState::kNull);
  EXPECT_TRUE(msg.Get("PID-11").IsNull());
  EXPECT_EQ(msg.Get("PID-11").Decoded(), "");
  EXPECT_EQ(msg.Get("PID-10").state(), ValueState::kEmpty);  // between delimiters
  EXPECT_EQ(msg.Get("PID-40").state(), ValueState::kEmpty);  // past the end
  EXPECT_EQ(msg.Get("PID-8").state(), ValueState::kPresent);
  EXPECT_TRUE(msg.Get("PID-8").HasValue());
}

TEST(Message, CountsRepetitionsComponentsSubcomponents) {
  const Message msg = ParseOk(kAdt);
  const Value pid3 = msg.Get("PID-3");
  EXPECT_EQ(pid3.RepetitionCount(), 2u);
  EXPECT_EQ(pid3.Repetition(2).ComponentCount(), 5u);
  EXPECT_EQ(pid3.Repetition(2).Component(4).SubcomponentCount(), 3u);
  EXPECT_EQ(pid3.Repetition(2).Component(4).Subcomponent(3).raw(), "ISO");
  EXPECT_EQ(msg.Get("PID-10").RepetitionCount(), 0u);
  EXPECT_EQ(msg.Get("PID-1").Component(1).Subcomponent(1).raw(), "1");
  EXPECT_EQ(msg.Get("PID-1").Component(2).raw(), "");
}

TEST(ValueRange, VisitsEveryPieceIncludingEmptyOnes) {
  const Message msg = ParseOk(kAdt);
  std::vector<std::string_view> reps;
  for (const Value& rep : msg.Get("PID-3").Repetitions()) {
    EXPECT_EQ(rep.level(), Level::kRepetition);
    reps.push_back(rep.raw());
  }
  EXPECT_EQ(reps, (std::vector<std::string_view>{
                      "RA123^^^RA1^MR", "9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH"}));
  std::vector<std::string_view> comps;
  for (const Value& comp : msg.Get("PID-3").Components()) {  // of the first repetition
    comps.push_back(comp.raw());
  }
  EXPECT_EQ(comps, (std::vector<std::string_view>{"RA123", "", "", "RA1", "MR"}));
  std::vector<std::string_view> subs;
  for (const Value& sub : msg.Get("PID-3(2).4").Subcomponents()) {
    subs.push_back(sub.raw());
  }
  EXPECT_EQ(subs, (std::vector<std::string_view>{"NHS", "2.16.840.1.113883.2.1.4.1", "ISO"}));
  std::size_t visits = 0;
  for (const Value& piece : msg.Get("PID-10").Repetitions()) {
    (void)piece;
    ++visits;
  }
  EXPECT_EQ(visits, 0u);  // empty: no pieces, as RepetitionCount() says
  const Value trailing("a~~", Encoding{}, Level::kField);
  std::vector<std::string_view> with_empties;
  for (const Value& rep : trailing.Repetitions()) {
    with_empties.push_back(rep.raw());
  }
  EXPECT_EQ(with_empties, (std::vector<std::string_view>{"a", "", ""}));
  EXPECT_EQ(with_empties.size(), trailing.RepetitionCount());
  const Value leaf("x", Encoding{}, Level::kSubcomponent);
  std::size_t leaf_pieces = 0;
  for (const Value& piece : leaf.Components()) {
    EXPECT_EQ(piece.raw(), "x");
    ++leaf_pieces;
  }
  EXPECT_EQ(leaf_pieces, 1u);
}

TEST(Message, CountsFieldsIncludingTrailingDelimiters) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.FindSegment("ZPI")->FieldCount(), 4u);
  EXPECT_EQ(msg.FindSegment("PID")->FieldCount(), 13u);
  EXPECT_EQ(msg.Segment(1).FieldCount(), 16u);  // MSH-1 counts
  EXPECT_EQ(msg.Segment(1).id(), "MSH");
  EXPECT_EQ(msg.Segment(7).id(), "ZPI");
  EXPECT_EQ(msg.Segment(8).raw(), "");
  EXPECT_EQ(msg.CountSegments("OBX"), 3u);
  EXPECT_FALSE(msg.FindSegment("OBX", 4).has_value());
}

TEST(Message, RequireReportsMissingAndNullWithLocation) {
  const Message msg = ParseOk(kAdt);
  EXPECT_EQ(msg.Require("PID-3(2).1")->raw(), "9434765919");
  const auto missing = msg.Require("PV1-3.1");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(missing.error().location, "PV1-3.1");
  const auto null = msg.Require("PID-11");
  ASSERT_FALSE(null.has_value());
  EXPECT_EQ(null.error().message, "required field is null");
  const auto bad = msg.Require("PID-x");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::ErrorCode::kInvalidValue);
}

struct LineEndingCase {
  std::string_view name;
  std::string_view input;
};

void PrintTo(const LineEndingCase& c, std::ostream* out) { *out << c.name; }

class LineEndings : public testing::TestWithParam<LineEndingCase> {};

TEST_P(LineEndings, AreToleratedAndCanonicalised) {
  const Message msg = ParseOk(GetParam().input);
  EXPECT_EQ(msg.Serialize(), "MSH|^~\\&|A|B\rPID|1||X\rZZZ\r");
  EXPECT_EQ(msg.SegmentCount(), 3u);
  EXPECT_EQ(msg.Get("PID-3").raw(), "X");
}

INSTANTIATE_TEST_SUITE_P(
    Terminators, LineEndings,
    testing::Values(LineEndingCase{"Cr", "MSH|^~\\&|A|B\rPID|1||X\rZZZ\r"},
                    LineEndingCase{"Lf", "MSH|^~\\&|A|B\nPID|1||X\nZZZ\n"},
                    LineEndingCase{"CrLf", "MSH|^~\\&|A|B\r\nPID|1||X\r\nZZZ\r\n"},
                    // A LF message takes any terminator; CR and CRLF messages take only their
                    // own (a lone LF is data there: LfInsideData below).
                    LineEndingCase{"MixedAfterLf", "MSH|^~\\&|A|B\nPID|1||X\r\nZZZ\r"},
                    LineEndingCase{"CrThenFinalNewline", "MSH|^~\\&|A|B\rPID|1||X\rZZZ\r\n"},
                    LineEndingCase{"NoFinalTerminator", "MSH|^~\\&|A|B\rPID|1||X\rZZZ"},
                    LineEndingCase{"BlankLines",
                                   "\n\nMSH|^~\\&|A|B\r\n\r\nPID|1||X\r\n\r\nZZZ\r\n\r\n"},
                    LineEndingCase{"BlankLinesLf", "\n\nMSH|^~\\&|A|B\n\nPID|1||X\r\rZZZ\n\n"},
                    LineEndingCase{"ByteOrderMark", "\xEF\xBB\xBFMSH|^~\\&|A|B\nPID|1||X\nZZZ"}),
    [](const testing::TestParamInfo<LineEndingCase>& p) { return std::string(p.param.name); });

// v2.5.1 section 2.5: the segment terminator is CR. A sender that lets a LF through inside a
// text field must not have the rest of the segment read as a new segment: before, "END|F"
// became a segment of its own, OBX-11 was lost, and the message was acknowledged AA.
TEST(Message, ALfInsideDataOfACrMessageIsData) {
  const Message msg = ParseOk(
      "MSH|^~\\&|LAB|RJ1|TB|TB|20261123120000||ORU^R01|C1|P|2.5.1\r"
      "PID|1||12345^^^RJ1^MR\r"
      "OBR|1||R1|RPT\r"
      "OBX|1|TX|RPT||Normal\nEND||||||F\r");
  EXPECT_EQ(msg.SegmentCount(), 4u);
  EXPECT_EQ(msg.Get("OBX-5").raw(), "Normal\nEND");
  EXPECT_EQ(msg.Get("OBX-11").raw(), "F");
  EXPECT_FALSE(msg.FindSegment("END"));
}

TEST(Message, ALoneLfInsideDataOfACrLfMessageIsData) {
  const Message msg = ParseOk("MSH|^~\\&|A|B\r\nOBX|1|TX|RPT||a\nb|F\r\nZZZ\r\n");
  EXPECT_EQ(msg.SegmentCount(), 3u);
  EXPECT_EQ(msg.Get("OBX-6").raw(), "F");
  EXPECT_EQ(msg.Serialize(), "MSH|^~\\&|A|B\rOBX|1|TX|RPT||a\nb|F\rZZZ\r");
}

// A CR message with CRLF further on is not read as CRLF: the LF begins the next "segment",
// which has no valid id, so the message is refused rather than misread.
TEST(Message, ACrMessageWithACrLfLaterIsRefused) {
  const auto parsed = Message::Parse("MSH|^~\\&|A|B\rPID|1||X\r\nZZZ\r");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, core::ErrorCode::kSegmentSequence);
}

TEST(Message, HonoursCustomDelimiters) {
  const Message msg =
      ParseOk("MSH#@!$%#APP#FAC#####ADT@A01#C1#P#2.5\rPID#1##A1@@@NHS@NH!B2#x$F$y\r");
  EXPECT_EQ(msg.encoding().field, '#');
  EXPECT_EQ(msg.Get("MSH-1").raw(), "#");
  EXPECT_EQ(msg.Get("MSH-2").raw(), "@!$%");
  EXPECT_EQ(msg.Get("MSH-9.2").raw(), "A01");
  EXPECT_EQ(msg.Get("PID-3(1).4").raw(), "NHS");
  EXPECT_EQ(msg.Get("PID-3(2).1").raw(), "B2");
  EXPECT_EQ(msg.Get("PID-4").Decoded(), "x#y");
  EXPECT_EQ(msg.Get("PID-4").raw(), "x$F$y");
}

TEST(Message, KeepsZSegmentsAndUnknownSegments) {
  const std::string_view text = "MSH|^~\\&|A\rZA1|x\rQ12|y^z\rZZZ\r";
  const Message msg = ParseOk(text);
  EXPECT_EQ(msg.Serialize(), text);
  EXPECT_EQ(msg.Get("Q12-1.2").raw(), "z");
}

struct BadMessage {
  std::string_view name;
  std::string_view input;
  core::ErrorCode code;
  std::string_view location;
};

void PrintTo(const BadMessage& c, std::ostream* out) { *out << c.name; }

class ParseRejects : public testing::TestWithParam<BadMessage> {};

TEST_P(ParseRejects, WithCodeAndLocation) {
  const auto parsed = Message::Parse(std::string(GetParam().input));
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, GetParam().code);
  EXPECT_EQ(parsed.error().location, GetParam().location);
}

INSTANTIATE_TEST_SUITE_P(
    Structure, ParseRejects,
    testing::Values(
        BadMessage{"Empty", "", core::ErrorCode::kSegmentSequence, "MSH"},
        BadMessage{"StartsWithPid", "PID|1\rMSH|^~\\&\r", core::ErrorCode::kSegmentSequence, "MSH"},
        BadMessage{"Garbage", "hello world", core::ErrorCode::kSegmentSequence, "MSH"},
        BadMessage{"LowerCaseMsh", "msh|^~\\&\r", core::ErrorCode::kSegmentSequence, "MSH"},
        BadMessage{"MissingEncoding", "MSH||A\r", core::ErrorCode::kRequiredFieldMissing, "MSH-2"},
        BadMessage{"BadSegmentId", "MSH|^~\\&\rpid|1\r", core::ErrorCode::kSegmentSequence, ""},
        BadMessage{"ShortSegmentId", "MSH|^~\\&\rPI|1\r", core::ErrorCode::kSegmentSequence, ""},
        BadMessage{"IdWithoutSeparator", "MSH|^~\\&\rPIDX|1\r", core::ErrorCode::kSegmentSequence,
                   ""},
        BadMessage{"SecondMsh", "MSH|^~\\&\rMSH|^~\\&\r", core::ErrorCode::kSegmentSequence, "MSH"},
        BadMessage{"BatchSegmentInside", "MSH|^~\\&\rBTS|1\r", core::ErrorCode::kSegmentSequence,
                   "BTS"}),
    [](const testing::TestParamInfo<BadMessage>& p) { return std::string(p.param.name); });

TEST(ParseLimits, CapSizeSegmentsAndFields) {
  ParseLimits limits;
  limits.max_message_bytes = 32;
  auto too_big = Message::Parse(std::string("MSH|^~\\&|") + std::string(40, 'x'), limits);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().code, core::ErrorCode::kTooLarge);

  limits = {};
  limits.max_segments = 3;
  EXPECT_TRUE(Message::Parse("MSH|^~\\&\rNTE|1\rNTE|2\r", limits).has_value());
  auto too_many = Message::Parse("MSH|^~\\&\rNTE|1\rNTE|2\rNTE|3\r", limits);
  ASSERT_FALSE(too_many.has_value());
  EXPECT_EQ(too_many.error().code, core::ErrorCode::kTooLarge);
  EXPECT_EQ(too_many.error().location, "NTE");

  limits = {};
  limits.max_fields = 4;
  EXPECT_TRUE(Message::Parse("MSH|^~\\&|3|4\rOBX|1|2|3|4\r", limits).has_value());
  auto too_wide = Message::Parse("MSH|^~\\&\rOBX|1|2|3|4|5\r", limits);
  ASSERT_FALSE(too_wide.has_value());
  EXPECT_EQ(too_wide.error().code, core::ErrorCode::kTooLarge);
  EXPECT_EQ(too_wide.error().location, "OBX-5");
  auto wide_msh = Message::Parse("MSH|^~\\&|3|4|5\r", limits);
  ASSERT_FALSE(wide_msh.has_value());
  EXPECT_EQ(wide_msh.error().location, "MSH-5");
}

TEST(ParseErrors, NeverQuoteMessageContent) {
  const auto parsed = Message::Parse("MSH|^~\\&\rSMITH JOHN 9434765919\r");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message.find("SMITH"), std::string::npos);
  EXPECT_EQ(parsed.error().message.find("9434765919"), std::string::npos);
}

TEST(Message, StaysReadableAfterAMove) {
  Message msg = ParseOk(kAdt);
  const Message moved = std::move(msg);
  EXPECT_EQ(moved.Get("PID-3(2).1").raw(), "9434765919");
}

}  // namespace
}  // namespace tb::hl7v2
