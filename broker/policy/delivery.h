#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "broker/policy/consent.h"
#include "broker/policy/filter.h"
#include "broker/policy/labels.h"
#include "broker/policy/purpose.h"

// The push path (store-and-forward): before a message is delivered to a participant, the
// destination is treated as a requester (its ODS code, purpose TREAT, its configured scopes) and
// the message's resources are checked against its scopes and the patient's consents, on every
// attempt (so a replay re-checks). docs/policy.md, "Push path", states the rule.
// Thread-safety: pure functions over the caller's Document.
namespace tb::policy {

enum class DeliveryVerdict {
  kDeliver,  // deliver the (possibly reduced) message
  kRefuse,   // do not deliver: the destination may not receive this message
};

struct DeliveryCheck {
  DeliveryVerdict verdict = DeliveryVerdict::kRefuse;
  // Why it was refused, for the queue's last_error and the audit: "consent deny: Consent/c1
  // Consent.provision", "scope: nothing the destination may receive". Never PHI.
  std::string reason;
  // The decision at message level (destination + purpose, no resource yet).
  Decision decision;
  // Entries removed from the Bundle (or, for a refusal, those that would have been).
  std::vector<Removal> removed;
};

// The requester a destination stands for on the push path: its ODS code, purpose TREAT, no
// break-glass, its scopes.
RequestContext DestinationContext(std::string ods, ScopeSet scopes);

// The message-level check, before the content is read (so it also applies to a message that
// cannot be mapped): a certain consent deny for the destination (CheckIngress, no resource type)
// refuses; otherwise kDeliver means "go on and check the content".
DeliveryCheck CheckDestination(const RequestContext& destination,
                               const std::vector<Consent>& consents, TimePoint at_time);

// Every NHS number (system core::kNhsNumberSystem) the message Bundle's resources name: each
// Patient's identifiers and each subject or patient Reference's identifier, those of resources
// contained in the entries included (EmbeddedResources), each once, in entry order. The ingest lets
// a second patient through only as another record of the same person (a Patient with `link`, as in
// a merge); whoever receives the message receives both records, so the delivery checks the consents
// of every number here. Values are not checked.
std::vector<std::string> PatientNhsNumbers(const rapidjson::Value& bundle);

// Checks a FHIR message Bundle (type "message", MessageHeader first) for one destination and
// removes in place what it may not receive:
//   1. a certain consent deny for the destination at message level (CheckIngress, no type) refuses
//      the whole message;
//   2. the MessageHeader (the envelope: event, source, destination) is kept without a scope check,
//      but a resource contained in it must pass CheckResource, else the message is refused;
//   3. every other entry passes CheckResource (scopes, sensitivity labels, consents) or is removed;
//   4. MessageHeader.focus keeps only references to kept resources;
//   5. when no resource besides the MessageHeader is left, the message is refused (an event with
//      nothing the destination may see is not worth delivering, and an empty shell would still
//      reveal that something happened to the patient).
// A Document that is not a message Bundle with a MessageHeader first is refused ("invalid").
DeliveryCheck CheckMessageBundle(rapidjson::Document& bundle, const RequestContext& destination,
                                 const std::vector<Consent>& consents,
                                 const SensitivityTable* table, TimePoint at_time);

// For a message whose resources the broker cannot see (an HL7 v2 message with no FHIR mapping):
// judged as a whole. Refused on a certain consent deny at message level, or unless the
// destination's scopes grant read or search on every type without a constraint (a `*` scope),
// since nothing in it can be checked or removed.
DeliveryCheck CheckOpaqueMessage(const RequestContext& destination,
                                 const std::vector<Consent>& consents, TimePoint at_time);

}  // namespace tb::policy
