#include "broker/core/utf8.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(Utf8, WellFormedTextIsValid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII, longer than one eight-byte block"));
  EXPECT_TRUE(IsValidUtf8("Si\xC3\xA2n"));                     // â
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC 12"));                 // €
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80 and more text"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));                // U+10FFFF
}

TEST(Utf8, FirstInvalidNamesTheOffendingByte) {
  EXPECT_EQ(FirstInvalidUtf8("Si\xE2n"), 2u);                // Latin-1 â
  EXPECT_EQ(FirstInvalidUtf8("0123456789abcdef\xFF"), 16u);  // after two ASCII blocks
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);               // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xE0\x80\xAF"), 1u);          // overlong, 3 bytes
  EXPECT_EQ(FirstInvalidUtf8("ab\xED\xA0\x80"), 2u);         // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xF4\x90\x80\x80"), 0u);       // over U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ok\xE2\x82"), 2u);             // cut short
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);                   // a lone continuation
  EXPECT_EQ(FirstInvalidUtf8("Si\xC3\xA2n"), std::string::npos);
}

TEST(Utf8, AsciiIsEveryByteBelow0x80) {
  EXPECT_TRUE(IsAscii(""));
  EXPECT_TRUE(IsAscii("MSH|^~\\&|A|B|C|D|20261124||ADT^A01|1|P|2.5.1\r"));
  EXPECT_FALSE(IsAscii("0123456789abcdef\xC3\xA2"));
  EXPECT_FALSE(IsAscii("\x80"));
  EXPECT_FALSE(IsAscii("abc\xFF"));
}

TEST(Utf8, Latin1BecomesTheSameCharactersInUtf8) {
  EXPECT_EQ(Latin1ToUtf8(""), "");
  EXPECT_EQ(Latin1ToUtf8("Smith"), "Smith");
  EXPECT_EQ(Latin1ToUtf8("Si\xE2n"), "Si\xC3\xA2n");
  EXPECT_EQ(Latin1ToUtf8("Zo\xEB \xA3"
                         "5 \xFF"),
            "Zo\xC3\xAB \xC2\xA3"
            "5 \xC3\xBF");
  std::string every;
  for (int byte = 0x80; byte <= 0xFF; ++byte) {
    every.push_back(static_cast<char>(byte));
  }
  const std::string converted = Latin1ToUtf8(every);
  EXPECT_EQ(converted.size(), 2 * every.size());
  EXPECT_TRUE(IsValidUtf8(converted));
}

TEST(Utf8, StrayBytesAmongUtf8AreReadAsLatin1) {
  EXPECT_EQ(Utf8OrLatin1(""), "");
  EXPECT_EQ(Utf8OrLatin1("Si\xC3\xA2n"), "Si\xC3\xA2n");  // well-formed: kept
  EXPECT_EQ(Utf8OrLatin1("Si\xE2n"), "Si\xC3\xA2n");      // a Latin-1 byte
  EXPECT_EQ(Utf8OrLatin1("\xC3\xA2 \xE9\xE9 \xC3\xA2"), "\xC3\xA2 \xC3\xA9\xC3\xA9 \xC3\xA2");
  EXPECT_EQ(Utf8OrLatin1("end \xC3"), "end \xC3\x83");  // a sequence cut short
  EXPECT_TRUE(IsValidUtf8(Utf8OrLatin1("\xFF\xFE\xED\xA0\x80\xF4\x90\x80\x80")));
}

}  // namespace
}  // namespace tb::core
