#include "broker/core/http_types.h"

#include <string>
#include <vector>

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

// The broker builds its own URLs (token endpoint, next links, a message's source) from Host, and
// writes them into JSON: only authority characters get through (found by the FHIR API fuzz
// target: a Host with byte 0x84 made the smart-configuration answer invalid UTF-8).
TEST(UsableHost, KeepsAuthoritiesAndRefusesAnythingElse) {
  const auto host = [](std::string value) {
    HttpHeaders headers;
    headers.Set("Host", std::move(value));
    return std::string(UsableHost(headers));
  };
  EXPECT_EQ(host("broker.example:8443"), "broker.example:8443");
  EXPECT_EQ(host("[::1]:8443"), "[::1]:8443");
  EXPECT_EQ(host("xn--bcher-kva.example"), "xn--bcher-kva.example");
  for (const std::string& bad :
       std::vector<std::string>{"", "broker.tes\x84", "a b", "a/b", "a\"b", "a\\b", "a\tb",
                                "caf\xc3\xa9.example", std::string(256, 'a')}) {
    EXPECT_EQ(host(bad), "") << bad;
  }
  EXPECT_EQ(UsableHost(HttpHeaders{}), "");
}

}  // namespace
}  // namespace tb::core
