#include "adapters/fhir/json.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tb::fhir {
namespace {

using core::ErrorCode;

TEST(ParseJson, ParsesAnObject) {
  auto document = ParseJson(R"({"resourceType":"Patient","active":true,"n":[1,2.5]})");
  ASSERT_TRUE(document.has_value()) << document.error().message;
  EXPECT_EQ(FindString(*document, "resourceType"), "Patient");
  EXPECT_EQ(ToJson(*document), R"({"resourceType":"Patient","active":true,"n":[1,2.5]})");
}

// RapidJSON's own check of the encoding inside strings, the reference for ParseJson's.
bool RapidJsonAccepts(const std::string& text) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  return !document.HasParseError();
}

// Every sequence of one and two bytes, and three and four byte sequences over every lead byte
// and every second byte (where the ranges differ) with boundary continuation bytes, inside a
// string: accepted and refused exactly as RapidJSON's UTF-8 validation does.
TEST(ParseJson, RefusesExactlyTheStringsRapidJsonFindsBadlyEncoded) {
  std::size_t accepted = 0;
  std::size_t checked = 0;
  const auto check = [&](const std::string& bytes) {
    const std::string text = "{\"a\":\"x" + bytes + "y\",\"b\":\"" + bytes + "\"}";
    const bool reference = RapidJsonAccepts(text);
    const auto parsed = ParseJson(text);
    ASSERT_EQ(parsed.has_value(), reference) << ::testing::PrintToString(bytes);
    accepted += reference ? 1 : 0;
    ++checked;
  };
  const unsigned char tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  const unsigned char fourths[] = {0x41, 0x80, 0xBF, 0xC0};
  for (unsigned first = 0; first < 256; ++first) {
    if (first == '"' || first == '\\') {
      continue;  // would end the string or start an escape, not test the encoding
    }
    const char lead = static_cast<char>(first);
    check(std::string(1, lead));
    for (unsigned second = 0; second < 256; ++second) {
      if (second == '"' || second == '\\') {
        continue;
      }
      const std::string two{lead, static_cast<char>(second)};
      check(two);
      if (first < 0xE0) {
        continue;
      }
      for (const unsigned char third : tails) {
        check(two + static_cast<char>(third));
        if (first >= 0xF0) {
          for (const unsigned char fourth : fourths) {
            check(two + static_cast<char>(third) + static_cast<char>(fourth));
          }
        }
      }
    }
  }
  // Both answers occur (the check is not trivially one-sided).
  EXPECT_GT(accepted, 2000u);
  EXPECT_GT(checked - accepted, 2000u);
}

TEST(ParseJson, NamesTheOffsetOfABadlyEncodedByte) {
  const auto parsed = ParseJson("{\"name\":\"caf\xc3\xa9 \xe2\x82\xac \xc3\x28\"}");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(parsed.error().location, "offset 19");
  EXPECT_NE(parsed.error().message.find("encoding"), std::string::npos);
}

TEST(ParseJson, AcceptsFourByteCharactersAndABom) {
  const auto parsed = ParseJson("\xef\xbb\xbf{\"a\":\"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(FindString(*parsed, "a"), "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
}

TEST(ParseJsonInPlace, GivesTheSameDocumentAsParseJson) {
  const std::string original =
      "\xef\xbb\xbf{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"id\":\"a\\\"b\\u00e9\","
      "\"n\":[1,2.5,-3e2,true,null],\"t\":\"caf\xc3\xa9\"}}]}";
  auto copied = ParseJson(original);
  ASSERT_TRUE(copied.has_value()) << copied.error().message;
  std::string text = original;
  auto in_place = ParseJsonInPlace(text);
  ASSERT_TRUE(in_place.has_value()) << in_place.error().message;
  EXPECT_EQ(ToJson(*in_place), ToJson(*copied));
  EXPECT_NE(text, original);  // unescaped in place
}

// Numbers are typed as RapidJSON types them and converted with correct rounding, both parsers
// alike. "0e77" (zero with an exponent past 22) went through RapidJSON 1.1's clz(0), undefined
// behaviour (found by federated_answer_fuzz).
TEST(ParseJson, NumbersAreTypedAndConvertedExactly) {
  const std::string text =
      R"([0e77, -0e30, 1e-400, 0.1, 1.7976931348623157e308, 4.9e-324, -0.0, -0, 7,
          -2147483648, -2147483649, 4294967295, 4294967296, 18446744073709551615,
          18446744073709551616, -9223372036854775808, -9223372036854775809, 1E2, 2.5e+1,
          0.000123e3])";
  for (const bool in_place : {false, true}) {
    std::string copy = text;
    auto parsed = in_place ? ParseJsonInPlace(copy) : ParseJson(text);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    const rapidjson::Value& n = *parsed;
    ASSERT_EQ(n.Size(), 20u);
    EXPECT_TRUE(n[0].IsDouble() && n[0].GetDouble() == 0.0 && !std::signbit(n[0].GetDouble()));
    EXPECT_TRUE(n[1].IsDouble() && n[1].GetDouble() == 0.0 && std::signbit(n[1].GetDouble()));
    EXPECT_EQ(n[2].GetDouble(), 0.0);
    EXPECT_EQ(n[3].GetDouble(), 0.1);
    EXPECT_EQ(n[4].GetDouble(), std::numeric_limits<double>::max());
    EXPECT_EQ(n[5].GetDouble(), std::numeric_limits<double>::denorm_min());
    EXPECT_TRUE(n[6].IsDouble() && std::signbit(n[6].GetDouble()));
    EXPECT_TRUE(n[7].IsInt() && n[7].GetInt() == 0);
    EXPECT_TRUE(n[8].IsInt() && n[8].IsUint() && n[8].GetInt() == 7);
    EXPECT_TRUE(n[9].IsInt() && n[9].GetInt() == std::numeric_limits<int>::min());
    EXPECT_TRUE(!n[10].IsInt() && n[10].IsInt64() && n[10].GetInt64() == -2147483649LL);
    EXPECT_TRUE(n[11].IsUint() && !n[11].IsInt() && n[11].GetUint() == 4294967295U);
    EXPECT_TRUE(!n[12].IsUint() && n[12].IsInt64() && n[12].GetUint64() == 4294967296ULL);
    EXPECT_TRUE(n[13].IsUint64() && !n[13].IsInt64());
    EXPECT_TRUE(n[14].IsDouble() && n[14].GetDouble() == 18446744073709551616.0);
    EXPECT_TRUE(n[15].IsInt64() && n[15].GetInt64() == std::numeric_limits<std::int64_t>::min());
    EXPECT_TRUE(n[16].IsDouble() && n[16].GetDouble() == -9223372036854775809.0);
    EXPECT_TRUE(n[17].IsDouble() && n[17].GetDouble() == 100.0);
    EXPECT_EQ(n[18].GetDouble(), 25.0);
    EXPECT_EQ(n[19].GetDouble(), 0.123);
  }
  for (const char* too_big : {"[1e309]", "[-1e400]", "[123456789e99999999999999999999]"}) {
    auto refused = ParseJson(too_big);
    ASSERT_FALSE(refused.has_value()) << too_big;
    EXPECT_NE(refused.error().message.find("too big"), std::string::npos)
        << refused.error().message;
  }
  EXPECT_EQ(ParseJson("[1e-99999999999999999999]")->GetArray()[0].GetDouble(), 0.0);
}

TEST(ParseJsonInPlace, RefusesWhatParseJsonRefusesAtTheSameOffset) {
  JsonLimits shallow;
  shallow.max_depth = 2;
  JsonLimits small;
  small.max_bytes = 8;
  const std::vector<std::pair<std::string, JsonLimits>> bad = {
      {"{\"a\":1,}", {}},
      {"\xef\xbb\xbf{\"a\":tru}", {}},
      {std::string("{\"a\":\"x\0y\"}", 11), {}},
      {"{\"a\":\"\xc3\x28\"}", {}},
      {"{\"a\":1,\"a\":2}", {}},
      {"{\"a\":{\"b\":[1]}}", shallow},
      {"{\"a\":\"0123456789\"}", small},
  };
  for (const auto& [input, limits] : bad) {
    auto copied = ParseJson(input, limits);
    std::string text = input;
    auto in_place = ParseJsonInPlace(text, limits);
    ASSERT_FALSE(copied.has_value()) << ::testing::PrintToString(input);
    ASSERT_FALSE(in_place.has_value()) << ::testing::PrintToString(input);
    EXPECT_EQ(in_place.error().code, copied.error().code) << ::testing::PrintToString(input);
    EXPECT_EQ(in_place.error().location, copied.error().location)
        << ::testing::PrintToString(input);
    EXPECT_EQ(in_place.error().message, copied.error().message) << ::testing::PrintToString(input);
  }
}

// RapidJSON's Writer, the reference for ToJson's text.
std::string WriterText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

TEST(ToJson, WritesEveryCharacterAsRapidJsonsWriterDoes) {
  rapidjson::Document document(rapidjson::kObjectType);
  auto& allocator = document.GetAllocator();
  for (unsigned c = 0; c < 256; ++c) {
    const std::string text = "a" + std::string(1, static_cast<char>(c)) + "b";
    document.AddMember(
        rapidjson::Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator),
        rapidjson::Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator),
        allocator);
  }
  const std::string with_nul("x\0y", 3);
  document.AddMember(
      "nul", rapidjson::Value(with_nul.c_str(), static_cast<rapidjson::SizeType>(3), allocator),
      allocator);
  EXPECT_EQ(ToJson(document), WriterText(document));
}

TEST(ToJson, EscapesAtEveryPositionOfALongStringAsRapidJsonsWriterDoes) {
  // Long strings are scanned sixteen bytes at a time: a character to escape in every position of
  // the first blocks and the tail, alone and followed by another.
  const std::string specials = std::string("\"\\\n\x01\x1f\x20\x7f\xc3\xa9/") + '\0';
  for (std::size_t length : {15u, 16u, 17u, 31u, 32u, 33u, 47u}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (const char special : specials) {
        std::string text(length, 'a');
        text[at] = special;
        if (at + 3 < length) {
          text[at + 3] = '"';
        }
        const rapidjson::Value value(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        ASSERT_EQ(ToJson(value), WriterText(value)) << length << " " << at << " " << int{special};
      }
    }
  }
}

TEST(ToJson, WritesNumbersAndStructureAsRapidJsonsWriterDoes) {
  rapidjson::Document document;
  document.Parse(R"({"n":[0,-1,1,2147483647,-2147483648,4294967295,4294967296,)"
                 R"(9223372036854775807,-9223372036854775808,18446744073709551615,)"
                 R"(0.1,-0.0,1e300,5e-324,123456.789,1.5e-7,2.0],"e":{},"a":[],"z":[[{}]],)"
                 R"("t":true,"f":false,"u":null,"":""})");
  ASSERT_FALSE(document.HasParseError());
  EXPECT_EQ(ToJson(document), WriterText(document));
  std::string out = "prefix:";
  AppendJson(out, document["n"]);
  EXPECT_EQ(out, "prefix:" + WriterText(document["n"]));
}

TEST(ToJson, WritesTheUkCoreExamplesAsRapidJsonsWriterDoes) {
  std::size_t files = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(
           std::filesystem::path(TB_SOURCE_DIR) / "tests/adapters/fhir/data/ukcore")) {
    if (file.path().extension() != ".json") {
      continue;
    }
    std::ifstream in(file.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto document = ParseJson(text);
    ASSERT_TRUE(document.has_value()) << file.path();
    EXPECT_EQ(ToJson(*document), WriterText(*document)) << file.path();
    ++files;
  }
  EXPECT_GT(files, 10u);
}

TEST(ToJson, WritesANonFiniteNumberAsNull) {
  rapidjson::Value array(rapidjson::kArrayType);
  rapidjson::Document document;
  array.PushBack(rapidjson::Value(std::numeric_limits<double>::infinity()),
                 document.GetAllocator());
  array.PushBack(rapidjson::Value(std::numeric_limits<double>::quiet_NaN()),
                 document.GetAllocator());
  EXPECT_EQ(ToJson(array), "[null,null]");
}

TEST(ParseJson, RejectsBodyOverSizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 10;
  auto document = ParseJson(R"({"a":"0123456789"})", limits);
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(document.error().message.find("0123456789"), std::string::npos);
}

TEST(ParseJson, AcceptsBodyAtSizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 2;
  EXPECT_TRUE(ParseJson("{}", limits).has_value());
}

TEST(ParseJson, RejectsNestingOverDepthLimit) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_TRUE(ParseJson("[[[1]]]", limits).has_value());
  auto document = ParseJson("[[[[1]]]]", limits);
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(document.error().location, "offset 3");
}

TEST(ParseJson, SurvivesVeryDeepNestingWithinTheSizeLimit) {
  // A million brackets would overflow a recursive parser; the iterative one stops at the limit.
  const std::string deep(1'000'000, '[');
  auto document = ParseJson(deep);
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kTooLarge);
}

TEST(ParseJson, RejectsInvalidUtf8) {
  const std::string text = "{\"name\":\"\xC3\x28\"}";
  auto document = ParseJson(text);
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(document.error().location, "offset 9");
}

TEST(ParseJson, RejectsOverlongUtf8AndSurrogates) {
  EXPECT_FALSE(ParseJson("\"\xC0\xAF\"").has_value());
  EXPECT_FALSE(ParseJson("\"\xED\xA0\x80\"").has_value());
}

TEST(ParseJson, RejectsNulByteWithTrailingGarbage) {
  const std::string text("{}\0garbage", 10);
  auto document = ParseJson(text);
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().location, "offset 2");
}

TEST(ParseJson, RejectsSyntaxErrorsWithoutEchoingPayload) {
  auto document = ParseJson(R"({"nhs":"9434765919" oops})");
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(document.error().message.find("9434765919"), std::string::npos);
  EXPECT_EQ(document.error().location.rfind("offset ", 0), 0U);
}

TEST(ParseJson, RejectsTrailingContentAndEmptyInput) {
  EXPECT_FALSE(ParseJson("{} {}").has_value());
  EXPECT_FALSE(ParseJson("").has_value());
  EXPECT_FALSE(ParseJson("{\"a\":NaN}").has_value());
}

TEST(ParseJson, RejectsDuplicateKeysWithPointer) {
  auto document = ParseJson(R"({"a":[{"x":1},{"y":1,"y":2}]})");
  ASSERT_FALSE(document.has_value());
  EXPECT_EQ(document.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(document.error().location, "/a/1");
  JsonLimits lenient;
  lenient.reject_duplicate_keys = false;
  EXPECT_TRUE(ParseJson(R"({"y":1,"y":2})", lenient).has_value());
}

TEST(ParseJson, DuplicateKeyPointerEscapesNamesAndCoversLargeObjects) {
  // The pointer is built only once a repeat is found: its tokens are escaped (RFC 6901) and
  // array indexes counted in order.
  auto nested = ParseJson(R"({"ok":{"p":1},"a/b":{"c~d":[0,{"e":1},{"f":1,"g":2,"f":3}]}})");
  ASSERT_FALSE(nested.has_value());
  EXPECT_EQ(nested.error().location, "/a~1b/c~0d/2");
  auto top = ParseJson(R"({"k":1,"k":2})");
  ASSERT_FALSE(top.has_value());
  EXPECT_EQ(top.error().location, "/");
  // Objects above the pairwise limit (16 members) are checked by sorting their names.
  std::string large = "{";
  for (int i = 0; i < 40; ++i) {
    large += "\"m" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  }
  EXPECT_TRUE(ParseJson(large.substr(0, large.size() - 1) + "}").has_value());
  auto repeated = ParseJson("{\"x\":[" + large + "\"m7\":0}]}");
  ASSERT_FALSE(repeated.has_value());
  EXPECT_EQ(repeated.error().location, "/x/0");
}

// Names are screened per object as they are parsed: the same name in a parent and its children,
// or in sibling objects, is no repeat; a repeat after a nested object is one; in place too.
TEST(ParseJson, RepeatsAreCountedPerObjectAcrossNestingInBothParsers) {
  const std::string fine =
      R"({"x":{"x":{"x":1},"y":[{"x":1},{"x":2}]},"y":{"x":3},"z":[{"x":{"x":4}}]})";
  EXPECT_TRUE(ParseJson(fine).has_value());
  std::string fine_text = fine;
  EXPECT_TRUE(ParseJsonInPlace(fine_text).has_value());
  const std::string after_nested = R"({"a":1,"b":{"a":2,"c":{"a":3}},"a":4})";
  std::string after_nested_text = after_nested;
  for (const auto& parsed : {ParseJson(after_nested), ParseJsonInPlace(after_nested_text)}) {
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().location, "/");
  }
  // An escaped name is compared as it decodes: "\u0061" is "a".
  EXPECT_FALSE(ParseJson(R"({"a":1,"\u0061":2})").has_value());
}

TEST(ParseJson, KeepsEscapedNulInsideStrings) {
  auto document = ParseJson(R"({"a":"x\u0000y"})");
  ASSERT_TRUE(document.has_value());
  EXPECT_EQ(FindString(*document, "a"), std::string_view("x\0y", 3));
}

TEST(JsonAccessors, ReportMissingAndWrongTypes) {
  auto document = ParseJson(R"({"s":"x","n":1,"b":true,"o":{},"a":[],"z":null,"f":1.5})");
  ASSERT_TRUE(document.has_value());
  const rapidjson::Value& root = *document;

  EXPECT_EQ(*GetString(root, "s"), "x");
  auto missing = GetString(root, "birthDate", "Patient");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(missing.error().location, "Patient.birthDate");
  auto wrong = GetString(root, "n", "Patient");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(wrong.error().location, "Patient.n");
  EXPECT_FALSE(GetString(root, "z").has_value());

  EXPECT_EQ(*GetInt64(root, "n"), 1);
  EXPECT_FALSE(GetInt64(root, "f").has_value());
  EXPECT_DOUBLE_EQ(*GetNumber(root, "f"), 1.5);
  EXPECT_TRUE(*GetBool(root, "b"));
  EXPECT_FALSE(GetBool(root, "s").has_value());
  EXPECT_TRUE((*GetObject(root, "o"))->IsObject());
  EXPECT_FALSE(GetObject(root, "a").has_value());
  EXPECT_TRUE((*GetArray(root, "a"))->IsArray());
  EXPECT_FALSE(GetArray(root, "o").has_value());

  EXPECT_EQ(FindString(root, "n"), std::nullopt);
  EXPECT_EQ(FindObject(root, "a"), nullptr);
  EXPECT_EQ(FindArray(root, "o"), nullptr);
  EXPECT_EQ(FindMember(root, "absent"), nullptr);
  EXPECT_NE(FindMember(root, "z"), nullptr);
  // Not an object at all: no crash, no match.
  EXPECT_EQ(FindMember(**GetArray(root, "a"), "s"), nullptr);
}

TEST(JsonAccessors, FindMemberOnNonObjectsIsNull) {
  rapidjson::Value number(3);
  EXPECT_EQ(FindMember(number, "x"), nullptr);
  EXPECT_FALSE(GetString(number, "x").has_value());
}

TEST(ToJson, WritesPrettyAndCompactForms) {
  auto document = ParseJson(R"({"a":[1,{"b":"c"}]})");
  ASSERT_TRUE(document.has_value());
  EXPECT_EQ(ToJson(*document), R"({"a":[1,{"b":"c"}]})");
  EXPECT_EQ(ToPrettyJson(*document),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"c\"\n    }\n  ]\n}");
}

TEST(ToJson, EscapesBuiltStrings) {
  rapidjson::Document document;
  document.SetObject();
  document.AddMember("text", StringValue("quote\" backslash\\ newline\n", document.GetAllocator()),
                     document.GetAllocator());
  EXPECT_EQ(ToJson(document), R"({"text":"quote\" backslash\\ newline\n"})");
}

}  // namespace
}  // namespace tb::fhir
