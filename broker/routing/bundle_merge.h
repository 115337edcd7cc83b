#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/http_types.h"
#include "broker/core/result.h"

// Merging the answers of a federated query into one searchset Bundle (docs/federation.md, "Merge
// rules"). A plain function of the answers, so it is tested without any I/O.
namespace tb::routing {

// meta.source names a trust by its bare ODS code ("RJ1"). The OperationOutcome entry of a failed
// target also carries this extension, with valueIdentifier {system: the ODS code system, value:
// the ODS code}, or for a peer broker {system: kBrokerIdSystem, value: its broker id}.
inline constexpr std::string_view kSourceExtensionUrl =
    "https://trustbridge.nhs.uk/fhir/StructureDefinition/federation-source";
inline constexpr std::string_view kBrokerIdSystem = "https://trustbridge.nhs.uk/Id/broker-id";

enum class TargetKind { kTrust, kPeer };

enum class TargetStatus {
  kOk,          // a 2xx Bundle was merged
  kFailed,      // transport error, non-2xx, or not a Bundle: flagged in the Bundle
  kTimedOut,    // no answer within the deadline: flagged in the Bundle
  kNotQueried,  // listed but not queried (no FHIR endpoint, unregistered, peer already visited)
};

// "ok" | "failed" | "timeout" | "not-queried"
const char* TargetStatusCode(TargetStatus status);

// What happened at one trust or peer, for the audit record and the summary log line.
struct TargetOutcome {
  TargetKind kind = TargetKind::kTrust;
  std::string id;  // the trust's ODS code or the peer's broker id
  TargetStatus status = TargetStatus::kOk;
  int http_status = 0;  // 0 when no response arrived
  std::int64_t latency_ms = 0;
  // Why it failed or was not queried, as the Bundle says it (no PHI, no transport detail).
  std::optional<core::Error> error;
  std::string detail;       // the transport cause for the log ("kUpstreamUnavailable: TLS ...")
  std::size_t matches = 0;  // match entries it contributed after de-duplication
  // Not queried, but the patient's data there is missing from the answer (a registered trust
  // without a FHIR endpoint): flagged with an information outcome entry.
  bool flag_in_bundle = false;
  // Answered with part of a longer result: a "next" page it linked was not fetched (the page
  // limit, a link off its own base, a failed page, the deadline; or, for one judged answer, any
  // next link). Its entries are merged and a warning outcome entry says the rest is missing.
  bool more_pages = false;
};

struct MergedDocument;

struct FederatedResult {
  std::string bundle_json;  // the merged searchset Bundle (empty with MergeOptions::as_document)
  // With MergeOptions::as_document, the merged searchset as a DOM instead of text.
  std::shared_ptr<MergedDocument> document;
  std::size_t total = 0;  // Bundle.total: match entries
  // Some data is missing: a trust or peer failed or timed out, a registered trust holding data
  // has no FHIR endpoint, or a peer passed on a warning/error outcome about its own trusts.
  bool partial = false;
  std::vector<TargetOutcome> targets;  // trusts by ODS code, then peers by id
};

// One target's answer. `reply` is empty when nothing arrived before the deadline.
struct UpstreamAnswer {
  TargetKind kind = TargetKind::kTrust;
  std::string id;  // ODS code or peer broker id
  std::optional<core::Result<core::HttpResponse>> reply;
  std::int64_t latency_ms = 0;
};

struct MergeOptions {
  std::int64_t deadline_ms = 3000;  // quoted in "did not answer within N ms"
  std::string bundle_id;            // Bundle.id; empty = none
  std::string timestamp;            // Bundle.timestamp (FHIR instant); empty = none
  // Why missing replies are missing: the deadline (kTimeout), or the broker stopping.
  bool shutting_down = false;
  std::size_t max_body_bytes = 32 * 1024 * 1024;  // a larger upstream body is a failure
  // Hand the merged Bundle over as FederatedResult::document instead of bundle_json, for a
  // caller that would parse the text again: one write and one parse fewer.
  bool as_document = false;
};

// One answer judged ahead of the merge (e.g. on arrival, while other targets are still being
// waited for): its outcome and, when it can be merged (outcome.status kOk), its parsed Bundle.
struct JudgedAnswer {
  TargetOutcome outcome;  // kind, id, latency, status, error; matches are counted by the merge
  // Parsed in place: its strings point into `text`, the answer's body, held here where it
  // does not move.
  std::unique_ptr<std::string> text;
  std::unique_ptr<rapidjson::Document> bundle;
  std::size_t body_bytes = 0;  // the answer's body size, to size the merged Bundle's buffer
  // The further pages of the same result that its "next" links led to, in order (FederatedQuery
  // fetches them); merged as part of this answer. Their outcomes are not used.
  std::vector<JudgedAnswer> next_pages;
  std::size_t next_pages_bytes = 0;  // their body bytes together
};

// The merged searchset as a DOM: its resources are the answers' own values (moved out of their
// Bundles) and its fullUrl strings point into the answers' text, so it holds the answers too.
// Members are destroyed in reverse order: `bundle` before the answers it points into.
struct MergedDocument {
  std::vector<JudgedAnswer> answers;
  // Only the Bundle's own structure is allocated here (resources are moved in, strings
  // referenced): small chunks, not a Document's default 64 KB, whose free on every read made
  // glibc consolidate its free lists.
  rapidjson::MemoryPoolAllocator<> pool{4096};
  rapidjson::Document bundle{&pool};
};

// The URL of the page a searchset links as "next" ("" when that link has none), or nothing.
std::optional<std::string_view> NextPageLink(const rapidjson::Value& bundle);

// Judges one answer: a missing reply is a timeout (or, with options.shutting_down, a failure);
// a transport error, a non-2xx status, a body over options.max_body_bytes, JSON that is not a
// Bundle or an `entry` that is not an array is a failure; otherwise the parsed Bundle is kept.
// Reads only options.deadline_ms, max_body_bytes and (for a missing reply) shutting_down.
JudgedAnswer JudgeAnswer(UpstreamAnswer answer, const MergeOptions& options);

// MergeAnswers over answers already judged (any order), with the same rules and output.
FederatedResult MergeJudged(std::vector<JudgedAnswer> judged,
                            std::vector<TargetOutcome> not_queried, const MergeOptions& options);

// Merges `answers` (any order) and `not_queried` into one searchset Bundle:
//  - every resource from a trust gets meta.source = the trust's ODS code (replacing any value
//    the trust set); a peer's entries keep the meta.source the peer set, else the peer's id;
//  - the same resourceType/id from the same source appears once (first by the order below);
//  - outcome entries (search.mode "outcome" or OperationOutcome resources) from trusts and peers
//    are kept; each failed or timed-out target adds an OperationOutcome entry naming it;
//  - order: outcome entries first (ours for failed targets by id, then those passed on), then
//    resources by source, direct trust answers before peers' (peers by id), each in its own order.
// Bundle.total counts match entries. Never fails: bad upstream answers become outcome entries.
FederatedResult MergeAnswers(std::vector<UpstreamAnswer> answers,
                             std::vector<TargetOutcome> not_queried, const MergeOptions& options);

}  // namespace tb::routing
