#pragma once

// A word-at-a-time test for JSON string escaping, shared by the log writer (core::Logger) and
// the FHIR JSON writer (adapters/fhir/json_string.h): both skip clean runs of text eight bytes
// at a time and escape byte by byte only where this says a byte may need it.

#include <cstdint>

namespace tb::core {

// Whether any of the 8 bytes of `word` is below 0x20, '"' or '\\' (may also say so for a
// neighbour of such a byte; the caller then checks byte by byte).
inline bool MayNeedJsonEscape(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t below = (word - kOnes * 0x20) & ~word;
  const std::uint64_t is_quote = (quote - kOnes) & ~quote;
  const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  return ((below | is_quote | is_backslash) & kHigh) != 0;
}

}  // namespace tb::core
