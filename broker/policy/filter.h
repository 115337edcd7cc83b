#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "broker/policy/consent.h"
#include "broker/policy/labels.h"
#include "broker/policy/purpose.h"

// Response filtering: every resource leaving the broker passes the requester's scopes and the
// patient's consents. What was withheld is returned for the audit and never shown to the
// requester: an all-withheld search looks exactly like an empty one.
// Thread-safety: pure functions over the caller's Document.
namespace tb::policy {

// Everything a response check needs besides the resource itself.
struct ReleasePolicy {
  const RequestContext* request = nullptr;         // required
  const std::vector<Consent>* consents = nullptr;  // the patient's consents; null = none
  const SensitivityTable* table = nullptr;         // null = no table labelling
  TimePoint at_time;
  // Also write the table's labels into each kept resource's meta.security.
  bool add_labels = false;
  // The NHS number the request asked about. A resource that demonstrably belongs to another
  // patient is withheld (kOtherPatient): a Patient whose NHS numbers do not include this one, a
  // resource whose subject or patient reference names another NHS number, or one that refers to
  // such a Patient of the same source (meta.source). A trust that ignores the
  // search's identifier (FHIR servers may ignore parameters they do not support) would otherwise
  // hand the requester other patients' records, whose consents were never read. Empty: not
  // checked.
  std::string_view patient;
};

enum class WithholdReason {
  kScope,                // outside the requester's scopes
  kConsent,              // refused by the patient's consent
  kNotAResource,         // an entry without a resource, or one without resourceType
  kUnreferencedInclude,  // an _include/_revinclude whose matches were all withheld
  kOtherPatient,         // about another patient than the one asked about (ReleasePolicy::patient)
  kSubsetted,            // marked SUBSETTED by its source: consent cannot be judged on a part
};
// "scope" | "consent" | "invalid" | "include" | "other-patient" | "subsetted"
std::string_view WithholdReasonCode(WithholdReason reason);

// One withheld resource, for the audit (no PHI: type, id, why).
struct Removal {
  std::string resource_type;
  std::string id;
  WithholdReason reason = WithholdReason::kScope;
  std::string detail;  // Describe(decision) for kConsent, the type for kScope
  // When the resource was withheld for a resource embedded in it (contained, or inside a Bundle
  // or Parameters resource): that one's type ("Condition"); "" otherwise.
  std::string embedded_type;
};

// One resource released only because the requester broke glass, for the audit.
struct BreakGlassRelease {
  std::string resource_type;
  std::string id;
  std::string consent_id;
  std::string provision_path;
};

struct ResourceVerdict {
  bool released = false;
  Removal removal;  // meaningful when !released
  Decision decision;
};

// Checks one resource: the patient (when ReleasePolicy::patient is set), then scopes (type, read
// or search, constraints), then the SUBSETTED tag (meta.tag code SUBSETTED: the source left
// elements out, so a code or label deny could not be matched), then consent. Every resource
// embedded in it (contained, Bundle.entry.resource, Parameters.parameter.resource: any object
// with a resourceType below the root) gets the same checks, and one refused withholds the whole
// resource: a resource whose parts are partly refused cannot be shown faithfully. The removal
// then names the embedded type (Removal::embedded_type) and, for kConsent, its decision. A
// released resource whose embedded part needed break-glass carries that decision.
ResourceVerdict CheckResource(const rapidjson::Value& resource, const ReleasePolicy& policy);

// Every resource embedded in `resource` (an object with a resourceType member below the root:
// contained resources, Bundle.entry.resource, Parameters.parameter.resource, and those nested in
// them), in document order, borrowed from `resource`. nullopt when nested deeper than the walk
// goes (128 levels; ParseJson refuses deeper documents), so the caller cannot judge them all.
std::optional<std::vector<const rapidjson::Value*>> EmbeddedResources(
    const rapidjson::Value& resource);

// The check at ingress and before each outbound hop, before any content is known: the
// requester, purpose and break-glass from `request`, the resource type when the request names one
// ("" for $everything). A final deny refuses the request (see docs/policy.md for how to answer);
// a permit with final == false means "fetch, then FilterBundle/CheckResource each resource".
Decision CheckIngress(const RequestContext& request, const std::vector<Consent>& consents,
                      std::string_view resource_type, TimePoint at_time);

struct FilterReport {
  std::vector<Removal> removed;
  std::vector<BreakGlassRelease> break_glass;
  std::size_t kept = 0;  // resource entries kept, OperationOutcome entries included
};

// What the audit ledger records of a filter run: withheld resources grouped by reason, type and
// detail (the deciding provision for kConsent), and break-glass releases grouped by type and the
// overridden provision, each with its count. No ids, no content. Sorted by those keys, so the
// same report always gives the same records.
struct WithheldGroup {
  WithholdReason reason = WithholdReason::kScope;
  std::string resource_type;  // "" for an entry without a resource
  std::string detail;
  std::size_t count = 0;
};
struct BreakGlassGroup {
  std::string resource_type;
  std::string consent_id;
  std::string provision_path;
  std::size_t count = 0;
};
struct FilterSummary {
  std::vector<WithheldGroup> withheld;
  std::vector<BreakGlassGroup> break_glass;
};
FilterSummary Summarise(const FilterReport& report);

// Filters a searchset or collection Bundle in place:
//   - an entry whose resource fails CheckResource is removed, as is an entry without a resource;
//     with ReleasePolicy::patient set, so is one referring to a Patient of another patient that
//     came in the same Bundle from the same source (meta.source);
//   - OperationOutcome entries (partial-result warnings) are kept, unless a resource embedded in
//     one fails CheckResource;
//   - an entry with search.mode "include" stays only if it references, or is referenced by, a
//     kept match or a kept include (so includes never reveal that withheld matches exist);
//   - an entry array left empty is removed (FHIR JSON has no empty arrays);
//   - Bundle.total becomes the number of kept entries whose search.mode is match (or absent); on
//     one page of several (a next or previous link) Bundle.total is removed instead, since the
//     number of matches withheld on other pages is not known here.
// Nothing is added to say that something was withheld.
FilterReport FilterBundle(rapidjson::Document& bundle, const ReleasePolicy& policy);

}  // namespace tb::policy
