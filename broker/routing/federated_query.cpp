#include "broker/routing/federated_query.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/nhs_number.h"
#include "broker/core/whole_number.h"

namespace tb::routing {
namespace {

using Steady = std::chrono::steady_clock;

const core::Logger& Log() {
  static const core::Logger logger("tb.routing");
  return logger;
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Percent-encodes everything but RFC 3986 unreserved characters.
void AppendEncoded(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    if (IsUnreserved(c)) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
}

void AppendParam(std::string& query, std::string_view name, std::string_view modifier,
                 std::string_view value) {
  query += query.empty() ? '?' : '&';
  AppendEncoded(query, name);
  if (!modifier.empty()) {
    query += ':';
    AppendEncoded(query, modifier);
  }
  query += '=';
  AppendEncoded(query, value);
}

bool IsResourceTypeName(std::string_view type) {
  if (type.empty() || type.size() > 64 || type.front() < 'A' || type.front() > 'Z') {
    return false;
  }
  return std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

bool IsBrokerId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

// Header values we pass on must not be able to break the request framing.
bool IsSafeHeaderValue(std::string_view value) {
  return value.size() <= 256 && std::none_of(value.begin(), value.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7F;
         });
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// A FHIR id (Bundle.id) from the request id when it fits [A-Za-z0-9-.]{1,64}.
std::string BundleIdFrom(std::string_view request_id) {
  if (request_id.empty() || request_id.size() > 64) {
    return {};
  }
  const bool ok = std::all_of(request_id.begin(), request_id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
  return ok ? std::string(request_id) : std::string();
}

// Whom the query state waits for. The requests themselves are moved into UpstreamClient::Send,
// not kept (nor copied a second time) here; only what a request for a further page needs.
struct Target {
  TargetKind kind = TargetKind::kTrust;
  std::string id;
  // For the requests of the further pages its answers link (unset when only first pages are
  // fetched): its base and identity, and the headers every target's first request shares (one
  // set per query; a POST's Content-Type is left out of each page's request).
  std::string base_url;
  std::string expected_cn;
  std::shared_ptr<const core::HttpHeaders> page_headers;
};

// The request for the page a searchset links as "next", when the link stays on the target's own
// FHIR base (an absolute URL under `base_url`, or a path under the base's path: a peer's
// `/fhir/_page?...`) and is a plain request target; else nothing (the page is not fetched).
std::optional<core::UpstreamRequest> NextPageRequest(const rapidjson::Value& bundle,
                                                     const Target& target_of) {
  if (target_of.page_headers == nullptr) {
    return std::nullopt;
  }
  const std::string_view url = NextPageLink(bundle).value_or(std::string_view());
  std::string_view base = target_of.base_url;
  while (!base.empty() && base.back() == '/') {
    base.remove_suffix(1);
  }
  const std::size_t authority = base.find("://");
  const std::size_t path_start =
      authority == std::string_view::npos ? std::string_view::npos : base.find('/', authority + 3);
  const std::string_view base_path =
      path_start == std::string_view::npos ? std::string_view() : base.substr(path_start);
  const auto under = [&url](std::string_view prefix) {
    return url.size() > prefix.size() && url.substr(0, prefix.size()) == prefix &&
           (url[prefix.size()] == '/' || url[prefix.size()] == '?');
  };
  std::string_view target;
  if (under(base)) {
    target = url.substr(base.size());
  } else if (!url.empty() && url.front() == '/' && under(base_path)) {
    target = url.substr(base_path.size());
  } else {
    return std::nullopt;
  }
  // Visible ASCII only: the target goes into the request line as it is (after the base's path;
  // "?..." too: HAPI FHIR links its pages as `[base]?_getpages=...`).
  for (const char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return std::nullopt;
    }
  }
  // No dot segments, plain or encoded, in the path: "[base]/../other" would leave the base on
  // the same host (another tenant of a shared server) and be merged under this target's name.
  const std::string_view path = target.substr(0, target.find('?'));
  const auto has = [path](std::string_view needle) {
    return path.find(needle) != std::string_view::npos;
  };
  if (has("/.") || has("%2e") || has("%2E")) {
    return std::nullopt;
  }
  // GET without a body, also after a `_search` POST (its form body stays with the first).
  core::UpstreamRequest next;
  next.base_url = target_of.base_url;
  next.expected_cn = target_of.expected_cn;
  next.request.method = "GET";
  next.request.target = std::string(target);
  for (const auto& [name, value] : target_of.page_headers->fields) {
    if (!core::EqualsIgnoreCase(name, "Content-Type")) {
      next.request.headers.fields.emplace_back(name, value);
    }
  }
  return next;
}

// Answers up to this size are parsed on arrival, on the UpstreamClient's callback thread (an I/O
// thread; a searchset of a few KB costs tens of microseconds); larger ones in the merge.
constexpr std::size_t kJudgeOnArrivalBytes = 32 * 1024;

std::int64_t MillisBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

// ---- the state of one running query ----------------------------------------------------------

namespace {

class QueryState : public std::enable_shared_from_this<QueryState> {
 public:
  QueryState(std::vector<Target> targets, std::vector<TargetOutcome> not_queried,
             MergeOptions options, Steady::time_point start, Steady::time_point deadline,
             std::string request_id, std::size_t merge_on_arrival_bytes, std::size_t max_pages,
             core::UpstreamClient& upstream, FederatedQuery::Executor executor,
             FederatedQuery::Done done)
      : targets_(std::move(targets)),
        not_queried_(std::move(not_queried)),
        options_(std::move(options)),
        start_(start),
        deadline_(deadline),
        request_id_(std::move(request_id)),
        merge_on_arrival_bytes_(merge_on_arrival_bytes),
        max_pages_(max_pages),
        upstream_(upstream),
        executor_(std::move(executor)),
        done_(std::move(done)),
        judged_(targets_.size()),
        raw_(targets_.size()),
        awaiting_(targets_.size(), true),
        pending_(targets_.size()) {}

  const std::vector<Target>& targets() const { return targets_; }
  Steady::time_point deadline() const { return deadline_; }

  // An UpstreamClient callback, for a target's first page or a further one it linked. Ignored
  // once the query has answered. A small answer is judged (its Bundle parsed) here, as it
  // arrives, so that once the last target answers only that one is left to parse; a larger one
  // is left to the merge executor, off the I/O thread, unless it is a further page or may link
  // one (its text holds "next"): then the executor judges it now, to fetch the next page.
  void OnReply(std::size_t index, core::Result<core::HttpResponse> reply) {
    UpstreamAnswer answer;
    answer.kind = targets_[index].kind;
    answer.id = targets_[index].id;
    answer.latency_ms = MillisBetween(start_, Steady::now());
    bool later_page = false;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || !awaiting_[index]) {
        return;
      }
      later_page = judged_[index].has_value();
    }
    const std::size_t body_bytes = reply ? reply->body.size() : 0;
    const bool judge_here = !reply || body_bytes <= kJudgeOnArrivalBytes;
    const bool judge_soon =
        !judge_here &&
        (later_page || (max_pages_ > 1 && reply->body.find("\"next\"") != std::string::npos));
    answer.reply = std::move(reply);
    if (judge_here || (judge_soon && !executor_)) {
      OnJudged(index, JudgeAnswer(std::move(answer), options_), body_bytes, false);
      return;
    }
    if (judge_soon) {
      executor_(
          [self = shared_from_this(), index, body_bytes, answer = std::move(answer)]() mutable {
            self->OnJudged(index, JudgeAnswer(std::move(answer), self->options_), body_bytes, true);
          });
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (finished_ || !awaiting_[index] || raw_[index]) {
        return;
      }
      raw_[index] = std::move(answer);
      all_judged_ = false;
      awaiting_[index] = false;
      if (--pending_ > 0) {
        return;
      }
      finished_ = true;
    }
    Finish(false, false);
  }

  // A page judged: the target's first (kept as its answer) or a further one (added to it). While
  // its pages link a next one on the target's own base, within max_pages_ and the body limit,
  // the next is asked for and the target is still awaited; `on_executor`: this runs on the merge
  // executor, where the merge may run too.
  void OnJudged(std::size_t index, JudgedAnswer page, std::size_t body_bytes, bool on_executor) {
    std::optional<core::UpstreamRequest> next;
    bool merge_here = false;
    {
      std::lock_guard lock(mutex_);
      if (finished_ || !awaiting_[index]) {
        return;
      }
      judged_bytes_ += body_bytes;
      std::optional<JudgedAnswer>& first = judged_[index];
      const std::size_t pages = first ? first->next_pages.size() + 2 : 1;  // with this one
      const std::size_t target_bytes =
          body_bytes + (first ? first->body_bytes + first->next_pages_bytes : 0);
      if (page.bundle && page.outcome.more_pages && pages < max_pages_ &&
          target_bytes < options_.max_body_bytes) {
        next = NextPageRequest(*page.bundle, targets_[index]);
      }
      if (!first) {
        page.outcome.more_pages = page.outcome.more_pages && !next;
        first = std::move(page);
      } else {
        // A further page that failed leaves the rest missing; the pages before it stay.
        first->outcome.more_pages = !page.bundle || (page.outcome.more_pages && !next);
        first->outcome.latency_ms = page.outcome.latency_ms;
        if (page.bundle) {
          first->next_pages_bytes += page.body_bytes;
          first->next_pages.push_back(std::move(page));
        }
      }
      if (!next) {
        awaiting_[index] = false;
        if (--pending_ > 0) {
          return;
        }
        finished_ = true;
        merge_here = on_executor || (all_judged_ && judged_bytes_ <= merge_on_arrival_bytes_);
      }
    }
    if (next) {
      upstream_.Send(std::move(*next), deadline_,
                     [self = shared_from_this(), index](core::Result<core::HttpResponse> reply) {
                       self->OnReply(index, std::move(reply));
                     });
      return;
    }
    Finish(false, merge_here);
  }

  // The deadline passed (or the broker is stopping): answer with what has arrived.
  void Expire(bool shutting_down) {
    {
      std::lock_guard lock(mutex_);
      if (finished_) {
        return;
      }
      finished_ = true;
    }
    Finish(shutting_down, false);
  }

  // Answers at once when there is nothing to wait for.
  void FinishIfEmpty() {
    {
      std::lock_guard lock(mutex_);
      if (finished_ || pending_ > 0) {
        return;
      }
      finished_ = true;
    }
    Finish(false, false);
  }

 private:
  // `here`: merge on this thread even with an executor (small answers, all judged on arrival).
  void Finish(bool shutting_down, bool here) {
    // finished_ is set: no OnReply writes judged_ or raw_ any more, so they need no lock.
    MergeOptions options = options_;
    options.shutting_down = shutting_down;
    const std::int64_t waited = MillisBetween(start_, Steady::now());
    auto merge = [self = shared_from_this(), options = std::move(options), waited]() mutable {
      self->Merge(options, waited);
    };
    if (executor_ && !shutting_down && !here) {
      executor_(std::move(merge));
    } else {
      merge();
    }
  }

  void Merge(const MergeOptions& options, std::int64_t waited) {
    std::vector<JudgedAnswer> judged;
    judged.reserve(targets_.size());
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (judged_[i]) {
        // A page still awaited at the deadline: the rest of that target's result is missing.
        judged_[i]->outcome.more_pages = judged_[i]->outcome.more_pages || awaiting_[i];
        judged.push_back(std::move(*judged_[i]));
        continue;
      }
      if (raw_[i]) {
        judged.push_back(JudgeAnswer(std::move(*raw_[i]), options));
        continue;
      }
      UpstreamAnswer missing;  // no reply: timed out, or the broker is stopping
      missing.kind = targets_[i].kind;
      missing.id = targets_[i].id;
      missing.latency_ms = waited;
      judged.push_back(JudgeAnswer(std::move(missing), options));
    }
    FederatedResult result = MergeJudged(std::move(judged), std::move(not_queried_), options);
    std::size_t failed = 0;
    for (const TargetOutcome& target : result.targets) {
      if (target.status == TargetStatus::kFailed || target.status == TargetStatus::kTimedOut) {
        ++failed;
        Log().Warn("federated_target_failed", {{"request_id", request_id_},
                                               {"target", target.id},
                                               {"status", TargetStatusCode(target.status)},
                                               {"http_status", std::to_string(target.http_status)},
                                               {"latency_ms", std::to_string(target.latency_ms)},
                                               {"detail", target.detail}});
      } else if (target.more_pages) {
        Log().Warn("federated_target_truncated", {{"request_id", request_id_},
                                                  {"target", target.id},
                                                  {"matches", std::to_string(target.matches)}});
      }
    }
    // The caller logs the query at info (FhirApi: one line per request, with what it released);
    // this line times the fan-out and merge alone.
    if (Log().Enabled(core::LogLevel::kDebug)) {
      Log().Debug("federated_merged",
                  {{"request_id", request_id_},
                   {"targets", std::to_string(result.targets.size())},
                   {"failed", std::to_string(failed)},
                   {"total", std::to_string(result.total)},
                   {"ms", std::to_string(MillisBetween(start_, Steady::now()))}});
    }
    FederatedQuery::Done done = std::move(done_);
    done(std::move(result));
  }

  const std::vector<Target> targets_;
  std::vector<TargetOutcome> not_queried_;
  const MergeOptions options_;
  const Steady::time_point start_;
  const Steady::time_point deadline_;
  const std::string request_id_;
  const std::size_t merge_on_arrival_bytes_;
  const std::size_t max_pages_;
  core::UpstreamClient& upstream_;
  FederatedQuery::Executor executor_;
  FederatedQuery::Done done_;

  std::mutex mutex_;
  bool finished_ = false;
  // Per target, at most one of: the answer judged on arrival, or the answer left to the merge.
  std::vector<std::optional<JudgedAnswer>> judged_;
  std::vector<std::optional<UpstreamAnswer>> raw_;
  std::vector<bool> awaiting_;    // per target: a page (the first or a linked one) is on its way
  std::size_t pending_;           // targets awaited
  bool all_judged_ = true;        // no answer left raw_ (each was small enough to judge at once)
  std::size_t judged_bytes_ = 0;  // body bytes of the answers judged on arrival
};

}  // namespace

// One thread that expires queries at their deadline, so an answer never waits on an
// UpstreamClient that is late with its own timeout.
class FederatedQuery::DeadlineWatcher {
 public:
  DeadlineWatcher() : thread_([this] { Loop(); }) {}

  ~DeadlineWatcher() {
    std::multimap<Steady::time_point, std::weak_ptr<QueryState>> left;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      left.swap(due_);
    }
    wake_.notify_all();
    thread_.join();
    for (auto& [when, weak] : left) {
      if (auto state = weak.lock()) {
        state->Expire(true);
      }
    }
  }

  // Wakes the thread only when this deadline comes before every other it waits for: with one
  // deadline for all queries that is rare, where a wake-up per query cost a futex call and a
  // context switch per read.
  void Watch(const std::shared_ptr<QueryState>& state) {
    bool earliest = false;
    {
      std::lock_guard lock(mutex_);
      // Two statements: the operands of an overloaded == are unsequenced, and begin() taken
      // before the insert would be end() of an empty map (a sleeping watcher never woken).
      const auto placed = due_.emplace(state->deadline(), state);
      earliest = placed == due_.begin();
    }
    if (earliest) {
      wake_.notify_one();
    }
  }

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      // Queries that have answered (nothing holds their state) are dropped without waiting for
      // their deadlines, so the thread sleeps until the first query still in flight is due
      // instead of waking at every past query's deadline.
      while (!due_.empty() && due_.begin()->second.expired()) {
        due_.erase(due_.begin());
      }
      if (due_.empty()) {
        wake_.wait(lock);
        continue;
      }
      const auto first = due_.begin();
      if (Steady::now() < first->first) {
        wake_.wait_until(lock, first->first);
        continue;
      }
      std::weak_ptr<QueryState> weak = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      if (auto state = weak.lock()) {
        state->Expire(false);
      }
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<Steady::time_point, std::weak_ptr<QueryState>> due_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// ---- parsing the request ---------------------------------------------------------------------

core::Result<FederatedSearch> ParseFederatedSearch(std::string_view resource_type,
                                                   FederatedKind kind,
                                                   const std::vector<fhir::SearchParam>& params) {
  FederatedSearch search;
  search.kind = kind;
  if (kind == FederatedKind::kEverything) {
    resource_type = "Patient";
  }
  if (!IsResourceTypeName(resource_type)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "not a FHIR resource type", "type");
  }
  search.resource_type = std::string(resource_type);
  const bool by_identifier = resource_type == "Patient";
  const std::string_view where = by_identifier ? "identifier" : "patient:identifier";
  const fhir::SearchParam* nhs_param = nullptr;
  for (const fhir::SearchParam& param : params) {
    const bool is_nhs_param = by_identifier
                                  ? (param.name == "identifier" && param.modifier.empty())
                                  : (param.name == "patient" && param.modifier == "identifier");
    if (!is_nhs_param) {
      search.params.push_back(param);
      continue;
    }
    if (nhs_param != nullptr) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "a federated search takes one NHS number", std::string(where));
    }
    nhs_param = &param;
  }
  if (nhs_param == nullptr) {
    return core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                           "a federated search needs " + std::string(where) + "=" +
                               std::string(core::kNhsNumberSystem) + "|<NHS number>",
                           std::string(where));
  }
  if (fhir::SplitValues(nhs_param->value).size() != 1) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "a federated search takes one NHS number", std::string(where));
  }
  core::Result<std::string> nhs_number = fhir::NhsNumberFromIdentifierToken(nhs_param->value);
  if (!nhs_number) {
    core::Error error = std::move(nhs_number).error();
    error.location = std::string(where);
    return error;
  }
  search.nhs_number = std::move(*nhs_number);
  return search;
}

namespace {

bool IsOdsCode(std::string_view text) {
  return text.size() >= 3 && text.size() <= 10 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
         });
}

bool IsPurposeToken(std::string_view text) {
  return !text.empty() && text.size() <= 32 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

}  // namespace

core::Result<NamedRequester> ParseRequesterHeader(std::string_view value) {
  const auto invalid = [] {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "must be <ODS code>;purpose=<purpose of use code>",
                           std::string(kRequesterHeader));
  };
  const std::size_t semicolon = value.find(';');
  if (semicolon == std::string_view::npos) {
    return invalid();
  }
  const std::string_view ods = Trim(value.substr(0, semicolon));
  const std::string_view rest = value.substr(semicolon + 1);
  const std::size_t equals = rest.find('=');
  if (equals == std::string_view::npos || Trim(rest.substr(0, equals)) != "purpose") {
    return invalid();
  }
  const std::string_view purpose = Trim(rest.substr(equals + 1));
  if (!IsOdsCode(ods) || !IsPurposeToken(purpose)) {
    return invalid();
  }
  return NamedRequester{std::string(ods), std::string(purpose)};
}

std::string FormatRequesterHeader(const NamedRequester& requester) {
  return requester.ods + ";purpose=" + requester.purpose;
}

core::Result<HopInfo> ParseHopHeaders(const core::HttpHeaders& headers) {
  HopInfo info;
  if (headers.Has(kHopsHeader)) {
    const std::optional<int> hops = core::ParseWholeNumber<int>(Trim(headers.Get(kHopsHeader)));
    if (!hops || *hops > kMaxHopsHeaderValue) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "must be a hop count from 0 to " + std::to_string(kMaxHopsHeaderValue),
                             std::string(kHopsHeader));
    }
    info.hops = *hops;
  }
  if (headers.Has(kVisitedHeader)) {
    std::string_view rest = headers.Get(kVisitedHeader);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view id = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (!IsBrokerId(id) || info.visited.size() >= kMaxVisited) {
        return core::MakeError(
            core::ErrorCode::kInvalidValue,
            "must be up to " + std::to_string(kMaxVisited) + " comma-separated broker ids",
            std::string(kVisitedHeader));
      }
      info.visited.emplace_back(id);
    }
  }
  if (headers.Has(kDeadlineHeader)) {
    const std::optional<std::int64_t> ms =
        core::ParseWholeNumber<std::int64_t>(Trim(headers.Get(kDeadlineHeader)));
    if (!ms || *ms > kMaxDeadlineHeaderMs) {
      return core::MakeError(
          core::ErrorCode::kInvalidValue,
          "must be milliseconds from 0 to " + std::to_string(kMaxDeadlineHeaderMs),
          std::string(kDeadlineHeader));
    }
    info.time_left = std::chrono::milliseconds(*ms);
  }
  return info;
}

namespace {

// The time a peer is given for its answer out of this query's `budget`: a tenth (at least
// 100 ms) is kept for the answer's way back and this broker's merge, so that a peer whose own
// trust is slow still answers in time with what it has (its trusts' data and its flags), rather
// than the whole peer being flagged late at the same moment its answer is being written.
std::chrono::milliseconds PeerTimeLeft(std::chrono::milliseconds budget) {
  const std::chrono::milliseconds margin =
      std::max<std::chrono::milliseconds>(budget / 10, std::chrono::milliseconds(100));
  return std::max(budget - margin, std::chrono::milliseconds(0));
}

}  // namespace

// ---- FederatedQuery --------------------------------------------------------------------------

FederatedQuery::FederatedQuery(FederatedQuerySettings settings,
                               const ParticipantDirectory& directory, core::RecordLocator& locator,
                               core::UpstreamClient& upstream, const core::Clock& clock,
                               Executor merge_executor)
    : settings_(std::move(settings)),
      directory_(directory),
      locator_(locator),
      upstream_(upstream),
      clock_(clock),
      merge_executor_(std::move(merge_executor)),
      watcher_(std::make_unique<DeadlineWatcher>()) {}

FederatedQuery::~FederatedQuery() = default;

core::Result<std::vector<core::LocatorEntry>> FederatedQuery::Holders(
    const std::string& nhs_number) {
  return locator_.Lookup(nhs_number);
}

void FederatedQuery::Run(FederatedSearch search, Done done) {
  const Steady::time_point start = Steady::now();
  if (!core::IsValidNhsNumber(search.nhs_number)) {
    done(core::MakeError(
        core::ErrorCode::kInvalidValue,
        "identifier must be " + std::string(core::kNhsNumberSystem) + "|<valid NHS number>",
        "identifier"));
    return;
  }
  if (search.kind == FederatedKind::kSearch && !IsResourceTypeName(search.resource_type)) {
    done(core::MakeError(core::ErrorCode::kInvalidValue, "not a FHIR resource type", "type"));
    return;
  }
  for (const auto& [value, header] :
       {std::pair{&search.request_id, kRequestIdHeader},
        std::pair{&search.purpose_of_use, kPurposeOfUseHeader},
        std::pair{&search.break_glass_reason, kBreakGlassReasonHeader}}) {
    if (!IsSafeHeaderValue(*value)) {
      done(core::MakeError(core::ErrorCode::kInvalidValue, "invalid header value",
                           std::string(header)));
      return;
    }
  }
  for (const std::string& id : search.visited) {
    if (!IsBrokerId(id)) {
      done(core::MakeError(core::ErrorCode::kInvalidValue, "invalid broker id",
                           std::string(kVisitedHeader)));
      return;
    }
  }

  core::Result<std::vector<core::LocatorEntry>> located =
      search.holders ? std::move(*search.holders) : Holders(search.nhs_number);
  if (!located) {
    done(std::move(located).error());
    return;
  }

  // The request every target gets, relative to its FHIR base.
  const bool by_patient_link =
      search.kind == FederatedKind::kSearch && search.resource_type != "Patient";
  std::string query;
  AppendParam(query, by_patient_link ? "patient" : "identifier",
              by_patient_link ? "identifier" : "",
              std::string(core::kNhsNumberSystem) + "|" + search.nhs_number);
  for (const fhir::SearchParam& param : search.params) {
    AppendParam(query, param.name, param.modifier, param.value);
  }
  const std::string path = search.kind == FederatedKind::kEverything
                               ? std::string("/Patient/$everything")
                               : "/" + search.resource_type;
  core::HttpRequest request;
  if (settings_.post_searches) {
    // The same parameters as a form body: the NHS number stays out of upstream URLs and logs.
    request.method = "POST";
    request.target = search.kind == FederatedKind::kEverything ? path : path + "/_search";
    request.body = query.substr(1);
    request.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  } else {
    request.method = "GET";
    request.target = path + query;
  }
  request.headers.Set("Accept", "application/fhir+json");
  if (!search.request_id.empty()) {
    request.headers.Set(std::string(kRequestIdHeader), search.request_id);
  }
  if (!search.purpose_of_use.empty()) {
    request.headers.Set(std::string(kPurposeOfUseHeader), search.purpose_of_use);
  }
  if (!search.break_glass_reason.empty()) {
    request.headers.Set(std::string(kBreakGlassReasonHeader), search.break_glass_reason);
  }

  // Peers learn the original requester only from a valid, complete pair.
  const bool send_requester =
      IsOdsCode(search.original_requester) && IsPurposeToken(search.purpose_of_use);

  // targets[i] is sent requests[i].
  std::vector<Target> targets;
  std::vector<core::UpstreamRequest> requests;
  targets.reserve(located->size() + directory_.peers().size());
  requests.reserve(targets.capacity());
  std::vector<TargetOutcome> not_queried;
  const auto skip = [&](TargetKind kind, std::string id, core::Error why, bool flag) {
    TargetOutcome outcome;
    outcome.kind = kind;
    outcome.id = std::move(id);
    outcome.status = TargetStatus::kNotQueried;
    outcome.error = std::move(why);
    outcome.flag_in_bundle = flag;
    not_queried.push_back(std::move(outcome));
  };
  for (const core::LocatorEntry& entry : *located) {
    const bool already = std::any_of(targets.begin(), targets.end(),
                                     [&](const Target& t) { return t.id == entry.ods; }) ||
                         std::any_of(not_queried.begin(), not_queried.end(),
                                     [&](const TargetOutcome& t) { return t.id == entry.ods; });
    if (already || entry.ods == settings_.self_ods) {
      continue;
    }
    const Participant* participant = directory_.FindByOds(entry.ods);
    if (participant == nullptr) {
      // Data only goes to (and comes from) registered participants.
      skip(TargetKind::kTrust, entry.ods,
           core::MakeError(core::ErrorCode::kNotFound, "trust " + entry.ods + " is not registered"),
           false);
      continue;
    }
    if (participant->fhir_base.empty()) {
      skip(TargetKind::kTrust, entry.ods,
           core::MakeError(core::ErrorCode::kUnsupportedMessage,
                           "trust " + entry.ods +
                               " holds records for this patient but has no FHIR endpoint; they "
                               "are not included"),
           true);
      continue;
    }
    targets.push_back(Target{TargetKind::kTrust, entry.ods, {}, {}, {}});
    requests.push_back(
        core::UpstreamRequest{participant->fhir_base, participant->cert_cn, request});
  }

  std::chrono::milliseconds budget = search.deadline.value_or(settings_.default_deadline);
  if (search.time_left) {
    budget = std::min(budget, *search.time_left);
  }
  budget = std::clamp(budget, std::chrono::milliseconds(0), settings_.max_deadline);

  const bool self_visited = std::find(search.visited.begin(), search.visited.end(),
                                      settings_.self_id) != search.visited.end();
  const int hops = std::clamp(search.hops, 0, kMaxHopsHeaderValue);
  const bool may_forward = !self_visited && hops < settings_.max_hops;
  if (!self_visited && !may_forward) {
    // Out of hops: data behind the peers not yet visited is missing, and the answer says so
    // (partial answers are never silent). A peer already visited answers its own part.
    for (const Peer& peer : directory_.peers()) {
      if (!peer.fhir_base.empty() && peer.id != settings_.self_id &&
          std::find(search.visited.begin(), search.visited.end(), peer.id) ==
              search.visited.end()) {
        skip(TargetKind::kPeer, peer.id,
             core::MakeError(core::ErrorCode::kUnsupportedMessage,
                             "peer broker " + peer.id + " was not asked: the request has made " +
                                 std::to_string(hops) + " broker hops, the most allowed"),
             true);
      }
    }
  }
  if (may_forward) {
    std::string visited;
    for (const std::string& id : search.visited) {
      visited += id;
      visited += ',';
    }
    visited += settings_.self_id;
    for (const Peer& peer : directory_.peers()) {
      if (std::find(search.visited.begin(), search.visited.end(), peer.id) !=
              search.visited.end() ||
          peer.id == settings_.self_id) {
        skip(TargetKind::kPeer, peer.id,
             core::MakeError(core::ErrorCode::kConflict,
                             "peer broker " + peer.id + " already handled this request"),
             false);
        continue;
      }
      if (peer.fhir_base.empty()) {
        continue;
      }
      targets.push_back(Target{TargetKind::kPeer, peer.id, {}, {}, {}});
      core::UpstreamRequest& to_peer =
          requests.emplace_back(core::UpstreamRequest{peer.fhir_base, peer.cert_cn, request});
      to_peer.request.headers.Set(std::string(kHopsHeader), std::to_string(hops + 1));
      to_peer.request.headers.Set(std::string(kVisitedHeader), visited);
      to_peer.request.headers.Set(std::string(kDeadlineHeader),
                                  std::to_string(PeerTimeLeft(budget).count()));
      if (send_requester) {
        to_peer.request.headers.Set(
            std::string(kRequesterHeader),
            FormatRequesterHeader({search.original_requester, search.purpose_of_use}));
      }
    }
  }

  if (search.reachability_only) {
    // Nothing about the patient leaves: every target gets the same capability read.
    core::HttpRequest probe;
    probe.method = "GET";
    probe.target = "/metadata";
    probe.headers.Set("Accept", "application/fhir+json");
    if (!search.request_id.empty()) {
      probe.headers.Set(std::string(kRequestIdHeader), search.request_id);
    }
    for (core::UpstreamRequest& each : requests) {
      each.request = probe;
    }
    request.headers = probe.headers;  // any next-page request (none: no answer links one)
  }

  const Steady::time_point deadline = start + budget;

  MergeOptions options;
  options.deadline_ms = budget.count();
  options.bundle_id = BundleIdFrom(search.request_id);
  options.timestamp = core::FormatInstant(clock_.Now());
  options.as_document = search.as_document;

  Log().Debug("federated_fan_out", {{"request_id", search.request_id},
                                    {"requester", search.requester_ods},
                                    {"targets", std::to_string(targets.size())},
                                    {"not_queried", std::to_string(not_queried.size())},
                                    {"hops", std::to_string(hops)}});

  if (settings_.max_pages > 1 && !targets.empty()) {
    // Every target's request is a copy of `request` by now: its headers move here.
    auto headers = std::make_shared<const core::HttpHeaders>(std::move(request.headers));
    for (std::size_t i = 0; i < targets.size(); ++i) {
      targets[i].base_url = requests[i].base_url;
      targets[i].expected_cn = requests[i].expected_cn;
      targets[i].page_headers = headers;
    }
  }
  auto state = std::make_shared<QueryState>(std::move(targets), std::move(not_queried),
                                            std::move(options), start, deadline, search.request_id,
                                            settings_.merge_on_arrival_bytes, settings_.max_pages,
                                            upstream_, merge_executor_, std::move(done));
  if (state->targets().empty()) {
    state->FinishIfEmpty();
    return;
  }
  watcher_->Watch(state);
  const bool reachability_only = search.reachability_only;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    // Each callback holds the state, so a late one after the answer finds it alive and finished.
    upstream_.Send(
        std::move(requests[i]), deadline,
        [state, i, reachability_only](core::Result<core::HttpResponse> reply) {
          if (reachability_only && reply && reply->status >= 200 && reply->status < 300) {
            // Reached: judged as an answer holding no data.
            reply->body = R"({"resourceType":"Bundle","type":"searchset","total":0})";
            reply->headers.Set("Content-Type", "application/fhir+json");
          }
          state->OnReply(i, std::move(reply));
        });
  }
}

}  // namespace tb::routing
