#include "broker/policy/filter.h"

#include <utility>

#include "adapters/fhir/json.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using internal::EraseMember;
using internal::MutableMember;
using rapidjson::Value;

bool HasNextLink(const Value& bundle) {
  const Value* links = fhir::FindArray(bundle, "link");
  if (links == nullptr) {
    return false;
  }
  for (const Value& link : links->GetArray()) {
    const std::optional<std::string_view> relation = fhir::FindString(link, "relation");
    if (relation && *relation == "next") {
      return true;
    }
  }
  return false;
}

bool IsMatchEntry(const Value& entry) {
  const Value* search = fhir::FindObject(entry, "search");
  const std::optional<std::string_view> mode =
      search != nullptr ? fhir::FindString(*search, "mode") : std::nullopt;
  return !mode || *mode == "match";
}

}  // namespace

std::string_view WithholdReasonCode(WithholdReason reason) {
  switch (reason) {
    case WithholdReason::kScope:
      return "scope";
    case WithholdReason::kConsent:
      return "consent";
    case WithholdReason::kNotAResource:
      return "invalid";
  }
  return "invalid";
}

ResourceVerdict CheckResource(const Value& resource, const ReleasePolicy& policy) {
  ResourceVerdict verdict;
  const std::optional<std::string_view> type = fhir::FindString(resource, "resourceType");
  verdict.removal.resource_type = std::string(type.value_or(""));
  verdict.removal.id = std::string(fhir::FindString(resource, "id").value_or(""));
  if (!type || type->empty() || policy.request == nullptr) {
    verdict.removal.reason = WithholdReason::kNotAResource;
    return verdict;
  }
  if (!policy.request->scopes.AllowsResource(resource)) {
    verdict.removal.reason = WithholdReason::kScope;
    verdict.removal.detail = verdict.removal.resource_type;
    return verdict;
  }
  static const SensitivityTable kEmptyTable;
  ResourceFacts facts = FactsOf(resource, policy.table != nullptr ? *policy.table : kEmptyTable);
  AccessRequest access;
  access.requester_ods = policy.request->requester_ods;
  access.purpose = policy.request->purpose;
  access.resource_type = std::move(facts.resource_type);
  access.codes = std::move(facts.codes);
  access.security_labels = std::move(facts.security_labels);
  access.at_time = policy.at_time;
  access.break_glass = policy.request->break_glass();
  static const std::vector<Consent> kNoConsents;
  verdict.decision = Evaluate(policy.consents != nullptr ? *policy.consents : kNoConsents, access);
  if (!verdict.decision.permitted()) {
    verdict.removal.reason = WithholdReason::kConsent;
    verdict.removal.detail = Describe(verdict.decision);
    return verdict;
  }
  verdict.released = true;
  return verdict;
}

FilterReport FilterBundle(rapidjson::Document& bundle, const ReleasePolicy& policy) {
  FilterReport report;
  if (!bundle.IsObject()) {
    return report;
  }
  std::size_t kept_matches = 0;
  Value* entries = MutableMember(bundle, "entry");
  if (entries != nullptr && entries->IsArray()) {
    Value kept_entries(rapidjson::kArrayType);
    for (Value& entry : entries->GetArray()) {
      Value* resource = MutableMember(entry, "resource");
      if (resource == nullptr || !resource->IsObject()) {
        report.removed.push_back(Removal{"", "", WithholdReason::kNotAResource, "entry"});
        continue;
      }
      const std::optional<std::string_view> type = fhir::FindString(*resource, "resourceType");
      if (type && *type == "OperationOutcome") {
        kept_entries.PushBack(entry, bundle.GetAllocator());  // moves
        ++report.kept;
        continue;
      }
      ResourceVerdict verdict = CheckResource(*resource, policy);
      if (!verdict.released) {
        report.removed.push_back(std::move(verdict.removal));
        continue;
      }
      if (verdict.decision.break_glass_used) {
        report.break_glass.push_back(
            BreakGlassRelease{verdict.removal.resource_type, verdict.removal.id,
                              verdict.decision.consent_id, verdict.decision.provision_path});
      }
      if (policy.add_labels && policy.table != nullptr) {
        LabelResource(*resource, bundle.GetAllocator(), *policy.table);
      }
      if (IsMatchEntry(entry)) {
        ++kept_matches;
      }
      kept_entries.PushBack(entry, bundle.GetAllocator());
      ++report.kept;
    }
    if (kept_entries.Empty()) {
      EraseMember(bundle, "entry");  // FHIR JSON has no empty arrays; an empty result has none
    } else {
      *entries = kept_entries;
    }
  }
  const bool has_total = bundle.HasMember("total");
  if (HasNextLink(bundle)) {
    EraseMember(bundle, "total");
  } else if (has_total || fhir::FindString(bundle, "type").value_or("") == "searchset") {
    if (has_total) {
      bundle["total"].SetUint64(kept_matches);
    } else {
      bundle.AddMember("total", Value(static_cast<std::uint64_t>(kept_matches)),
                       bundle.GetAllocator());
    }
  }
  return report;
}

}  // namespace tb::policy
