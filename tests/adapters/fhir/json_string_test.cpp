// AppendJsonString must give exactly the bytes rapidjson::Writer gives: it takes different paths
// by length (4-7 and 8-16 bytes as overlapping words, 16-byte blocks, an overlapping last block;
// on the stack up to kJsonStringOnStack), so every length up to 80 and those around the stack
// limit are checked clean and with a byte to escape at every position.
#include "adapters/fhir/json_string.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tb::fhir {
namespace {

std::string RapidJsonString(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return {buffer.GetString(), buffer.GetSize()};
}

std::string Ours(std::string_view text) {
  std::string out = "x";  // not at the start of the buffer
  AppendJsonString(out, text);
  return out.substr(1);
}

TEST(JsonString, EveryLengthCleanAndWithAnEscapeAtEveryPosition) {
  for (std::size_t length = 0; length <= 80; ++length) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) {
      text.push_back(static_cast<char>('a' + i % 26));
    }
    ASSERT_EQ(Ours(text), RapidJsonString(text)) << length;
    for (const char special : {'"', '\\', '\n', '\x01', '\x1f'}) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string escaped = text;
        escaped[at] = special;
        ASSERT_EQ(Ours(escaped), RapidJsonString(escaped)) << length << " at " << at;
        // Two escapes: one early, one in the last bytes.
        escaped[length - 1] = special;
        ASSERT_EQ(Ours(escaped), RapidJsonString(escaped)) << length << " at " << at << "+last";
      }
    }
  }
}

// Strings up to kJsonStringOnStack are escaped on the stack, longer ones in `out`: lengths on
// both sides of that limit, clean, all escapes (the most output) and an escape at every place.
TEST(JsonString, LengthsAroundTheStackLimit) {
  for (std::size_t length = kJsonStringOnStack - 17; length <= kJsonStringOnStack + 17; ++length) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) {
      text.push_back(static_cast<char>('a' + i % 26));
    }
    ASSERT_EQ(Ours(text), RapidJsonString(text)) << length;
    ASSERT_EQ(Ours(std::string(length, '\x01')), RapidJsonString(std::string(length, '\x01')))
        << length;
    for (std::size_t at = 0; at < length; ++at) {
      std::string escaped = text;
      escaped[at] = '"';
      ASSERT_EQ(Ours(escaped), RapidJsonString(escaped)) << length << " at " << at;
    }
  }
}

// Strings longer than kJsonStringBlock are escaped a block at a time: escapes on both sides of
// every block boundary, and a string of whole blocks, give the Writer's bytes too.
TEST(JsonString, LongStringsEscapedAcrossBlockBoundaries) {
  for (const std::size_t length :
       {kJsonStringBlock + 1, 2 * kJsonStringBlock, 3 * kJsonStringBlock + 17}) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) {
      text.push_back(static_cast<char>('A' + i % 26));
    }
    ASSERT_EQ(Ours(text), RapidJsonString(text)) << length;
    std::string escaped = text;
    for (std::size_t boundary = kJsonStringBlock; boundary < length; boundary += kJsonStringBlock) {
      escaped[boundary - 1] = '"';
      escaped[boundary] = '\n';
      if (boundary + 1 < length) {
        escaped[boundary + 1] = '\x01';
      }
    }
    escaped[0] = '\\';
    escaped[length - 1] = '\t';
    ASSERT_EQ(Ours(escaped), RapidJsonString(escaped)) << length;
  }
}

TEST(JsonString, Utf8AndBytesAboveAsciiAreCopied) {
  const std::string text = "Caf\xC3\xA9 \xE2\x80\x94 M\xC3\xBCller, \xF0\x9F\x98\x80 and 0x7F \x7F";
  EXPECT_EQ(Ours(text), RapidJsonString(text));
  EXPECT_EQ(Ours(text), "\"" + text + "\"");
}

}  // namespace
}  // namespace tb::fhir
