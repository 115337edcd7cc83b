#include "broker/core/utf8.h"

#include <cstdint>
#include <cstring>

namespace tb::core {
namespace {

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// Bytes [i, i + 8) have no high bit set.
bool AsciiBlock(const unsigned char* bytes, std::size_t i) {
  std::uint64_t block = 0;
  std::memcpy(&block, bytes + i, sizeof block);
  return (block & kHighBits) == 0;
}

// The ISO 8859-1 character `c` in UTF-8: itself below 0x80, else two bytes.
void AppendLatin1(std::string& out, char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte < 0x80) {
    out.push_back(c);
  } else {
    out.push_back(static_cast<char>(0xC0 | (byte >> 6)));
    out.push_back(static_cast<char>(0x80 | (byte & 0x3F)));
  }
}

}  // namespace

std::size_t FirstInvalidUtf8(std::string_view text) {
  const auto* const bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    if (size - i >= 8 && AsciiBlock(bytes, i)) {
      i += 8;
      continue;
    }
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The second byte's range depends on the lead byte; later ones are 0x80-0xBF.
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;   // E0 80-9F would be overlong
      high = lead == 0xED ? 0x9F : 0xBF;  // ED A0-BF would be a surrogate
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;   // F0 80-8F would be overlong
      high = lead == 0xF4 ? 0x8F : 0xBF;  // F4 90 and up would be over U+10FFFF
    } else {
      return i;  // a continuation byte, C0, C1 or F5-FF
    }
    if (size - i < length || bytes[i + 1] < low || bytes[i + 1] > high) {
      return i;
    }
    for (std::size_t k = 2; k < length; ++k) {
      if (bytes[i + k] < 0x80 || bytes[i + k] > 0xBF) {
        return i;
      }
    }
    i += length;
  }
  return std::string_view::npos;
}

bool IsAscii(std::string_view text) {
  const auto* const bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  for (; text.size() - i >= 8; i += 8) {
    if (!AsciiBlock(bytes, i)) {
      return false;
    }
  }
  for (; i < text.size(); ++i) {
    if (bytes[i] >= 0x80) {
      return false;
    }
  }
  return true;
}

std::string Latin1ToUtf8(std::string_view latin1) {
  std::string out;
  out.reserve(latin1.size() + latin1.size() / 8);
  for (const char c : latin1) {
    AppendLatin1(out, c);
  }
  return out;
}

std::string Utf8OrLatin1(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (;;) {
    const std::size_t bad = FirstInvalidUtf8(text);
    if (bad == std::string_view::npos) {
      out.append(text);
      return out;
    }
    out.append(text.substr(0, bad));
    AppendLatin1(out, text[bad]);
    text.remove_prefix(bad + 1);
  }
}

}  // namespace tb::core
