#pragma once

// A request parameter or header value read as a whole number: decimal digits only (no sign, no
// spaces), the whole text, and small enough for T.

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace tb::core {

template <typename T>
std::optional<T> ParseWholeNumber(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

}  // namespace tb::core
