#include "adapters/hl7v2/nhs_number_identifier.h"

#include <algorithm>

#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"

namespace tb::hl7v2 {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The text of a valued part: its raw bytes when they hold no escape, else decoded.
std::string TextOf(const Value& value) {
  if (!value.HasValue()) {
    return {};
  }
  const std::string_view raw = value.raw();
  if (raw.find(value.encoding().escape) == std::string_view::npos) {
    return std::string(raw);
  }
  return value.Decoded();
}

}  // namespace

bool LooksLikeOid(std::string_view text) {
  if (text.size() < 3 || !IsDigit(text.front()) || !IsDigit(text.back())) {
    return false;
  }
  bool dot = false;
  for (char c : text) {
    if (c == '.') {
      dot = true;
    } else if (!IsDigit(c)) {
      return false;
    }
  }
  return dot;
}

bool LooksLikeUri(std::string_view text) {
  return text.find(' ') == std::string_view::npos &&
         (text.starts_with("http://") || text.starts_with("https://") || text.starts_with("urn:"));
}

Authority ReadAuthority(const Value& hd) {
  if (std::string universal = TextOf(hd.Subcomponent(2)); !universal.empty()) {
    const std::string type = TextOf(hd.Subcomponent(3));
    if (core::EqualsIgnoreCase(type, "ISO") || LooksLikeOid(universal)) {
      return {AuthorityForm::kOid, std::move(universal)};
    }
    if (core::EqualsIgnoreCase(type, "UUID")) {
      return {AuthorityForm::kUuid, std::move(universal)};
    }
    if (LooksLikeUri(universal)) {
      return {AuthorityForm::kUri, std::move(universal)};
    }
  }
  if (std::string name = TextOf(hd.Subcomponent(1)); !name.empty()) {
    return {AuthorityForm::kNamespace, std::move(name)};
  }
  return {};
}

const std::vector<std::string>& DefaultNhsNumberNamespaces() {
  static const std::vector<std::string> kNamespaces = {"NHS", "NHSNBR"};
  return kNamespaces;
}

std::optional<std::string> ClaimedNhsNumber(const Value& cx,
                                            std::span<const std::string> nhs_namespaces) {
  if (!cx.Component(1).HasValue()) {
    return std::nullopt;
  }
  return ClaimedNhsNumber(cx, ReadAuthority(cx.Component(4)), nhs_namespaces);
}

std::optional<std::string> ClaimedNhsNumber(const Value& cx, const Authority& authority,
                                            std::span<const std::string> nhs_namespaces) {
  const Value value = cx.Component(1);
  if (!value.HasValue()) {
    return std::nullopt;
  }
  bool claims = false;
  switch (authority.form) {
    case AuthorityForm::kOid:
      claims = authority.text == kNhsNumberOid;
      break;
    case AuthorityForm::kUri:
      claims = authority.text == core::kNhsNumberSystem;
      break;
    case AuthorityForm::kNamespace:
      claims = authority.text == core::kNhsNumberSystem ||
               std::find(nhs_namespaces.begin(), nhs_namespaces.end(), authority.text) !=
                   nhs_namespaces.end();
      break;
    case AuthorityForm::kUuid:
      break;
    case AuthorityForm::kNone: {
      const std::string_view type = cx.Component(5).raw();
      claims = type == "NH" || type == "NHS";
      break;
    }
  }
  if (!claims) {
    return std::nullopt;
  }
  std::string number = value.Decoded();
  std::erase(number, ' ');
  if (authority.form == AuthorityForm::kNone && number.size() != 10) {
    return std::nullopt;  // "123^^^^NH": some other national number
  }
  return number;
}

}  // namespace tb::hl7v2
