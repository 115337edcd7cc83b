#include "conformance/compare.h"

#include <gtest/gtest.h>

namespace tb::conformance {
namespace {

bool Holds(std::string_view op, std::vector<std::string> actual, std::string_view expected) {
  auto result = ApplyOperator(op, actual, expected);
  EXPECT_TRUE(result) << op;
  return result && *result;
}

TEST(ConformanceCompare, EqualsIsTheDefaultAndMatchesAnyItem) {
  EXPECT_TRUE(Holds("", {"200"}, "200"));
  EXPECT_TRUE(Holds("equals", {"a", "b"}, "b"));
  EXPECT_FALSE(Holds("equals", {"a"}, "b"));
  EXPECT_FALSE(Holds("equals", {}, ""));  // nothing found is not equal to anything
  EXPECT_TRUE(Holds("notEquals", {"a"}, "b"));
  EXPECT_FALSE(Holds("notEquals", {"a", "b"}, "b"));
}

TEST(ConformanceCompare, InAndNotInTakeACommaSeparatedList) {
  EXPECT_TRUE(Holds("in", {"201"}, "200, 201,204"));
  EXPECT_FALSE(Holds("in", {"202"}, "200,201"));
  EXPECT_TRUE(Holds("notIn", {"202"}, "200,201"));
  EXPECT_FALSE(Holds("notIn", {"200"}, "200,201"));
}

TEST(ConformanceCompare, GreaterAndLessCompareNumbersAsNumbers) {
  EXPECT_TRUE(Holds("greaterThan", {"10"}, "9"));  // text would say "10" < "9"
  EXPECT_FALSE(Holds("lessThan", {"10"}, "9"));
  EXPECT_TRUE(Holds("lessThan", {"1.5"}, "2"));
  EXPECT_TRUE(Holds("greaterThan", {"b"}, "a"));  // text when not numbers
  EXPECT_FALSE(Holds("greaterThan", {}, "0"));
}

TEST(ConformanceCompare, EmptyContainsAndTheirNegations) {
  EXPECT_TRUE(Holds("empty", {}, "ignored"));
  EXPECT_TRUE(Holds("empty", {""}, ""));
  EXPECT_FALSE(Holds("empty", {"x"}, ""));
  EXPECT_TRUE(Holds("notEmpty", {"x"}, ""));
  EXPECT_TRUE(Holds("contains", {"application/fhir+json"}, "fhir"));
  EXPECT_FALSE(Holds("contains", {"text/html"}, "fhir"));
  EXPECT_TRUE(Holds("notContains", {"text/html"}, "fhir"));
}

TEST(ConformanceCompare, UnknownOperatorIsAnError) {
  auto result = ApplyOperator("roughly", {"a"}, "a");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("roughly"), std::string::npos);
}

TEST(ConformanceCompare, ResponseCodesMimeTypesAndMediaTypes) {
  EXPECT_EQ(ResponseCodeFor("okay"), 200);
  EXPECT_EQ(ResponseCodeFor("created"), 201);
  EXPECT_EQ(ResponseCodeFor("forbidden"), 403);
  EXPECT_EQ(ResponseCodeFor("unprocessable"), 422);
  EXPECT_EQ(ResponseCodeFor("teapot"), 0);
  EXPECT_EQ(MimeTypeFor("json"), "application/fhir+json");
  EXPECT_EQ(MimeTypeFor("xml"), "application/fhir+xml");
  EXPECT_EQ(MimeTypeFor("text/plain"), "text/plain");
  EXPECT_EQ(MediaType("Application/FHIR+json; charset=utf-8"), "application/fhir+json");
}

}  // namespace
}  // namespace tb::conformance
