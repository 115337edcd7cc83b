#pragma once

// The v2 -> FHIR mapper's JSON serialiser (internal to v2_to_fhir*.cpp).

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings::v2fhir {

using rapidjson::Value;

// Serialises a DOM to compact JSON exactly as rapidjson::Writer<StringBuffer> does (same escapes:
// control characters as \b \t \n \f \r or \u00XX, '"' and '\\'; other bytes, UTF-8 included,
// copied), but appending runs of plain bytes at once instead of one byte at a time. Strings the
// context registered as numbers are written as JSON numbers. This was about a third of the
// mapping's time with the Writer (docs/mappings.md, Performance).
class JsonOut {
 public:
  explicit JsonOut(const V2MapContext& ctx) : buffer_(ThreadBuffer()), ctx_(ctx) {
    if (buffer_.size < kInitialSize) {
      buffer_.data = std::make_unique_for_overwrite<char[]>(kInitialSize);
      buffer_.size = kInitialSize;
    }
    cursor_ = buffer_.data.get();
    end_ = cursor_ + buffer_.size;
  }
  // What was written.
  std::string Finish() {
    std::string json(buffer_.data.get(), static_cast<std::size_t>(cursor_ - buffer_.data.get()));
    if (buffer_.size > kKeepSize) {
      buffer_ = Buffer{};  // a rare large Bundle does not pin its buffer to the thread
    }
    return json;
  }

  void Write(const Value& value) {
    switch (value.GetType()) {
      case rapidjson::kNullType:
        Raw("null", 4);
        break;
      case rapidjson::kFalseType:
        Raw("false", 5);
        break;
      case rapidjson::kTrueType:
        Raw("true", 4);
        break;
      case rapidjson::kObjectType: {
        Reserve(2);
        *cursor_++ = '{';
        const auto begin = value.MemberBegin();
        for (rapidjson::SizeType i = 0, n = value.MemberCount(); i < n; ++i) {
          const auto& member = begin[static_cast<std::ptrdiff_t>(i)];
          String(member.name.GetString(), member.name.GetStringLength(), i > 0 ? ',' : '\0', ':');
          Write(member.value);
        }
        Reserve(1);
        *cursor_++ = '}';
        break;
      }
      case rapidjson::kArrayType: {
        Reserve(1);
        *cursor_++ = '[';
        for (rapidjson::SizeType i = 0, n = value.Size(); i < n; ++i) {
          if (i > 0) {
            Reserve(1);
            *cursor_++ = ',';
          }
          Write(value[i]);
        }
        Reserve(1);
        *cursor_++ = ']';
        break;
      }
      case rapidjson::kStringType:
        // Numbers are canonical decimals (CanonicalDecimal: never empty, first a digit or '-'),
        // so other strings skip the lookup.
        if (value.GetStringLength() > 0 &&
            (value.GetString()[0] == '-' ||
             (value.GetString()[0] >= '0' && value.GetString()[0] <= '9')) &&
            ctx_.IsNumber(value.GetString())) {
          Raw(value.GetString(), value.GetStringLength());
        } else {
          String(value.GetString(), value.GetStringLength(), '\0', '\0');
        }
        break;
      case rapidjson::kNumberType:
        Number(value);
        break;
    }
  }

 private:
  // Output goes to a per-thread buffer that is kept between calls (never cleared: only the bytes
  // written are read), then is copied once into the returned string.
  struct Buffer {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  static constexpr std::size_t kInitialSize = 32 * 1024;
  static constexpr std::size_t kKeepSize = 1024 * 1024;
  static Buffer& ThreadBuffer() {
    thread_local Buffer buffer;
    return buffer;
  }

  void Reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cursor_) >= n) [[likely]] {
      return;
    }
    const auto used = static_cast<std::size_t>(cursor_ - buffer_.data.get());
    const std::size_t size = std::max(buffer_.size * 2, used + n);
    auto data = std::make_unique_for_overwrite<char[]>(size);
    std::memcpy(data.get(), buffer_.data.get(), used);
    buffer_.data = std::move(data);
    buffer_.size = size;
    cursor_ = buffer_.data.get() + used;
    end_ = buffer_.data.get() + size;
  }

  void Raw(const char* text, std::size_t length) {
    Reserve(length);
    std::memcpy(cursor_, text, length);
    cursor_ += length;
  }

  // Whether any of the 8 bytes of `word` is below 0x20, '"' or '\\' (may also say so for a
  // neighbour of such a byte; the caller then checks byte by byte).
  static bool MayNeedEscape(std::uint64_t word) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    const std::uint64_t quote = word ^ (kOnes * '"');
    const std::uint64_t backslash = word ^ (kOnes * '\\');
    const std::uint64_t below = (word - kOnes * 0x20) & ~word;
    const std::uint64_t is_quote = (quote - kOnes) & ~quote;
    const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
    return ((below | is_quote | is_backslash) & kHigh) != 0;
  }

  // Writes `c` at `out`, escaped as rapidjson::Writer does when it must be; returns the new end.
  [[gnu::always_inline]] static char* Escape(char* out, unsigned char c) {
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

  // Writes [before] "str" [after]; a '\0' separator is not written.
  [[gnu::always_inline]] void String(const char* str, std::size_t length, char before, char after) {
    Reserve(length * 6 + 4);
    char* out = cursor_;
    if (before != '\0') {
      *out++ = before;
    }
    *out++ = '"';
    std::size_t i = 0;
    if (length >= 4 && length < 8) {
      // Most keys and codes: two overlapping four-byte halves checked as one word.
      std::uint32_t head = 0;
      std::uint32_t tail = 0;
      std::memcpy(&head, str, 4);
      std::memcpy(&tail, str + length - 4, 4);
      if (!MayNeedEscape(head | (std::uint64_t{tail} << 32))) {
        std::memcpy(out, &head, 4);
        std::memcpy(out + length - 4, &tail, 4);
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
      out = Escape(out, static_cast<unsigned char>(str[i]));
      ++i;
    }
#endif
    while (i < length) {
      // Eight bytes at a time while eight remain; the last few bytes of a string of eight or
      // more are checked as the (overlapping) last eight, which were copied as they are if clean.
      if (i + 8 <= length) {
        std::uint64_t word = 0;
        std::memcpy(&word, str + i, 8);
        if (!MayNeedEscape(word)) {
          std::memcpy(out, &word, 8);
          out += 8;
          i += 8;
          continue;
        }
      } else if (length >= 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, str + length - 8, 8);
        if (!MayNeedEscape(word)) {
          std::memcpy(out - (i - (length - 8)), &word, 8);
          out += length - i;
          break;
        }
      }
      out = Escape(out, static_cast<unsigned char>(str[i]));
      ++i;
    }
    *out++ = '"';
    if (after != '\0') {
      *out++ = after;
    }
    cursor_ = out;
  }

  // Not produced by the mapper today (numbers are registered strings); kept exact by delegating.
  void Number(const Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    Raw(buffer.GetString(), buffer.GetSize());
  }

  Buffer& buffer_;
  const V2MapContext& ctx_;
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace tb::mappings::v2fhir
