#include "broker/simtrust/instant_text.h"

#include <cstdint>
#include <limits>

#include "broker/core/clock.h"

namespace tb::simtrust {

std::string InstantText(std::chrono::system_clock::time_point time) {
  const std::int64_t unix_ms = core::ToUnixMs(time);
  std::int64_t seconds = unix_ms / 1000;
  std::int64_t millis = unix_ms % 1000;
  if (millis < 0) {  // before 1970: as FormatInstant, the fraction counts from the earlier second
    millis += 1000;
    --seconds;
  }
  // "YYYY-MM-DDTHH:MM:SS." of the last second this thread formatted.
  thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
  thread_local std::string cached_prefix;
  if (seconds != cached_second) {
    std::string text = core::FormatInstant(seconds * 1000);  // "...:SS.000Z"
    const std::size_t dot = text.rfind('.');
    if (dot == std::string::npos || text.size() != dot + 5) {
      return core::FormatInstant(unix_ms);  // a year FormatInstant writes some other way
    }
    text.resize(dot + 1);
    cached_prefix = std::move(text);
    cached_second = seconds;
  }
  std::string out;
  out.reserve(cached_prefix.size() + 4);
  out = cached_prefix;
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
  return out;
}

}  // namespace tb::simtrust
