// The Bundle JSON is written by the mapper's own serialiser (for speed); these tests hold it to
// the bytes rapidjson::Writer would produce for the same document, on text that needs escaping
// at every position of the 4- and 8-byte blocks the serialiser checks at once.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tests/mappings/v2_to_fhir_test_util.h"

namespace tb::mappings {
namespace {

using testing::Seg;
using testing::Tables;

std::string AdtWith(const std::vector<std::string>& z_segments) {
  std::string er7 = Seg("MSH", {{3, "PAS"},
                                {4, "RX1"},
                                {7, "20240115120000"},
                                {9, "ADT^A01"},
                                {10, "C1"},
                                {11, "P"},
                                {12, "2.4"}});
  er7 += Seg("PID", {{3, "RX123^^^RX1^MR"}, {5, "O'Brien^Ann"}, {7, "19700101"}, {8, "F"}});
  for (const std::string& z : z_segments) {
    er7 += z;
    er7.push_back('\r');
  }
  return er7;
}

std::string RapidJsonWriterBytes(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << "offset " << doc.GetErrorOffset();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The unmapped segments carried on the MessageHeader, in order.
std::vector<std::string> CarriedSegments(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  std::vector<std::string> out;
  const auto* header = testing::Resource(doc, "MessageHeader");
  if (header == nullptr || !header->HasMember("extension")) {
    return out;
  }
  for (const auto& extension : (*header)["extension"].GetArray()) {
    if (extension.HasMember("valueString")) {
      out.emplace_back(extension["valueString"].GetString(),
                       extension["valueString"].GetStringLength());
    }
  }
  return out;
}

TEST(V2ToFhirJson, EscapesExactlyAsRapidJsonWriterAtEveryPosition) {
  // Characters JSON escapes (quote, backslash, control characters with a short form and
  // without), and ones it does not (DEL, '/', UTF-8), each placed at every offset of fields of
  // 1 to 36 bytes (strings of 5 to 40 with "ZTX|"), so every path of the serialiser (short
  // string, 8-byte words, 16-byte blocks, overlapping tail) meets them.
  const std::vector<std::string> specials = {"\"",   "\\",     "\x01", "\x1f", "\t",
                                             "\x08", "\x0c",   "\x7f", "/",    "\xc3\xa9",
                                             "\x0b", "\"\\\"", "'",    "<"};
  std::vector<std::string> segments;
  for (const std::string& special : specials) {
    for (std::size_t length = 1; length <= 36; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        // "ZTX|" + filler, with the special text at `at` of the field.
        std::string field(length, 'x');
        field.replace(at, 1, special);
        segments.push_back("ZTX|" + field);
      }
    }
  }
  const std::string er7 = AdtWith(segments);
  core::Result<std::string> json = MapV2ToFhir(er7, Tables());
  ASSERT_TRUE(json.has_value()) << json.error().message;
  EXPECT_EQ(*json, RapidJsonWriterBytes(*json));
  const std::vector<std::string> carried = CarriedSegments(*json);
  // The PID is mapped; every Z-segment comes back as it was sent.
  ASSERT_EQ(carried.size(), segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    EXPECT_EQ(carried[i], segments[i]) << i;
  }
}

TEST(V2ToFhirJson, EscapedTextInMappedFieldsMatchesRapidJsonWriter) {
  // v2 escapes resolved into characters JSON must escape: \E\ (backslash), \X22\ (quote),
  // \X09\ (tab); and a name exactly 4, 7, 8 and 9 bytes long.
  std::string er7 =
      Seg("MSH",
          {{3, "PAS"}, {4, "RX1"}, {7, "20240115120000"}, {9, "ADT^A01"}, {10, "C1"}, {12, "2.4"}});
  er7 += Seg("PID", {{3, "RX123^^^RX1^MR"},
                     {5, "A\\E\\B\\X22\\C^Abcd~Abcdefg^Abcdefgh^Abcdefghi"},
                     {11, "1 \\X22\\Oak\\X22\\ Road\\X09\\Flat 2^^Leeds^^LS1 1AA"},
                     {8, "F"}});
  er7 += Seg("PV1", {{2, "I"}, {3, "WARD\\E\\1^^^RX1"}});
  core::Result<std::string> json = MapV2ToFhir(er7, Tables());
  ASSERT_TRUE(json.has_value()) << json.error().message;
  EXPECT_EQ(*json, RapidJsonWriterBytes(*json));
  EXPECT_NE(json->find(R"("family":"A\\B\"C")"), std::string::npos) << *json;
  EXPECT_NE(json->find(R"("1 \"Oak\" Road\tFlat 2")"), std::string::npos) << *json;
}

TEST(V2ToFhirJson, SameBytesOnRepeatedAndInterleavedCalls) {
  // The serialiser reuses a per-thread buffer: a large Bundle followed by a small one must not
  // leave bytes of the first in the second.
  std::vector<std::string> many(400, "ZTX|" + std::string(200, 'y'));
  const std::string big = AdtWith(many);
  const std::string small = AdtWith({});
  core::Result<std::string> small_first = MapV2ToFhir(small, Tables());
  core::Result<std::string> big_json = MapV2ToFhir(big, Tables());
  core::Result<std::string> small_again = MapV2ToFhir(small, Tables());
  ASSERT_TRUE(small_first && big_json && small_again);
  EXPECT_GT(big_json->size(), 80'000u);
  EXPECT_EQ(*small_first, *small_again);
  EXPECT_EQ(*big_json, RapidJsonWriterBytes(*big_json));
  EXPECT_EQ(*small_again, RapidJsonWriterBytes(*small_again));
  // Over a mebibyte: the buffer is given back after use, and the next call starts afresh.
  const std::string huge = AdtWith(std::vector<std::string>(5, "ZTX|" + std::string(300'000, 'z')));
  core::Result<std::string> huge_json = MapV2ToFhir(huge, Tables());
  core::Result<std::string> small_last = MapV2ToFhir(small, Tables());
  ASSERT_TRUE(huge_json && small_last);
  EXPECT_GT(huge_json->size(), 1'500'000u);
  EXPECT_EQ(CarriedSegments(*huge_json).size(), 5u);
  EXPECT_EQ(*small_last, *small_first);
}

}  // namespace
}  // namespace tb::mappings
