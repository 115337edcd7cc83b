#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/search_params.h"
#include "broker/core/clock.h"
#include "broker/core/http_types.h"
#include "broker/core/record_locator.h"
#include "broker/core/result.h"
#include "broker/core/upstream_client.h"
#include "broker/routing/bundle_merge.h"
#include "broker/routing/participant.h"

// The federated query engine (issue 5, items 3 and 5; docs/federation.md): a FHIR search or
// Patient/$everything by NHS number fans out concurrently to every trust the record locator lists
// and to the peer brokers, under one shared deadline, and the answers merge into one searchset
// Bundle in which every entry's meta.source names its trust and every trust that failed or missed
// the deadline appears as an OperationOutcome entry.
namespace tb::routing {

// Headers carried between brokers (and to trusts where noted). See docs/federation.md.
inline constexpr std::string_view kRequestIdHeader = "X-Request-ID";         // to every hop
inline constexpr std::string_view kPurposeOfUseHeader = "X-Purpose-Of-Use";  // to every hop
inline constexpr std::string_view kBreakGlassReasonHeader = "X-Break-Glass-Reason";
// Broker hops the request has already made before reaching the receiver (absent = 0).
inline constexpr std::string_view kHopsHeader = "X-Trustbridge-Hops";
// Comma-separated ids of the brokers that already handled the request, oldest first.
inline constexpr std::string_view kVisitedHeader = "X-Trustbridge-Visited";
// Milliseconds the asking broker will wait for this answer, less a margin for the answer's way
// back: the peer answers within it (its own deadline is at most this), so its trusts' data and
// flags reach the asker before the asker gives up on the peer.
inline constexpr std::string_view kDeadlineHeader = "X-Trustbridge-Deadline-Ms";

// Sent to peer brokers only: on whose behalf this broker asks, "<ODS code>;purpose=<code>"
// (e.g. "RJ1;purpose=TREAT"), so the peer evaluates the patient's consents for the original
// requester as well as for this broker. A peer honours it only from a registered peer broker's
// certificate (docs/policy.md).
inline constexpr std::string_view kRequesterHeader = "X-Trustbridge-Requester";

// The original requester named in X-Trustbridge-Requester.
struct NamedRequester {
  std::string ods;      // [A-Z0-9]{3,10}, as a participant's ods in the config
  std::string purpose;  // [A-Za-z]{1,32}; the receiver checks it is its X-Purpose-Of-Use
};
// "RJ1;purpose=TREAT" (spaces around ';' and '=' allowed). Errors: kInvalidValue, location the
// header; the message never echoes the value.
core::Result<NamedRequester> ParseRequesterHeader(std::string_view value);
std::string FormatRequesterHeader(const NamedRequester& requester);

// Limits on the hop headers read from a request.
inline constexpr int kMaxHopsHeaderValue = 64;
// The largest X-Trustbridge-Deadline-Ms accepted (a peer's own max_deadline caps it further).
inline constexpr std::int64_t kMaxDeadlineHeaderMs = 600'000;
inline constexpr std::size_t kMaxVisited = 32;

enum class FederatedKind {
  kSearch,      // GET [base]/{Type}?...  (Patient?identifier= or {Type}?patient:identifier=)
  kEverything,  // GET [base]/Patient/$everything?identifier=...
};

// One federated request, as the API hands it over. Plain data; the API fills it from the HTTP
// request (ParseFederatedSearch for the query or form body, ParseHopHeaders for the headers).
struct FederatedSearch {
  FederatedKind kind = FederatedKind::kSearch;
  std::string resource_type = "Patient";  // kSearch: the searched type; ignored for kEverything
  std::string nhs_number;                 // 10 digits, Modulus 11 checked by Run
  // Every other search parameter, passed through unchanged to each trust and peer (category,
  // code, _count, _type...). Never the NHS number parameter itself.
  std::vector<fhir::SearchParam> params;
  std::string requester_ods;  // for the log only: the requester is queried too if listed
  // Sent to peers as X-Trustbridge-Requester with purpose_of_use (both must be set; the ODS code
  // must be valid); empty = not sent.
  std::string original_requester;
  std::string request_id;            // X-Request-ID, sent to every hop; empty = not sent
  std::string purpose_of_use;        // X-Purpose-Of-Use, sent to every hop; empty = not sent
  std::string break_glass_reason;    // X-Break-Glass-Reason, sent to every hop; empty = not sent
  int hops = 0;                      // incoming X-Trustbridge-Hops
  std::vector<std::string> visited;  // incoming X-Trustbridge-Visited
  // Overrides the default deadline (capped at FederatedQuerySettings::max_deadline).
  std::optional<std::chrono::milliseconds> deadline;
  // The asking broker's time left for this answer (incoming X-Trustbridge-Deadline-Ms): the
  // deadline is at most this.
  std::optional<std::chrono::milliseconds> time_left;
  // The merged Bundle as FederatedResult::document instead of bundle_json (MergeOptions).
  bool as_document = false;
  // The record locator's entries for nhs_number when the caller has read them already
  // (FederatedQuery::Holders); else Run reads them.
  std::optional<std::vector<core::LocatorEntry>> holders;
  // For a request refused by consent at ingress, which must be answered exactly as a search that
  // found no data (docs/policy.md, "What a refused requester sees"): the targets are chosen as
  // for the search, but each is sent only `GET [base]/metadata` (nothing about the patient, no
  // purpose, no hop headers) and any 2xx counts as an empty searchset. A target that is down,
  // late or answers non-2xx is flagged exactly as the search would flag it, so a refusal cannot
  // be told from "no data" by a missing flag; no patient data is asked for.
  bool reachability_only = false;
};

// Builds a FederatedSearch (kind, type, NHS number, pass-through params) from parsed search
// parameters of `GET [type]?...`, `POST [type]/_search` or `Patient/$everything?...`.
// The NHS number comes from `identifier` (Patient and $everything) or `patient:identifier`
// (other types), which must appear once with one value
// `https://fhir.nhs.uk/Id/nhs-number|<valid NHS number>`.
// Errors: kInvalidValue (bad type name, bad or repeated identifier, OR lists) and
// kRequiredFieldMissing (no identifier); location names the parameter. Never echoes values.
core::Result<FederatedSearch> ParseFederatedSearch(std::string_view resource_type,
                                                   FederatedKind kind,
                                                   const std::vector<fhir::SearchParam>& params);

// The incoming hop count and visited list. Absent headers give 0 and an empty list.
// Errors: kInvalidValue when X-Trustbridge-Hops is not a number in [0, kMaxHopsHeaderValue] or
// X-Trustbridge-Visited has more than kMaxVisited ids or an id outside [A-Za-z0-9._-]{1,64}.
struct HopInfo {
  int hops = 0;
  std::vector<std::string> visited;
  std::optional<std::chrono::milliseconds> time_left;  // X-Trustbridge-Deadline-Ms
};
core::Result<HopInfo> ParseHopHeaders(const core::HttpHeaders& headers);

struct FederatedQuerySettings {
  std::string self_id;   // broker.id: added to the visited list sent to peers
  std::string self_ods;  // broker.ods: never queried as a trust
  std::chrono::milliseconds default_deadline{3000};
  std::chrono::milliseconds max_deadline{30000};  // cap for FederatedSearch::deadline
  // When every answer was judged on arrival and together they hold at most this many body
  // bytes, the merge and `done` run on the thread that received the last answer instead of
  // `merge_executor`: a small read then skips one hand-off between threads (two context
  // switches, the pool's queueing). Bounded CPU work (a merge and the caller's filtering of a
  // few KB: tens of microseconds), nothing that waits. 0 = always use the executor.
  std::size_t merge_on_arrival_bytes = 16 * 1024;
  int max_hops = 3;  // peers are queried only while the incoming hop count is below this
  // Send `POST [base]/{Type}/_search` (and `POST [base]/Patient/$everything`) with a form body
  // instead of GET with a query string, keeping NHS numbers out of upstream URLs and access logs.
  // Turn on only when every trust and peer supports it (the simulated trust does).
  bool post_searches = false;
  // Pages fetched per target at most, the first included: a searchset linking a "next" page on
  // the target's own base gets that page asked for too, within the query's deadline, while the
  // target's pages together stay under the answer size limit (MergeOptions::max_body_bytes). A
  // target with more (or whose next page fails or is late) is flagged `incomplete` in the
  // answer (TargetOutcome::more_pages). 1 = first pages only.
  std::size_t max_pages = 20;
};

// Runs federated queries. Construct once (broker/app) and share.
//
// Collaborators are borrowed and must outlive the FederatedQuery; `clock` and `merge_executor`
// must also outlive every UpstreamClient callback still in flight (stop the client first).
// Each answer up to 32 KiB is judged and its Bundle parsed as it arrives, on the UpstreamClient
// callback thread (tens of microseconds for a searchset of a few KB), so that after the last
// answer only the merge is left. `merge_executor` runs the rest: parsing larger answers, building
// the merged Bundle, and `done`; pass one that posts to the blocking pool so I/O threads never do
// that work for large answers. Answers small enough together
// (FederatedQuerySettings::merge_on_arrival_bytes) are merged, and `done` called, on the
// UpstreamClient callback thread that received the last one, so `done` must not block. Without
// an executor, everything runs on whichever thread completes the query (an UpstreamClient
// callback thread, the deadline thread, or the caller of Run).
//
// Thread-safety: Run may be called from many threads at once. An internal thread watches the
// deadlines; the destructor stops it and answers queries still pending (their missing targets
// reported as kUpstreamUnavailable "broker shutting down").
class FederatedQuery {
 public:
  using Executor = std::function<void(std::function<void()>)>;
  using Done = std::function<void(core::Result<FederatedResult>)>;

  FederatedQuery(FederatedQuerySettings settings, const ParticipantDirectory& directory,
                 core::RecordLocator& locator, core::UpstreamClient& upstream,
                 const core::Clock& clock, Executor merge_executor = {});
  ~FederatedQuery();
  FederatedQuery(const FederatedQuery&) = delete;
  FederatedQuery& operator=(const FederatedQuery&) = delete;

  // The record locator's entries for `nhs_number` (search.holders), read as Run would read them.
  core::Result<std::vector<core::LocatorEntry>> Holders(const std::string& nhs_number);

  // Looks the NHS number up in the locator unless search.holders is set (blocks: call from the
  // blocking pool, or with holders from a thread that must not block), sends the
  // query to every target concurrently with one shared deadline, and calls `done` exactly once:
  // when every target has answered or the deadline has passed, whichever is first. Callbacks
  // arriving later are ignored.
  // Errors (through `done`, possibly before Run returns): kInvalidValue for an invalid NHS number
  // (location "identifier"), resource type or header value; the locator's error (kStorage).
  // An NHS number nobody holds, with no peer to ask, gives an empty searchset (total 0).
  void Run(FederatedSearch search, Done done);

 private:
  class DeadlineWatcher;

  FederatedQuerySettings settings_;
  const ParticipantDirectory& directory_;
  core::RecordLocator& locator_;
  core::UpstreamClient& upstream_;
  const core::Clock& clock_;
  Executor merge_executor_;
  std::unique_ptr<DeadlineWatcher> watcher_;
};

}  // namespace tb::routing
