#include "broker/policy/delivery.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using internal::EraseMember;
using internal::MutableMember;
using rapidjson::Value;

DeliveryCheck Refused(std::string reason) {
  DeliveryCheck check;
  check.verdict = DeliveryVerdict::kRefuse;
  check.reason = std::move(reason);
  return check;
}

// The message-level consent check: the destination, purpose TREAT, no resource yet. Only a
// certain deny (final) refuses here; the rest is decided per resource.
std::optional<DeliveryCheck> RefusedAtMessageLevel(const RequestContext& destination,
                                                   const std::vector<Consent>& consents,
                                                   TimePoint at_time, Decision& decision) {
  decision = CheckIngress(destination, consents, "", at_time);
  if (decision.permitted()) {
    return std::nullopt;
  }
  DeliveryCheck check = Refused("consent " + Describe(decision));
  check.decision = decision;
  return check;
}

// MessageHeader.focus keeps only references to resources still in the Bundle.
void TrimFocus(Value& header, const std::set<std::string, std::less<>>& kept) {
  Value* focus = MutableMember(header, "focus");
  if (focus == nullptr || !focus->IsArray()) {
    return;
  }
  Value* write = focus->Begin();
  for (Value* read = focus->Begin(); read != focus->End(); ++read) {
    const std::optional<std::string_view> reference = fhir::FindString(*read, "reference");
    if (reference && kept.count(*reference) > 0) {
      if (write != read) {
        *write = std::move(*read);
      }
      ++write;
    }
  }
  while (focus->End() != write) {
    focus->PopBack();
  }
  if (focus->Empty()) {
    EraseMember(header, "focus");
  }
}

// Adds the NHS number `identifier` carries, unless already listed.
void AddNhsNumber(const Value& identifier, std::vector<std::string>& numbers) {
  if (!identifier.IsObject() || fhir::FindString(identifier, "system") != core::kNhsNumberSystem) {
    return;
  }
  const std::optional<std::string_view> value = fhir::FindString(identifier, "value");
  if (value && std::find(numbers.begin(), numbers.end(), *value) == numbers.end()) {
    numbers.emplace_back(*value);
  }
}

}  // namespace

RequestContext DestinationContext(std::string ods, ScopeSet scopes) {
  RequestContext context;
  context.requester_ods = std::move(ods);
  context.purpose = std::string(kDefaultPurpose);
  context.scopes = std::move(scopes);
  return context;
}

DeliveryCheck CheckDestination(const RequestContext& destination,
                               const std::vector<Consent>& consents, TimePoint at_time) {
  Decision decision;
  if (auto refused = RefusedAtMessageLevel(destination, consents, at_time, decision)) {
    return std::move(*refused);
  }
  DeliveryCheck check;
  check.verdict = DeliveryVerdict::kDeliver;
  check.decision = decision;
  return check;
}

std::vector<std::string> PatientNhsNumbers(const rapidjson::Value& bundle) {
  std::vector<std::string> numbers;
  const Value* entries = fhir::FindArray(bundle, "entry");
  if (entries == nullptr) {
    return numbers;
  }
  const auto add_numbers_of = [&numbers](const Value& resource) {
    if (fhir::FindString(resource, "resourceType") == "Patient") {
      if (const Value* identifiers = fhir::FindArray(resource, "identifier")) {
        for (const Value& identifier : identifiers->GetArray()) {
          AddNhsNumber(identifier, numbers);
        }
      }
    }
    for (const std::string_view member : {"subject", "patient"}) {
      const Value* reference = fhir::FindObject(resource, member);
      if (const Value* identifier =
              reference != nullptr ? fhir::FindObject(*reference, "identifier") : nullptr) {
        AddNhsNumber(*identifier, numbers);
      }
    }
  };
  for (const Value& entry : entries->GetArray()) {
    const Value* resource = fhir::FindObject(entry, "resource");
    if (resource == nullptr) {
      continue;
    }
    add_numbers_of(*resource);
    // A contained Patient goes to the destination with its container, so its consents count
    // too. A walk cut short leaves the container to CheckResource, which withholds it.
    for (const Value* embedded :
         EmbeddedResources(*resource).value_or(std::vector<const Value*>{})) {
      add_numbers_of(*embedded);
    }
  }
  return numbers;
}

DeliveryCheck CheckMessageBundle(rapidjson::Document& bundle, const RequestContext& destination,
                                 const std::vector<Consent>& consents,
                                 const SensitivityTable* table, TimePoint at_time) {
  Decision decision;
  if (auto refused = RefusedAtMessageLevel(destination, consents, at_time, decision)) {
    return std::move(*refused);
  }
  Value* entries = MutableMember(bundle, "entry");
  if (!bundle.IsObject() || fhir::FindString(bundle, "type").value_or("") != "message" ||
      entries == nullptr || !entries->IsArray() || entries->Empty()) {
    return Refused("invalid: not a message Bundle");
  }
  Value* header = MutableMember((*entries)[0], "resource");
  if (header == nullptr ||
      fhir::FindString(*header, "resourceType").value_or("") != "MessageHeader") {
    return Refused("invalid: the first entry is not a MessageHeader");
  }

  ReleasePolicy release;
  release.request = &destination;
  release.consents = &consents;
  release.table = table;
  release.at_time = at_time;
  // The envelope needs no scope of its own, but a resource inside it (contained) is judged like
  // an entry; one refused refuses the message, since the envelope cannot go without it.
  const std::optional<std::vector<const Value*>> in_header = EmbeddedResources(*header);
  if (!in_header) {
    return Refused("invalid: the MessageHeader is nested too deep");
  }
  for (const Value* inner : *in_header) {
    ResourceVerdict verdict = CheckResource(*inner, release);
    if (!verdict.released) {
      std::string reason = std::string(WithholdReasonCode(verdict.removal.reason)) +
                           ": the MessageHeader contains a resource the destination may not "
                           "receive (" +
                           (verdict.removal.resource_type.empty() ? std::string("invalid")
                                                                  : verdict.removal.resource_type);
      if (verdict.removal.reason == WithholdReason::kConsent) {
        reason += ", " + verdict.removal.detail;  // the deciding provision, as for a message deny
      }
      DeliveryCheck refused = Refused(reason + ")");
      refused.decision = decision;
      refused.removed.push_back(std::move(verdict.removal));
      return refused;
    }
  }
  DeliveryCheck check;
  check.decision = decision;
  std::set<std::string, std::less<>> kept_keys;  // fullUrl and Type/id of every kept resource
  Value kept(rapidjson::kArrayType);
  kept.PushBack((*entries)[0], bundle.GetAllocator());  // moves the envelope
  for (rapidjson::SizeType i = 1; i < entries->Size(); ++i) {
    Value& entry = (*entries)[i];
    Value* resource = MutableMember(entry, "resource");
    if (resource == nullptr || !resource->IsObject()) {
      check.removed.push_back(Removal{"", "", WithholdReason::kNotAResource, "entry", ""});
      continue;
    }
    ResourceVerdict verdict = CheckResource(*resource, release);
    if (!verdict.released) {
      check.removed.push_back(std::move(verdict.removal));
      continue;
    }
    if (table != nullptr) {
      LabelResource(*resource, bundle.GetAllocator(), *table);
    }
    if (const auto full_url = fhir::FindString(entry, "fullUrl")) {
      kept_keys.emplace(*full_url);
    }
    kept_keys.insert(verdict.removal.resource_type + "/" + verdict.removal.id);
    kept.PushBack(entry, bundle.GetAllocator());  // moves
  }
  if (kept.Size() < 2) {
    check.verdict = DeliveryVerdict::kRefuse;
    check.reason = "scope/consent: nothing the destination may receive";
    return check;
  }
  *entries = kept;
  TrimFocus((*entries)[0]["resource"], kept_keys);
  check.verdict = DeliveryVerdict::kDeliver;
  return check;
}

DeliveryCheck CheckOpaqueMessage(const RequestContext& destination,
                                 const std::vector<Consent>& consents, TimePoint at_time) {
  Decision decision;
  if (auto refused = RefusedAtMessageLevel(destination, consents, at_time, decision)) {
    return std::move(*refused);
  }
  for (const Scope& scope : destination.scopes.scopes()) {
    if (scope.resource_type == "*" && scope.constraints.empty() &&
        (scope.permissions & kReadOrSearch) != 0) {
      DeliveryCheck check;
      check.verdict = DeliveryVerdict::kDeliver;
      check.decision = decision;
      return check;
    }
  }
  DeliveryCheck check =
      Refused("scope: the message cannot be read as FHIR and the destination's scopes are limited");
  check.decision = decision;
  return check;
}

}  // namespace tb::policy
