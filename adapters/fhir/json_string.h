#pragma once

// JSON string escaping exactly as rapidjson::Writer<StringBuffer> does it (control characters as
// \b \t \n \f \r or \u00XX with upper-case hex, '"' and '\\'; every other byte, UTF-8
// included, copied), checking 16 bytes at a time (SSE2) or 8 (portable) for bytes to escape.
// Used by fhir::ToJson, the federated merge, the ledger's entry text and the v2 -> FHIR
// mapper's JSON text writer (mappings/json_text.h).

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "broker/core/json_escape_scan.h"

namespace tb::fhir {

// The most bytes WriteJsonString writes for `length` bytes of text (quotes, and \u00XX each).
constexpr std::size_t JsonStringCapacity(std::size_t length) { return length * 6 + 2; }

// Writes `c` at `out`, escaped as rapidjson::Writer does when it must be; returns the new end.
[[gnu::always_inline]] inline char* EscapeJsonByte(char* out, unsigned char c) {
  static constexpr std::array<char, 256> kEscape = [] {
    std::array<char, 256> table{};
    for (std::size_t b = 0; b < 0x20; ++b) {
      table[b] = 'u';
    }
    table['\b'] = 'b';
    table['\t'] = 't';
    table['\n'] = 'n';
    table['\f'] = 'f';
    table['\r'] = 'r';
    table['"'] = '"';
    table['\\'] = '\\';
    return table;
  }();
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char escape = kEscape[c];
  if (escape == 0) {
    *out++ = static_cast<char>(c);
    return out;
  }
  *out++ = '\\';
  *out++ = escape;
  if (escape == 'u') {
    *out++ = '0';
    *out++ = '0';
    *out++ = kHex[c >> 4];
    *out++ = kHex[c & 0xF];
  }
  return out;
}

// Writes `str` as a quoted JSON string at `out`, which has room for JsonStringCapacity(length)
// bytes; returns the new end.
[[gnu::always_inline]] inline char* WriteJsonString(char* out, const char* str,
                                                    std::size_t length) {
  [[maybe_unused]] char* const start = out;  // for the SSE2 tail below
  *out++ = '"';
  std::size_t i = 0;
  if (length >= 4 && length < 8) {
    // Most keys and codes: two overlapping four-byte halves checked as one word.
    std::uint32_t head = 0;
    std::uint32_t tail = 0;
    std::memcpy(&head, str, 4);
    std::memcpy(&tail, str + length - 4, 4);
    if (!core::MayNeedJsonEscape(head | (std::uint64_t{tail} << 32))) {
      std::memcpy(out, &head, 4);
      std::memcpy(out + length - 4, &tail, 4);
      out += length;
      i = length;
    }
  } else if (length >= 8 && length <= 16) {
    // Names, dates and short codes: two overlapping eight-byte words.
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    std::memcpy(&head, str, 8);
    std::memcpy(&tail, str + length - 8, 8);
    if (!core::MayNeedJsonEscape(head) && !core::MayNeedJsonEscape(tail)) {
      std::memcpy(out, &head, 8);
      std::memcpy(out + length - 8, &tail, 8);
      out += length;
      i = length;
    }
  }
#if defined(__SSE2__)
  // Sixteen bytes at a time while sixteen remain (SSE2: every x86-64): a block is stored as it
  // is, then the output moves past its clean prefix and the first byte needing an escape is
  // escaped. The loop below does the last 0-15 bytes.
  while (i + 16 <= length) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(str + i));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1F)), block);
    const __m128i special = _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')),
                                         _mm_cmpeq_epi8(block, _mm_set1_epi8('\\')));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(control, special)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), block);
    if (mask == 0) {
      out += 16;
      i += 16;
      continue;
    }
    const auto clean = static_cast<std::size_t>(std::countr_zero(mask));
    out += clean;
    i += clean;
    out = EscapeJsonByte(out, static_cast<unsigned char>(str[i]));
    ++i;
  }
  // The last 1-15 bytes of a longer string that needed no escape so far (the output is then the
  // input shifted by the opening quote): the overlapping last sixteen bytes, checked and stored
  // as one block when the unchecked ones need no escape.
  if (length >= 16 && i < length && static_cast<std::size_t>(out - start) == i + 1) {
    const std::size_t back = 16 - (length - i);
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(str + length - 16));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1F)), block);
    const __m128i special = _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')),
                                         _mm_cmpeq_epi8(block, _mm_set1_epi8('\\')));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(control, special)));
    if ((mask >> back) == 0) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out - back), block);
      out += length - i;
      i = length;
    }
  }
#endif
  while (i < length) {
    // Eight bytes at a time while eight remain; the last few bytes of a string of eight or
    // more are checked as the (overlapping) last eight, which were copied as they are if clean.
    if (i + 8 <= length) {
      std::uint64_t word = 0;
      std::memcpy(&word, str + i, 8);
      if (!core::MayNeedJsonEscape(word)) {
        std::memcpy(out, &word, 8);
        out += 8;
        i += 8;
        continue;
      }
    } else if (length >= 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, str + length - 8, 8);
      if (!core::MayNeedJsonEscape(word)) {
        std::memcpy(out - (i - (length - 8)), &word, 8);
        out += length - i;
        break;
      }
    }
    out = EscapeJsonByte(out, static_cast<unsigned char>(str[i]));
    ++i;
  }
  *out++ = '"';
  return out;
}

// Bytes of text escaped at a time by AppendJsonString: the room made for escapes (six bytes per
// byte) stays small for a long string (an attachment's base64 in a FHIR resource).
constexpr std::size_t kJsonStringBlock = 4096;

// Strings up to this length are escaped into a buffer on the stack and appended: growing `out`
// by the worst case first (resize) would zero-fill six times the string's length, which cost more
// than the escaping itself for the short strings that make up most of a FHIR resource.
constexpr std::size_t kJsonStringOnStack = 256;

// Appends `text` as a quoted JSON string.
inline void AppendJsonString(std::string& out, std::string_view text) {
  if (text.size() <= kJsonStringOnStack) {
    char buffer[JsonStringCapacity(kJsonStringOnStack)];
    const char* end = WriteJsonString(buffer, text.data(), text.size());
    out.append(buffer, static_cast<std::size_t>(end - buffer));
    return;
  }
  if (text.size() <= kJsonStringBlock) {  // one write, kept apart for speed
    const std::size_t used = out.size();
    out.resize(used + JsonStringCapacity(text.size()));
    char* end = WriteJsonString(out.data() + used, text.data(), text.size());
    out.resize(static_cast<std::size_t>(end - out.data()));
    return;
  }
  // A block at a time (no escape spans two bytes): a later block is written from the quote that
  // closes the string so far, and its own opening quote, which then stands at that place, is
  // taken out.
  for (std::size_t at = 0; at < text.size(); at += kJsonStringBlock) {
    const std::string_view block = text.substr(at, kJsonStringBlock);
    const std::size_t from = at == 0 ? out.size() : out.size() - 1;
    out.resize(from + JsonStringCapacity(block.size()));
    char* end = WriteJsonString(out.data() + from, block.data(), block.size());
    out.resize(static_cast<std::size_t>(end - out.data()));
    if (at != 0) {
      out.erase(from, 1);
    }
  }
}

}  // namespace tb::fhir
