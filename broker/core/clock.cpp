#include "broker/core/clock.h"

#include <array>
#include <cstdio>
#include <ctime>

namespace tb::core {

std::int64_t ToUnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::string FormatInstant(std::int64_t unix_ms) {
  std::int64_t seconds = unix_ms / 1000;
  std::int64_t millis = unix_ms % 1000;
  if (millis < 0) {  // before 1970: the fraction counts forward from the earlier second
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 80> text{};  // room for any int the format may print (GCC -O3 checks)
  std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return text.data();
}

std::string FormatInstant(std::chrono::system_clock::time_point time) {
  return FormatInstant(ToUnixMs(time));
}

}  // namespace tb::core
