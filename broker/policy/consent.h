#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"

// The consent engine: FHIR R4 Consent (scope patient-privacy) parsed into a model, and the
// evaluation of a set of consents for one access. docs/policy.md states the evaluation order;
// the comments on Evaluate() are the contract.
// Thread-safety: plain values and pure functions; a Consent may be shared read-only.
namespace tb::policy {

inline constexpr std::string_view kConsentScopeSystem =
    "http://terminology.hl7.org/CodeSystem/consentscope";
inline constexpr std::string_view kConsentActionSystem =
    "http://terminology.hl7.org/CodeSystem/consentaction";
inline constexpr std::string_view kResourceTypesSystem = "http://hl7.org/fhir/resource-types";
inline constexpr std::string_view kActCodeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActCode";
inline constexpr std::string_view kConfidentialitySystem =
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

using TimePoint = std::chrono::system_clock::time_point;

// A system/code pair. An empty system in a consent means "any system".
struct Coding {
  std::string system;
  std::string code;
  friend bool operator==(const Coding&, const Coding&) = default;
};

// A FHIR date/dateTime as the half-open interval it covers: "2024" is [2024-01-01, 2025-01-01).
struct TimeInterval {
  TimePoint begin;
  TimePoint end;
};
// Parses YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm); a time without
// a zone is taken as UTC. nullopt when malformed or not a real calendar date. A date before 1700
// or after 2200 (outside what TimePoint holds comfortably: "9999-12-31" is a common "no end") is
// the interval [TimePoint::min(), min()) or [max(), max()): before or after every other instant.
std::optional<TimeInterval> ParseFhirDateTime(std::string_view text);

enum class ConsentStatus { kDraft, kProposed, kActive, kRejected, kInactive, kEnteredInError };
enum class ProvisionType { kDeny, kPermit };

std::string_view ProvisionTypeCode(ProvisionType type);  // "deny" | "permit"

// One element of a provision (actor, purpose, class, ...): matches when any value matches.
// `has_unevaluable` is set when the consent holds a value the broker cannot compare (an actor
// that is not an Organization by ODS code, a purpose outside v3 ActReason, ...).
struct Criterion {
  std::vector<Coding> any_of;
  bool has_unevaluable = false;
  bool present() const { return !any_of.empty() || has_unevaluable; }
};

struct Provision {
  std::string path;                   // FHIRPath, e.g. "Consent.provision.provision[1]"
  std::optional<ProvisionType> type;  // as written
  ProvisionType effective_type =
      ProvisionType::kPermit;  // written, else the parent's; root: permit
  // Period: [begin, end) from provision.period (start's first instant, end's last).
  std::optional<TimePoint> period_start;
  std::optional<TimePoint> period_end;
  Criterion actor;           // system = ODS code system, code = ODS code
  Criterion action;          // consentaction codes
  Criterion purpose;         // v3 ActReason; a request purpose matches its ancestors too
  Criterion resource_class;  // resource types (class with system resource-types or none)
  Criterion code;            // any coding of provision.code
  Criterion security_label;  // provision.securityLabel
  bool has_data = false;     // provision.data / dataPeriod: never evaluable here
  std::vector<std::string> unevaluable;  // FHIRPaths of values that cannot be evaluated
  std::vector<Provision> provisions;     // exceptions to this provision
};

struct Consent {
  std::string id;  // Consent.id ("" when not yet stored)
  ConsentStatus status = ConsentStatus::kDraft;
  std::string nhs_number;  // Consent.patient.identifier (NHS number system), validated
  std::optional<Provision> provision;
  std::string json;  // the source resource, compact JSON (what GET /fhir/Consent returns)
};

// Parses and validates an R4 Consent. Errors (message without PHI, location FHIRPath):
//   kInvalidValue         not a Consent, unknown status/type code, scope not patient-privacy,
//                         invalid NHS number, malformed period date, wrong JSON types
//   kRequiredFieldMissing status, scope, patient or its NHS number identifier missing
//   kTooLarge             provisions nested deeper than 16 or more than 1000 in all
// Values that parse but cannot be evaluated are not errors: they are listed in
// Provision::unevaluable, and the evaluation treats them as described at Evaluate().
core::Result<Consent> ParseConsent(const rapidjson::Value& resource);
core::Result<Consent> ParseConsentJson(std::string_view json);

// FHIRPaths of every unevaluable value in the consent, for OperationOutcome warnings on create.
std::vector<std::string> UnevaluableElements(const Consent& consent);

// One access to be decided: who, why, what, when.
struct AccessRequest {
  std::string requester_ods;
  std::string purpose = "TREAT";
  // The resource type; "" when not known yet (ingress check before anything is fetched).
  std::string resource_type;
  // Every coding of the resource (ResourceCodings) and its security labels (meta.security plus
  // the sensitivity table). nullopt: content not known yet.
  std::optional<std::vector<Coding>> codes;
  std::optional<std::vector<Coding>> security_labels;
  TimePoint at_time;
  // True only when the purpose is a break-glass one and the reason was validated
  // (BuildRequestContext).
  bool break_glass = false;
};

enum class Effect { kPermit, kDeny };

enum class DecisionBasis {
  kImpliedConsent,  // direct care and no applicable provision
  kNoObjection,     // other purpose, the patient has no applicable deny (no opt-out)
  kConsent,         // an applicable provision decided
  kBreakGlass,      // a deny was overridden by break-glass
};

struct Decision {
  Effect effect = Effect::kDeny;
  DecisionBasis basis = DecisionBasis::kConsent;
  // The consent and provision that decided (for kBreakGlass: the deny that was overridden).
  std::string consent_id;
  std::string provision_path;
  // The request asked to break glass (always recorded), and whether that changed the outcome.
  bool break_glass_requested = false;
  bool break_glass_used = false;
  // False when the request lacked content (resource type, codes or labels) and no consent
  // denies it whatever the content: a permit that names no provision, and the caller must
  // evaluate every returned resource again.
  bool final = true;

  bool permitted() const { return effect == Effect::kPermit; }
};

// Decides one access against one patient's consents (the caller selects them by NHS number):
//  1. Only consents with status active take part; the others are ignored.
//  2. In a consent, a provision matches when every element it fills in matches the request:
//     period (contains at_time), actor (requester's ODS code), action (access/use/disclose),
//     purpose (the request purpose or one of its ActReason ancestors), class (resource type),
//     code (any coding of the resource), securityLabel (any label of the resource). Within an
//     element any value may match. A root provision that does not match (e.g. outside its
//     period) means the consent does not apply.
//  3. Nested provisions are exceptions to their parent: the deepest matching provision
//     decides; when matching siblings disagree, deny wins.
//  4. An element that cannot be evaluated (Provision::unevaluable, data) counts as matching in
//     a deny and as not matching in a permit, unless another element already fails to match.
//  5. Across consents: any deny wins; a permit elsewhere does not cancel it.
//  6. No applicable provision: permit for direct care (implied consent) and for other purposes
//     too (no opt-out recorded); an opt-out is a deny provision by purpose.
//  7. A deny with request.break_glass is turned into a permit with basis kBreakGlass; the
//     decision still names the deny.
//  8. When the request lacks content (empty resource_type, or codes/security_labels nullopt),
//     it is denied only if some consent denies it whatever the content (a provision that matches
//     even when every unknown attribute does not, whose tree can end only in deny); otherwise it
//     is a permit with final == false that names no provision.
Decision Evaluate(const std::vector<Consent>& consents, const AccessRequest& request);

// A short audit text without PHI: "deny: Consent/abc Consent.provision.provision[0]".
std::string Describe(const Decision& decision);

}  // namespace tb::policy
