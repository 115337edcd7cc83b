#include "adapters/fhir/search_params.h"

#include <gtest/gtest.h>

namespace tb::fhir {
namespace {

using core::ErrorCode;

TEST(ParseQueryString, KeepsOrderNamesModifiersAndRepeats) {
  auto params = ParseQueryString(
      "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&"
      "patient:identifier=x&date=ge2020&date=le2021&_count=10");
  ASSERT_TRUE(params.has_value()) << params.error().message;
  ASSERT_EQ(params->size(), 5U);
  EXPECT_EQ((*params)[0].name, "identifier");
  EXPECT_EQ((*params)[0].modifier, "");
  EXPECT_EQ((*params)[0].value, "https://fhir.nhs.uk/Id/nhs-number|9434765919");
  EXPECT_EQ((*params)[1].name, "patient");
  EXPECT_EQ((*params)[1].modifier, "identifier");
  EXPECT_EQ((*params)[2].value, "ge2020");
  EXPECT_EQ((*params)[3].value, "le2021");
  EXPECT_EQ((*params)[4].name, "_count");
}

TEST(ParseQueryString, DecodesPlusAndPercentAndUtf8) {
  auto params = ParseQueryString("name=Ren%C3%A9e+O%27Brien&date=2020-01-01T10%3A00%3A00%2B01%3A00");
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ((*params)[0].value, "Ren\xC3\xA9" "e O'Brien");
  EXPECT_EQ((*params)[1].value, "2020-01-01T10:00:00+01:00");
}

TEST(ParseQueryString, HandlesEmptyPiecesAndMissingValues) {
  auto params = ParseQueryString("&a=1&&_summary&b=&");
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 3U);
  EXPECT_EQ((*params)[1].name, "_summary");
  EXPECT_EQ((*params)[1].value, "");
  EXPECT_EQ((*params)[2].value, "");
  EXPECT_TRUE(ParseQueryString("")->empty());
}

TEST(ParseQueryString, KeepsEncodedAmpersandAndEqualsInValues) {
  auto params = ParseQueryString("name=a%26b%3Dc");
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 1U);
  EXPECT_EQ((*params)[0].value, "a&b=c");
}

TEST(ParseQueryString, RejectsMalformedInput) {
  for (const char* bad : {"a=%", "a=%4", "a=%G1", "=x", "a=%00", "a=%C3%28", "%ZZ=1"}) {
    auto params = ParseQueryString(bad);
    ASSERT_FALSE(params.has_value()) << bad;
    EXPECT_EQ(params.error().code, ErrorCode::kInvalidValue) << bad;
    EXPECT_EQ(params.error().location, "query");
  }
}

TEST(ParseQueryString, EnforcesLimits) {
  SearchLimits limits;
  limits.max_params = 2;
  EXPECT_TRUE(ParseQueryString("a=1&b=2", limits).has_value());
  auto too_many = ParseQueryString("a=1&b=2&c=3", limits);
  ASSERT_FALSE(too_many.has_value());
  EXPECT_EQ(too_many.error().code, ErrorCode::kTooLarge);
  limits.max_bytes = 4;
  EXPECT_EQ(ParseQueryString("a=123", limits).error().code, ErrorCode::kTooLarge);
}

TEST(ParseFormBody, ParsesPostSearchBody) {
  auto params = ParseFormBody(
      "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&_count=5");
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 2U);
  EXPECT_EQ((*params)[0].value, "https://fhir.nhs.uk/Id/nhs-number|9434765919");
  auto bad = ParseFormBody("a=%");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().location, "body");
}

TEST(SplitValues, SplitsOnUnescapedCommasOnly) {
  EXPECT_EQ(SplitValues("a,b\\,c,d"), (std::vector<std::string>{"a", "b\\,c", "d"}));
  EXPECT_EQ(SplitValues(""), (std::vector<std::string>{""}));
  EXPECT_EQ(UnescapeSearchValue("b\\,c\\|d\\$e\\\\f\\x"), "b,c|d$e\\f\\x");
}

TEST(ParseToken, SystemAndCodeForms) {
  Token both = ParseToken("http://loinc.org|1234-5");
  EXPECT_EQ(both.system, "http://loinc.org");
  EXPECT_EQ(both.code, "1234-5");
  Token code_only = ParseToken("1234-5");
  EXPECT_EQ(code_only.system, std::nullopt);
  EXPECT_EQ(code_only.code, "1234-5");
  Token no_system = ParseToken("|abc");
  EXPECT_EQ(no_system.system, "");
  Token any_code = ParseToken("http://x|");
  EXPECT_EQ(any_code.system, "http://x");
  EXPECT_EQ(any_code.code, "");
}

TEST(ParseToken, EscapedPipesAndCommasDoNotSplit) {
  Token token = ParseToken("urn:sys\\|v2|a\\|b\\,c");
  EXPECT_EQ(token.system, "urn:sys|v2");
  EXPECT_EQ(token.code, "a|b,c");
  Token escaped_only = ParseToken("a\\|b");
  EXPECT_EQ(escaped_only.system, std::nullopt);
  EXPECT_EQ(escaped_only.code, "a|b");
}

TEST(NhsNumberFromIdentifierToken, AcceptsValidNumber) {
  auto number = NhsNumberFromIdentifierToken("https://fhir.nhs.uk/Id/nhs-number|9434765919");
  ASSERT_TRUE(number.has_value()) << number.error().message;
  EXPECT_EQ(*number, "9434765919");
}

TEST(NhsNumberFromIdentifierToken, RejectsWrongOrMissingSystemOrBadNumber) {
  for (const char* bad : {
           "9434765919",                                       // no system
           "|9434765919",                                      // explicitly no system
           "https://example.org/mrn|9434765919",               // another system
           "http://fhir.nhs.uk/Id/nhs-number|9434765919",      // near miss
           "https://fhir.nhs.uk/Id/nhs-number|9434765918",     // bad check digit
           "https://fhir.nhs.uk/Id/nhs-number|943476591",      // 9 digits
           "https://fhir.nhs.uk/Id/nhs-number|943 476 5919",   // spaced
           "https://fhir.nhs.uk/Id/nhs-number|",               // no number
           "https://fhir.nhs.uk/Id/nhs-number|9990000000",     // check digit 10
       }) {
    auto number = NhsNumberFromIdentifierToken(bad);
    ASSERT_FALSE(number.has_value()) << bad;
    EXPECT_EQ(number.error().code, ErrorCode::kInvalidValue) << bad;
    EXPECT_EQ(number.error().location, "identifier") << bad;
    EXPECT_EQ(number.error().message.find("9434765"), std::string::npos) << bad;
  }
  auto missing = NhsNumberFromIdentifierToken("9434765919");
  EXPECT_NE(missing.error().message.find("https://fhir.nhs.uk/Id/nhs-number"), std::string::npos);
}

}  // namespace
}  // namespace tb::fhir
