#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"

// SMART App Launch v2 scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)
// as the broker's least-privilege grants: parsed once from config, checked on every request and
// on every resource of every response.
//
// Grammar accepted (docs/policy.md has the full text):
//   scope      = context "/" type "." perms [ "?" constraint *( "&" constraint ) ]
//   context    = "patient" | "user" | "system"
//   type       = a FHIR resource type name ([A-Z][A-Za-z]*) | "*"
//   perms      = an in-order, non-empty subset of "cruds"  |  v1 "read" | "write" | "*"
//   constraint = param "=" token *( "," token )      ; token = [system "|"] code
// v1 permissions map to v2: read -> rs, write -> cud, * -> cruds. The URI form
// "http://smarthealthit.org/fhir/scopes/<scope>" is accepted too.
//
// Thread-safety: Scope and ScopeSet are plain values; const methods may be called from any thread.
namespace tb::policy {

enum class ScopeContext : std::uint8_t { kPatient, kUser, kSystem };

// The five FHIR interactions the permission letters stand for.
enum class Interaction : std::uint8_t { kCreate, kRead, kUpdate, kDelete, kSearch };

// "create" | "read" | "update" | "delete" | "search".
std::string_view InteractionName(Interaction interaction);

// Bit set of permissions, one bit per Interaction.
using Permissions = std::uint8_t;
inline constexpr Permissions PermissionBit(Interaction interaction) {
  return static_cast<Permissions>(1U << static_cast<unsigned>(interaction));
}
inline constexpr Permissions kReadOrSearch =
    PermissionBit(Interaction::kRead) | PermissionBit(Interaction::kSearch);

// Search parameters a scope constraint may use, each matched as a token against one element of
// the resource (CodeableConcept, Coding, or code): category, code, status, type,
// clinical-status, verification-status, intent. Anything else (modifiers such as `code:in`,
// chains such as `patient.birthdate`) is refused when the scope is parsed, because the broker
// could not enforce it on a response.
struct ScopeToken {
  std::optional<std::string> system;  // nullopt: any system; "": no system
  std::string code;                   // "": any code in `system`
};
struct ScopeConstraint {
  std::string param;               // "category"
  std::vector<ScopeToken> any_of;  // comma-separated values: OR
};

struct Scope {
  ScopeContext context = ScopeContext::kSystem;
  std::string resource_type;  // "Observation", or "*" for every type
  Permissions permissions = 0;
  std::vector<ScopeConstraint> constraints;  // all must hold (AND); empty: unconstrained
  bool v1 = false;                           // written with .read/.write/.*

  bool Grants(Interaction interaction) const {
    return (permissions & PermissionBit(interaction)) != 0;
  }
  bool CoversType(std::string_view type) const {
    return resource_type == "*" || resource_type == type;
  }
};

// Parses one scope. Errors are kInvalidValue with a message naming what is wrong and where
// (location "offset N" in the scope text), e.g. "permissions must be an in-order subset of
// 'cruds' (got 'dus')". Non-resource scopes (openid, launch/patient, offline_access) are refused:
// the broker grants data access only.
core::Result<Scope> ParseScope(std::string_view text);

// The canonical v2 form: "system/Observation.rs?category=http://...|laboratory", which ParseScope
// reads back as the same scope: in constraint values ',', '|', '$' and '\\' get FHIR search
// escapes, a space is '+', and controls, non-ASCII, '%', '+', '&', '=' and '#' %-escapes.
// ParseScope refuses a scope whose canonical form would be over its length limit.
std::string ToString(const Scope& scope);

// The scopes one participant holds. Access is the union of its scopes.
class ScopeSet {
 public:
  ScopeSet() = default;
  explicit ScopeSet(std::vector<Scope> scopes) : scopes_(std::move(scopes)) {}

  // Parses every scope; the first error is returned with location "scopes[i]" (+ offset).
  static core::Result<ScopeSet> Parse(const std::vector<std::string>& scopes);
  // Space-separated, as in an OAuth token's `scope` value.
  static core::Result<ScopeSet> ParseSpaceSeparated(std::string_view scopes);

  // True when some scope grants `interaction` on `resource_type`, with or without a constraint.
  // A constrained grant lets the request through; each resource of the response must then pass
  // AllowsResource. Use this for the 403 check on the request.
  bool Allows(Interaction interaction, std::string_view resource_type) const;
  // True when some scope grants it without any constraint (no per-resource check needed).
  bool AllowsUnconstrained(Interaction interaction, std::string_view resource_type) const;

  // May `resource` be disclosed? True when some scope grants read or search on its resourceType
  // and all that scope's constraints hold on its content. False for anything that is not an
  // object with a string resourceType.
  bool AllowsResource(const rapidjson::Value& resource) const;
  // The same for one interaction (e.g. kRead for a plain read, kSearch for a search result).
  bool AllowsResource(const rapidjson::Value& resource, Interaction interaction) const;

  // Resource types granted read or search, sorted, without duplicates; "*" when a wildcard scope
  // grants them all. For _include/_revinclude: a target type must be in here (or "*" is).
  std::vector<std::string> GrantedTypes() const;
  // True when `resource_type` may be read or searched at all (GrantedTypes contains it or "*").
  bool GrantsType(std::string_view resource_type) const;

  // The scopes granting `interaction` on `resource_type`, so a caller can forward their
  // constraints to an upstream server ("ask each trust only for what the requester may see").
  std::vector<const Scope*> Matching(Interaction interaction, std::string_view resource_type) const;

  const std::vector<Scope>& scopes() const { return scopes_; }
  bool empty() const { return scopes_.empty(); }

 private:
  std::vector<Scope> scopes_;
};

// True when `resource` satisfies every constraint of `scope` (its type is not checked here).
bool ConstraintsHold(const Scope& scope, const rapidjson::Value& resource);

}  // namespace tb::policy
