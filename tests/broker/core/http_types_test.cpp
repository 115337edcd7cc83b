#include "broker/core/http_types.h"

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(PercentDecode, DecodesEscapesInEitherCase) {
  EXPECT_EQ(PercentDecode("https%3A%2f%2Ffhir.nhs.uk%7C9449305552"),
            "https://fhir.nhs.uk|9449305552");
}

TEST(PercentDecode, PlusIsASpaceOnlyInForms) {
  EXPECT_EQ(PercentDecode("a+b", /*plus_is_space=*/true), "a b");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a%2Bb", /*plus_is_space=*/true), "a+b");
}

TEST(PercentDecode, RefusesMalformedAndTruncatedEscapes) {
  EXPECT_FALSE(PercentDecode("%").has_value());
  EXPECT_FALSE(PercentDecode("ab%4").has_value());
  EXPECT_FALSE(PercentDecode("%zz").has_value());
  EXPECT_EQ(PercentDecode("%41"), "A");
}

}  // namespace
}  // namespace tb::core
