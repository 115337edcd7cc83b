#include "adapters/fhir/json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <system_error>
#include <vector>

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/dtoa.h>
#include <rapidjson/internal/itoa.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "broker/core/utf8.h"

namespace tb::fhir {
namespace {

using core::ErrorCode;
using core::MakeError;

// No kParseValidateEncodingFlag: the whole text is checked for well-formed UTF-8 first
// (FirstInvalidUtf8), which accepts and refuses exactly what RapidJSON's check inside strings
// would (outside strings any byte over 0x7F is a syntax error anyway) at a fraction of the cost:
// RapidJSON decodes every character of every string through its transcoder.
//
// Numbers are handed over as text (kParseNumbersAsStringsFlag) and converted by
// DepthLimitedHandler::RawNumber: RapidJSON 1.1's own full-precision conversion calls clz(0) for
// a zero with a large exponent ("0e77"), undefined behaviour that in an optimised build can give
// a power of two instead of 0 (found by tests/fuzz/federation/federated_answer_fuzz).
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;

// Forwards SAX events to a Document while counting nesting; stops the parse (by returning false)
// as soon as the depth limit is passed, so a deep document is never built.
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(rapidjson::Document& target, std::size_t max_depth)
      : target_(target), max_depth_(max_depth) {}

  bool exceeded() const { return exceeded_; }
  bool number_too_big() const { return number_too_big_; }

  bool Null() { return target_.Null(); }
  bool Bool(bool b) { return target_.Bool(b); }
  bool Int(int i) { return target_.Int(i); }
  bool Uint(unsigned u) { return target_.Uint(u); }
  bool Int64(std::int64_t i) { return target_.Int64(i); }
  bool Uint64(std::uint64_t u) { return target_.Uint64(u); }
  bool Double(double d) { return target_.Double(d); }
  // A number's text (the reader has checked its grammar) as the value RapidJSON would make of
  // it: an integer in the narrowest of int, unsigned, int64 and uint64 that holds it, else a
  // double, correctly rounded by std::from_chars; a double beyond the largest is refused as
  // RapidJSON refuses it, one below the smallest is zero as in RapidJSON.
  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    const char* const end = str + length;
    const bool integer =
        std::none_of(str, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; });
    if (integer && *str == '-') {
      std::int64_t value = 0;
      if (const auto [stop, error] = std::from_chars(str, end, value);
          error == std::errc() && stop == end) {
        return value >= std::numeric_limits<int>::min() ? target_.Int(static_cast<int>(value))
                                                        : target_.Int64(value);
      }
    } else if (integer) {
      std::uint64_t value = 0;
      if (const auto [stop, error] = std::from_chars(str, end, value);
          error == std::errc() && stop == end) {
        return value <= std::numeric_limits<unsigned>::max()
                   ? target_.Uint(static_cast<unsigned>(value))
                   : target_.Uint64(value);
      }
    }
    double value = 0;
    const auto [stop, error] = std::from_chars(str, end, value);
    if (error == std::errc::result_out_of_range) {
      if (DecimalMagnitude(std::string_view(str, length)) > 0) {
        number_too_big_ = true;
        return false;
      }
      return target_.Double(*str == '-' ? -0.0 : 0.0);
    }
    return stop == end && error == std::errc() && target_.Double(value);
  }
  bool String(const char* str, rapidjson::SizeType length, bool copy) {
    return target_.String(str, length, copy);
  }
  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    return target_.Key(str, length, copy);
  }
  bool StartObject() { return Enter() && target_.StartObject(); }
  bool EndObject(rapidjson::SizeType count) {
    --depth_;
    return target_.EndObject(count);
  }
  bool StartArray() { return Enter() && target_.StartArray(); }
  bool EndArray(rapidjson::SizeType count) {
    --depth_;
    return target_.EndArray(count);
  }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      exceeded_ = true;
      return false;
    }
    return true;
  }

  // Where a number out of double's range lies: > 0 past the largest, <= 0 below the smallest.
  // The digits before the point (leading zeros not counted), or minus the zeros just after the
  // point when there are none before it, plus the exponent.
  static long DecimalMagnitude(std::string_view number) {
    if (number.front() == '-') {
      number.remove_prefix(1);
    }
    const std::size_t e = number.find_first_of("eE");
    const std::string_view mantissa = number.substr(0, e);
    const std::size_t point = mantissa.find('.');
    std::string_view whole = mantissa.substr(0, point);
    while (!whole.empty() && whole.front() == '0') {
      whole.remove_prefix(1);
    }
    long magnitude = static_cast<long>(whole.size());
    if (whole.empty() && point != std::string_view::npos) {
      const std::string_view fraction = mantissa.substr(point + 1);
      const std::size_t first = fraction.find_first_not_of('0');
      magnitude = -static_cast<long>(first == std::string_view::npos ? fraction.size() : first);
    }
    if (e != std::string_view::npos) {
      std::string_view digits = number.substr(e + 1);
      if (digits.front() == '+') {
        digits.remove_prefix(1);
      }
      long exponent = 0;
      if (std::from_chars(digits.data(), digits.data() + digits.size(), exponent).ec ==
          std::errc::result_out_of_range) {
        exponent = digits.front() == '-' ? -100000 : 100000;  // far out of range either way
      }
      magnitude += exponent;
    }
    return magnitude;
  }

  rapidjson::Document& target_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool exceeded_ = false;
  bool number_too_big_ = false;
};

// "/" + `token` escaped as a JSON pointer reference token (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string PointerToken(std::string_view token) {
  std::string out(1, '/');
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Objects up to this size are checked by comparing every pair, without allocating (FHIR objects
// are small); larger ones sort their names.
constexpr rapidjson::SizeType kPairwiseMemberLimit = 16;

bool RepeatsMemberName(const rapidjson::Value& object) {
  const rapidjson::SizeType count = object.MemberCount();
  if (count < 2) {
    return false;
  }
  const auto members = object.MemberBegin();
  if (count <= kPairwiseMemberLimit) {
    // Each name read out of its (possibly inline) RapidJSON string once, not once per pair.
    std::array<std::string_view, kPairwiseMemberLimit> names;
    for (rapidjson::SizeType i = 0; i < count; ++i) {
      names[i] = StringOf(members[i].name);
      for (rapidjson::SizeType j = 0; j < i; ++j) {
        if (names[j] == names[i]) {
          return true;
        }
      }
    }
    return false;
  }
  std::vector<std::string_view> names;
  names.reserve(count);
  for (rapidjson::SizeType i = 0; i < count; ++i) {
    names.push_back(StringOf(members[i].name));
  }
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

// Finds the first object (depth first, in document order) holding a repeated member name.
// Recursion is bounded by the depth limit the parse has already enforced. Returns true and sets
// `pointer` to that object's JSON pointer, built only then (on the way out), since this runs over
// every document parsed and almost never finds one.
bool FindDuplicateKey(const rapidjson::Value& value, std::string& pointer) {
  if (value.IsObject()) {
    if (RepeatsMemberName(value)) {
      return true;
    }
    for (const auto& member : value.GetObject()) {
      if (FindDuplicateKey(member.value, pointer)) {
        pointer.insert(0, PointerToken(StringOf(member.name)));
        return true;
      }
    }
  } else if (value.IsArray()) {
    rapidjson::SizeType index = 0;
    for (const auto& item : value.GetArray()) {
      if (FindDuplicateKey(item, pointer)) {
        pointer.insert(0, "/" + std::to_string(index));
        return true;
      }
      ++index;
    }
  }
  return false;
}

std::string Offset(std::size_t offset) { return "offset " + std::to_string(offset); }

std::string Join(std::string_view path, std::string_view name) {
  if (path.empty()) {
    return std::string(name);
  }
  std::string out(path);
  out += '.';
  out += name;
  return out;
}

core::Error Missing(std::string_view path, std::string_view name) {
  return MakeError(ErrorCode::kRequiredFieldMissing, "required element is missing",
                   Join(path, name));
}

core::Error WrongType(std::string_view path, std::string_view name, std::string_view expected) {
  return MakeError(ErrorCode::kInvalidValue, "element must be " + std::string(expected),
                   Join(path, name));
}

}  // namespace

namespace {

// What every parse checks before RapidJSON sees the text: its size, NUL bytes, UTF-8.
core::Status CheckText(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return MakeError(ErrorCode::kTooLarge, "JSON body of " + std::to_string(text.size()) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(limits.max_bytes) + " bytes");
  }
  // RapidJSON's streams treat a NUL byte as the end of input, which would silently ignore
  // whatever follows it. A raw NUL is never valid JSON, so refuse it outright.
  if (const void* nul = std::memchr(text.data(), '\0', text.size()); nul != nullptr) {
    const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - text.data());
    return MakeError(ErrorCode::kInvalidValue, "JSON text contains a NUL byte", Offset(at));
  }
  if (const std::size_t bad = core::FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidValue,
                     std::string("invalid JSON: ") +
                         rapidjson::GetParseError_En(rapidjson::kParseErrorStringInvalidEncoding),
                     Offset(bad));
  }
  return core::Ok();
}

// Parses `input` (checked by CheckText) under the depth limit, then looks for repeated names.
// `skipped` is added to RapidJSON's offsets (bytes before the stream's start).
template <unsigned kFlags, typename Stream>
core::Result<rapidjson::Document> ParseChecked(Stream& input, std::size_t skipped,
                                               const JsonLimits& limits) {
  rapidjson::Document document;
  rapidjson::Reader reader;
  rapidjson::ParseResult parsed;
  bool depth_exceeded = false;
  bool number_too_big = false;
  auto generate = [&](rapidjson::Document& target) {
    DepthLimitedHandler handler(target, limits.max_depth);
    parsed = reader.Parse<kFlags>(input, handler);
    depth_exceeded = handler.exceeded();
    number_too_big = handler.number_too_big();
    return !parsed.IsError();
  };
  document.Populate(generate);
  if (number_too_big) {
    parsed.Set(rapidjson::kParseErrorNumberTooBig, parsed.Offset());
  }

  if (depth_exceeded) {
    return MakeError(ErrorCode::kTooLarge,
                     "JSON nesting exceeds the limit of " + std::to_string(limits.max_depth),
                     Offset(skipped + parsed.Offset()));
  }
  if (parsed.IsError()) {
    return MakeError(ErrorCode::kInvalidValue,
                     std::string("invalid JSON: ") + rapidjson::GetParseError_En(parsed.Code()),
                     Offset(skipped + parsed.Offset()));
  }
  if (limits.reject_duplicate_keys) {
    std::string pointer;
    if (FindDuplicateKey(document, pointer)) {
      return MakeError(ErrorCode::kInvalidValue, "JSON object repeats a member name",
                       pointer.empty() ? "/" : pointer);
    }
  }
  return document;
}

}  // namespace

core::Result<rapidjson::Document> ParseJson(std::string_view text, const JsonLimits& limits) {
  BROKER_RETURN_IF_ERROR(CheckText(text, limits));
  rapidjson::MemoryStream memory(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(memory);
  return ParseChecked<kParseFlags>(input, 0, limits);
}

core::Result<rapidjson::Document> ParseJsonInPlace(std::string& text, const JsonLimits& limits) {
  BROKER_RETURN_IF_ERROR(CheckText(text, limits));
  // A byte order mark is skipped, as ParseJson's stream does.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  const std::size_t skipped = std::string_view(text).starts_with(kBom) ? kBom.size() : 0;
  // std::string keeps a NUL after its last byte, where the in-situ stream stops (CheckText
  // refused any NUL inside).
  rapidjson::InsituStringStream input(text.data() + skipped);
  return ParseChecked<kParseFlags | rapidjson::kParseInsituFlag>(input, skipped, limits);
}

void AppendJson(std::string& out, const rapidjson::Value& value) {
  char number[32];  // RapidJSON's Writer uses 25 for a double, 21 for a 64-bit integer
  switch (value.GetType()) {
    case rapidjson::kNullType:
      out += "null";
      return;
    case rapidjson::kFalseType:
      out += "false";
      return;
    case rapidjson::kTrueType:
      out += "true";
      return;
    case rapidjson::kStringType:
      AppendJsonString(out, std::string_view(value.GetString(), value.GetStringLength()));
      return;
    case rapidjson::kNumberType: {
      const char* end = nullptr;
      if (value.IsDouble()) {
        const double d = value.GetDouble();
        if (!std::isfinite(d)) {
          out += "null";  // JSON has no NaN or infinity (RapidJSON's Writer would stop here)
          return;
        }
        end = rapidjson::internal::dtoa(d, number);
      } else if (value.IsInt64()) {
        end = rapidjson::internal::i64toa(value.GetInt64(), number);
      } else {
        end = rapidjson::internal::u64toa(value.GetUint64(), number);
      }
      out.append(number, static_cast<std::size_t>(end - number));
      return;
    }
    case rapidjson::kObjectType: {
      out += '{';
      bool first = true;
      for (const auto& member : value.GetObject()) {
        if (!first) {
          out += ',';
        }
        first = false;
        AppendJsonString(out,
                         std::string_view(member.name.GetString(), member.name.GetStringLength()));
        out += ':';
        AppendJson(out, member.value);
      }
      out += '}';
      return;
    }
    case rapidjson::kArrayType: {
      out += '[';
      bool first = true;
      for (const rapidjson::Value& element : value.GetArray()) {
        if (!first) {
          out += ',';
        }
        first = false;
        AppendJson(out, element);
      }
      out += ']';
      return;
    }
  }
}

std::string ToJson(const rapidjson::Value& value) {
  std::string out;
  out.reserve(256);
  AppendJson(out, value);
  return out;
}

std::string ToPrettyJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) {
    return nullptr;
  }
  const rapidjson::Value key(Ref(name));
  const auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string_view> FindString(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr || !member->IsString()) {
    return std::nullopt;
  }
  return StringOf(*member);
}

const rapidjson::Value* FindObject(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* member = FindMember(object, name);
  return member != nullptr && member->IsObject() ? member : nullptr;
}

const rapidjson::Value* FindArray(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* member = FindMember(object, name);
  return member != nullptr && member->IsArray() ? member : nullptr;
}

core::Result<std::string_view> GetString(const rapidjson::Value& object, std::string_view name,
                                         std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsString()) {
    return WrongType(path, name, "a string");
  }
  return StringOf(*member);
}

core::Result<const rapidjson::Value*> GetObject(const rapidjson::Value& object,
                                                std::string_view name, std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsObject()) {
    return WrongType(path, name, "an object");
  }
  return member;
}

core::Result<const rapidjson::Value*> GetArray(const rapidjson::Value& object,
                                               std::string_view name, std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsArray()) {
    return WrongType(path, name, "an array");
  }
  return member;
}

core::Result<bool> GetBool(const rapidjson::Value& object, std::string_view name,
                           std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsBool()) {
    return WrongType(path, name, "true or false");
  }
  return member->GetBool();
}

core::Result<std::int64_t> GetInt64(const rapidjson::Value& object, std::string_view name,
                                    std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsInt64()) {
    return WrongType(path, name, "an integer");
  }
  return member->GetInt64();
}

core::Result<double> GetNumber(const rapidjson::Value& object, std::string_view name,
                               std::string_view path) {
  const rapidjson::Value* member = FindMember(object, name);
  if (member == nullptr) {
    return Missing(path, name);
  }
  if (!member->IsNumber()) {
    return WrongType(path, name, "a number");
  }
  return member->GetDouble();
}

rapidjson::Value StringValue(std::string_view text, rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value value;
  value.SetString(text.empty() ? "" : text.data(), static_cast<rapidjson::SizeType>(text.size()),
                  allocator);
  return value;
}

}  // namespace tb::fhir
