#include "broker/core/clock.h"

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(FormatInstant, UtcWithMilliseconds) {
  EXPECT_EQ(FormatInstant(std::int64_t{0}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(std::int64_t{1'795'000'000'123}), "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(FormatInstant(std::int64_t{-1}), "1969-12-31T23:59:59.999Z");
}

TEST(FormatInstant, TimePointAndMillisecondsAgree) {
  const auto time =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'000'000'007));
  EXPECT_EQ(ToUnixMs(time), 1'795'000'000'007);
  EXPECT_EQ(FormatInstant(time), FormatInstant(ToUnixMs(time)));
}

}  // namespace
}  // namespace tb::core
