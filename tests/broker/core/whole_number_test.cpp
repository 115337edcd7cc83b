#include "broker/core/whole_number.h"

#include <cstddef>
#include <cstdint>
#include <optional>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(ParseWholeNumber, DigitsOnlyTheWholeTextAndInRange) {
  EXPECT_EQ(ParseWholeNumber<std::size_t>("0"), std::optional<std::size_t>(0));
  EXPECT_EQ(ParseWholeNumber<std::size_t>("0042"), std::optional<std::size_t>(42));
  EXPECT_EQ(ParseWholeNumber<int>("7"), std::optional<int>(7));
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "abc"}) {
    EXPECT_FALSE(ParseWholeNumber<std::size_t>(bad)) << bad;
    EXPECT_FALSE(ParseWholeNumber<int>(bad)) << bad;
  }
  EXPECT_FALSE(ParseWholeNumber<std::uint8_t>("256"));
  EXPECT_FALSE(ParseWholeNumber<std::size_t>("99999999999999999999999"));
}

}  // namespace
}  // namespace tb::core
