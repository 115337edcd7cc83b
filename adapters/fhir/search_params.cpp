#include "adapters/fhir/search_params.h"

#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"
#include "broker/core/utf8.h"

namespace tb::fhir {
namespace {

using core::ErrorCode;
using core::MakeError;

core::Result<std::string> DecodeComponent(std::string_view text, std::string_view where) {
  std::optional<std::string> decoded = core::PercentDecode(text, /*plus_is_space=*/true);
  if (!decoded.has_value()) {
    return MakeError(ErrorCode::kInvalidValue, "malformed percent-encoding", std::string(where));
  }
  if (decoded->find('\0') != std::string::npos) {
    return MakeError(ErrorCode::kInvalidValue, "search parameter contains a NUL character",
                     std::string(where));
  }
  if (!core::IsValidUtf8(*decoded)) {
    return MakeError(ErrorCode::kInvalidValue, "search parameter is not valid UTF-8",
                     std::string(where));
  }
  return std::move(*decoded);
}

core::Result<std::vector<SearchParam>> ParsePairs(std::string_view text, const SearchLimits& limits,
                                                  std::string_view where) {
  if (text.size() > limits.max_bytes) {
    return MakeError(ErrorCode::kTooLarge,
                     "search parameters exceed " + std::to_string(limits.max_bytes) + " bytes",
                     std::string(where));
  }
  std::vector<SearchParam> params;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('&', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) {
      continue;  // "a=1&&b=2" and a trailing '&'
    }
    if (params.size() == limits.max_params) {
      return MakeError(ErrorCode::kTooLarge,
                       "more than " + std::to_string(limits.max_params) + " search parameters",
                       std::string(where));
    }
    const std::size_t equals = pair.find('=');
    const std::string_view raw_name = pair.substr(0, equals);
    const std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
    core::Result<std::string> name = DecodeComponent(raw_name, where);
    if (!name) {
      return std::move(name).error();
    }
    if (name->empty()) {
      return MakeError(ErrorCode::kInvalidValue, "search parameter without a name",
                       std::string(where));
    }
    core::Result<std::string> value = DecodeComponent(raw_value, where);
    if (!value) {
      return std::move(value).error();
    }
    SearchParam param;
    const std::size_t colon = name->find(':');
    if (colon == std::string::npos) {
      param.name = std::move(*name);
    } else {
      param.name = name->substr(0, colon);
      param.modifier = name->substr(colon + 1);
    }
    param.value = std::move(*value);
    params.push_back(std::move(param));
  }
  return params;
}

bool IsEscapable(char c) { return c == ',' || c == '|' || c == '$' || c == '\\'; }

}  // namespace

core::Result<std::vector<SearchParam>> ParseQueryString(std::string_view query,
                                                        const SearchLimits& limits) {
  return ParsePairs(query, limits, "query");
}

core::Result<std::vector<SearchParam>> ParseFormBody(std::string_view body,
                                                     const SearchLimits& limits) {
  return ParsePairs(body, limits, "body");
}

std::vector<std::string> SplitValues(std::string_view value) {
  std::vector<std::string> parts;
  std::string current;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && i + 1 < value.size()) {
      current.push_back(c);
      current.push_back(value[++i]);
    } else if (c == ',') {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  parts.push_back(std::move(current));
  return parts;
}

std::string UnescapeSearchValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() && IsEscapable(value[i + 1])) {
      out.push_back(value[++i]);
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

Token ParseToken(std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\') {
      ++i;  // skip the escaped character, whatever it is
    } else if (value[i] == '|') {
      return Token{UnescapeSearchValue(value.substr(0, i)),
                   UnescapeSearchValue(value.substr(i + 1))};
    }
  }
  return Token{std::nullopt, UnescapeSearchValue(value)};
}

core::Result<std::string> NhsNumberFromIdentifierToken(std::string_view token) {
  // The message is built only for a refusal: every federated search passes through here.
  const auto refused = [](std::string_view why) {
    return MakeError(ErrorCode::kInvalidValue,
                     "identifier must be '" + std::string(core::kNhsNumberSystem) +
                         "|' followed by an NHS number (" + std::string(why) + ")",
                     "identifier");
  };
  Token parsed = ParseToken(token);
  if (!parsed.system.has_value() || parsed.system->empty()) {
    return refused("no system given");
  }
  if (*parsed.system != core::kNhsNumberSystem) {
    return refused("another system was given");
  }
  if (parsed.code.empty()) {
    return refused("the number is missing");
  }
  if (!core::IsValidNhsNumber(parsed.code)) {
    return MakeError(ErrorCode::kInvalidValue,
                     "NHS number must be 10 digits with a valid Modulus 11 check digit",
                     "identifier");
  }
  return std::move(parsed.code);
}

}  // namespace tb::fhir
