#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "broker/core/result.h"

namespace tb::hl7v2 {

// A position in a message, HL7-style and 1-based everywhere:
//   "PID-3"        field 3 of the first PID
//   "PID-3(2).1"   field 3, repetition 2, component 1
//   "PID-3.1.2"    component 1, subcomponent 2 (of repetition 1)
//   "OBX[3]-5"     field 5 of the third OBX segment
//   "MSH-9.2"      MSH numbering: MSH-1 is the field separator, MSH-2 the encoding characters
//   "ERR"          a whole segment (used only in error locations)
// A zero member means "not given": repetition 0 reads as the first repetition, component 0 as
// the whole field or repetition. Plain value; thread-compatible.
struct Path {
  std::string segment;         // three characters, e.g. "PID"
  std::size_t occurrence = 1;  // [n]
  std::size_t field = 0;       // 0: the whole segment
  std::size_t repetition = 0;  // (n)
  std::size_t component = 0;
  std::size_t subcomponent = 0;

  // The canonical text, which ParsePath reads back: "[1]" and "(n)" are written only when given.
  std::string ToString() const;

  friend bool operator==(const Path&, const Path&) = default;
};

// Parses the grammar above. Error: kInvalidValue (location empty; the message names the part
// that is wrong) for anything else, including numbers of 0 or above 99999.
core::Result<Path> ParsePath(std::string_view text);

}  // namespace tb::hl7v2
