#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "broker/policy/scope.h"

// Purpose of use (HL7 v3 ActReason, the `X-Purpose-Of-Use` header) and break-glass.
// Thread-safety: plain functions and values.
namespace tb::policy {

inline constexpr std::string_view kActReasonSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActReason";

// Purposes the broker knows: the PurposeOfUse part of v3 ActReason. Each is one of
//   kDirectCare  TREAT, COC (implied consent applies)
//   kBreakGlass  ETREAT, BTG, ERTREAT (direct care in an emergency: needs a reason and a
//                participant allowed to break glass; overrides a patient's deny)
//   kSecondary   everything else (HRESCH, HOPERAT, PUBHLTH, HPAYMT, HMARKT, CLINTRL, POPHLTH, ...):
//                refused for patients who opted out; responses are pseudonymised
enum class PurposeKind { kDirectCare, kBreakGlass, kSecondary };

inline constexpr std::string_view kDefaultPurpose = "TREAT";
// Longest accepted X-Break-Glass-Reason, in bytes.
inline constexpr std::size_t kMaxBreakGlassReasonBytes = 512;

// The kind of a known purpose code (case-sensitive), or nullopt when it is not one the broker
// knows.
std::optional<PurposeKind> KindOfPurpose(std::string_view code);

// True when `code` is `ancestor` or lies below it in the ActReason hierarchy (CLINTRCH is under
// HRESCH, ETREAT under TREAT). Unknown codes are only equal to themselves.
bool PurposeIsA(std::string_view code, std::string_view ancestor);

// True for purposes whose responses must be pseudonymised (kSecondary).
bool RequiresPseudonymisation(std::string_view purpose);

// Parses the X-Purpose-Of-Use header: absent -> TREAT. Surrounding spaces/tabs are ignored;
// otherwise it must be exactly one known code, case-sensitive. Anything else (empty, several
// codes, "treat", "system|code", unknown) is kInvalidValue (400) at location
// "header X-Purpose-Of-Use"; the message does not echo the value.
core::Result<std::string> ParsePurposeOfUse(std::optional<std::string_view> header);

// Checks an X-Break-Glass-Reason value: non-empty after trimming spaces, at most
// kMaxBreakGlassReasonBytes, valid UTF-8, one line (no control characters at all). Returns the
// trimmed reason. kRequiredFieldMissing when absent or blank, kInvalidValue otherwise (400),
// location "header X-Break-Glass-Reason". The reason may itself hold PHI: never log it.
core::Result<std::string> ValidateBreakGlassReason(std::optional<std::string_view> header);

// What the broker's config says about one participant (or peer), for these checks.
struct ParticipantPolicy {
  std::string ods;
  std::vector<std::string> purposes;  // allowed purpose codes; empty -> TREAT only
  bool break_glass = false;
  ScopeSet scopes;
};

// The request headers that matter to policy.
struct PolicyHeaders {
  std::optional<std::string_view> purpose_of_use;      // X-Purpose-Of-Use
  std::optional<std::string_view> break_glass_reason;  // X-Break-Glass-Reason
};

// Who asks, for what, under which grants. Built once per request from the TLS identity (never
// from a header) and the policy headers; carried to every hop.
struct RequestContext {
  std::string requester_ods;
  // At a peer broker: the original requester's ODS code, which the peer (a registered broker,
  // identified by its certificate) names in X-Trustbridge-Requester. Consents are then evaluated
  // for both, and a deny of either wins. Empty: the requester asks for itself.
  std::string on_behalf_of;
  std::string purpose = std::string(kDefaultPurpose);
  std::string break_glass_reason;  // non-empty only for a break-glass purpose
  ScopeSet scopes;

  bool break_glass() const { return !break_glass_reason.empty(); }
};

// Config-time check of one participant's (or peer's) policy settings, reporting every problem at
// once (STYLE: startup errors are collected): each scope must parse (location "scopes/i", message
// as ParseScope's), each purpose must be a known code (location "purposes/i"), and a break-glass
// purpose listed without break_glass: true is refused. The caller prefixes its JSON path
// ("/participants/2/"). All errors are kConfig.
std::vector<core::Error> ValidatePolicyConfig(const std::vector<std::string>& scopes,
                                              const std::vector<std::string>& purposes,
                                              bool break_glass);

// Builds the context, applying the rules in order:
//   1. X-Purpose-Of-Use parses (ParsePurposeOfUse)                          else 400 kInvalidValue
//   2. the purpose is one of participant.purposes (a break-glass purpose is also allowed when
//      the participant may break glass and lists TREAT)                     else 403 kForbidden
//   3. for a break-glass purpose: participant.break_glass is true           else 403 kForbidden
//      and the reason is valid (ValidateBreakGlassReason)                  else 400
// A reason sent with a non-break-glass purpose is ignored (not recorded).
core::Result<RequestContext> BuildRequestContext(const ParticipantPolicy& participant,
                                                 const PolicyHeaders& headers);

}  // namespace tb::policy
