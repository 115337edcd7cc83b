#include "conformance/masking.h"

namespace tb::conformance {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Length of an NHS-number-shaped run starting at `pos` (10 digits, or 3-3-4 with one separator
// kind), or 0.
std::size_t NhsRunAt(std::string_view text, std::size_t pos) {
  auto digits = [&](std::size_t from, std::size_t count) {
    if (from + count > text.size()) {
      return false;
    }
    for (std::size_t i = from; i < from + count; ++i) {
      if (!IsDigit(text[i])) {
        return false;
      }
    }
    return true;
  };
  auto ends_at = [&](std::size_t end) { return end == text.size() || !IsDigit(text[end]); };
  if (digits(pos, 10) && ends_at(pos + 10)) {
    return 10;
  }
  if (digits(pos, 3) && pos + 3 < text.size() && (text[pos + 3] == ' ' || text[pos + 3] == '-')) {
    const char separator = text[pos + 3];
    if (digits(pos + 4, 3) && pos + 7 < text.size() && text[pos + 7] == separator &&
        digits(pos + 8, 4) && ends_at(pos + 12)) {
      return 12;
    }
  }
  return 0;
}

}  // namespace

std::string MaskNhsNumbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const bool starts_run = IsDigit(text[pos]) && (pos == 0 || !IsDigit(text[pos - 1]));
    if (starts_run) {
      if (const std::size_t length = NhsRunAt(text, pos); length != 0) {
        for (std::size_t i = 0; i < length; ++i) {
          out.push_back(IsDigit(text[pos + i]) ? '*' : text[pos + i]);
        }
        pos += length;
        continue;
      }
    }
    out.push_back(text[pos++]);
  }
  return out;
}

std::string Excerpt(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return std::string(text);
  }
  std::size_t cut = max_bytes;
  // Do not split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) {
    --cut;
  }
  return std::string(text.substr(0, cut)) + "\n... (" + std::to_string(text.size() - cut) +
         " more bytes)";
}

std::string MaskedExcerpt(std::string_view text, std::size_t max_bytes) {
  return Excerpt(MaskNhsNumbers(text), max_bytes);
}

std::string MaskedMarkup(std::string_view text, Markup markup) {
  const std::string masked = MaskNhsNumbers(text);
  const bool xml = markup == Markup::kXml;
  std::string out;
  out.reserve(masked.size());
  for (char c : masked) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += xml ? "&apos;" : "'";
        break;
      case '\r':
        out += xml ? "&#13;" : "\n";
        break;
      default:
        if (!xml || static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') {
          out.push_back(c);
        }
    }
  }
  return out;
}

}  // namespace tb::conformance
