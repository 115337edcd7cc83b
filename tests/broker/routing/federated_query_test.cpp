// FederatedQuery: fan-out to the trusts the locator lists and to peer brokers, one shared
// deadline, the merged Bundle, hop headers, and the request parsing helpers. Upstreams are a
// scripted fake whose delays run on real threads (kept short).
#include "broker/routing/federated_query.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "tests/support/in_memory_record_locator.h"
#include "tests/support/wait_for.h"

namespace tb::routing {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr std::string_view kNhs = "9434765919";
constexpr std::string_view kOtherNhs = "9449305552";

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'000'000'123));
  }
};

// A scripted core::UpstreamClient. Each Send answers on its own thread after the scripted delay;
// like the real client it answers kTimeout at the deadline unless told to ignore it. Unscripted
// bases answer kUpstreamUnavailable at once (a trust that is down).
class FakeUpstreamClient final : public core::UpstreamClient {
 public:
  struct Plan {
    std::chrono::milliseconds delay{0};
    core::Result<core::HttpResponse> reply = core::HttpResponse{};
    bool honour_deadline = true;
    bool hold = false;  // wait for Release() (or the deadline) before answering
  };

  ~FakeUpstreamClient() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) {
      thread.join();
    }
  }

  void Script(const std::string& base_url, Plan plan) {
    std::lock_guard lock(mutex_);
    scripts_.insert_or_assign(base_url, std::move(plan));
  }
  // The answer to one request target at `base_url` (a linked page), ahead of Script's.
  void ScriptPage(const std::string& base_url, const std::string& target, Plan plan) {
    std::lock_guard lock(mutex_);
    scripts_.insert_or_assign(base_url + " " + target, std::move(plan));
  }

  void Send(core::UpstreamRequest request, Steady::time_point deadline, Callback done) override {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    Plan script;
    if (auto page = scripts_.find(request.base_url + " " + request.request.target);
        page != scripts_.end()) {
      script = page->second;
    } else if (auto found = scripts_.find(request.base_url); found != scripts_.end()) {
      script = found->second;
    } else {
      script.reply = core::MakeError(core::ErrorCode::kUpstreamUnavailable,
                                     "connect: connection refused (10.0.0.7:9101)");
    }
    threads_.emplace_back([this, script = std::move(script), deadline,
                           done = std::move(done)]() mutable { Answer(script, deadline, done); });
  }

  std::vector<core::UpstreamRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  const core::UpstreamRequest* RequestTo(const std::string& base_url) const {
    std::lock_guard lock(mutex_);
    for (const core::UpstreamRequest& request : requests_) {
      if (request.base_url == base_url) {
        return &request;
      }
    }
    return nullptr;
  }
  std::size_t sent() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  std::size_t delivered() const { return delivered_.load(); }

  // Lets held replies go.
  void Release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    wake_.notify_all();
  }

 private:
  void Answer(Plan& script, Steady::time_point deadline, Callback& done) {
    auto when = Steady::now() + script.delay;
    bool timeout = false;
    if (script.honour_deadline && when > deadline) {
      when = deadline;
      timeout = true;
    }
    {
      std::unique_lock lock(mutex_);
      if (script.hold) {
        wake_.wait_until(lock, when, [this] { return stopping_ || released_; });
        if (released_ && Steady::now() < when) {
          timeout = false;
          when = Steady::now();
        }
      } else {
        wake_.wait_until(lock, when, [this] { return stopping_; });
      }
      if (stopping_ && Steady::now() < when) {
        script.reply = core::MakeError(core::ErrorCode::kUpstreamUnavailable, "client stopped");
        timeout = false;
      }
    }
    if (timeout) {
      done(core::MakeError(core::ErrorCode::kTimeout, "deadline passed"));
    } else {
      done(std::move(script.reply));
    }
    ++delivered_;
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool released_ = false;
  std::map<std::string, Plan> scripts_;
  std::vector<core::UpstreamRequest> requests_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> delivered_{0};
};

std::string Base(std::string_view ods) { return "https://" + std::string(ods) + ".test/fhir"; }

core::HttpResponse Response(int status, std::string body) {
  core::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.Set("Content-Type", "application/fhir+json");
  return response;
}

// A searchset Bundle holding `resources` (JSON objects) as match entries.
std::string Searchset(const std::vector<std::string>& resources) {
  std::string bundle = R"({"resourceType":"Bundle","type":"searchset","total":)" +
                       std::to_string(resources.size()) + R"(,"entry":[)";
  for (std::size_t i = 0; i < resources.size(); ++i) {
    bundle += (i > 0 ? "," : "");
    bundle += R"({"fullUrl":"https://x.test/fhir/R/)" + std::to_string(i) + R"(","resource":)" +
              resources[i] + R"(,"search":{"mode":"match"}})";
  }
  return bundle + "]}";
}

// The same, as one page of a longer result: it links `next`.
std::string Page(const std::vector<std::string>& resources, std::string_view next) {
  std::string bundle = Searchset(resources);
  bundle.insert(bundle.find(R"("entry")"), R"("link":[{"relation":"self","url":"https://x.test"},)"
                                           R"({"relation":"next","url":")" +
                                               std::string(next) + R"("}],)");
  return bundle;
}

std::string Resource(std::string_view type, std::string_view id) {
  return R"({"resourceType":")" + std::string(type) + R"(","id":")" + std::string(id) + R"("})";
}

// One entry of the merged Bundle, read back.
struct Seen {
  std::string type;
  std::string id;
  std::string source;
  std::string mode;
  std::string diagnostics;  // first issue, for OperationOutcome entries
  std::string issue_code;
  std::string severity;
  std::string extension_value;
};

struct Parsed {
  std::string type;
  std::int64_t total = -1;
  std::vector<Seen> entries;
  std::vector<Seen> outcomes() const {
    std::vector<Seen> found;
    for (const Seen& seen : entries) {
      if (seen.type == "OperationOutcome") {
        found.push_back(seen);
      }
    }
    return found;
  }
  std::vector<Seen> matches() const {
    std::vector<Seen> found;
    for (const Seen& seen : entries) {
      if (seen.mode == "match") {
        found.push_back(seen);
      }
    }
    return found;
  }
};

std::string Str(const rapidjson::Value* object, std::string_view name) {
  if (object == nullptr) {
    return {};
  }
  const auto value = fhir::FindString(*object, name);
  return value ? std::string(*value) : std::string();
}

Parsed ParseBundle(const std::string& json) {
  Parsed parsed;
  auto document = fhir::ParseJson(json);
  EXPECT_TRUE(document.has_value());
  if (!document) {
    return parsed;
  }
  EXPECT_EQ(Str(&*document, "resourceType"), "Bundle");
  parsed.type = Str(&*document, "type");
  if (auto total = fhir::GetInt64(*document, "total")) {
    parsed.total = *total;
  }
  if (const rapidjson::Value* entries = fhir::FindArray(*document, "entry")) {
    for (const rapidjson::Value& entry : entries->GetArray()) {
      Seen seen;
      const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
      seen.type = Str(resource, "resourceType");
      seen.id = Str(resource, "id");
      seen.source = Str(resource ? fhir::FindObject(*resource, "meta") : nullptr, "source");
      seen.mode = Str(fhir::FindObject(entry, "search"), "mode");
      if (const rapidjson::Value* issues = resource ? fhir::FindArray(*resource, "issue") : nullptr;
          issues != nullptr && !issues->Empty()) {
        seen.diagnostics = Str(&(*issues)[0], "diagnostics");
        seen.issue_code = Str(&(*issues)[0], "code");
        seen.severity = Str(&(*issues)[0], "severity");
      }
      if (const rapidjson::Value* extensions =
              resource ? fhir::FindArray(*resource, "extension") : nullptr;
          extensions != nullptr && !extensions->Empty()) {
        seen.extension_value = Str(fhir::FindObject((*extensions)[0], "valueIdentifier"), "value");
      }
      parsed.entries.push_back(seen);
    }
  }
  return parsed;
}

Participant Trust(std::string ods, bool with_fhir = true) {
  Participant participant;
  participant.cert_cn = ods + "-cn";
  participant.fhir_base = with_fhir ? Base(ods) : std::string();
  participant.ods = std::move(ods);
  return participant;
}

Peer MakePeer(std::string id) {
  Peer peer;
  peer.cert_cn = id;
  peer.fhir_base = Base(id);
  peer.id = std::move(id);
  return peer;
}

class FederatedQueryTest : public ::testing::Test {
 protected:
  void SetUpDirectory(std::vector<Peer> peers = {}) {
    directory_ = std::make_unique<ParticipantDirectory>(
        std::vector<Participant>{Trust("RJ1"), Trust("RGT"), Trust("RX9"), Trust("R00", false)},
        std::move(peers));
  }

  FederatedQuery& Engine(FederatedQuery::Executor executor = {},
                         std::size_t merge_on_arrival_bytes = 16 * 1024) {
    if (!directory_) {
      SetUpDirectory();
    }
    if (!engine_) {
      FederatedQuerySettings settings;
      settings.self_id = "broker-a";
      settings.self_ods = "X26";
      settings.default_deadline = 2000ms;
      settings.max_hops = 3;
      settings.merge_on_arrival_bytes = merge_on_arrival_bytes;
      settings.max_pages = max_pages_;
      engine_ = std::make_unique<FederatedQuery>(settings, *directory_, locator_, upstream_, clock_,
                                                 std::move(executor));
    }
    return *engine_;
  }

  void Holds(std::string_view nhs, std::string_view ods) {
    ASSERT_TRUE(locator_.Announce(std::string(nhs), std::string(ods), "admin", 1).has_value());
  }

  static FederatedSearch Search(std::string type = "Patient") {
    FederatedSearch search;
    search.kind = FederatedKind::kSearch;
    search.resource_type = std::move(type);
    search.nhs_number = std::string(kNhs);
    search.request_id = "req-42";
    search.purpose_of_use = "TREAT";
    search.requester_ods = "RJ1";
    return search;
  }

  // Runs a query and waits (at most 5 s) for its answer; done_calls_ counts how often `done` ran.
  core::Result<FederatedResult> RunAndWait(FederatedSearch search) {
    auto promise = std::make_shared<std::promise<core::Result<FederatedResult>>>();
    auto future = promise->get_future();
    done_calls_ = std::make_shared<std::atomic<int>>(0);
    Engine().Run(std::move(search), [promise, calls = done_calls_](auto result) {
      if (calls->fetch_add(1) == 0) {
        promise->set_value(std::move(result));
      }
    });
    if (future.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 5 s";
      return core::MakeError(core::ErrorCode::kInternal, "test: no answer");
    }
    return future.get();
  }

  // Declared first, destroyed last: its threads may still call back into finished queries.
  FakeUpstreamClient upstream_;
  testing::InMemoryRecordLocator locator_;
  FixedClock clock_;
  std::unique_ptr<ParticipantDirectory> directory_;
  std::shared_ptr<std::atomic<int>> done_calls_ = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<FederatedQuery> engine_;
  std::size_t max_pages_ = 20;  // FederatedQuerySettings::max_pages, read by Engine()
};

TEST_F(FederatedQueryTest, TestDataIsValid) {
  EXPECT_TRUE(core::IsValidNhsNumber(kNhs));
  EXPECT_TRUE(core::IsValidNhsNumber(kOtherNhs));
}

TEST_F(FederatedQueryTest, MergesThreeTrustsWithTheirSources) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  Holds(kNhs, "RX9");
  // A trust's own meta.source is replaced: the broker, not the trust, says where data came from.
  upstream_.Script(Base("RJ1"), {10ms, Response(200, Searchset({R"({"resourceType":"Patient",
      "id":"p1","meta":{"source":"http://elsewhere"}})",
                                                                Resource("Observation", "o1")}))});
  upstream_.Script(
      Base("RGT"),
      {30ms, Response(200, Searchset({Resource("Patient", "p7"), Resource("Observation", "o1")}))});
  upstream_.Script(Base("RX9"), {0ms, Response(200, Searchset({Resource("Patient", "p3")}))});

  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->total, 5u);
  EXPECT_FALSE(result->partial);
  const Parsed bundle = ParseBundle(result->bundle_json);
  EXPECT_EQ(bundle.type, "searchset");
  EXPECT_EQ(bundle.total, 5);
  ASSERT_EQ(bundle.entries.size(), 5u);
  // By source ODS code, then each trust's own order; Observation/o1 at two trusts is two records.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"RGT", "p7"}, {"RGT", "o1"}, {"RJ1", "p1"}, {"RJ1", "o1"}, {"RX9", "p3"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(bundle.entries[i].source, expected[i].first) << i;
    EXPECT_EQ(bundle.entries[i].id, expected[i].second) << i;
    EXPECT_EQ(bundle.entries[i].mode, "match") << i;
  }
  ASSERT_EQ(result->targets.size(), 3u);
  EXPECT_EQ(result->targets[0].id, "RGT");
  EXPECT_EQ(result->targets[0].status, TargetStatus::kOk);
  EXPECT_EQ(result->targets[0].http_status, 200);
  EXPECT_EQ(result->targets[0].matches, 2u);
}

// Small answers are parsed as they arrive, large ones (over 32 KiB) in the merge: both kinds in
// one query are merged by the same rules.
TEST_F(FederatedQueryTest, LargeAnswersAreMergedWithSmallOnes) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  std::vector<std::string> many;
  for (int i = 0; i < 600; ++i) {
    many.push_back(Resource("Observation", "obs-" + std::to_string(i)));
  }
  const std::string large = Searchset(many);
  ASSERT_GT(large.size(), 32u * 1024u);
  upstream_.Script(Base("RJ1"), {0ms, Response(200, large)});
  upstream_.Script(Base("RGT"), {5ms, Response(200, Searchset({Resource("Observation", "o1")}))});
  auto result = RunAndWait(Search("Observation"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->total, 601u);
  EXPECT_FALSE(result->partial);
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.entries.size(), 601u);
  EXPECT_EQ(bundle.entries[0].source, "RGT");
  EXPECT_EQ(bundle.entries[1].source, "RJ1");
  EXPECT_EQ(bundle.entries[1].id, "obs-0");
  EXPECT_EQ(bundle.entries[600].id, "obs-599");
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[1].matches, 600u);
}

TEST_F(FederatedQueryTest, SameResourceFromSameTrustAppearsOnce) {
  Holds(kNhs, "RJ1");
  upstream_.Script(
      Base("RJ1"),
      {0ms, Response(200, Searchset({Resource("Observation", "o1"), Resource("Observation", "o2"),
                                     Resource("Observation", "o1")}))});
  auto result = RunAndWait(Search("Observation"));
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.entries.size(), 2u);
  EXPECT_EQ(bundle.entries[0].id, "o1");
  EXPECT_EQ(bundle.entries[1].id, "o2");
  EXPECT_EQ(bundle.total, 2);
}

TEST_F(FederatedQueryTest, SlowTrustIsFlaggedAndTheAnswerComesAtTheDeadline) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  upstream_.Script(Base("RGT"), {10s, Response(200, Searchset({Resource("Patient", "p7")}))});
  FederatedSearch search = Search();
  search.deadline = 200ms;

  const auto start = Steady::now();
  auto result = RunAndWait(search);
  const auto elapsed = Steady::now() - start;
  ASSERT_TRUE(result.has_value());
  // Generous bound: the point is "about the deadline", not "the 10 s of the slow trust".
  EXPECT_LT(elapsed, 200ms + 2s);
  EXPECT_TRUE(result->partial);
  const Parsed bundle = ParseBundle(result->bundle_json);
  EXPECT_EQ(bundle.total, 1);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  const Seen outcome = bundle.outcomes()[0];
  EXPECT_EQ(outcome.mode, "outcome");
  EXPECT_EQ(outcome.issue_code, "timeout");
  EXPECT_EQ(outcome.severity, "warning");
  EXPECT_EQ(outcome.diagnostics, "trust RGT did not answer within 200 ms");
  EXPECT_EQ(outcome.source, "RGT");
  EXPECT_EQ(outcome.extension_value, "RGT");
  // Outcomes come first, then the data.
  EXPECT_EQ(bundle.entries[0].type, "OperationOutcome");
  EXPECT_EQ(bundle.entries[1].id, "p1");
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[0].id, "RGT");
  EXPECT_EQ(result->targets[0].status, TargetStatus::kTimedOut);
}

TEST_F(FederatedQueryTest, AnswersAtTheDeadlineEvenWhenTheClientIsLateAndIgnoresLateReplies) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  // This client overruns the deadline it was given; the engine must not wait for it.
  FakeUpstreamClient::Plan late;
  late.delay = 600ms;
  late.reply = Response(200, Searchset({Resource("Patient", "p7")}));
  late.honour_deadline = false;
  upstream_.Script(Base("RGT"), late);
  FederatedSearch search = Search();
  search.deadline = 100ms;

  auto result = RunAndWait(search);
  ASSERT_TRUE(result.has_value());
  // Answered before the slow reply was even delivered.
  EXPECT_LT(upstream_.delivered(), 2u);
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RGT did not answer within 100 ms");
  EXPECT_EQ(bundle.total, 1);
  // The late reply arrives afterwards and changes nothing: done ran exactly once.
  EXPECT_TRUE(tb::testing::WaitFor([&] { return upstream_.delivered() == 2; }));
  EXPECT_EQ(done_calls_->load(), 1);
}

// The deadline thread is asleep with nothing to watch when each query arrives (the first, and
// the second after the first has answered): each query must wake it, or only the late client's
// own reply would ever answer.
TEST_F(FederatedQueryTest, AQueryWakesTheDeadlineThreadWhenItWatchesNothing) {
  Holds(kNhs, "RGT");
  FakeUpstreamClient::Plan late;
  late.delay = 2s;
  late.reply = Response(200, Searchset({Resource("Patient", "p7")}));
  late.honour_deadline = false;
  upstream_.Script(Base("RGT"), late);
  Engine();
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(50ms);  // the thread reaches its wait
    FederatedSearch search = Search();
    search.deadline = 50ms;
    const auto started = Steady::now();
    auto result = RunAndWait(search);
    ASSERT_TRUE(result.has_value());
    EXPECT_LT(Steady::now() - started, 1500ms) << "round " << round;
    const Parsed bundle = ParseBundle(result->bundle_json);
    ASSERT_EQ(bundle.outcomes().size(), 1u);
    EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RGT did not answer within 50 ms");
  }
}

TEST_F(FederatedQueryTest, DownTrustIsFlaggedWithoutTransportDetail) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RX9");  // unscripted: connection refused
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RX9 is unavailable");
  EXPECT_EQ(bundle.outcomes()[0].issue_code, "transient");
  EXPECT_EQ(result->bundle_json.find("10.0.0.7"), std::string::npos);
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[1].id, "RX9");
  EXPECT_EQ(result->targets[1].status, TargetStatus::kFailed);
  EXPECT_NE(result->targets[1].detail.find("connection refused"), std::string::npos);
}

TEST_F(FederatedQueryTest, ErrorStatusAndNonBundleAnswersAreFlagged) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  Holds(kNhs, "RX9");
  upstream_.Script(Base("RJ1"), {0ms, Response(500, R"({"resourceType":"OperationOutcome"})")});
  upstream_.Script(Base("RGT"), {0ms, Response(200, Resource("Patient", "p7"))});
  upstream_.Script(Base("RX9"), {0ms, Response(200, "<html>proxy error</html>")});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->partial);
  const Parsed bundle = ParseBundle(result->bundle_json);
  EXPECT_EQ(bundle.total, 0);
  ASSERT_EQ(bundle.outcomes().size(), 3u);
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RGT did not answer with a FHIR Bundle");
  EXPECT_EQ(bundle.outcomes()[1].diagnostics, "trust RJ1 answered HTTP 500");
  EXPECT_EQ(bundle.outcomes()[2].diagnostics, "trust RX9 did not answer with a FHIR Bundle");
  EXPECT_EQ(result->targets[1].http_status, 500);
}

TEST_F(FederatedQueryTest, UnknownNhsNumberGivesAnEmptySearchset) {
  Holds(kOtherNhs, "RJ1");
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  EXPECT_EQ(bundle.type, "searchset");
  EXPECT_EQ(bundle.total, 0);
  EXPECT_TRUE(bundle.entries.empty());
  EXPECT_FALSE(result->partial);
  EXPECT_EQ(upstream_.sent(), 0u);
}

TEST_F(FederatedQueryTest, InvalidNhsNumberIsAnError) {
  FederatedSearch search = Search();
  search.nhs_number = "9434765918";  // wrong check digit
  auto result = RunAndWait(search);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(result.error().location, "identifier");
  EXPECT_EQ(result.error().message.find("9434765918"), std::string::npos);
  EXPECT_EQ(upstream_.sent(), 0u);
}

TEST_F(FederatedQueryTest, LocatorFailureIsReturned) {
  locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "database is locked"));
  auto result = RunAndWait(Search());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, core::ErrorCode::kStorage);
}

// Holders the caller read already (on an I/O thread that may not wait) are used as they are: the
// locator is not asked again, so its failure or newer entries do not matter to this query.
TEST_F(FederatedQueryTest, HoldersReadByTheCallerAreUsedWithoutAskingTheLocator) {
  Holds(kNhs, "RGT");
  auto holders = Engine().Holders(std::string(kNhs));
  ASSERT_TRUE(holders.has_value());
  ASSERT_EQ(holders->size(), 1u);
  Holds(kNhs, "RX9");  // announced after the caller read the holders
  locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "database is locked"));
  upstream_.Script(Base("RGT"), {0ms, Response(200, Searchset({Resource("Patient", "p7")}))});
  FederatedSearch search = Search();
  search.holders = std::move(*holders);
  auto result = RunAndWait(std::move(search));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_EQ(result->targets.size(), 1u);
  EXPECT_EQ(result->targets[0].id, "RGT");
  EXPECT_EQ(result->total, 1u);
  EXPECT_EQ(upstream_.sent(), 1u);
}

// A trust that pages its result has every page fetched while its searchset links a next one on
// its own base (an absolute URL under its fhir_base, or a path under the base's path, as a peer
// broker's /fhir/_page link is): one answer from the trust, no flag. Further pages are GETs with
// the first request's headers and no body, also after a POST _search.
TEST_F(FederatedQueryTest, FollowsATrustsNextPagesOnItsOwnBase) {
  Holds(kNhs, "RGT");
  Holds(kNhs, "RX9");
  upstream_.Script(Base("RGT"),
                   {0ms, Response(200, Page({Resource("Observation", "o1")},
                                            Base("RGT") + "/Observation?_page=2&x=%7C"))});
  upstream_.ScriptPage(Base("RGT"), "/Observation?_page=2&x=%7C",
                       {5ms, Response(200, Page({Resource("Observation", "o2")},
                                                "/fhir/_page?token=abc&offset=2"))});
  upstream_.ScriptPage(
      Base("RGT"), "/_page?token=abc&offset=2",
      {0ms, Response(200, Searchset({Resource("Observation", "o3"), Resource("Patient", "p1")}))});
  upstream_.Script(Base("RX9"), {0ms, Response(200, Searchset({Resource("Observation", "x1")}))});
  FederatedSearch search = Search("Observation");
  Engine();
  auto result = RunAndWait(std::move(search));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->partial);
  EXPECT_EQ(result->total, 5u);
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[0].id, "RGT");
  EXPECT_EQ(result->targets[0].matches, 4u);
  EXPECT_FALSE(result->targets[0].more_pages);
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.entries.size(), 5u);
  EXPECT_EQ(bundle.entries[0].id, "o1");
  EXPECT_EQ(bundle.entries[1].id, "o2");
  EXPECT_EQ(bundle.entries[2].id, "o3");
  EXPECT_EQ(bundle.entries[3].source, "RGT");
  EXPECT_EQ(bundle.entries[4].source, "RX9");
  const auto requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 4u);
  std::vector<std::string> to_rgt;
  for (const core::UpstreamRequest& request : requests) {
    if (request.base_url == Base("RGT")) {
      to_rgt.push_back(request.request.method + " " + request.request.target);
      EXPECT_EQ(request.request.headers.Get("X-Request-ID"), "req-42");
      EXPECT_EQ(request.expected_cn, "RGT-cn");
    }
  }
  ASSERT_EQ(to_rgt.size(), 3u);
  EXPECT_EQ(to_rgt[1], "GET /Observation?_page=2&x=%7C");
  EXPECT_EQ(to_rgt[2], "GET /_page?token=abc&offset=2");
}

// Not fetched, and said so (a warning entry, the target's more_pages, a partial answer): a next
// page beyond max_pages, a link off the trust's own base, a next page that fails, one still on
// its way at the deadline. The pages fetched before stay in the answer.
class FederatedPagesTest : public FederatedQueryTest {
 protected:
  // RGT answers a first page linking `next`; `second`, when given, answers "/Observation?p=2".
  core::Result<FederatedResult> RunPaged(const std::string& next,
                                         std::optional<FakeUpstreamClient::Plan> second,
                                         std::chrono::milliseconds deadline = 2000ms) {
    Holds(kNhs, "RGT");
    upstream_.Script(Base("RGT"),
                     {0ms, Response(200, Page({Resource("Observation", "o1")}, next))});
    if (second) {
      upstream_.ScriptPage(Base("RGT"), "/Observation?p=2", *second);
    }
    FederatedSearch search = Search("Observation");
    search.deadline = deadline;
    return RunAndWait(std::move(search));
  }

  static void ExpectFlagged(const core::Result<FederatedResult>& result, std::size_t matches) {
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_TRUE(result->partial);
    ASSERT_EQ(result->targets.size(), 1u);
    EXPECT_EQ(result->targets[0].status, TargetStatus::kOk);
    EXPECT_TRUE(result->targets[0].more_pages);
    EXPECT_EQ(result->targets[0].matches, matches);
    const Parsed bundle = ParseBundle(result->bundle_json);
    ASSERT_EQ(bundle.entries.size(), matches + 1);
    EXPECT_EQ(bundle.entries[0].mode, "outcome");
    EXPECT_EQ(bundle.entries[0].source, "RGT");
    EXPECT_EQ(bundle.entries[0].issue_code, "incomplete");
    EXPECT_EQ(bundle.entries[0].severity, "warning");
    EXPECT_EQ(bundle.entries[1].id, "o1");
  }
};

TEST_F(FederatedPagesTest, APageBeyondMaxPagesIsNotFetched) {
  max_pages_ = 2;
  ExpectFlagged(RunPaged(Base("RGT") + "/Observation?p=2",
                         FakeUpstreamClient::Plan{
                             0ms, Response(200, Page({Resource("Observation", "o2")},
                                                     Base("RGT") + "/Observation?p=3"))}),
                2);
  EXPECT_EQ(upstream_.sent(), 2u);
}

TEST_F(FederatedPagesTest, OneMaxPageFetchesFirstPagesOnly) {
  max_pages_ = 1;
  ExpectFlagged(RunPaged(Base("RGT") + "/Observation?p=2", std::nullopt), 1);
  EXPECT_EQ(upstream_.sent(), 1u);
}

TEST_F(FederatedPagesTest, ALinkOffTheTrustsBaseIsNotFollowed) {
  ExpectFlagged(RunPaged("https://elsewhere.test/fhir/Observation?p=2", std::nullopt), 1);
  EXPECT_EQ(upstream_.sent(), 1u);
}

TEST_F(FederatedPagesTest, ALookAlikeBasePathIsNotFollowed) {
  ExpectFlagged(RunPaged("https://RGT.test/fhirx/Observation?p=2", std::nullopt), 1);
  ExpectFlagged(RunPaged("/fhirx/Observation?p=2", std::nullopt), 1);
  EXPECT_EQ(upstream_.sent(), 2u);
}

TEST_F(FederatedPagesTest, ATargetThatIsNotPlainTextIsNotFollowed) {
  ExpectFlagged(RunPaged(Base("RGT") + "/Observation?p=2 HTTP/1.1", std::nullopt), 1);
  EXPECT_EQ(upstream_.sent(), 1u);
}

// A path that climbs out of the base, plainly or percent-encoded, could reach another tenant of
// a shared server under this trust's name.
TEST_F(FederatedPagesTest, ALinkLeavingTheBasePathByDotSegmentsIsNotFollowed) {
  ExpectFlagged(RunPaged(Base("RGT") + "/../other/fhir/Observation?p=2", std::nullopt), 1);
  ExpectFlagged(RunPaged(Base("RGT") + "/%2E%2E/other/fhir/Observation?p=2", std::nullopt), 1);
  ExpectFlagged(RunPaged("/fhir/./Observation?p=2", std::nullopt), 1);
  EXPECT_EQ(upstream_.sent(), 3u);
}

TEST_F(FederatedPagesTest, AFailedNextPageKeepsTheFirst) {
  ExpectFlagged(RunPaged(Base("RGT") + "/Observation?p=2",
                         FakeUpstreamClient::Plan{0ms, Response(500, "{}")}),
                1);
  EXPECT_EQ(upstream_.sent(), 2u);
}

TEST_F(FederatedPagesTest, ANextPageLateForTheDeadlineKeepsTheFirst) {
  FakeUpstreamClient::Plan late{5s, Response(200, Searchset({Resource("Observation", "o2")}))};
  late.honour_deadline = false;  // only the query's deadline ends the wait
  const auto started = Steady::now();
  ExpectFlagged(RunPaged(Base("RGT") + "/Observation?p=2", late, 300ms), 1);
  EXPECT_LT(Steady::now() - started, 4s);
}

TEST_F(FederatedQueryTest, SendsTheSearchToEachTrustsBaseWithRequestIdAndPurpose) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({}))});
  upstream_.Script(Base("RGT"), {0ms, Response(200, Searchset({}))});
  FederatedSearch search = Search("Observation");
  search.params = {{"category", "", "laboratory"},
                   {"code", "", "http://loinc.org|1234-5"},
                   {"_count", "", "50"}};
  ASSERT_TRUE(RunAndWait(search).has_value());
  ASSERT_EQ(upstream_.sent(), 2u);
  for (const core::UpstreamRequest& request : upstream_.requests()) {
    EXPECT_EQ(request.request.method, "GET");
    EXPECT_EQ(request.request.target,
              "/Observation?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C"
              "9434765919&category=laboratory&code=http%3A%2F%2Floinc.org%7C1234-5&_count=50");
    EXPECT_EQ(request.request.headers.Get("X-Request-ID"), "req-42");
    EXPECT_EQ(request.request.headers.Get("X-Purpose-Of-Use"), "TREAT");
    EXPECT_FALSE(request.request.headers.Has("X-Trustbridge-Hops"));
  }
  const core::UpstreamRequest* to_rgt = upstream_.RequestTo(Base("RGT"));
  ASSERT_NE(to_rgt, nullptr);
  EXPECT_EQ(to_rgt->expected_cn, "RGT-cn");
}

TEST_F(FederatedQueryTest, SendsToEveryTargetBeforeAnyAnswers) {
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  Holds(kNhs, "RX9");
  FakeUpstreamClient::Plan held;
  held.delay = 10s;
  held.hold = true;
  held.reply = Response(200, Searchset({Resource("Patient", "p")}));
  for (const char* ods : {"RJ1", "RGT", "RX9"}) {
    upstream_.Script(Base(ods), held);
  }
  auto promise = std::make_shared<std::promise<core::Result<FederatedResult>>>();
  auto future = promise->get_future();
  Engine().Run(Search(), [promise](auto result) { promise->set_value(std::move(result)); });
  // All three requests are out while none has answered: the fan-out does not wait in turn.
  EXPECT_EQ(upstream_.sent(), 3u);
  EXPECT_EQ(upstream_.delivered(), 0u);
  upstream_.Release();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto result = future.get();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->total, 3u);
  EXPECT_FALSE(result->partial);
}

TEST_F(FederatedQueryTest, BreakGlassReasonIsCarriedAndUnsafeHeaderValuesRefused) {
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({}))});
  FederatedSearch search = Search();
  search.purpose_of_use = "ETREAT";
  search.break_glass_reason = "unconscious patient in ED";
  ASSERT_TRUE(RunAndWait(search).has_value());
  const core::UpstreamRequest* request = upstream_.RequestTo(Base("RJ1"));
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->request.headers.Get("X-Purpose-Of-Use"), "ETREAT");
  EXPECT_EQ(request->request.headers.Get("X-Break-Glass-Reason"), "unconscious patient in ED");

  FederatedSearch injected = Search();
  injected.request_id = "abc\r\nX-Evil: 1";
  auto refused = RunAndWait(injected);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(refused.error().location, "X-Request-ID");
  EXPECT_EQ(upstream_.sent(), 1u);
}

TEST_F(FederatedQueryTest, EverythingAndPatientSearchUseTheIdentifierParameter) {
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({}))});
  FederatedSearch everything = Search();
  everything.kind = FederatedKind::kEverything;
  ASSERT_TRUE(RunAndWait(everything).has_value());
  ASSERT_TRUE(RunAndWait(Search()).has_value());
  const auto requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].request.target,
            "/Patient/$everything?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C"
            "9434765919");
  EXPECT_EQ(requests[1].request.target,
            "/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919");
}

TEST_F(FederatedQueryTest, PostSearchesKeepTheNhsNumberOutOfTheUrl) {
  SetUpDirectory();
  FederatedQuerySettings settings;
  settings.self_id = "broker-a";
  settings.post_searches = true;
  engine_ = std::make_unique<FederatedQuery>(settings, *directory_, locator_, upstream_, clock_);
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({}))});
  FederatedSearch search = Search("Observation");
  search.params = {{"category", "", "laboratory"}};
  ASSERT_TRUE(RunAndWait(search).has_value());
  FederatedSearch everything = Search();
  everything.kind = FederatedKind::kEverything;
  ASSERT_TRUE(RunAndWait(everything).has_value());
  const auto requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].request.method, "POST");
  EXPECT_EQ(requests[0].request.target, "/Observation/_search");
  EXPECT_EQ(requests[0].request.body,
            "patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919"
            "&category=laboratory");
  EXPECT_EQ(requests[0].request.headers.Get("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(requests[1].request.method, "POST");
  EXPECT_EQ(requests[1].request.target, "/Patient/$everything");
  for (const core::UpstreamRequest& request : requests) {
    EXPECT_EQ(request.request.target.find(kNhs), std::string::npos);
  }
}

// After a POST _search, a linked next page is a GET without the form body or its Content-Type.
TEST_F(FederatedQueryTest, APageAfterAPostSearchIsAPlainGet) {
  SetUpDirectory();
  FederatedQuerySettings settings;
  settings.self_id = "broker-a";
  settings.post_searches = true;
  engine_ = std::make_unique<FederatedQuery>(settings, *directory_, locator_, upstream_, clock_);
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Page({Resource("Observation", "o1")},
                                                         Base("RJ1") + "/Observation?page=2"))});
  upstream_.ScriptPage(Base("RJ1"), "/Observation?page=2",
                       {0ms, Response(200, Searchset({Resource("Observation", "o2")}))});
  auto result = RunAndWait(Search("Observation"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->total, 2u);
  EXPECT_FALSE(result->partial);
  const auto requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].request.method, "POST");
  EXPECT_EQ(requests[1].request.method, "GET");
  EXPECT_EQ(requests[1].request.target, "/Observation?page=2");
  EXPECT_TRUE(requests[1].request.body.empty());
  EXPECT_FALSE(requests[1].request.headers.Has("Content-Type"));
  EXPECT_EQ(requests[1].request.headers.Get("X-Request-ID"), "req-42");
  EXPECT_EQ(requests[1].request.headers.Get("Accept"), "application/fhir+json");
}

TEST_F(FederatedQueryTest, TrustWithoutFhirEndpointIsNotedAndUnregisteredOneSkipped) {
  Holds(kNhs, "R00");  // MLLP only
  Holds(kNhs, "ZZZ");  // not a registered participant: never contacted
  Holds(kNhs, "X26");  // the broker itself
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(upstream_.sent(), 0u);
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  EXPECT_EQ(bundle.outcomes()[0].severity, "information");
  EXPECT_EQ(bundle.outcomes()[0].source, "R00");
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[0].id, "R00");
  EXPECT_EQ(result->targets[1].id, "ZZZ");
  EXPECT_EQ(result->targets[1].status, TargetStatus::kNotQueried);
}

TEST_F(FederatedQueryTest, PeerGetsTheQueryWithOneMoreHopAndThisBrokerVisited) {
  SetUpDirectory({MakePeer("broker-b")});
  upstream_.Script(Base("broker-b"), {0ms, Response(200, Searchset({}))});
  FederatedSearch search = Search();
  search.hops = 1;
  search.visited = {"broker-c"};
  ASSERT_TRUE(RunAndWait(search).has_value());
  const core::UpstreamRequest* request = upstream_.RequestTo(Base("broker-b"));
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->expected_cn, "broker-b");
  EXPECT_EQ(request->request.headers.Get("X-Trustbridge-Hops"), "2");
  EXPECT_EQ(request->request.headers.Get("X-Trustbridge-Visited"), "broker-c,broker-a");
  EXPECT_EQ(request->request.headers.Get("X-Request-ID"), "req-42");
  EXPECT_EQ(request->request.headers.Get("X-Purpose-Of-Use"), "TREAT");
}

// A peer is told how long this broker will wait for it, less a margin for the way back, and a
// broker asked with that header answers within it: a slow trust behind the peer is then flagged
// by the peer in time, and the peer's other trusts' data reaches the asker, instead of the whole
// peer being flagged late by an asker with the same deadline (found in review).
TEST_F(FederatedQueryTest, APeerIsToldTheTimeLeftAndABrokerAskedSoAnswersWithinIt) {
  SetUpDirectory({MakePeer("broker-b")});
  upstream_.Script(Base("broker-b"), {0ms, Response(200, Searchset({}))});
  FederatedSearch search = Search();
  search.deadline = 2000ms;
  ASSERT_TRUE(RunAndWait(search).has_value());
  const core::UpstreamRequest* request = upstream_.RequestTo(Base("broker-b"));
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->request.headers.Get("X-Trustbridge-Deadline-Ms"), "1800");

  Holds(kNhs, "RGT");
  upstream_.Script(Base("RGT"), {10s, Response(200, Searchset({Resource("Patient", "p7")}))});
  FederatedSearch asked = Search();
  asked.time_left = 300ms;  // less than the 3 s default: the asker's time wins
  auto result = RunAndWait(asked);
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_FALSE(bundle.outcomes().empty());
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RGT did not answer within 300 ms");
  const std::vector<core::UpstreamRequest> requests = upstream_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().base_url, Base("broker-b"));  // the second query's peer request
  EXPECT_EQ(requests.back().request.headers.Get("X-Trustbridge-Deadline-Ms"), "200");
}

TEST_F(FederatedQueryTest, LoopEndsWhenVisitedOrOutOfHops) {
  SetUpDirectory({MakePeer("broker-b"), MakePeer("broker-c")});
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({}))});
  upstream_.Script(Base("broker-b"), {0ms, Response(200, Searchset({}))});
  upstream_.Script(Base("broker-c"), {0ms, Response(200, Searchset({}))});

  FederatedSearch came_back = Search();
  came_back.hops = 2;
  came_back.visited = {"broker-a", "broker-b"};
  ASSERT_TRUE(RunAndWait(came_back).has_value());
  EXPECT_EQ(upstream_.sent(), 1u);  // only the local trust

  FederatedSearch too_far = Search();
  too_far.hops = 3;
  too_far.visited = {"broker-x"};
  auto cut = RunAndWait(too_far);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(upstream_.sent(), 2u);
  // The peers left out at the hop limit are flagged: what they hold is missing.
  EXPECT_TRUE(cut->partial);
  const Parsed cut_bundle = ParseBundle(cut->bundle_json);
  ASSERT_EQ(cut_bundle.outcomes().size(), 2u);
  EXPECT_EQ(cut_bundle.outcomes()[0].diagnostics,
            "peer broker broker-b was not asked: the request has made 3 broker hops, the most "
            "allowed");

  FederatedSearch from_b = Search();
  from_b.hops = 1;
  from_b.visited = {"broker-b"};
  auto result = RunAndWait(from_b);
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(upstream_.sent(), 4u);  // RJ1 and broker-c, never back to broker-b
  EXPECT_EQ(upstream_.RequestTo(Base("broker-b")), nullptr);
  EXPECT_FALSE(result->partial);
}

TEST_F(FederatedQueryTest, PeerEntriesKeepTheirSourceAndDuplicatesCollapse) {
  SetUpDirectory({MakePeer("broker-b")});
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  // The peer saw RJ1's patient too (another path), has a trust RQ3 of its own, an entry without
  // meta.source, and flags its own failing trust RTH.
  const std::string peer_bundle = R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"resource":{"resourceType":"OperationOutcome","meta":{"source":"RTH"},
       "issue":[{"severity":"warning","code":"timeout",
                 "diagnostics":"trust RTH did not answer within 3000 ms"}]},
     "search":{"mode":"outcome"}},
    {"resource":{"resourceType":"Patient","id":"p1","meta":{"source":"RJ1"}},
     "search":{"mode":"match"}},
    {"resource":{"resourceType":"Patient","id":"q9","meta":{"source":"RQ3"}},
     "search":{"mode":"match"}},
    {"resource":{"resourceType":"Condition","id":"c1"},"search":{"mode":"match"}}]})";
  upstream_.Script(Base("broker-b"), {0ms, Response(200, peer_bundle)});

  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.entries.size(), 4u);
  EXPECT_EQ(bundle.entries[0].type, "OperationOutcome");
  EXPECT_EQ(bundle.entries[0].source, "RTH");
  EXPECT_EQ(bundle.entries[0].diagnostics, "trust RTH did not answer within 3000 ms");
  EXPECT_EQ(bundle.entries[1].source, "RJ1");
  EXPECT_EQ(bundle.entries[1].id, "p1");
  EXPECT_EQ(bundle.entries[2].source, "RQ3");
  EXPECT_EQ(bundle.entries[3].source, "broker-b");
  EXPECT_EQ(bundle.entries[3].id, "c1");
  EXPECT_EQ(bundle.total, 3);
  ASSERT_EQ(result->targets.size(), 2u);
  EXPECT_EQ(result->targets[0].matches, 1u);  // RJ1 directly
  EXPECT_EQ(result->targets[1].matches, 2u);  // broker-b: its copy of p1 collapsed
}

TEST_F(FederatedQueryTest, FailedPeerIsNamedByItsBrokerId) {
  SetUpDirectory({MakePeer("broker-b")});
  auto result = RunAndWait(Search());  // unscripted peer: down
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "peer broker broker-b is unavailable");
  EXPECT_EQ(bundle.outcomes()[0].source, "broker-b");
  EXPECT_EQ(bundle.outcomes()[0].extension_value, "broker-b");
}

TEST_F(FederatedQueryTest, MergeRunsOnTheGivenExecutor) {
  std::atomic<int> posted{0};
  Engine(
      [&posted](std::function<void()> work) {
        ++posted;
        work();
      },
      /*merge_on_arrival_bytes=*/0);
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(posted.load(), 1);
  EXPECT_EQ(result->total, 1u);
}

TEST_F(FederatedQueryTest, SmallAnswersAreMergedWhereTheLastOneArrives) {
  std::atomic<int> posted{0};
  Engine([&posted](std::function<void()> work) {
    ++posted;
    work();
  });
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, Searchset({Resource("Patient", "p1")}))});
  upstream_.Script(Base("RGT"), {5ms, Response(200, Searchset({Resource("Patient", "p2")}))});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(posted.load(), 0);
  EXPECT_EQ(result->total, 2u);
}

TEST_F(FederatedQueryTest, AnswersLargerTogetherThanTheLimitAreMergedOnTheExecutor) {
  std::atomic<int> posted{0};
  const std::string one = Searchset({Resource("Patient", "p1")});
  const std::string two = Searchset({Resource("Patient", "p2")});
  // Each answer alone is under the limit; the two together are over it.
  Engine(
      [&posted](std::function<void()> work) {
        ++posted;
        work();
      },
      one.size() + two.size() - 1);
  Holds(kNhs, "RJ1");
  Holds(kNhs, "RGT");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, one)});
  upstream_.Script(Base("RGT"), {5ms, Response(200, two)});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(posted.load(), 1);
  EXPECT_EQ(result->total, 2u);
}

TEST_F(FederatedQueryTest, AnAnswerLeftForTheMergeKeepsTheMergeOnTheExecutor) {
  std::atomic<int> posted{0};
  // Over the 32 KiB judged on arrival: parsed in the merge, which stays off the callback thread
  // whatever the limit.
  std::vector<std::string> many;
  for (int i = 0; i < 400; ++i) {
    many.push_back(Resource("Patient", "p" + std::to_string(i)));
  }
  const std::string large = Searchset(many);
  ASSERT_GT(large.size(), 32u * 1024);
  Engine(
      [&posted](std::function<void()> work) {
        ++posted;
        work();
      },
      std::size_t{1} << 30);
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {0ms, Response(200, large)});
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(posted.load(), 1);
  EXPECT_EQ(result->total, 400u);
}

TEST_F(FederatedQueryTest, DestructorAnswersPendingQueries) {
  Holds(kNhs, "RJ1");
  upstream_.Script(Base("RJ1"), {2s, Response(200, Searchset({}))});
  auto promise = std::make_shared<std::promise<core::Result<FederatedResult>>>();
  auto future = promise->get_future();
  Engine().Run(Search(), [promise](auto result) { promise->set_value(std::move(result)); });
  engine_.reset();
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  auto result = future.get();
  ASSERT_TRUE(result.has_value());
  const Parsed bundle = ParseBundle(result->bundle_json);
  ASSERT_EQ(bundle.outcomes().size(), 1u);
  EXPECT_EQ(bundle.outcomes()[0].diagnostics, "trust RJ1 did not answer before the broker stopped");
}

TEST_F(FederatedQueryTest, BundleCarriesTimestampAndRequestIdAsId) {
  auto result = RunAndWait(Search());
  ASSERT_TRUE(result.has_value());
  auto document = fhir::ParseJson(result->bundle_json);
  ASSERT_TRUE(document.has_value());
  EXPECT_EQ(Str(&*document, "id"), "req-42");
  EXPECT_EQ(Str(&*document, "timestamp"), "2026-11-18T11:06:40.123Z");
}

// ---- request parsing ---------------------------------------------------------------------------

std::string NhsToken(std::string_view nhs) {
  return std::string(core::kNhsNumberSystem) + "|" + std::string(nhs);
}

TEST(ParseFederatedSearch, TakesTheNhsNumberAndPassesTheRestThrough) {
  auto search = ParseFederatedSearch(
      "Observation", FederatedKind::kSearch,
      {{"patient", "identifier", NhsToken(kNhs)}, {"category", "", "laboratory"}});
  ASSERT_TRUE(search.has_value());
  EXPECT_EQ(search->nhs_number, kNhs);
  EXPECT_EQ(search->resource_type, "Observation");
  ASSERT_EQ(search->params.size(), 1u);
  EXPECT_EQ(search->params[0].name, "category");

  auto patient =
      ParseFederatedSearch("Patient", FederatedKind::kSearch, {{"identifier", "", NhsToken(kNhs)}});
  ASSERT_TRUE(patient.has_value());
  EXPECT_TRUE(patient->params.empty());

  auto everything = ParseFederatedSearch("", FederatedKind::kEverything,
                                         {{"identifier", "", NhsToken(kNhs)}, {"_count", "", "9"}});
  ASSERT_TRUE(everything.has_value());
  EXPECT_EQ(everything->kind, FederatedKind::kEverything);
  EXPECT_EQ(everything->params.size(), 1u);
}

TEST(ParseFederatedSearch, RefusesBadMissingAndRepeatedNhsNumbers) {
  auto bad = ParseFederatedSearch("Patient", FederatedKind::kSearch,
                                  {{"identifier", "", NhsToken("9434765918")}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(bad.error().location, "identifier");

  auto wrong_system = ParseFederatedSearch("Observation", FederatedKind::kSearch,
                                           {{"patient", "identifier", "urn:x|9434765919"}});
  ASSERT_FALSE(wrong_system.has_value());
  EXPECT_EQ(wrong_system.error().location, "patient:identifier");

  auto missing = ParseFederatedSearch("Observation", FederatedKind::kSearch,
                                      {{"identifier", "", NhsToken(kNhs)}});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kRequiredFieldMissing);

  auto repeated = ParseFederatedSearch(
      "Patient", FederatedKind::kSearch,
      {{"identifier", "", NhsToken(kNhs)}, {"identifier", "", NhsToken(kOtherNhs)}});
  ASSERT_FALSE(repeated.has_value());
  EXPECT_EQ(repeated.error().code, core::ErrorCode::kInvalidValue);

  auto or_list =
      ParseFederatedSearch("Patient", FederatedKind::kSearch,
                           {{"identifier", "", NhsToken(kNhs) + "," + NhsToken(kOtherNhs)}});
  ASSERT_FALSE(or_list.has_value());

  auto bad_type = ParseFederatedSearch("../admin", FederatedKind::kSearch,
                                       {{"patient", "identifier", NhsToken(kNhs)}});
  ASSERT_FALSE(bad_type.has_value());
  EXPECT_EQ(bad_type.error().code, core::ErrorCode::kInvalidValue);
}

TEST(ParseHopHeaders, ReadsHopsAndVisited) {
  core::HttpHeaders headers;
  auto none = ParseHopHeaders(headers);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->hops, 0);
  EXPECT_TRUE(none->visited.empty());

  headers.Set("x-trustbridge-hops", "2");
  headers.Set("X-Trustbridge-Visited", "broker-a, broker-b");
  auto read = ParseHopHeaders(headers);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->hops, 2);
  EXPECT_EQ(read->visited, (std::vector<std::string>{"broker-a", "broker-b"}));
  EXPECT_FALSE(read->time_left);
  headers.Set("X-Trustbridge-Deadline-Ms", "2700");
  read = ParseHopHeaders(headers);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->time_left, std::chrono::milliseconds(2700));
}

TEST(ParseHopHeaders, RefusesMalformedValues) {
  for (const char* hops : {"-1", "x", "1.5", "", "65", "99999999999"}) {
    core::HttpHeaders headers;
    headers.Set("X-Trustbridge-Hops", hops);
    auto read = ParseHopHeaders(headers);
    ASSERT_FALSE(read.has_value()) << hops;
    EXPECT_EQ(read.error().location, "X-Trustbridge-Hops");
  }
  for (const char* time_left : {"-1", "x", "1.5", "", "600001"}) {
    core::HttpHeaders headers;
    headers.Set("X-Trustbridge-Deadline-Ms", time_left);
    auto read = ParseHopHeaders(headers);
    ASSERT_FALSE(read.has_value()) << time_left;
    EXPECT_EQ(read.error().location, "X-Trustbridge-Deadline-Ms");
  }
  for (const char* visited : {"broker a", "a,,b", "a\r\nX-Evil: 1"}) {
    core::HttpHeaders headers;
    headers.Set("X-Trustbridge-Visited", visited);
    EXPECT_FALSE(ParseHopHeaders(headers).has_value()) << visited;
  }
}

}  // namespace
}  // namespace tb::routing
