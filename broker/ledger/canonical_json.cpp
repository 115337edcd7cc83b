#include "broker/ledger/canonical_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace tb::ledger {
namespace {

using Member = rapidjson::Value::ConstMemberIterator;

std::string_view NameOf(const Member& member) {
  return {member->name.GetString(), member->name.GetStringLength()};
}

// A JSON string with exactly RapidJSON Writer's escapes ('"', '\\', \b \f \n \r \t, other
// control characters as \u00XX with upper-case hex; everything else verbatim), appending runs
// of plain bytes at once: this is most of the cost of a ledger append.
void WriteString(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('"');
  std::size_t run = 0;
  std::size_t i = 0;
  // Skip eight plain bytes at a time (SWAR): a byte needs escaping when it is < 0x20, '"' or
  // '\\'; bytes >= 0x80 (UTF-8) never do.
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  while (i + 8 <= text.size()) {
    std::uint64_t v = 0;
    std::memcpy(&v, text.data() + i, 8);
    if ((has_zero(v ^ (kOnes * '"')) | has_zero(v ^ (kOnes * '\\')) |
         ((v - kOnes * 0x20) & ~v & kHigh)) != 0) {
      break;
    }
    i += 8;
  }
  for (; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(text.substr(run, i - run));
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.substr(run));
  out.push_back('"');
}

template <typename Int>
void WriteInteger(Int number, std::string& out) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), number);
  out.append(digits.data(), end);
}

core::Status Write(const rapidjson::Value& value, std::string& out) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      out.append("null");
      return core::Ok();
    case rapidjson::kFalseType:
      out.append("false");
      return core::Ok();
    case rapidjson::kTrueType:
      out.append("true");
      return core::Ok();
    case rapidjson::kStringType:
      WriteString({value.GetString(), value.GetStringLength()}, out);
      return core::Ok();
    case rapidjson::kNumberType:
      if (value.IsInt64()) {
        WriteInteger(value.GetInt64(), out);
      } else if (value.IsUint64()) {
        WriteInteger(value.GetUint64(), out);
      } else {
        return core::MakeError(core::ErrorCode::kInvalidValue,
                               "canonical JSON holds integers only");
      }
      return core::Ok();
    case rapidjson::kArrayType: {
      out.push_back('[');
      bool first = true;
      for (const rapidjson::Value& item : value.GetArray()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        BROKER_RETURN_IF_ERROR(Write(item, out));
      }
      out.push_back(']');
      return core::Ok();
    }
    case rapidjson::kObjectType: {
      // FHIR objects are small: sort member pointers on the stack, on the heap only when large.
      constexpr std::size_t kOnStack = 24;
      std::array<Member, kOnStack> small;
      std::vector<Member> large;
      const std::size_t count = value.MemberCount();
      Member* members = small.data();
      if (count > kOnStack) {
        large.resize(count);
        members = large.data();
      }
      std::size_t n = 0;
      for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
        members[n++] = it;
      }
      // std::string_view compares bytes as unsigned char (char_traits<char>::compare).
      std::sort(members, members + n,
                [](const Member& a, const Member& b) { return NameOf(a) < NameOf(b); });
      out.push_back('{');
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) {
          out.push_back(',');
        }
        WriteString(NameOf(members[i]), out);
        out.push_back(':');
        BROKER_RETURN_IF_ERROR(Write(members[i]->value, out));
      }
      out.push_back('}');
      return core::Ok();
    }
  }
  return core::MakeError(core::ErrorCode::kInternal, "unknown JSON type");
}

}  // namespace

core::Result<std::string> CanonicalJson(const rapidjson::Value& value) {
  std::string out;
  out.reserve(4096);
  BROKER_RETURN_IF_ERROR(Write(value, out));
  return out;
}

}  // namespace tb::ledger
