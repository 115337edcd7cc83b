#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// UTF-8 checks and the one conversion the broker needs: FHIR JSON is UTF-8 by definition, while
// HL7 v2 senders declare their character set in MSH-18 (many legacy systems send ISO 8859-1).
namespace tb::core {

// Where `text` stops being well-formed UTF-8 (Unicode table 3-7: no overlong forms, no
// surrogates, nothing over U+10FFFF), or npos. ASCII is skipped eight bytes at a time.
std::size_t FirstInvalidUtf8(std::string_view text);

inline bool IsValidUtf8(std::string_view text) {
  return FirstInvalidUtf8(text) == std::string_view::npos;
}

// True when every byte is below 0x80 (the text reads the same in any ASCII-based character set).
bool IsAscii(std::string_view text);

// ISO 8859-1 text as UTF-8: each byte is the code point of the same value.
std::string Latin1ToUtf8(std::string_view latin1);

// `text` with its well-formed UTF-8 kept and every other byte read as ISO 8859-1: for text
// that mixes both (a v2 value whose \Xhh\ escapes give Latin-1 bytes among UTF-8 text).
std::string Utf8OrLatin1(std::string_view text);

}  // namespace tb::core
