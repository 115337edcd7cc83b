#include "adapters/hl7v2/encoding.h"

#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

TEST(ReadEncoding, ReadsTheStandardSet) {
  const auto header = ReadEncoding("MSH|^~\\&|APP");
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->encoding, Encoding{});
  EXPECT_EQ(header->msh2_end, 8u);
  EXPECT_EQ(header->encoding.EncodingCharacters(), "^~\\&");
}

TEST(ReadEncoding, ReadsCustomDelimiters) {
  const auto header = ReadEncoding("MSH#@!$%#APP");
  ASSERT_TRUE(header.has_value());
  const Encoding& enc = header->encoding;
  EXPECT_EQ(enc.field, '#');
  EXPECT_EQ(enc.component, '@');
  EXPECT_EQ(enc.repetition, '!');
  EXPECT_EQ(enc.escape, '$');
  EXPECT_EQ(enc.subcomponent, '%');
  EXPECT_EQ(enc.truncation, '\0');
}

TEST(ReadEncoding, ReadsTheV27TruncationCharacter) {
  const auto header = ReadEncoding("MSH|^~\\&#|APP");
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->encoding.truncation, '#');
  EXPECT_EQ(header->encoding.EncodingCharacters(), "^~\\&#");
}

TEST(ReadEncoding, AcceptsShortOldStyleSets) {
  const auto three = ReadEncoding("MSH|^~}|X");  // no subcomponent separator
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->encoding.escape, '}');
  EXPECT_EQ(three->encoding.subcomponent, '\0');
  EXPECT_FALSE(three->encoding.IsComplete());
}

TEST(ReadEncoding, ReadsADoubledEscapeAsOne) {
  const auto header = ReadEncoding("MSH|^~\\\\&|SE050");
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->encoding, Encoding{});
  EXPECT_EQ(header->msh2_end, 9u);
}

struct BadHeader {
  std::string_view name;
  std::string_view header;
  core::ErrorCode code;
  std::string_view location;
};

void PrintTo(const BadHeader& c, std::ostream* out) { *out << c.name; }

class ReadEncodingRejects : public testing::TestWithParam<BadHeader> {};

TEST_P(ReadEncodingRejects, WithCodeAndLocation) {
  const auto header = ReadEncoding(GetParam().header);
  ASSERT_FALSE(header.has_value());
  EXPECT_EQ(header.error().code, GetParam().code);
  EXPECT_EQ(header.error().location, GetParam().location);
}

INSTANTIATE_TEST_SUITE_P(
    Headers, ReadEncodingRejects,
    testing::Values(
        BadHeader{"NoFieldSeparator", "MSH", core::ErrorCode::kRequiredFieldMissing, "MSH-1"},
        BadHeader{"LineBreakSeparator", "MSH\r", core::ErrorCode::kRequiredFieldMissing, "MSH-1"},
        BadHeader{"LetterSeparator", "MSHA^~\\&", core::ErrorCode::kInvalidValue, "MSH-1"},
        BadHeader{"SpaceSeparator", "MSH ^~\\&", core::ErrorCode::kInvalidValue, "MSH-1"},
        BadHeader{"NoEncodingChars", "MSH||APP", core::ErrorCode::kRequiredFieldMissing, "MSH-2"},
        BadHeader{"EncodingCharsEndAtBreak", "MSH|\r", core::ErrorCode::kRequiredFieldMissing,
                  "MSH-2"},
        BadHeader{"RepeatedDelimiter", "MSH|^^\\&|", core::ErrorCode::kInvalidValue, "MSH-2"},
        BadHeader{"DigitDelimiter", "MSH|^~1&|", core::ErrorCode::kInvalidValue, "MSH-2"},
        BadHeader{"TooLong", "MSH|^~\\&#!|", core::ErrorCode::kInvalidValue, "MSH-2"}),
    [](const testing::TestParamInfo<BadHeader>& p) { return std::string(p.param.name); });

TEST(Encoding, IsCompleteNeedsFiveDistinctLegalDelimiters) {
  EXPECT_TRUE(Encoding{}.IsComplete());
  Encoding dup;
  dup.subcomponent = '^';
  EXPECT_FALSE(dup.IsComplete());
  Encoding truncation_clash;
  truncation_clash.truncation = '~';
  EXPECT_FALSE(truncation_clash.IsComplete());
}

}  // namespace
}  // namespace tb::hl7v2
