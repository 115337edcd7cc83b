#include "broker/core/clock.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <string>

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

// The text without the per-second cache: gmtime_r + snprintf for every call.
std::string Uncached(std::int64_t unix_ms) {
  std::int64_t seconds = unix_ms / 1000;
  std::int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 80> text{};
  std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return text.data();
}

TEST(FormatInstant, CachedSecondGivesTheUncachedTextAcrossBoundaries) {
  // Runs of consecutive milliseconds (the cache hit) over second, minute, day and year
  // boundaries and across 1970 (the cache refilled), and jumps back and forth between them.
  for (const std::int64_t start : {std::int64_t{1795996799000} - 3, std::int64_t{1795996799999} - 5,
                                   std::int64_t{1767225599990}, std::int64_t{0} - 7,
                                   std::int64_t{951782399995}, std::int64_t{1795996799000} - 3}) {
    for (std::int64_t ms = start; ms < start + 20; ++ms) {
      EXPECT_EQ(FormatInstant(ms), Uncached(ms)) << ms;
      std::string appended = "x";
      AppendInstant(appended, ms);
      EXPECT_EQ(appended, "x" + Uncached(ms)) << ms;
    }
  }
  EXPECT_EQ(FormatInstant(std::int64_t{1767225599999}), "2025-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatInstant(std::int64_t{1767225600000}), "2026-01-01T00:00:00.000Z");
}

TEST(FormatInstant, SubMillisecondPartIsDropped) {
  const auto time =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1795996799123)) +
      std::chrono::microseconds(999);
  EXPECT_EQ(FormatInstant(time), "2026-11-29T23:59:59.123Z");
}

}  // namespace
}  // namespace tb::core
