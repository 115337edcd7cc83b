#include "broker/core/clock.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <limits>

namespace tb::core {

std::int64_t ToUnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

void AppendInstant(std::string& out, std::int64_t unix_ms) {
  std::int64_t seconds = unix_ms / 1000;
  std::int64_t millis = unix_ms % 1000;
  if (millis < 0) {  // before 1970: the fraction counts forward from the earlier second
    millis += 1000;
    --seconds;
  }
  // "YYYY-MM-DDTHH:MM:SS." of the last second this thread formatted: gmtime_r and snprintf cost
  // more than the rest of a log line or a searchset head, and calls come many per second.
  thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
  thread_local std::array<char, 80> cached{};  // room for any int the format may print
  thread_local std::size_t cached_length = 0;
  if (seconds != cached_second) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const int written = std::snprintf(cached.data(), cached.size(),
                                      "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_length =
        std::min(static_cast<std::size_t>(written > 0 ? written : 0), cached.size() - 1);
    cached_second = seconds;
  }
  const char tail[] = {static_cast<char>('0' + millis / 100),
                       static_cast<char>('0' + millis / 10 % 10),
                       static_cast<char>('0' + millis % 10), 'Z'};
  out.append(cached.data(), cached_length);
  out.append(tail, sizeof tail);
}

std::string FormatInstant(std::int64_t unix_ms) {
  std::string text;
  text.reserve(24);
  AppendInstant(text, unix_ms);
  return text;
}

std::string FormatInstant(std::chrono::system_clock::time_point time) {
  return FormatInstant(ToUnixMs(time));
}

}  // namespace tb::core
