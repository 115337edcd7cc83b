// InstantText: core::FormatInstant's text with the second formatted once per thread.
#include "broker/simtrust/instant_text.h"

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "broker/core/clock.h"

namespace tb::simtrust {
namespace {

std::chrono::system_clock::time_point At(std::int64_t unix_ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms));
}

TEST(InstantText, IsFormatInstantsTextAcrossSecondsAndDays) {
  // Runs of consecutive milliseconds (the cache hit) over second, minute, day and year
  // boundaries (the cache refilled), and jumps back and forth between them.
  for (const std::int64_t start : {std::int64_t{1795996799000} - 3, std::int64_t{1795996799999} - 5,
                                   std::int64_t{1767225599990}, std::int64_t{0} - 7,
                                   std::int64_t{951782399995}, std::int64_t{1795996799000} - 3}) {
    for (std::int64_t ms = start; ms < start + 20; ++ms) {
      EXPECT_EQ(InstantText(At(ms)), core::FormatInstant(ms)) << ms;
    }
  }
}

TEST(InstantText, SubMillisecondPartIsDroppedAsFormatInstantDoes) {
  const auto time = At(1795996799123) + std::chrono::microseconds(999);
  EXPECT_EQ(InstantText(time), core::FormatInstant(time));
  EXPECT_EQ(InstantText(time), "2026-11-29T23:59:59.123Z");
}

}  // namespace
}  // namespace tb::simtrust
