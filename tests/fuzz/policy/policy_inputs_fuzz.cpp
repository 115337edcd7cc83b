// Fuzzes what a participant sends that decides access: a Consent (POST /fhir/Consent), SMART
// scopes (an access token's `scope`), and the policy and hop headers of a request
// (X-Purpose-Of-Use, X-Break-Glass-Reason, X-Trustbridge-Requester, -Hops, -Visited). The first
// byte chooses the parser; the rest is its input.
//
// Checked, besides no crash or sanitizer report:
//  - a scope that parses writes out as text that parses to the same scope;
//  - a Consent that parses is decided without content at the request's ingress, and a final deny
//    there is a deny for every resource the request could then have returned (the broker refuses
//    the request on it, so it must not refuse what a resource-by-resource check would release);
//  - break-glass turns every decision into a permit, which still names the deny it overrode;
//  - a hop header that parses is within its limits, a requester header writes out as one that
//    parses back the same;
//  - a federated search read from the same bytes as a query string has a 10-digit NHS number and
//    never passes the NHS number parameter on among the parameters it sends to every trust.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/search_params.h"
#include "broker/core/http_types.h"
#include "broker/policy/consent.h"
#include "broker/policy/purpose.h"
#include "broker/policy/scope.h"
#include "broker/routing/federated_query.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb;

using tb::fuzz::Check;

void FuzzScopes(std::string_view text) {
  const auto set = policy::ScopeSet::ParseSpaceSeparated(text);
  const auto scope = policy::ParseScope(text);
  if (scope) {
    const std::string written = policy::ToString(*scope);
    const auto again = policy::ParseScope(written);
    Check(again.has_value() && policy::ToString(*again) == written);
  }
  (void)set;
}

policy::AccessRequest Request(std::string resource_type, std::vector<policy::Coding> codes,
                              std::vector<policy::Coding> labels) {
  policy::AccessRequest request;
  request.requester_ods = "RGT";
  request.purpose = "TREAT";
  request.resource_type = std::move(resource_type);
  request.codes = std::move(codes);
  request.security_labels = std::move(labels);
  request.at_time = policy::TimePoint(std::chrono::hours(24 * 365 * 56));  // 2026
  return request;
}

void FuzzConsent(std::string_view json) {
  const auto consent = policy::ParseConsentJson(json);
  if (!consent) {
    return;
  }
  (void)policy::UnevaluableElements(*consent);
  const std::vector<policy::Consent> consents{*consent};
  policy::AccessRequest ingress = Request("", {}, {});
  ingress.codes.reset();
  ingress.security_labels.reset();
  const policy::Decision at_ingress = policy::Evaluate(consents, ingress);
  (void)policy::Describe(at_ingress);

  const std::vector<policy::AccessRequest> contents = {
      Request("Observation", {{"http://loinc.org", "75622-1"}},
              {{"http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV"}}),
      Request("Patient", {}, {}),
      Request("Encounter", {{"http://snomed.info/sct", "185347001"}}, {}),
  };
  for (const policy::AccessRequest& content : contents) {
    const policy::Decision decision = policy::Evaluate(consents, content);
    if (!at_ingress.permitted() && at_ingress.final) {
      Check(!decision.permitted());
    }
    policy::AccessRequest glass = content;
    glass.purpose = "ETREAT";
    glass.break_glass = true;
    const policy::Decision broken = policy::Evaluate(consents, glass);
    Check(broken.permitted());
  }
}

void FuzzHeaders(std::string_view text) {
  const std::size_t cut = text.find('\n');
  const std::string_view first = text.substr(0, cut);
  const std::string_view rest = cut == std::string_view::npos ? "" : text.substr(cut + 1);
  (void)policy::ParsePurposeOfUse(first);
  (void)policy::ValidateBreakGlassReason(first);
  if (const auto requester = routing::ParseRequesterHeader(first)) {
    const auto again = routing::ParseRequesterHeader(routing::FormatRequesterHeader(*requester));
    Check(again.has_value() && again->ods == requester->ods &&
          again->purpose == requester->purpose);
  }
  core::HttpHeaders headers;
  headers.fields.emplace_back("X-Trustbridge-Hops", std::string(first));
  headers.fields.emplace_back("X-Trustbridge-Visited", std::string(rest));
  if (const auto hops = routing::ParseHopHeaders(headers)) {
    Check(hops->hops >= 0 && hops->hops <= routing::kMaxHopsHeaderValue);
    Check(hops->visited.size() <= routing::kMaxVisited);
  }
  if (const auto params = fhir::ParseQueryString(text)) {
    for (const routing::FederatedKind kind :
         {routing::FederatedKind::kSearch, routing::FederatedKind::kEverything}) {
      const auto search = routing::ParseFederatedSearch("Observation", kind, *params);
      if (search) {
        Check(search->nhs_number.size() == 10);
        for (const fhir::SearchParam& param : search->params) {
          if (kind == routing::FederatedKind::kEverything) {
            Check(param.name != "identifier");
          } else {
            Check(param.name != "patient" || param.modifier != "identifier");
          }
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 64 * 1024) {
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      FuzzConsent(text);
      break;
    case 1:
      FuzzScopes(text);
      break;
    default:
      FuzzHeaders(text);
      break;
  }
  return 0;
}
