#include "broker/policy/scope.h"

#include <algorithm>
#include <array>
#include <utility>

#include "adapters/fhir/json.h"
#include "adapters/fhir/search_params.h"

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

constexpr std::string_view kUriPrefix = "http://smarthealthit.org/fhir/scopes/";
constexpr std::size_t kMaxScopeBytes = 1024;
constexpr std::size_t kMaxTypeBytes = 64;
constexpr std::string_view kLetters = "cruds";
constexpr std::array<Interaction, 5> kLetterInteractions = {
    Interaction::kCreate, Interaction::kRead, Interaction::kUpdate, Interaction::kDelete,
    Interaction::kSearch};

struct ParamElement {
  std::string_view param;
  std::string_view element;
};
constexpr std::array<ParamElement, 7> kParamElements = {{
    {"category", "category"},
    {"code", "code"},
    {"status", "status"},
    {"type", "type"},
    {"clinical-status", "clinicalStatus"},
    {"verification-status", "verificationStatus"},
    {"intent", "intent"},
}};

std::string_view ElementFor(std::string_view param) {
  for (const ParamElement& row : kParamElements) {
    if (row.param == param) {
      return row.element;
    }
  }
  return {};
}

core::Error ScopeError(std::string message, std::size_t offset) {
  return MakeError(ErrorCode::kInvalidValue, std::move(message),
                   "offset " + std::to_string(offset));
}

bool IsAsciiUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAsciiAlpha(char c) { return IsAsciiUpper(c) || (c >= 'a' && c <= 'z'); }

Result<Permissions> ParsePermissions(std::string_view text, std::size_t offset, bool& v1) {
  v1 = false;
  if (text.empty()) {
    return ScopeError("missing permissions after '.' (expected e.g. 'rs' or 'cruds')", offset);
  }
  if (text == "read") {
    v1 = true;
    return kReadOrSearch;
  }
  if (text == "write") {
    v1 = true;
    return static_cast<Permissions>(PermissionBit(Interaction::kCreate) |
                                    PermissionBit(Interaction::kUpdate) |
                                    PermissionBit(Interaction::kDelete));
  }
  if (text == "*") {
    v1 = true;
    return static_cast<Permissions>(0x1F);
  }
  Permissions permissions = 0;
  std::size_t next_allowed = 0;  // index into kLetters the next letter must be at or after
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::size_t index = kLetters.find(text[i]);
    if (index == std::string_view::npos) {
      return ScopeError("unknown permission '" + std::string(1, text[i]) +
                            "' (permissions are letters from 'cruds', or v1 read/write/*)",
                        offset + i);
    }
    if (index < next_allowed) {
      return ScopeError(
          "permissions must be an in-order subset of 'cruds', each letter at most "
          "once (got '" +
              std::string(text) + "')",
          offset + i);
    }
    permissions = static_cast<Permissions>(permissions | PermissionBit(kLetterInteractions[index]));
    next_allowed = index + 1;
  }
  return permissions;
}

Result<std::vector<ScopeConstraint>> ParseConstraints(std::string_view query, std::size_t offset) {
  if (query.empty()) {
    return ScopeError("empty search constraint after '?'", offset);
  }
  Result<std::vector<fhir::SearchParam>> params = fhir::ParseQueryString(query);
  if (!params) {
    return ScopeError("malformed search constraint: " + params.error().message, offset);
  }
  std::vector<ScopeConstraint> constraints;
  for (const fhir::SearchParam& param : *params) {
    if (!param.modifier.empty() || param.name.find('.') != std::string::npos) {
      return ScopeError("search constraint '" + param.name +
                            (param.modifier.empty() ? "" : ":" + param.modifier) +
                            "': modifiers and chained parameters are not supported",
                        offset);
    }
    if (ElementFor(param.name).empty()) {
      return ScopeError("search constraint parameter '" + param.name +
                            "' is not supported (use category, code, status, type, "
                            "clinical-status, verification-status or intent)",
                        offset);
    }
    ScopeConstraint constraint;
    constraint.param = param.name;
    for (const std::string& value : fhir::SplitValues(param.value)) {
      fhir::Token token = fhir::ParseToken(value);
      if (token.code.empty() && (!token.system.has_value() || token.system->empty())) {
        return ScopeError("search constraint '" + param.name + "' has an empty value", offset);
      }
      constraint.any_of.push_back(ScopeToken{std::move(token.system), std::move(token.code)});
    }
    if (constraint.any_of.empty()) {
      return ScopeError("search constraint '" + param.name + "' has an empty value", offset);
    }
    constraints.push_back(std::move(constraint));
  }
  return constraints;
}

bool TokenMatchesCoding(const ScopeToken& token, const rapidjson::Value& coding) {
  const std::optional<std::string_view> system = fhir::FindString(coding, "system");
  const std::optional<std::string_view> code = fhir::FindString(coding, "code");
  if (token.system.has_value()) {
    if (token.system->empty() ? system.has_value() : (!system || *system != *token.system)) {
      return false;
    }
  }
  if (!token.code.empty()) {
    return code.has_value() && *code == token.code;
  }
  return true;
}

// `value` is a code string, a Coding, a CodeableConcept, or an array of those.
bool TokenMatchesValue(const ScopeToken& token, const rapidjson::Value& value) {
  if (value.IsString()) {
    return !token.system.has_value() && fhir::StringOf(value) == token.code;
  }
  if (value.IsArray()) {
    for (const rapidjson::Value& item : value.GetArray()) {
      if (TokenMatchesValue(token, item)) {
        return true;
      }
    }
    return false;
  }
  if (!value.IsObject()) {
    return false;
  }
  if (const rapidjson::Value* codings = fhir::FindArray(value, "coding")) {
    for (const rapidjson::Value& coding : codings->GetArray()) {
      if (coding.IsObject() && TokenMatchesCoding(token, coding)) {
        return true;
      }
    }
    return false;
  }
  return TokenMatchesCoding(token, value);
}

bool IsResourceTypeName(std::string_view type) {
  if (type.empty() || type.size() > kMaxTypeBytes || !IsAsciiUpper(type.front())) {
    return false;
  }
  return std::all_of(type.begin(), type.end(), IsAsciiAlpha);
}

// One part of a token as ParseConstraints reads it back: FHIR search escapes for the characters
// that split values and tokens, then '+' for a space and %-escapes for what a scope cannot hold
// raw (controls, non-ASCII) or the query would read otherwise ('%', '+', '&', '=', '#'). Written
// raw, a code holding a space (from "%20" or "+") made a token's space-separated scope list read
// as two scopes, and one holding '|' or ',' read as another constraint.
void AppendTokenPart(std::string& out, std::string_view part) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : part) {
    if (c == '\\' || c == ',' || c == '|' || c == '$') {
      out += '\\';
    }
    if (c == ' ') {
      out += '+';  // as short as the input's '+' or shorter than its "%20"
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || c == '%' || c == '+' || c == '&' || c == '=' || c == '#') {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
}

void AppendToken(std::string& out, const ScopeToken& token) {
  if (token.system.has_value()) {
    AppendTokenPart(out, *token.system);
    out += '|';
  }
  AppendTokenPart(out, token.code);
}

}  // namespace

std::string_view InteractionName(Interaction interaction) {
  switch (interaction) {
    case Interaction::kCreate:
      return "create";
    case Interaction::kRead:
      return "read";
    case Interaction::kUpdate:
      return "update";
    case Interaction::kDelete:
      return "delete";
    case Interaction::kSearch:
      return "search";
  }
  return "unknown";
}

Result<Scope> ParseScope(std::string_view text) {
  if (text.empty()) {
    return ScopeError("empty scope", 0);
  }
  if (text.size() > kMaxScopeBytes) {
    return MakeError(ErrorCode::kInvalidValue,
                     "scope longer than " + std::to_string(kMaxScopeBytes) + " bytes", "");
  }
  std::size_t base = 0;
  if (text.substr(0, kUriPrefix.size()) == kUriPrefix) {
    base = kUriPrefix.size();
  }
  const std::string_view body = text.substr(base);
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c <= 0x20 || c >= 0x7F) {
      return ScopeError("scope contains a space, control or non-ASCII character", base + i);
    }
  }

  Scope scope;
  const std::size_t slash = body.find('/');
  if (slash == std::string_view::npos || body.find_first_of(".?") < slash) {
    return ScopeError(
        "not a SMART resource scope: expected context/Type.permissions, e.g. "
        "system/Observation.rs",
        base);
  }
  const std::string_view context = body.substr(0, slash);
  if (context == "patient") {
    scope.context = ScopeContext::kPatient;
  } else if (context == "user") {
    scope.context = ScopeContext::kUser;
  } else if (context == "system") {
    scope.context = ScopeContext::kSystem;
  } else {
    return ScopeError(
        "unknown scope context '" + std::string(context) + "' (expected patient, user or system)",
        base);
  }

  const std::size_t type_start = slash + 1;
  const std::size_t question = body.find('?', type_start);
  const std::string_view head =
      body.substr(type_start, question == std::string_view::npos ? std::string_view::npos
                                                                 : question - type_start);
  const std::size_t dot = head.find('.');
  if (dot == std::string_view::npos) {
    return ScopeError("missing '.' between resource type and permissions", base + type_start);
  }
  const std::string_view type = head.substr(0, dot);
  if (type != "*" && !IsResourceTypeName(type)) {
    return ScopeError(type.empty()
                          ? std::string("missing resource type after '/'")
                          : "'" + std::string(type) + "' is not a resource type name or '*'",
                      base + type_start);
  }
  scope.resource_type = std::string(type);

  const std::size_t perms_offset = base + type_start + dot + 1;
  Result<Permissions> permissions = ParsePermissions(head.substr(dot + 1), perms_offset, scope.v1);
  if (!permissions) {
    return std::move(permissions).error();
  }
  scope.permissions = *permissions;

  if (question != std::string_view::npos) {
    Result<std::vector<ScopeConstraint>> constraints =
        ParseConstraints(body.substr(question + 1), base + question + 1);
    if (!constraints) {
      return std::move(constraints).error();
    }
    scope.constraints = std::move(constraints).value();
    // The canonical form (escapes written out) is what a token carries and a log shows: a scope
    // is taken only if that form is within the limit too, so that it always reads back.
    if (ToString(scope).size() > kMaxScopeBytes) {
      return MakeError(ErrorCode::kInvalidValue,
                       "scope longer than " + std::to_string(kMaxScopeBytes) +
                           " bytes once its constraint values are escaped",
                       "");
    }
  }
  return scope;
}

std::string ToString(const Scope& scope) {
  std::string out;
  switch (scope.context) {
    case ScopeContext::kPatient:
      out = "patient/";
      break;
    case ScopeContext::kUser:
      out = "user/";
      break;
    case ScopeContext::kSystem:
      out = "system/";
      break;
  }
  out += scope.resource_type;
  out += '.';
  for (std::size_t i = 0; i < kLetters.size(); ++i) {
    if (scope.Grants(kLetterInteractions[i])) {
      out += kLetters[i];
    }
  }
  char separator = '?';
  for (const ScopeConstraint& constraint : scope.constraints) {
    out += separator;
    separator = '&';
    out += constraint.param;
    out += '=';
    for (std::size_t i = 0; i < constraint.any_of.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      AppendToken(out, constraint.any_of[i]);
    }
  }
  return out;
}

bool ConstraintsHold(const Scope& scope, const rapidjson::Value& resource) {
  for (const ScopeConstraint& constraint : scope.constraints) {
    const rapidjson::Value* value = fhir::FindMember(resource, ElementFor(constraint.param));
    if (value == nullptr) {
      return false;
    }
    const bool any =
        std::any_of(constraint.any_of.begin(), constraint.any_of.end(),
                    [&](const ScopeToken& token) { return TokenMatchesValue(token, *value); });
    if (!any) {
      return false;
    }
  }
  return true;
}

Result<ScopeSet> ScopeSet::Parse(const std::vector<std::string>& scopes) {
  std::vector<Scope> parsed;
  parsed.reserve(scopes.size());
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    Result<Scope> scope = ParseScope(scopes[i]);
    if (!scope) {
      core::Error error = std::move(scope).error();
      error.location = "scopes[" + std::to_string(i) + "]" +
                       (error.location.empty() ? "" : " " + error.location);
      return error;
    }
    parsed.push_back(std::move(scope).value());
  }
  return ScopeSet(std::move(parsed));
}

Result<ScopeSet> ScopeSet::ParseSpaceSeparated(std::string_view scopes) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos < scopes.size()) {
    const std::size_t end = std::min(scopes.find(' ', pos), scopes.size());
    if (end > pos) {
      parts.emplace_back(scopes.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return Parse(parts);
}

bool ScopeSet::Allows(Interaction interaction, std::string_view resource_type) const {
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& scope) {
    return scope.Grants(interaction) && scope.CoversType(resource_type);
  });
}

bool ScopeSet::AllowsUnconstrained(Interaction interaction, std::string_view resource_type) const {
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& scope) {
    return scope.constraints.empty() && scope.Grants(interaction) &&
           scope.CoversType(resource_type);
  });
}

bool ScopeSet::AllowsResource(const rapidjson::Value& resource) const {
  const std::optional<std::string_view> type = fhir::FindString(resource, "resourceType");
  if (!type || type->empty()) {
    return false;
  }
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& scope) {
    return (scope.permissions & kReadOrSearch) != 0 && scope.CoversType(*type) &&
           ConstraintsHold(scope, resource);
  });
}

bool ScopeSet::AllowsResource(const rapidjson::Value& resource, Interaction interaction) const {
  const std::optional<std::string_view> type = fhir::FindString(resource, "resourceType");
  if (!type || type->empty()) {
    return false;
  }
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& scope) {
    return scope.Grants(interaction) && scope.CoversType(*type) && ConstraintsHold(scope, resource);
  });
}

std::vector<std::string> ScopeSet::GrantedTypes() const {
  std::vector<std::string> types;
  for (const Scope& scope : scopes_) {
    if ((scope.permissions & kReadOrSearch) != 0) {
      types.push_back(scope.resource_type);
    }
  }
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  if (std::binary_search(types.begin(), types.end(), std::string("*"))) {
    return {"*"};
  }
  return types;
}

bool ScopeSet::GrantsType(std::string_view resource_type) const {
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& scope) {
    return (scope.permissions & kReadOrSearch) != 0 && scope.CoversType(resource_type);
  });
}

std::vector<const Scope*> ScopeSet::Matching(Interaction interaction,
                                             std::string_view resource_type) const {
  std::vector<const Scope*> out;
  for (const Scope& scope : scopes_) {
    if (scope.Grants(interaction) && scope.CoversType(resource_type)) {
      out.push_back(&scope);
    }
  }
  return out;
}

}  // namespace tb::policy
