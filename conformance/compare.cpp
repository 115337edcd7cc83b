#include "conformance/compare.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace tb::conformance {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> SplitList(std::string_view list) {
  std::vector<std::string_view> items;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = list.size();
    }
    items.push_back(Trim(list.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return items;
}

std::optional<double> Number(std::string_view text) {
  text = Trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

bool AnyOf(const std::vector<std::string>& actual, auto predicate) {
  return std::any_of(actual.begin(), actual.end(), predicate);
}

bool IsEmpty(const std::vector<std::string>& actual) {
  return std::all_of(actual.begin(), actual.end(),
                     [](const std::string& item) { return item.empty(); });
}

}  // namespace

core::Result<bool> ApplyOperator(std::string_view op, const std::vector<std::string>& actual,
                                 std::string_view expected) {
  auto equal = [expected](const std::string& item) { return item == expected; };
  auto contains = [expected](const std::string& item) {
    return item.find(expected) != std::string::npos;
  };
  auto in_list = [list = SplitList(expected)](const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
  };
  if (op.empty() || op == "equals") {
    return AnyOf(actual, equal);
  }
  if (op == "notEquals") {
    return !AnyOf(actual, equal);
  }
  if (op == "in") {
    return AnyOf(actual, in_list);
  }
  if (op == "notIn") {
    return !AnyOf(actual, in_list);
  }
  if (op == "contains") {
    return AnyOf(actual, contains);
  }
  if (op == "notContains") {
    return !AnyOf(actual, contains);
  }
  if (op == "empty") {
    return IsEmpty(actual);
  }
  if (op == "notEmpty") {
    return !IsEmpty(actual);
  }
  if (op == "greaterThan" || op == "lessThan") {
    if (actual.empty()) {
      return false;
    }
    const bool greater = op == "greaterThan";
    auto a = Number(actual.front());
    auto b = Number(expected);
    if (a && b) {
      return greater ? *a > *b : *a < *b;
    }
    return greater ? actual.front() > expected : actual.front() < expected;
  }
  return core::MakeError(core::ErrorCode::kInvalidValue,
                         "unknown assert operator '" + std::string(op) + "'", "operator");
}

int ResponseCodeFor(std::string_view response) {
  static constexpr std::pair<std::string_view, int> kCodes[] = {
      {"okay", 200},     {"created", 201},   {"noContent", 204},          {"notModified", 304},
      {"bad", 400},      {"forbidden", 403}, {"notFound", 404},           {"methodNotAllowed", 405},
      {"conflict", 409}, {"gone", 410},      {"preconditionFailed", 412}, {"unprocessable", 422}};
  for (const auto& [name, code] : kCodes) {
    if (name == response) {
      return code;
    }
  }
  return 0;
}

std::string MimeTypeFor(std::string_view code) {
  if (code == "json") {
    return "application/fhir+json";
  }
  if (code == "xml") {
    return "application/fhir+xml";
  }
  return std::string(code);
}

std::string MediaType(std::string_view content_type) {
  std::string type(Trim(content_type.substr(0, content_type.find(';'))));
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

}  // namespace tb::conformance
