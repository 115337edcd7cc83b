#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "broker/core/result.h"

namespace tb::hl7v2 {

// The delimiters of one message, read from MSH-1 and MSH-2 (FHS and BHS carry the same pair).
// A delimiter the message does not declare is '\0': messages before v2.7 have no truncation
// character, and some very old ones omit the subcomponent separator (MSH-2 = "^~\").
// A plain value: copy it freely; thread-compatible.
struct Encoding {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = '\0';

  // MSH-2 as written by us: the declared encoding characters in order.
  std::string EncodingCharacters() const;

  // True for the characters that split or escape a value (not the truncation character, which
  // only marks data and never splits).
  bool IsDelimiter(char c) const {
    return c != '\0' &&
           (c == field || c == component || c == repetition || c == escape || c == subcomponent);
  }

  // True when all five split/escape characters are declared, legal and distinct; the builder
  // needs this because it must be able to escape any text.
  bool IsComplete() const;

  friend bool operator==(const Encoding&, const Encoding&) = default;
};

// What ReadEncoding found: the delimiters, and where MSH-2 ends in the header (the offset of the
// field separator after MSH-2, or the header's size when nothing follows MSH-2).
struct HeaderEncoding {
  Encoding encoding;
  std::size_t msh2_end = 0;
};

// Reads the delimiters from the start of a header segment (MSH, FHS or BHS): three id bytes,
// MSH-1, then MSH-2 up to the next field separator or line break. Does not check the id.
// Errors (location uses `segment_id`, e.g. "MSH-2"):
//   kRequiredFieldMissing  MSH-1 or MSH-2 absent;
//   kInvalidValue          a delimiter that is alphanumeric, blank, a control character, or
//                          repeats another, or MSH-2 longer than five characters.
// Tolerance: a doubled escape character in the fourth place ("^~\\&", written by senders that
// escaped their own backslash) reads as "^~\&".
core::Result<HeaderEncoding> ReadEncoding(std::string_view header,
                                          std::string_view segment_id = "MSH");

}  // namespace tb::hl7v2
