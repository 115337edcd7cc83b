#include "adapters/hl7v2/encoding.h"

#include <array>

namespace tb::hl7v2 {
namespace {

// HL7 leaves the choice of delimiters open but they must be printable, non-alphanumeric ASCII:
// letters and digits would collide with data and escape-sequence names.
bool IsLegalDelimiter(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7F) {
    return false;
  }
  const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  return !alnum;
}

std::string Location(std::string_view segment_id, std::string_view field) {
  std::string out(segment_id);
  out += '-';
  out += field;
  return out;
}

}  // namespace

std::string Encoding::EncodingCharacters() const {
  std::string out;
  for (char c : {component, repetition, escape, subcomponent, truncation}) {
    if (c == '\0') {
      break;
    }
    out += c;
  }
  return out;
}

bool Encoding::IsComplete() const {
  const std::array<char, 5> chars = {field, component, repetition, escape, subcomponent};
  for (std::size_t i = 0; i < chars.size(); ++i) {
    if (!IsLegalDelimiter(chars[i])) {
      return false;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (chars[i] == chars[j]) {
        return false;
      }
    }
  }
  return truncation == '\0' || (IsLegalDelimiter(truncation) && !IsDelimiter(truncation));
}

core::Result<HeaderEncoding> ReadEncoding(std::string_view header, std::string_view segment_id) {
  if (header.size() < 4 || header[3] == '\r' || header[3] == '\n') {
    return core::MakeError(core::ErrorCode::kRequiredFieldMissing, "field separator is missing",
                           Location(segment_id, "1"));
  }
  Encoding enc;
  enc.field = header[3];
  if (!IsLegalDelimiter(enc.field)) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "field separator is not a legal delimiter", Location(segment_id, "1"));
  }
  std::size_t end = 4;
  while (end < header.size() && header[end] != enc.field && header[end] != '\r' &&
         header[end] != '\n') {
    ++end;
  }
  std::string_view msh2 = header.substr(4, end - 4);
  if (msh2.empty()) {
    return core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                           "encoding characters are missing", Location(segment_id, "2"));
  }
  // Slots in MSH-2 order; declared chars fill them one by one.
  std::array<char, 5> slots = {'\0', '\0', '\0', '\0', '\0'};
  std::size_t filled = 0;
  for (std::size_t i = 0; i < msh2.size(); ++i) {
    const char c = msh2[i];
    if (filled == 3 && c == slots[2]) {
      continue;  // the doubled escape of "^~\\&"
    }
    if (filled == slots.size()) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "encoding characters are longer than five characters",
                             Location(segment_id, "2"));
    }
    if (!IsLegalDelimiter(c) || c == enc.field) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "encoding character is not a legal delimiter",
                             Location(segment_id, "2"));
    }
    for (std::size_t j = 0; j < filled; ++j) {
      if (slots[j] == c) {
        return core::MakeError(core::ErrorCode::kInvalidValue,
                               "encoding characters repeat a delimiter", Location(segment_id, "2"));
      }
    }
    slots[filled++] = c;
  }
  enc.component = slots[0];
  enc.repetition = slots[1];
  enc.escape = slots[2];
  enc.subcomponent = slots[3];
  enc.truncation = slots[4];
  return HeaderEncoding{enc, end};
}

}  // namespace tb::hl7v2
