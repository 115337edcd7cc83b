#include "adapters/hl7v2/escape.h"

#include <cstring>

namespace tb::hl7v2 {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Appends the bytes of a hex escape body ("0D0A") and returns false when it is not valid hex.
bool AppendHex(std::string_view hex, std::string& out) {
  if (hex.empty() || hex.size() % 2 != 0) {
    return false;
  }
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (HexDigit(hex[i]) < 0 || HexDigit(hex[i + 1]) < 0) {
      return false;
    }
  }
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>((HexDigit(hex[i]) << 4) | HexDigit(hex[i + 1]));
  }
  return true;
}

// Parses the count of "\.sp n\" (absent = 1); returns -1 when the argument is not a number.
int SpaceCount(std::string_view arg) {
  while (!arg.empty() && arg.front() == ' ') {
    arg.remove_prefix(1);
  }
  if (arg.empty()) {
    return 1;
  }
  int n = 0;
  for (char c : arg) {
    if (c < '0' || c > '9' || n > 1000) {
      return -1;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Decodes one sequence body (between the escape characters). Returns false when the body is not
// a sequence this mode decodes, so the caller keeps it verbatim.
bool DecodeBody(std::string_view body, const Encoding& enc, bool text, std::string& out) {
  if (body.size() == 1) {
    switch (body[0]) {
      case 'F':
        out += enc.field;
        return true;
      case 'S':
        out += enc.component;
        return true;
      case 'T':
        if (enc.subcomponent == '\0') {
          return false;
        }
        out += enc.subcomponent;
        return true;
      case 'R':
        out += enc.repetition;
        return true;
      case 'E':
        out += enc.escape;
        return true;
      case 'P':
        if (enc.truncation == '\0') {
          return false;
        }
        out += enc.truncation;
        return true;
      case 'H':
      case 'N':
        return text;  // highlight on/off: display only
      default:
        return false;
    }
  }
  if (body[0] == 'X') {
    return AppendHex(body.substr(1), out);
  }
  if (!text || body[0] != '.') {
    return false;
  }
  if (body == ".br") {
    out += '\n';
    return true;
  }
  if (StartsWith(body, ".sp")) {
    const int n = SpaceCount(body.substr(3));
    if (n < 0) {
      return false;
    }
    out.append(static_cast<std::size_t>(n), '\n');
    return true;
  }
  for (std::string_view command : {".fi", ".nf", ".in", ".ti", ".sk", ".ce"}) {
    if (StartsWith(body, command)) {
      return true;  // layout commands a plain-text reader cannot honour
    }
  }
  return false;
}

std::string UnescapeImpl(std::string_view raw, const Encoding& enc, bool text) {
  std::string out;
  if (enc.escape == '\0') {
    out.assign(raw);
    return out;
  }
  out.reserve(raw.size());
  std::size_t i = 0;
  while (i < raw.size()) {
    const void* hit = std::memchr(raw.data() + i, enc.escape, raw.size() - i);
    if (hit == nullptr) {
      out.append(raw.substr(i));
      break;
    }
    const auto start = static_cast<std::size_t>(static_cast<const char*>(hit) - raw.data());
    out.append(raw.substr(i, start - i));
    const std::size_t close = raw.find(enc.escape, start + 1);
    if (close == std::string_view::npos) {
      out.append(raw.substr(start));  // unterminated: literal
      break;
    }
    const std::string_view body = raw.substr(start + 1, close - start - 1);
    if (!body.empty() && DecodeBody(body, enc, text, out)) {
      i = close + 1;
      continue;
    }
    if (body.empty()) {
      // "\\" is no sequence: keep the first escape char and resume at the second, which may
      // open a real sequence.
      out += enc.escape;
      i = start + 1;
      continue;
    }
    out.append(raw.substr(start, close - start + 1));
    i = close + 1;
  }
  return out;
}

void AppendSequence(std::string& out, char escape, std::string_view body) {
  out += escape;
  out += body;
  out += escape;
}

void EscapeImpl(std::string& out, std::string_view text, const Encoding& enc, bool formatted) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool special = enc.IsDelimiter(c) || c == '\r' || c == '\n' ||
                         (enc.truncation != '\0' && c == enc.truncation);
    if (!special) {
      out += c;
      continue;
    }
    if (enc.escape == '\0') {
      out += ' ';
      continue;
    }
    if (formatted && (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n'))) {
      if (c == '\r') {
        ++i;
      }
      AppendSequence(out, enc.escape, ".br");
    } else if (c == enc.field) {
      AppendSequence(out, enc.escape, "F");
    } else if (c == enc.component) {
      AppendSequence(out, enc.escape, "S");
    } else if (c == enc.subcomponent) {
      AppendSequence(out, enc.escape, "T");
    } else if (c == enc.repetition) {
      AppendSequence(out, enc.escape, "R");
    } else if (c == enc.escape) {
      AppendSequence(out, enc.escape, "E");
    } else if (c == '\r') {
      AppendSequence(out, enc.escape, "X0D");
    } else if (c == '\n') {
      AppendSequence(out, enc.escape, "X0A");
    } else {
      AppendSequence(out, enc.escape, "P");
    }
  }
}

}  // namespace

std::string Unescape(std::string_view raw, const Encoding& enc) {
  return UnescapeImpl(raw, enc, /*text=*/false);
}

std::string UnescapeText(std::string_view raw, const Encoding& enc) {
  return UnescapeImpl(raw, enc, /*text=*/true);
}

void AppendEscaped(std::string& out, std::string_view text, const Encoding& enc) {
  EscapeImpl(out, text, enc, /*formatted=*/false);
}

std::string Escape(std::string_view text, const Encoding& enc) {
  std::string out;
  out.reserve(text.size());
  EscapeImpl(out, text, enc, /*formatted=*/false);
  return out;
}

std::string EscapeText(std::string_view text, const Encoding& enc) {
  std::string out;
  out.reserve(text.size());
  EscapeImpl(out, text, enc, /*formatted=*/true);
  return out;
}

}  // namespace tb::hl7v2
