#include "broker/policy/filter.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using internal::EraseMember;
using internal::MutableMember;
using rapidjson::Value;

// One page of several: a next or previous link.
bool IsPaged(const Value& bundle) {
  const Value* links = fhir::FindArray(bundle, "link");
  if (links == nullptr) {
    return false;
  }
  for (const Value& link : links->GetArray()) {
    const std::optional<std::string_view> relation = fhir::FindString(link, "relation");
    if (relation && (*relation == "next" || *relation == "previous" || *relation == "prev")) {
      return true;
    }
  }
  return false;
}

// "Patient/p1", "https://x/fhir/Patient/p1", "Patient/p1/_history/2" -> "Patient/p1";
// "" for anything else (contained "#x", urn:uuid:...).
std::string ReferenceKey(std::string_view reference) {
  if (const std::size_t history = reference.find("/_history/"); history != std::string::npos) {
    reference = reference.substr(0, history);
  }
  const std::size_t slash = reference.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == reference.size()) {
    return {};
  }
  const std::size_t type_start = reference.rfind('/', slash - 1);
  const std::string_view type =
      reference.substr(type_start == std::string_view::npos ? 0 : type_start + 1,
                       type_start == std::string_view::npos ? slash : slash - type_start - 1);
  if (type.empty() || type.front() < 'A' || type.front() > 'Z') {
    return {};
  }
  return std::string(reference.substr(slash - type.size()));
}

constexpr int kMaxDepth = 128;

void CollectReferences(const Value& value, int depth, std::vector<std::string>& out) {
  if (depth > kMaxDepth) {
    return;
  }
  if (value.IsArray()) {
    for (const Value& item : value.GetArray()) {
      CollectReferences(item, depth + 1, out);
    }
    return;
  }
  if (!value.IsObject()) {
    return;
  }
  for (const auto& member : value.GetObject()) {
    if (member.value.IsString() && fhir::StringOf(member.name) == "reference") {
      std::string key = ReferenceKey(fhir::StringOf(member.value));
      if (!key.empty()) {
        out.push_back(std::move(key));
      }
    } else {
      CollectReferences(member.value, depth + 1, out);
    }
  }
}

// The NHS number an Identifier carries, when its system is the NHS number's.
std::optional<std::string_view> NhsNumberOf(const Value& identifier) {
  if (!identifier.IsObject() || fhir::FindString(identifier, "system") != core::kNhsNumberSystem) {
    return std::nullopt;
  }
  return fhir::FindString(identifier, "value");
}

// The Reference members that say whose record a resource is.
constexpr std::string_view kPatientReferences[] = {"subject", "patient"};

// Whether `resource` demonstrably belongs to another patient than `patient` (see
// ReleasePolicy::patient), from its own content.
bool NamesAnotherPatient(const Value& resource, std::string_view patient) {
  if (fhir::FindString(resource, "resourceType") == "Patient") {
    // NHS numbers, none of them the one asked about. A Patient without any (a peer broker's
    // pseudonymised answer, a trust that keeps only local numbers) cannot be told apart here.
    const Value* identifiers = fhir::FindArray(resource, "identifier");
    bool has_nhs_number = false;
    if (identifiers != nullptr) {
      for (const Value& identifier : identifiers->GetArray()) {
        const std::optional<std::string_view> nhs_number = NhsNumberOf(identifier);
        if (nhs_number == patient) {
          return false;
        }
        has_nhs_number = has_nhs_number || nhs_number.has_value();
      }
    }
    return has_nhs_number;
  }
  for (const std::string_view member : kPatientReferences) {
    const Value* reference = fhir::FindObject(resource, member);
    const Value* identifier =
        reference != nullptr ? fhir::FindObject(*reference, "identifier") : nullptr;
    const std::optional<std::string_view> nhs_number =
        identifier != nullptr ? NhsNumberOf(*identifier) : std::nullopt;
    if (nhs_number && *nhs_number != patient) {
      return true;
    }
  }
  return false;
}

// Where a resource came from (meta.source), "" when it does not say.
std::string_view SourceOf(const Value& resource) {
  const Value* meta = fhir::FindObject(resource, "meta");
  return meta != nullptr ? fhir::FindString(*meta, "source").value_or("") : std::string_view();
}

// "RGT|Patient/p1": a resource's key within the trust it came from (ids are per server).
std::string SourcedKey(std::string_view source, std::string_view key) {
  return std::string(source) + "|" + std::string(key);
}

// Whether `resource`'s subject or patient refers to one of `others` (SourcedKey of Patients of
// another patient) at `source`.
bool RefersToAnotherPatient(const Value& resource, std::string_view source,
                            const std::set<std::string>& others) {
  if (others.empty()) {
    return false;
  }
  for (const std::string_view member : kPatientReferences) {
    const Value* reference = fhir::FindObject(resource, member);
    const std::optional<std::string_view> text =
        reference != nullptr ? fhir::FindString(*reference, "reference") : std::nullopt;
    if (text && others.count(SourcedKey(source, ReferenceKey(*text))) > 0) {
      return true;
    }
  }
  return false;
}

// Whether the source marked `resource` as a part of itself (_summary, _elements, or a server's
// own choice): meta.tag SUBSETTED, in v3-ObservationValue (R4), its older URL (STU3) or any
// other system, since withholding on a false claim is only stricter.
bool IsSubsetted(const Value& resource) {
  const Value* meta = fhir::FindObject(resource, "meta");
  const Value* tags = meta != nullptr ? fhir::FindArray(*meta, "tag") : nullptr;
  if (tags == nullptr) {
    return false;
  }
  return std::any_of(tags->Begin(), tags->End(),
                     [](const Value& tag) { return fhir::FindString(tag, "code") == "SUBSETTED"; });
}

// Appends every resource embedded in `value` (an object with a resourceType member below the
// root: contained resources, Bundle.entry.resource, Parameters.parameter.resource, and those
// nested in them). False when the walk stopped at kMaxDepth, so not all were seen (ParseJson's
// depth limit is lower; only a Document built by hand gets there).
bool CollectEmbedded(const Value& value, int depth, std::vector<const Value*>& out) {
  if (depth > kMaxDepth) {
    return false;
  }
  if (value.IsArray()) {
    for (const Value& item : value.GetArray()) {
      if (!CollectEmbedded(item, depth + 1, out)) {
        return false;
      }
    }
    return true;
  }
  if (!value.IsObject()) {
    return true;
  }
  if (depth > 0 && value.HasMember("resourceType")) {
    out.push_back(&value);
  }
  for (const auto& member : value.GetObject()) {
    if (!CollectEmbedded(member.value, depth + 1, out)) {
      return false;
    }
  }
  return true;
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
    case WithholdReason::kUnreferencedInclude:
      return "include";
    case WithholdReason::kOtherPatient:
      return "other-patient";
    case WithholdReason::kSubsetted:
      return "subsetted";
  }
  return "invalid";
}

namespace {

// Evaluates `access` for the requester and, when a peer broker asks on someone's behalf, for
// the original requester too: a deny of either decides (the requester's first). Of two permits,
// the one that used break-glass is returned so the release is audited; a permit is final only
// when both are.
Decision EvaluateForEveryRequester(const std::vector<Consent>& consents, AccessRequest access,
                                   const RequestContext& request) {
  access.requester_ods = request.requester_ods;
  Decision decision = Evaluate(consents, access);
  if (request.on_behalf_of.empty() || request.on_behalf_of == request.requester_ods ||
      !decision.permitted()) {
    return decision;
  }
  access.requester_ods = request.on_behalf_of;
  Decision original = Evaluate(consents, std::move(access));
  if (!original.permitted()) {
    return original;
  }
  if (original.break_glass_used && !decision.break_glass_used) {
    original.final = original.final && decision.final;
    return original;
  }
  decision.final = decision.final && original.final;
  return decision;
}

// The checks of one resource by itself, leaving out what is embedded in it. `others` and
// `source` are for RefersToAnotherPatient.
ResourceVerdict JudgeOne(const Value& resource, const ReleasePolicy& policy,
                         const std::set<std::string>& others, std::string_view source) {
  ResourceVerdict verdict;
  const std::optional<std::string_view> type = fhir::FindString(resource, "resourceType");
  verdict.removal.resource_type = std::string(type.value_or(""));
  verdict.removal.id = std::string(fhir::FindString(resource, "id").value_or(""));
  if (!type || type->empty() || policy.request == nullptr) {
    verdict.removal.reason = WithholdReason::kNotAResource;
    return verdict;
  }
  if (!policy.patient.empty() && (NamesAnotherPatient(resource, policy.patient) ||
                                  RefersToAnotherPatient(resource, source, others))) {
    verdict.removal.reason = WithholdReason::kOtherPatient;
    verdict.removal.detail = verdict.removal.resource_type;
    return verdict;
  }
  if (!policy.request->scopes.AllowsResource(resource)) {
    verdict.removal.reason = WithholdReason::kScope;
    verdict.removal.detail = verdict.removal.resource_type;
    return verdict;
  }
  if (IsSubsetted(resource)) {
    verdict.removal.reason = WithholdReason::kSubsetted;
    verdict.removal.detail = verdict.removal.resource_type;
    return verdict;
  }
  static const SensitivityTable kEmptyTable;
  ResourceFacts facts = FactsOf(resource, policy.table != nullptr ? *policy.table : kEmptyTable);
  AccessRequest access;
  access.purpose = policy.request->purpose;
  access.resource_type = std::move(facts.resource_type);
  access.codes = std::move(facts.codes);
  access.security_labels = std::move(facts.security_labels);
  access.at_time = policy.at_time;
  access.break_glass = policy.request->break_glass();
  static const std::vector<Consent> kNoConsents;
  verdict.decision =
      EvaluateForEveryRequester(policy.consents != nullptr ? *policy.consents : kNoConsents,
                                std::move(access), *policy.request);
  if (!verdict.decision.permitted()) {
    verdict.removal.reason = WithholdReason::kConsent;
    verdict.removal.detail = Describe(verdict.decision);
    return verdict;
  }
  verdict.released = true;
  return verdict;
}

// Judges every resource embedded in `resource` like an entry and withholds `verdict`'s resource
// (released so far) when one is refused. The container's own facts already include the codes of
// what it embeds (FactsOf walks into it), but not their types (consent class), their scopes,
// their labels or whose they are; so a contained Condition would otherwise pass under an
// Observation scope and a class=Condition deny. Withholding the whole container is the simple
// safe answer: cutting parts out would leave references to them dangling.
void JudgeEmbedded(const Value& resource, const ReleasePolicy& policy,
                   const std::set<std::string>& others, ResourceVerdict& verdict) {
  const std::optional<std::vector<const Value*>> embedded = EmbeddedResources(resource);
  if (!embedded) {
    verdict.released = false;
    verdict.removal.reason = WithholdReason::kNotAResource;
    verdict.removal.detail = "embedded";
    return;
  }
  const std::string_view container_source = SourceOf(resource);
  for (const Value* inner : *embedded) {
    const std::string_view own_source = SourceOf(*inner);
    ResourceVerdict inner_verdict =
        JudgeOne(*inner, policy, others, own_source.empty() ? container_source : own_source);
    if (!inner_verdict.released) {
      verdict.released = false;
      verdict.removal.reason = inner_verdict.removal.reason;
      verdict.removal.detail = inner_verdict.removal.reason == WithholdReason::kConsent
                                   ? std::move(inner_verdict.removal.detail)
                                   : verdict.removal.resource_type;
      verdict.removal.embedded_type = std::move(inner_verdict.removal.resource_type);
      verdict.decision = std::move(inner_verdict.decision);
      return;
    }
    // Released only by break-glass: the container is, too, and the audit must say so.
    if (inner_verdict.decision.break_glass_used && !verdict.decision.break_glass_used) {
      verdict.decision = std::move(inner_verdict.decision);
    }
  }
}

// CheckResource, with the Patients of another patient found elsewhere in the same Bundle.
ResourceVerdict CheckResourceAmong(const Value& resource, const ReleasePolicy& policy,
                                   const std::set<std::string>& others) {
  ResourceVerdict verdict = JudgeOne(resource, policy, others, SourceOf(resource));
  if (verdict.released) {
    JudgeEmbedded(resource, policy, others, verdict);
  }
  return verdict;
}

void RecordBreakGlass(const ResourceVerdict& verdict, FilterReport& report) {
  if (verdict.decision.break_glass_used) {
    report.break_glass.push_back(BreakGlassRelease{verdict.removal.resource_type,
                                                   verdict.removal.id, verdict.decision.consent_id,
                                                   verdict.decision.provision_path});
  }
}

}  // namespace

std::optional<std::vector<const Value*>> EmbeddedResources(const Value& resource) {
  std::vector<const Value*> embedded;
  if (!CollectEmbedded(resource, 0, embedded)) {
    return std::nullopt;
  }
  return embedded;
}

ResourceVerdict CheckResource(const Value& resource, const ReleasePolicy& policy) {
  static const std::set<std::string> kNoOthers;
  return CheckResourceAmong(resource, policy, kNoOthers);
}

Decision CheckIngress(const RequestContext& request, const std::vector<Consent>& consents,
                      std::string_view resource_type, TimePoint at_time) {
  AccessRequest access;
  access.purpose = request.purpose;
  access.resource_type = std::string(resource_type);
  access.at_time = at_time;
  access.break_glass = request.break_glass();
  return EvaluateForEveryRequester(consents, std::move(access), request);
}

FilterReport FilterBundle(rapidjson::Document& bundle, const ReleasePolicy& policy) {
  FilterReport report;
  if (!bundle.IsObject()) {
    return report;
  }
  enum class Fate { kRemove, kKeep, kMatch, kInclude };
  struct Candidate {
    Fate fate = Fate::kRemove;
    std::string key;                // "Type/id"
    std::vector<std::string> refs;  // "Type/id" of every reference in the resource
    Removal removal;                // for an include that ends up unjustified
  };
  std::size_t kept_matches = 0;
  Value* entries = MutableMember(bundle, "entry");
  if (entries != nullptr && entries->IsArray()) {
    // Pass 0: the Patients of another patient than the one asked about, by source.
    std::set<std::string> other_patients;
    if (!policy.patient.empty()) {
      for (const Value& entry : entries->GetArray()) {
        const Value* resource = fhir::FindObject(entry, "resource");
        if (resource != nullptr && fhir::FindString(*resource, "resourceType") == "Patient" &&
            NamesAnotherPatient(*resource, policy.patient)) {
          other_patients.insert(
              SourcedKey(SourceOf(*resource),
                         "Patient/" + std::string(fhir::FindString(*resource, "id").value_or(""))));
        }
      }
    }
    // Pass 1: the patient, scopes and consent on every resource and what it embeds.
    std::vector<Candidate> candidates(entries->Size());
    for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
      Value& entry = (*entries)[i];
      Candidate& candidate = candidates[i];
      Value* resource = MutableMember(entry, "resource");
      if (resource == nullptr || !resource->IsObject()) {
        report.removed.push_back(Removal{"", "", WithholdReason::kNotAResource, "entry", ""});
        continue;
      }
      const std::optional<std::string_view> type = fhir::FindString(*resource, "resourceType");
      if (type && *type == "OperationOutcome") {
        // A partial-result warning is kept without a scope, but what it may embed is judged.
        ResourceVerdict verdict;
        verdict.released = true;
        verdict.removal.resource_type = "OperationOutcome";
        verdict.removal.id = std::string(fhir::FindString(*resource, "id").value_or(""));
        JudgeEmbedded(*resource, policy, other_patients, verdict);
        if (!verdict.released) {
          report.removed.push_back(std::move(verdict.removal));
          continue;
        }
        RecordBreakGlass(verdict, report);
        candidate.fate = Fate::kKeep;
        continue;
      }
      ResourceVerdict verdict = CheckResourceAmong(*resource, policy, other_patients);
      if (!verdict.released) {
        report.removed.push_back(std::move(verdict.removal));
        continue;
      }
      RecordBreakGlass(verdict, report);
      if (policy.add_labels && policy.table != nullptr) {
        LabelResource(*resource, bundle.GetAllocator(), *policy.table);
      }
      candidate.fate = IsMatchEntry(entry) ? Fate::kMatch : Fate::kInclude;
      candidate.key = verdict.removal.resource_type + "/" + verdict.removal.id;
      CollectReferences(*resource, 0, candidate.refs);
      candidate.removal = Removal{verdict.removal.resource_type, verdict.removal.id,
                                  WithholdReason::kUnreferencedInclude, "include", ""};
    }

    // Pass 2: an _include/_revinclude entry stays only when it is linked (either way) to a kept
    // match or to an include already kept; otherwise it would show that withheld matches exist.
    std::set<std::string> kept_keys;
    std::set<std::string> kept_refs;
    const auto keep = [&](const Candidate& candidate) {
      kept_keys.insert(candidate.key);
      kept_refs.insert(candidate.refs.begin(), candidate.refs.end());
    };
    for (const Candidate& candidate : candidates) {
      if (candidate.fate == Fate::kMatch) {
        keep(candidate);
      }
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (Candidate& candidate : candidates) {
        if (candidate.fate != Fate::kInclude) {
          continue;
        }
        const bool linked =
            kept_refs.count(candidate.key) > 0 ||
            std::any_of(candidate.refs.begin(), candidate.refs.end(),
                        [&](const std::string& ref) { return kept_keys.count(ref) > 0; });
        if (linked) {
          candidate.fate = Fate::kKeep;
          keep(candidate);
          changed = true;
        }
      }
    }

    Value kept_entries(rapidjson::kArrayType);
    for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
      const Candidate& candidate = candidates[i];
      if (candidate.fate == Fate::kInclude) {
        report.removed.push_back(candidate.removal);
        continue;
      }
      if (candidate.fate == Fate::kRemove) {
        continue;
      }
      if (candidate.fate == Fate::kMatch) {
        ++kept_matches;
      }
      kept_entries.PushBack((*entries)[i], bundle.GetAllocator());  // moves
      ++report.kept;
    }
    if (kept_entries.Empty()) {
      EraseMember(bundle, "entry");  // FHIR JSON has no empty arrays; an empty result has none
    } else {
      *entries = kept_entries;
    }
  }
  const bool has_total = bundle.HasMember("total");
  if (IsPaged(bundle)) {
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

FilterSummary Summarise(const FilterReport& report) {
  std::map<std::tuple<std::string_view, std::string, std::string>, WithheldGroup> withheld;
  for (const Removal& removal : report.removed) {
    WithheldGroup& group =
        withheld[{WithholdReasonCode(removal.reason), removal.resource_type, removal.detail}];
    group.reason = removal.reason;
    group.resource_type = removal.resource_type;
    group.detail = removal.detail;
    ++group.count;
  }
  std::map<std::tuple<std::string, std::string, std::string>, BreakGlassGroup> released;
  for (const BreakGlassRelease& release : report.break_glass) {
    BreakGlassGroup& group =
        released[{release.resource_type, release.consent_id, release.provision_path}];
    group.resource_type = release.resource_type;
    group.consent_id = release.consent_id;
    group.provision_path = release.provision_path;
    ++group.count;
  }
  FilterSummary summary;
  for (auto& [key, group] : withheld) {
    summary.withheld.push_back(std::move(group));
  }
  for (auto& [key, group] : released) {
    summary.break_glass.push_back(std::move(group));
  }
  return summary;
}

}  // namespace tb::policy
