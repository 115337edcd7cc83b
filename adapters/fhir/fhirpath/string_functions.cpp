// String functions (spec 5.6 and the 2.0 additions): positions and lengths count Unicode code
// points, not bytes, so names such as "Zoë" behave as a user expects.
#include <algorithm>
#include <cctype>
#include <exception>
#include <string>

#include <boost/regex.hpp>

#include "adapters/fhir/fhirpath/function_call.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

// Byte offsets of each code point start, plus the end offset.
std::vector<std::size_t> CodePointOffsets(const std::string& text) {
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      offsets.push_back(i);
    }
  }
  offsets.push_back(text.size());
  return offsets;
}

core::Result<Collection> FnLength(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  if (!*s) {
    return Collection{};
  }
  return One(Value::Integer(static_cast<std::int64_t>(CodePointOffsets(**s).size() - 1)));
}

core::Result<Collection> FnSubstring(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto start = c.ArgInteger(0);
  if (!start) {
    return start.error();
  }
  if (!*s || !*start) {
    return Collection{};
  }
  auto offsets = CodePointOffsets(**s);
  std::int64_t count = static_cast<std::int64_t>(offsets.size()) - 1;
  std::int64_t from = **start;
  if (from < 0 || from >= count) {
    return Collection{};
  }
  std::int64_t to = count;
  if (c.arg_count() > 1) {
    auto length = c.ArgInteger(1);
    if (!length) {
      return length.error();
    }
    if (*length) {
      to = std::min(count, from + std::max<std::int64_t>(0, **length));
    }
  }
  std::size_t b = offsets[static_cast<std::size_t>(from)];
  std::size_t e = offsets[static_cast<std::size_t>(to)];
  return One(Value::String((*s)->substr(b, e - b)));
}

// Functions of one String focus and one String argument that give a Boolean.
template <bool (*Test)(const std::string&, const std::string&)>
core::Result<Collection> StringTest(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto arg = c.ArgString(0);
  if (!arg) {
    return arg.error();
  }
  if (!*s || !*arg) {
    return Collection{};
  }
  return Bool(Test(**s, **arg));
}

bool StartsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
bool ContainsText(const std::string& s, const std::string& p) {
  return s.find(p) != std::string::npos;
}

core::Result<Collection> FnIndexOf(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto arg = c.ArgString(0);
  if (!arg) {
    return arg.error();
  }
  if (!*s || !*arg) {
    return Collection{};
  }
  std::size_t at = (*s)->find(**arg);
  if (at == std::string::npos) {
    return One(Value::Integer(-1));
  }
  auto offsets = CodePointOffsets(**s);
  auto index = std::lower_bound(offsets.begin(), offsets.end(), at) - offsets.begin();
  return One(Value::Integer(index));
}

template <int (*Map)(int)>
core::Result<Collection> CaseMap(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  if (!*s) {
    return Collection{};
  }
  std::string out = **s;
  for (char& ch : out) {
    if ((static_cast<unsigned char>(ch) & 0x80) == 0) {
      ch = static_cast<char>(Map(static_cast<unsigned char>(ch)));
    }
  }
  return One(Value::String(std::move(out)));
}

core::Result<Collection> FnReplace(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto pattern = c.ArgString(0);
  if (!pattern) {
    return pattern.error();
  }
  auto substitution = c.ArgString(1);
  if (!substitution) {
    return substitution.error();
  }
  if (!*s || !*pattern || !*substitution) {
    return Collection{};
  }
  const std::string& text = **s;
  const std::string& from = **pattern;
  const std::string& to = **substitution;
  std::string out;
  if (from.empty()) {
    // An empty pattern matches between every character (spec example: 'abc'.replace('', 'x')).
    auto offsets = CodePointOffsets(text);
    out = to;
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      out += text.substr(offsets[i], offsets[i + 1] - offsets[i]) + to;
    }
    return One(Value::String(std::move(out)));
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t at = text.find(from, pos);
    if (at == std::string::npos) {
      out += text.substr(pos);
      break;
    }
    out += text.substr(pos, at - pos) + to;
    pos = at + from.size();
  }
  return One(Value::String(std::move(out)));
}

// Boost.Regex (Perl syntax), not std::regex: libstdc++'s std::regex recurses once per input
// character, so a 100 KB string against '.*b' overflows the stack and kills the process, and a
// conformance run matches server responses it cannot trust. Boost.Regex keeps its backtracking
// state on the heap and gives up with an exception when a match needs too much of it or too many
// steps (catastrophic backtracking): both become errors here. FHIRPath regexes run in single-line
// mode ('.' also matches a newline): mod_s.
core::Result<boost::regex> CompileRegex(const std::string& pattern) {
  try {
    return boost::regex(pattern, boost::regex::perl | boost::regex::mod_s);
  } catch (const std::exception&) {
    return EvalError("invalid regular expression");
  }
}

core::Result<Collection> Matches(const Call& c, bool full) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto pattern = c.ArgString(0);
  if (!pattern) {
    return pattern.error();
  }
  if (!*s || !*pattern) {
    return Collection{};
  }
  auto re = CompileRegex(**pattern);
  if (!re) {
    return re.error();
  }
  try {
    return Bool(full ? boost::regex_match(**s, *re) : boost::regex_search(**s, *re));
  } catch (const std::exception&) {
    return EvalError("regular expression too complex for this input");
  }
}
core::Result<Collection> FnMatches(const Call& c) { return Matches(c, false); }
core::Result<Collection> FnMatchesFull(const Call& c) { return Matches(c, true); }

core::Result<Collection> FnReplaceMatches(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto pattern = c.ArgString(0);
  if (!pattern) {
    return pattern.error();
  }
  auto substitution = c.ArgString(1);
  if (!substitution) {
    return substitution.error();
  }
  if (!*s || !*pattern || !*substitution) {
    return Collection{};
  }
  if (pattern->value().empty()) {
    return One(Value::String(**s));
  }
  auto re = CompileRegex(**pattern);
  if (!re) {
    return re.error();
  }
  try {
    return One(Value::String(boost::regex_replace(**s, *re, **substitution)));
  } catch (const std::exception&) {
    return EvalError("regular expression too complex for this input");
  }
}

core::Result<Collection> FnToChars(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  if (!*s) {
    return Collection{};
  }
  auto offsets = CodePointOffsets(**s);
  Collection out;
  for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
    out.push_back(Value::String((*s)->substr(offsets[i], offsets[i + 1] - offsets[i])));
  }
  return out;
}

core::Result<Collection> FnTrim(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  if (!*s) {
    return Collection{};
  }
  const std::string& text = **s;
  std::size_t b = 0;
  std::size_t e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b])) != 0) {
    ++b;
  }
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1])) != 0) {
    --e;
  }
  return One(Value::String(text.substr(b, e - b)));
}

core::Result<Collection> FnSplit(const Call& c) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto separator = c.ArgString(0);
  if (!separator) {
    return separator.error();
  }
  if (!*s || !*separator) {
    return Collection{};
  }
  Collection out;
  const std::string& text = **s;
  const std::string& sep = **separator;
  if (sep.empty()) {
    return One(Value::String(text));
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t at = text.find(sep, pos);
    if (at == std::string::npos) {
      out.push_back(Value::String(text.substr(pos)));
      break;
    }
    out.push_back(Value::String(text.substr(pos, at - pos)));
    pos = at + sep.size();
  }
  return out;
}

core::Result<Collection> FnJoin(const Call& c) {
  std::string separator;
  if (c.arg_count() > 0) {
    auto arg = c.ArgString(0);
    if (!arg) {
      return arg.error();
    }
    separator = arg->value_or("");
  }
  std::string out;
  for (std::size_t i = 0; i < c.focus.size(); ++i) {
    auto system = c.focus[i].ToSystem();
    if (!system || system->kind() != Kind::kString) {
      return EvalError("join() expects Strings");
    }
    if (i > 0) {
      out += separator;
    }
    out += system->string();
  }
  return One(Value::String(std::move(out)));
}

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(const std::string& in, bool url) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    std::size_t len = std::min<std::size_t>(3, in.size() - i);
    if (len > 1) {
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    }
    if (len > 2) {
      n |= static_cast<unsigned char>(in[i + 2]);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      if (k <= len) {
        char ch = kBase64[(n >> (18 - 6 * k)) & 0x3F];
        if (url && ch == '+') {
          ch = '-';
        } else if (url && ch == '/') {
          ch = '_';
        }
        out += ch;
      } else {
        out += '=';
      }
    }
  }
  return out;
}

std::optional<std::string> Base64Decode(const std::string& in) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char ch : in) {
    if (ch == '=') {
      break;
    }
    if (ch == '-') {
      ch = '+';
    } else if (ch == '_') {
      ch = '/';
    }
    std::size_t v = kBase64.find(ch);
    if (v == std::string_view::npos) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

core::Result<Collection> Codec(const Call& c, bool encode) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto format = c.ArgString(0);
  if (!format) {
    return format.error();
  }
  if (!*s || !*format) {
    return Collection{};
  }
  const std::string& text = **s;
  const std::string& f = **format;
  if (f == "hex") {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string out;
    if (encode) {
      for (char byte : text) {
        const auto ch = static_cast<unsigned char>(byte);
        out += kHex[ch >> 4];
        out += kHex[ch & 0xF];
      }
      return One(Value::String(std::move(out)));
    }
    if (text.size() % 2 != 0) {
      return Collection{};
    }
    for (std::size_t i = 0; i < text.size(); i += 2) {
      auto hi = kHex.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
      auto lo = kHex.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i + 1]))));
      if (hi == std::string_view::npos || lo == std::string_view::npos) {
        return Collection{};
      }
      out += static_cast<char>(hi * 16 + lo);
    }
    return One(Value::String(std::move(out)));
  }
  if (f == "base64" || f == "urlbase64") {
    if (encode) {
      return One(Value::String(Base64Encode(text, f == "urlbase64")));
    }
    auto decoded = Base64Decode(text);
    return decoded ? One(Value::String(std::move(*decoded))) : Collection{};
  }
  return EvalError("unknown encoding");
}
core::Result<Collection> FnEncode(const Call& c) { return Codec(c, true); }
core::Result<Collection> FnDecode(const Call& c) { return Codec(c, false); }

core::Result<Collection> Escape(const Call& c, bool escape) {
  auto s = c.FocusString();
  if (!s) {
    return s.error();
  }
  auto format = c.ArgString(0);
  if (!format) {
    return format.error();
  }
  if (!*s || !*format) {
    return Collection{};
  }
  static constexpr std::pair<std::string_view, std::string_view> kHtml[] = {
      {"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}};
  static constexpr std::pair<std::string_view, std::string_view> kJson[] = {
      {"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}};
  const auto* table = **format == "html" ? kHtml : **format == "json" ? kJson : nullptr;
  if (table == nullptr) {
    return EvalError("unknown escape format");
  }
  const std::string& text = **s;
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    bool done = false;
    for (std::size_t k = 0; k < 5; ++k) {
      std::string_view from = escape ? table[k].first : table[k].second;
      std::string_view to = escape ? table[k].second : table[k].first;
      if (text.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        done = true;
        break;
      }
    }
    if (!done) {
      out += text[i++];
    }
  }
  return One(Value::String(std::move(out)));
}
core::Result<Collection> FnEscape(const Call& c) { return Escape(c, true); }
core::Result<Collection> FnUnescape(const Call& c) { return Escape(c, false); }

}  // namespace

void AddStringFunctions(FunctionTable& table) {
  table.insert({
      {"length", {FnLength, 0, 0}},
      {"substring", {FnSubstring, 1, 2}},
      {"startsWith", {StringTest<StartsWith>, 1, 1}},
      {"endsWith", {StringTest<EndsWith>, 1, 1}},
      {"contains", {StringTest<ContainsText>, 1, 1}},
      {"indexOf", {FnIndexOf, 1, 1}},
      {"upper", {CaseMap<std::toupper>, 0, 0}},
      {"lower", {CaseMap<std::tolower>, 0, 0}},
      {"replace", {FnReplace, 2, 2}},
      {"matches", {FnMatches, 1, 1}},
      {"matchesFull", {FnMatchesFull, 1, 1}},
      {"replaceMatches", {FnReplaceMatches, 2, 2}},
      {"toChars", {FnToChars, 0, 0}},
      {"trim", {FnTrim, 0, 0}},
      {"split", {FnSplit, 1, 1}},
      {"join", {FnJoin, 0, 1}},
      {"encode", {FnEncode, 1, 1}},
      {"decode", {FnDecode, 1, 1}},
      {"escape", {FnEscape, 1, 1}},
      {"unescape", {FnUnescape, 1, 1}},
  });
}

}  // namespace tb::fhirpath::detail
