#include "adapters/hl7v2/charset.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "adapters/hl7v2/validate.h"

namespace tb::hl7v2 {
namespace {

// An ADT whose patient's family name is `family` (bytes as sent) and whose MSH-18 is `charset`.
Message Adt(std::string_view family, std::string_view charset) {
  std::string text = "MSH|^~\\&|PAS|RA1|BRK|NHS|20240501093000||ADT^A01^ADT_A01|C1|P|2.5||||||";
  text += charset;
  text += "\rPID|1||9434765919^^^NHS^NH||";
  text += family;
  text += "^SIAN\r";
  auto parsed = Message::Parse(std::move(text));
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return std::move(parsed).value();
}

TEST(CharacterSet, AsciiTextReadsTheSameWhateverMsh18Says) {
  for (const std::string_view declared : {"", "ASCII", "8859/1", "8859/2", "ISO IR87"}) {
    const auto charset = ReadCharacterSet(Adt("JONES", declared));
    ASSERT_TRUE(charset.has_value()) << declared;
    EXPECT_EQ(*charset, CharacterSet::kUtf8) << declared;
  }
}

TEST(CharacterSet, Latin1IsReadWhenDeclared) {
  const auto charset = ReadCharacterSet(Adt("LLYWEL\xCAN", "8859/1"));  // Ê in ISO 8859-1
  ASSERT_TRUE(charset.has_value());
  EXPECT_EQ(*charset, CharacterSet::kLatin1);
}

TEST(CharacterSet, Utf8IsReadDeclaredOrUndeclared) {
  for (const std::string_view declared : {"", "UNICODE UTF-8", "UNICODE"}) {
    const auto charset = ReadCharacterSet(Adt("LLYWEL\xC3\x8AN", declared));
    ASSERT_TRUE(charset.has_value()) << declared;
    EXPECT_EQ(*charset, CharacterSet::kUtf8) << declared;
  }
}

TEST(CharacterSet, Latin1BytesWithoutTheDeclarationAreRefusedAtMsh18) {
  for (const std::string_view declared : {"", "UNICODE UTF-8", "ASCII"}) {
    const auto charset = ReadCharacterSet(Adt("LLYWEL\xCAN", declared));
    ASSERT_FALSE(charset.has_value()) << declared;
    EXPECT_EQ(charset.error().code, core::ErrorCode::kInvalidValue);
    EXPECT_EQ(charset.error().location, "MSH-18");
    EXPECT_NE(charset.error().message.find("8859/1"), std::string::npos);
    EXPECT_EQ(charset.error().message.find("LLYWEL"), std::string::npos);  // never the text
  }
}

TEST(CharacterSet, OtherDeclaredSetsAreRefusedForTextBeyondAscii) {
  const auto charset = ReadCharacterSet(Adt("KOWALSK\xA3", "8859/2"));
  ASSERT_FALSE(charset.has_value());
  EXPECT_EQ(charset.error().location, "MSH-18");
}

// The edge check: a sender of undeclared Latin-1 gets an error ACK naming MSH-18.
TEST(CharacterSet, ValidateReportsTextThatIsNotInItsDeclaredSet) {
  ValidationRules rules;
  rules.message_types = {"ADT^A01"};
  const std::vector<core::Error> refused = Validate(Adt("LLYWEL\xCAN", ""), rules);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused.front().location, "MSH-18");
  EXPECT_TRUE(Validate(Adt("LLYWEL\xCAN", "8859/1"), rules).empty());
  EXPECT_TRUE(Validate(Adt("LLYWEL\xC3\x8AN", ""), rules).empty());
}

}  // namespace
}  // namespace tb::hl7v2
