#include "adapters/fhir/json.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::fhir {
namespace {

using core::ErrorCode;

TEST(ParseJson, ParsesAnObject) {
  auto document = ParseJson(R"({"resourceType":"Patient","active":true,"n":[1,2.5]})");
  ASSERT_TRUE(document.has_value()) << document.error().message;
  EXPECT_EQ(FindString(*document, "resourceType"), "Patient");
  EXPECT_EQ(ToJson(*document), R"({"resourceType":"Patient","active":true,"n":[1,2.5]})");
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
