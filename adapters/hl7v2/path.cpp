#include "adapters/hl7v2/path.h"

namespace tb::hl7v2 {
namespace {

constexpr std::size_t kMaxIndex = 99999;

bool IsUpperAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// Reads a positive decimal at `pos`, advancing it; 0 when there is none or it is out of range.
std::size_t ReadNumber(std::string_view text, std::size_t& pos) {
  std::size_t value = 0;
  const std::size_t start = pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + static_cast<std::size_t>(text[pos] - '0');
    ++pos;
    if (value > kMaxIndex) {
      return 0;
    }
  }
  return pos == start ? 0 : value;
}

core::Error Invalid(std::string_view what) {
  return core::MakeError(core::ErrorCode::kInvalidValue,
                         std::string("malformed v2 path: ") + std::string(what));
}

}  // namespace

std::string Path::ToString() const {
  std::string out = segment;
  if (occurrence != 1) {
    out += '[' + std::to_string(occurrence) + ']';
  }
  if (field == 0) {
    return out;
  }
  out += '-' + std::to_string(field);
  if (repetition != 0) {
    out += '(' + std::to_string(repetition) + ')';
  }
  if (component != 0) {
    out += '.' + std::to_string(component);
    if (subcomponent != 0) {
      out += '.' + std::to_string(subcomponent);
    }
  }
  return out;
}

core::Result<Path> ParsePath(std::string_view text) {
  if (text.size() < 3 || !(text[0] >= 'A' && text[0] <= 'Z') || !IsUpperAlnum(text[1]) ||
      !IsUpperAlnum(text[2])) {
    return Invalid("segment id must be three upper-case letters or digits");
  }
  Path path;
  path.segment.assign(text.substr(0, 3));
  std::size_t pos = 3;
  if (pos < text.size() && text[pos] == '[') {
    ++pos;
    path.occurrence = ReadNumber(text, pos);
    if (path.occurrence == 0 || pos >= text.size() || text[pos] != ']') {
      return Invalid("segment occurrence");
    }
    ++pos;
  }
  if (pos == text.size()) {
    return path;
  }
  if (text[pos] != '-') {
    return Invalid("expected '-' after the segment");
  }
  ++pos;
  path.field = ReadNumber(text, pos);
  if (path.field == 0) {
    return Invalid("field number");
  }
  if (pos < text.size() && text[pos] == '(') {
    ++pos;
    path.repetition = ReadNumber(text, pos);
    if (path.repetition == 0 || pos >= text.size() || text[pos] != ')') {
      return Invalid("repetition");
    }
    ++pos;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    path.component = ReadNumber(text, pos);
    if (path.component == 0) {
      return Invalid("component number");
    }
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      path.subcomponent = ReadNumber(text, pos);
      if (path.subcomponent == 0) {
        return Invalid("subcomponent number");
      }
    }
  }
  if (pos != text.size()) {
    return Invalid("trailing characters");
  }
  return path;
}

}  // namespace tb::hl7v2
