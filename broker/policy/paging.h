#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/search_params.h"
#include "broker/core/clock.h"
#include "broker/core/result.h"
#include "broker/policy/filter.h"
#include "broker/policy/purpose.h"

// Counts and paging answered by the broker from the filtered, merged result (issue 6 item 1):
// trusts are asked for the resources, never trusted for counts, and a count never includes a
// resource the requester may not see. docs/policy.md, "Counts and paging".
namespace tb::policy {

inline constexpr std::size_t kMaxPageSize = 1000;

// The result-control parameters the broker answers itself.
struct ResultControl {
  std::size_t count = 0;       // _count: page size; 0 with has_count = count only
  bool has_count = false;      // _count was given
  bool summary_count = false;  // _summary=count (or _count=0): total only, no entries
  bool total_none = false;     // _total=none: leave Bundle.total out
};

// Removes _count, _total, _summary and _elements from `params` (so they are not sent to trusts)
// and returns what they ask for. _summary other than count and _elements (any letter case) are
// dropped: a trust honouring them would return resources without the elements consent is judged
// on, so the broker answers with full resources (FHIR lets a server not support them). Errors
// (kInvalidValue, location the parameter): _count not a whole number or above kMaxPageSize,
// _total not none, estimate or accurate, _count, _total or _summary repeated.
core::Result<ResultControl> TakeResultControl(std::vector<fhir::SearchParam>& params);

// The number of match entries of a searchset (search.mode match or absent; OperationOutcome
// entries do not count).
std::size_t CountMatches(const rapidjson::Value& bundle);

// A filtered searchset made count-only (_summary=count): every entry removed, total kept as the
// number of matches that were there.
void MakeCountOnly(rapidjson::Document& bundle);

// One page of a filtered searchset.
struct PageSpec {
  std::size_t offset = 0;
  std::size_t count = 0;    // > 0
  std::string url_base;     // "/fhir/_page?token=T": links add "&offset=N"
  bool total_none = false;  // leave total out
};

// Builds page `spec` of `full`, a searchset already filtered for the requester with no paging
// links: the Bundle's id, meta, type and timestamp; total = the matches of `full` (the filtered
// count: never the trusts' counts); links self, first, next and previous as `url_base&offset=N`;
// the matches [offset, offset + count); OperationOutcome entries (partial-result warnings) on the
// first page; and the include entries linked to this page's matches. The page is passed through
// FilterBundle with `policy` once more, so includes not linked to a kept match of this page are
// dropped. `report` receives what that pass removed.
rapidjson::Document BuildPage(const rapidjson::Value& full, const PageSpec& spec,
                              const ReleasePolicy& policy, FilterReport& report);

// A search kept for paging: the merged result after the sensitivity table and filtering at the
// time of the search. Every page is filtered again when served (current consents).
struct CachedSearch {
  std::string owner;  // the requester's certificate CN: nobody else may read the pages
  RequestContext context;
  std::string nhs_number;
  std::string query;        // for the audit: "Observation", "$everything"
  std::string bundle_json;  // the searchset, no paging links
  std::size_t count = 0;    // page size
  bool total_none = false;
};

// In-memory, bounded store of searches being paged, keyed by a random token (128 bits from the
// OpenSSL CSPRNG, hex). Entries expire `ttl` after they were stored; when over `max_entries` or
// `max_bytes` the oldest go first. Thread-safe.
class PageCache {
 public:
  struct Settings {
    std::chrono::milliseconds ttl{std::chrono::minutes(5)};
    std::size_t max_entries = 256;
    std::size_t max_bytes = std::size_t{64} << 20U;
  };
  PageCache(Settings settings, const core::Clock& clock);

  // Stores `search`; returns its token. Errors: kTooLarge when the result alone exceeds
  // max_bytes (the requester should narrow the search); kInternal when no random token could be
  // made.
  core::Result<std::string> Put(CachedSearch search);
  // The search for `token` if it has not expired and `owner` stored it; otherwise null (the
  // caller answers 404 either way, so another requester learns nothing).
  std::shared_ptr<const CachedSearch> Get(std::string_view token, std::string_view owner);

  std::size_t size() const;

 private:
  struct Slot {
    std::string token;
    std::chrono::system_clock::time_point stored;
    std::shared_ptr<const CachedSearch> search;
  };
  void EvictLocked(std::chrono::system_clock::time_point now);

  const Settings settings_;
  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::deque<Slot> slots_;  // oldest first; guarded by mutex_
  std::size_t bytes_ = 0;   // guarded by mutex_
};

}  // namespace tb::policy
