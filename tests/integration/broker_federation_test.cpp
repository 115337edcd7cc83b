// Issue 5 end to end: trusts announce patients by ADT (and an operator by the admin endpoint), a
// transfer team searches by NHS number over mutual TLS, and the broker fans out to simulated
// trusts (real TLS servers on loopback) and merges their answers, flagging the ones that fail.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <sqlite3.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/app/audit_command.h"
#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "broker/core/log.h"
#include "broker/simtrust/simulated_trust.h"
#include "broker/store/store.h"
#include "tests/broker/app/run_command.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::Json;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";   // at RGT and RXH (demo data)
constexpr std::string_view kRgtOnly = "9990001375";  // at RGT only
constexpr std::string_view kUnknown = "9449305552";  // valid, held by nobody

struct BrokerOptions {
  std::string id = "broker-a";
  std::string ods = "X26";
  std::vector<std::pair<std::string, std::uint16_t>> trusts;  // ODS (= cert CN), FHIR port
  std::vector<std::pair<std::string, std::uint16_t>> peers;   // id (= cert CN), FHIR port
  int deadline_ms = 3000;
  bool post_searches = false;             // federation.post_searches
  int max_pages = 0;                      // federation.max_pages; 0: the default
  int max_connections_per_trust = 0;      // federation.max_connections_per_trust; 0: the default
  std::uint16_t requester_fhir_port = 0;  // RJ1 also holds data when set
};

std::string BrokerConfigText(const BrokerOptions& options) {
  const TestPki& pki = TestPki::Get();
  std::string participants = R"({ "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"])";
  if (options.requester_fhir_port != 0) {
    participants += R"(, "fhir_base": "https://127.0.0.1:)" +
                    std::to_string(options.requester_fhir_port) + R"(/fhir")";
  }
  participants += " }";
  for (const auto& [ods, port] : options.trusts) {
    participants += R"(, { "ods": ")" + ods + R"(", "cert_cn": ")" + ods +
                    R"(", "fhir_base": "https://127.0.0.1:)" + std::to_string(port) +
                    R"(/fhir", "scopes": ["system/*.rs"] })";
  }
  std::string peers;
  for (const auto& [id, port] : options.peers) {
    peers += std::string(peers.empty() ? "" : ", ") + R"({ "id": ")" + id + R"(", "cert_cn": ")" +
             id + R"(", "fhir_base": "https://127.0.0.1:)" + std::to_string(port) +
             R"(/fhir", "scopes": ["system/*.rs"] })";
  }
  return R"({
    "broker": { "id": ")" +
         options.id + R"(", "ods": ")" + options.ods + R"(" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": { "cert": ")" +
         pki.Cert(options.id).string() + R"(", "key": ")" + pki.Key(options.id).string() +
         R"(", "ca": ")" + pki.CaCert().string() + R"(", "crl": ")" + pki.Crl().string() + R"(" },
    "store": { "url": "sqlite:var/tb.db" },
    "admin": { "cert_cns": ["RJ1"], "health_cns": ["RGT"] },
    "federation": { "deadline_ms": )" +
         std::to_string(options.deadline_ms) + R"(, "post_searches": )" +
         (options.post_searches ? "true" : "false") +
         (options.max_pages > 0 ? R"(, "max_pages": )" + std::to_string(options.max_pages) : "") +
         (options.max_connections_per_trust > 0
              ? R"(, "max_connections_per_trust": )" +
                    std::to_string(options.max_connections_per_trust)
              : "") +
         R"( },
    "participants": [ )" +
         participants + R"( ],
    "peers": [ )" +
         peers + R"( ]
  })";
}

// The meta.source of every match entry, and the trusts named by outcome entries.
struct Sources {
  std::vector<std::string> matches;
  std::vector<std::string> outcomes;  // diagnostics text of OperationOutcome entries
};
Sources SourcesOf(const rapidjson::Document& bundle) {
  Sources sources;
  if (!bundle.IsObject() || !bundle.HasMember("entry")) {
    return sources;
  }
  for (const auto& entry : bundle["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string(resource["resourceType"].GetString()) == "OperationOutcome") {
      sources.outcomes.emplace_back(resource["issue"][0].HasMember("diagnostics")
                                        ? resource["issue"][0]["diagnostics"].GetString()
                                        : "");
      continue;
    }
    sources.matches.emplace_back(resource.HasMember("meta") && resource["meta"].HasMember("source")
                                     ? resource["meta"]["source"].GetString()
                                     : "<none>");
  }
  return sources;
}

bool Contains(const std::vector<std::string>& values, std::string_view needle) {
  for (const std::string& value : values) {
    if (value.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string IdentifierQuery(std::string_view nhs_number) {
  return "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs_number);
}

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(20));
    rxh_ = StartTrust("RXH", DemoPatients("RXH"), std::chrono::milliseconds(20));
    // A third trust, the requester's own, that also holds the shared patient (the demo RXH
    // records, served under RJ1's name): three overlapping sources.
    rj1_ = StartTrust("RJ1", DemoPatients("RXH"), std::chrono::milliseconds(20));
    BrokerOptions options;
    options.trusts = {{"RGT", rgt_->fhir_port()}, {"RXH", rxh_->fhir_port()}};
    options.requester_fhir_port = rj1_->fhir_port();
    broker_ = std::make_unique<RunningBroker>(BrokerConfigText(options));
    AnnounceByAdt(*broker_, "RGT", kShared);
    AnnounceByAdt(*broker_, "RXH", kShared);
    AnnounceByAdt(*broker_, "RJ1", kShared);
    AnnounceByAdt(*broker_, "RGT", kRgtOnly);
  }

  testing::HttpsResult Get(const std::string& target) const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET", target, As("RJ1"),
                        {{"X-Request-ID", "transfer-42"}});
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<simtrust::SimulatedTrust> rj1_;
  std::unique_ptr<RunningBroker> broker_;
};

TEST_F(FederationTest, PatientSearchReturnsEveryTrustsRecordTaggedWithItsSource) {
  auto result = Get("/fhir/Patient?" + IdentifierQuery(kShared));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.Header("X-Request-ID"), "transfer-42");
  rapidjson::Document bundle = Json(result.body);
  EXPECT_STREQ(bundle["type"].GetString(), "searchset");
  const Sources sources = SourcesOf(bundle);
  EXPECT_TRUE(sources.outcomes.empty()) << result.body;
  ASSERT_EQ(sources.matches.size(), 3u) << result.body.substr(0, 500);
  EXPECT_TRUE(Contains(sources.matches, "RGT"));
  EXPECT_TRUE(Contains(sources.matches, "RXH"));
  EXPECT_TRUE(Contains(sources.matches, "RJ1"));
  EXPECT_EQ(bundle["total"].GetInt(), 3);
}

TEST_F(FederationTest, EverythingGathersTheWholeRecordFromEachTrust) {
  auto result = Get("/fhir/Patient/$everything?" + IdentifierQuery(kShared));
  ASSERT_EQ(result.status, 200) << result.body;
  const Sources sources = SourcesOf(Json(result.body));
  EXPECT_TRUE(sources.outcomes.empty());
  EXPECT_GT(sources.matches.size(), 10u);
  EXPECT_TRUE(Contains(sources.matches, "RGT"));
  EXPECT_TRUE(Contains(sources.matches, "RXH"));
  EXPECT_FALSE(Contains(sources.matches, "<none>"));
}

TEST_F(FederationTest, PostSearchKeepsTheNhsNumberOutOfTheUrl) {
  auto result = HttpsRequest(
      "127.0.0.1", broker_->fhir_port(), "POST", "/fhir/Observation/_search", As("RJ1"),
      {{"Content-Type", "application/x-www-form-urlencoded"}},
      "patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kRgtOnly));
  ASSERT_EQ(result.status, 200) << result.body;
  const Sources sources = SourcesOf(Json(result.body));
  EXPECT_FALSE(sources.matches.empty());
  for (const std::string& source : sources.matches) {
    EXPECT_NE(source.find("RGT"), std::string::npos);  // only RGT holds this patient
  }
}

// A trust that answers a page at a time is read to its last page: the transfer team gets the
// same record as from the trust answering whole; with federation.max_pages 1 it gets the first
// page and a warning that the rest is missing.
TEST(FederationPaging, ATrustsPagesAreReadToTheLastAndAnUnreadRestIsFlagged) {
  auto whole = StartTrust("RGT", DemoPatients("RGT"));
  auto paged = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0), {}, false, 2);
  const auto everything = [](std::uint16_t trust_port, int max_pages) {
    BrokerOptions options;
    options.trusts = {{"RGT", trust_port}};
    options.max_pages = max_pages;
    RunningBroker broker(BrokerConfigText(options));
    AnnounceByAdt(broker, "RGT", kRgtOnly);
    auto result = HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                               "/fhir/Patient/$everything?" + IdentifierQuery(kRgtOnly), As("RJ1"));
    EXPECT_EQ(result.status, 200) << result.body;
    return Json(result.body);
  };
  const Sources from_whole = SourcesOf(everything(whole->fhir_port(), 0));
  ASSERT_GT(from_whole.matches.size(), 4u);  // enough for three pages of 2
  EXPECT_TRUE(from_whole.outcomes.empty());

  rapidjson::Document all_pages = everything(paged->fhir_port(), 0);
  const Sources from_pages = SourcesOf(all_pages);
  EXPECT_TRUE(from_pages.outcomes.empty());
  EXPECT_EQ(from_pages.matches.size(), from_whole.matches.size());
  EXPECT_EQ(all_pages["total"].GetUint64(), from_whole.matches.size());

  const Sources first_page = SourcesOf(everything(paged->fhir_port(), 1));
  EXPECT_EQ(first_page.matches.size(), 2u);
  ASSERT_EQ(first_page.outcomes.size(), 1u);
  EXPECT_NE(first_page.outcomes[0].find("trust RGT answered with part of its results"),
            std::string::npos);
}

TEST_F(FederationTest, InvalidNhsNumberIs400AndUnknownIsAnEmptyBundle) {
  auto invalid = Get("/fhir/Patient?" + IdentifierQuery("9990001236"));
  EXPECT_EQ(invalid.status, 400);
  EXPECT_NE(invalid.body.find("OperationOutcome"), std::string::npos);
  auto unknown = Get("/fhir/Patient?" + IdentifierQuery(kUnknown));
  ASSERT_EQ(unknown.status, 200) << unknown.body;
  rapidjson::Document bundle = Json(unknown.body);
  EXPECT_EQ(bundle["total"].GetInt(), 0);
  EXPECT_TRUE(SourcesOf(bundle).matches.empty());
}

TEST_F(FederationTest, AdminEndpointTeachesAndShowsTheLocator) {
  auto added = HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/locator", As("RJ1"),
                            {{"Content-Type", "application/json"}},
                            R"({"nhs_number": ")" + std::string(kUnknown) + R"(", "ods": "RXH"})");
  EXPECT_EQ(added.status, 204) << added.body;
  auto listed = HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/locator/_search",
                             As("RJ1"), {{"Content-Type", "application/json"}},
                             R"({"nhs_number": ")" + std::string(kShared) + R"("})");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_NE(listed.body.find("\"ods\":\"RGT\""), std::string::npos);
  EXPECT_NE(listed.body.find("\"source\":\"hl7v2:ADT^A28\""), std::string::npos);
  // RGT is a participant but no administrator.
  auto refused = HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/locator",
                              As("RGT"), {{"Content-Type", "application/json"}},
                              R"({"nhs_number": ")" + std::string(kShared) + R"(", "ods": "RGT"})");
  EXPECT_EQ(refused.status, 403);
  // An unregistered destination is refused (data only goes to registered participants).
  auto unregistered =
      HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/locator", As("RJ1"),
                   {{"Content-Type", "application/json"}},
                   R"({"nhs_number": ")" + std::string(kShared) + R"(", "ods": "ZZZ99"})");
  EXPECT_EQ(unregistered.status, 400);

  // Where a patient is held is about the patient: RJ1's announcement and its look-up are in
  // each patient's journey (RJ1 may read the journey: its scopes are system/*.rs).
  const auto outcomes = [this](std::string_view nhs_number) {
    auto journey = HttpsRequest(
        "127.0.0.1", broker_->fhir_port(), "POST", "/fhir/Patient/$journey", As("RJ1"),
        {{"Content-Type", "application/x-www-form-urlencoded"}},
        "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs_number));
    EXPECT_EQ(journey.status, 200) << journey.body;
    return journey.body;
  };
  EXPECT_NE(outcomes(kUnknown).find(R"("outcomeDesc":"announce RXH")"), std::string::npos);
  std::size_t holders = 0;
  for (std::size_t at = listed.body.find("\"ods\""); at != std::string::npos;
       at = listed.body.find("\"ods\"", at + 1)) {
    ++holders;
  }
  EXPECT_NE(outcomes(kShared).find(R"("outcomeDesc":"released=)" + std::to_string(holders) + "\""),
            std::string::npos);
}

// GET /admin/health: for administrators and the certificates in admin.health_cns (a load
// balancer's), which get nothing else under /admin.
TEST_F(FederationTest, HealthIsForAdministratorsAndHealthCheckersOnly) {
  const auto health = [&](const std::string& as) {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET", "/admin/health", As(as));
  };
  const auto checker = health("RGT");
  EXPECT_EQ(checker.status, 200) << checker.body;
  rapidjson::Document body = Json(checker.body);
  ASSERT_TRUE(body.IsObject()) << checker.body;
  EXPECT_STREQ(body["status"].GetString(), "pass");
  EXPECT_STREQ(body["checks"]["store"]["status"].GetString(), "pass");
  EXPECT_TRUE(body["queue"].IsObject()) << checker.body;
  EXPECT_EQ(checker.Header("Content-Type"), "application/health+json");
  EXPECT_EQ(health("RJ1").status, 200);  // an administrator
  EXPECT_EQ(health("RXH").status, 403);  // a participant, neither
  // The health checker's certificate opens nothing else.
  EXPECT_EQ(
      HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/queue/_counts", As("RGT"))
          .status,
      403);
  EXPECT_EQ(
      HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/health", As("RGT")).status,
      405);
}

int AuditVerify(const fs::path& config_file, std::string& err_text) {
  testing::CommandOutput run =
      testing::RunCommand(app::AuditCommand, {"verify", "--config", config_file.string()});
  err_text = run.err;
  return run.code;
}

TEST_F(FederationTest, EveryHopIsInTheLedgerAndAuditVerifyHoldsUntilARowIsTouched) {
  ASSERT_EQ(Get("/fhir/Patient/$everything?" + IdentifierQuery(kShared)).status, 200);
  // The patient's data journey names the requester and every trust that answered.
  auto trail_response = HttpsRequest(
      "127.0.0.1", broker_->fhir_port(), "POST", "/fhir/Patient/$journey", As("RJ1"),
      {{"Content-Type", "application/x-www-form-urlencoded"}}, IdentifierQuery(kShared));
  ASSERT_EQ(trail_response.status, 200) << trail_response.body;
  rapidjson::Document trail = Json(trail_response.body);
  std::size_t provenances = 0;
  std::size_t audit_events = 0;
  for (const auto& entry : trail["entry"].GetArray()) {
    const std::string type = entry["resource"]["resourceType"].GetString();
    provenances += type == "Provenance" ? 1 : 0;
    audit_events += type == "AuditEvent" ? 1 : 0;
  }
  // 3 inbound, 3 queries, 1 response, plus the deliveries of the announcements to the trusts
  // that already held the patient (made by the queue in the background).
  EXPECT_GE(provenances, 7u);
  EXPECT_EQ(audit_events, provenances);
  for (const char* ods : {"RGT", "RXH", "RJ1"}) {
    EXPECT_NE(trail_response.body.find(ods), std::string::npos) << ods;
  }
  broker_->Stop();

  auto database = store::OpenDatabase({.url = "sqlite:" + broker_->store_file().string()});
  ASSERT_TRUE(database) << database.error().message;
  auto ledger_store = store::MakeLedgerStore(**database);
  core::LedgerQuery patient;
  patient.nhs_number = std::string(kShared);
  patient.newest_first = false;
  auto journey = ledger_store->Search(patient);
  ASSERT_TRUE(journey);
  std::vector<std::string> kinds;
  std::string all;
  for (const core::LedgerRecord& record : *journey) {
    kinds.push_back(record.kind);
    all += record.canonical;
  }
  // Three trusts announced the patient (inbound), three were queried, one answer went to RJ1,
  // and RJ1's reading of the journey is the last record: who read the audit trail is recorded.
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "inbound"), 3);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "query"), 3);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "response"), 1);
  // (The last audit-access record, not the last record: a delivery of an announcement by the
  // queue in the background may be recorded after it.)
  const auto access = std::find_if(journey->rbegin(), journey->rend(), [](const auto& record) {
    return record.kind == "audit-access";
  });
  ASSERT_NE(access, journey->rend());
  EXPECT_NE(access->canonical.find("Patient/$journey"), std::string::npos);
  for (const char* ods : {"RGT", "RXH", "RJ1"}) {
    EXPECT_NE(all.find(ods), std::string::npos) << ods;
  }
  ledger_store.reset();
  database->reset();

  std::string err;
  EXPECT_EQ(AuditVerify(broker_->config_file(), err), 0) << err;
  // A copy with one record edited directly in SQL fails, naming where.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(broker_->store_file().string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE ledger_record SET canonical = replace(canonical, 'RXH', 'RAJ') "
                         "WHERE seq = (SELECT max(seq) FROM ledger_record WHERE kind = 'query')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(AuditVerify(broker_->config_file(), err), 1);
  EXPECT_NE(err.find("FAILED at seq"), std::string::npos) << err;
}

TEST(FederationDeadline, SlowTrustIsFlaggedAndTheAnswerComesWithinTheDeadline) {
  auto fast = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(20));
  auto slow = StartTrust("RXH", DemoPatients("RXH"), std::chrono::seconds(10));
  BrokerOptions options;
  options.trusts = {{"RGT", fast->fhir_port()}, {"RXH", slow->fhir_port()}};
  options.deadline_ms = 1000;
  RunningBroker broker(BrokerConfigText(options));
  AnnounceByAdt(broker, "RGT", kShared);
  AnnounceByAdt(broker, "RXH", kShared);

  const auto started = std::chrono::steady_clock::now();
  auto result = HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                             "/fhir/Patient/$everything?" + IdentifierQuery(kShared), As("RJ1"));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(result.status, 200) << result.body;
  const Sources sources = SourcesOf(Json(result.body));
  EXPECT_TRUE(Contains(sources.matches, "RGT"));
  EXPECT_FALSE(Contains(sources.matches, "RXH"));
  EXPECT_TRUE(Contains(sources.outcomes, "RXH")) << result.body.substr(0, 2000);
  // Well inside the slow trust's 10 s: the deadline (1 s) plus a generous margin for a loaded box.
  EXPECT_LT(elapsed, std::chrono::seconds(6));
}

// federation.max_connections_per_trust: with one connection allowed to a trust answering in
// 600 ms, of two searches at once one is answered and the other waits for that connection past
// its 1 s deadline, so that trust is flagged in its answer (without the limit both would have
// its data at ~600 ms).
TEST(FederationDeadline, ATrustGetsNoMoreConnectionsThanItsLimit) {
  auto trust = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(600));
  BrokerOptions options;
  options.trusts = {{"RGT", trust->fhir_port()}};
  options.deadline_ms = 1000;
  options.max_connections_per_trust = 1;
  RunningBroker broker(BrokerConfigText(options));
  AnnounceByAdt(broker, "RGT", kRgtOnly);
  testing::HttpsResult results[2];
  std::thread other([&] {
    results[1] = HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                              "/fhir/Patient?" + IdentifierQuery(kRgtOnly), As("RJ1"));
  });
  results[0] = HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                            "/fhir/Patient?" + IdentifierQuery(kRgtOnly), As("RJ1"));
  other.join();
  int answered = 0;
  int flagged = 0;
  for (const testing::HttpsResult& result : results) {
    ASSERT_EQ(result.status, 200) << result.body;
    const Sources sources = SourcesOf(Json(result.body));
    answered += Contains(sources.matches, "RGT") ? 1 : 0;
    flagged += Contains(sources.outcomes, "RGT") ? 1 : 0;
  }
  EXPECT_EQ(answered, 1) << results[0].body.substr(0, 600) << results[1].body.substr(0, 600);
  EXPECT_EQ(flagged, 1) << results[0].body.substr(0, 600) << results[1].body.substr(0, 600);
}

// Also: the query is one info line (`federated_query`), which counts the trust that failed.
TEST(FederationDown, TrustThatIsDownIsFlagged) {
  std::mutex mutex;
  std::vector<std::string> lines;
  core::SetLogSink([&](std::string_view line) {
    std::lock_guard lock(mutex);
    lines.emplace_back(line);
  });
  auto up = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
  std::uint16_t down_port = 0;
  {
    auto gone = StartTrust("RXH", DemoPatients("RXH"), std::chrono::milliseconds(0));
    down_port = gone->fhir_port();
  }  // stopped: nothing listens there now
  BrokerOptions options;
  options.trusts = {{"RGT", up->fhir_port()}, {"RXH", down_port}};
  RunningBroker broker(BrokerConfigText(options));
  AnnounceByAdt(broker, "RGT", kShared);
  AnnounceByAdt(broker, "RXH", kShared);
  auto result = HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                             "/fhir/Patient?" + IdentifierQuery(kShared), As("RJ1"));
  ASSERT_EQ(result.status, 200) << result.body;
  const Sources sources = SourcesOf(Json(result.body));
  EXPECT_TRUE(Contains(sources.matches, "RGT"));
  EXPECT_TRUE(Contains(sources.outcomes, "RXH"));
  broker.Stop();
  core::FlushLog();
  core::SetLogSink(nullptr);  // before `lines` goes
  std::vector<std::string> queries;
  std::copy_if(lines.begin(), lines.end(), std::back_inserter(queries), [](const auto& line) {
    return line.find("\"event\":\"federated_query\"") != std::string::npos;
  });
  ASSERT_EQ(queries.size(), 1U);
  EXPECT_NE(queries[0].find("\"targets\":\"2\",\"failed\":\"1\""), std::string::npos) << queries[0];
}

// broker-b fronts RXH; broker-a fronts RGT; each names the other as a peer (a loop). A search at
// A gets RGT's and (through B) RXH's records and ends although B asks A back.
void ExpectPeeringReachesBAndEnds(bool post_searches) {
  auto rgt = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
  auto rxh = StartTrust("RXH", DemoPatients("RXH"), std::chrono::milliseconds(0));
  // Ports of the brokers are known only once they listen, so B starts first without A, and A
  // names B; B's peer entry for A points at a port nobody uses until A is up... instead both
  // get the other's port by starting B twice is overkill: B's peer list names A's fixed port.
  BrokerOptions b;
  b.id = "broker-b";
  b.ods = "X27";
  b.trusts = {{"RXH", rxh->fhir_port()}};
  b.post_searches = post_searches;
  // A free port for A, found by binding and releasing.
  std::uint16_t a_port = 0;
  {
    auto probe = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
    a_port = probe->fhir_port();
  }
  b.peers = {{"broker-a", a_port}};
  RunningBroker broker_b(BrokerConfigText(b));
  BrokerOptions a;
  a.trusts = {{"RGT", rgt->fhir_port()}};
  a.peers = {{"broker-b", broker_b.fhir_port()}};
  a.post_searches = post_searches;
  std::string a_text = BrokerConfigText(a);
  a_text.replace(a_text.find("\"fhir\": \"127.0.0.1:0\""), 21,
                 "\"fhir\": \"127.0.0.1:" + std::to_string(a_port) + "\"");
  RunningBroker broker_a(a_text);
  ASSERT_EQ(broker_a.fhir_port(), a_port);
  AnnounceByAdt(broker_a, "RGT", kShared);
  AnnounceByAdt(broker_b, "RXH", kShared);

  auto result = HttpsRequest("127.0.0.1", broker_a.fhir_port(), "GET",
                             "/fhir/Patient?" + IdentifierQuery(kShared), As("RJ1"),
                             {{"X-Request-ID", "peer-hop-1"}});
  ASSERT_EQ(result.status, 200) << result.body;
  const Sources sources = SourcesOf(Json(result.body));
  EXPECT_TRUE(Contains(sources.matches, "RGT"));
  EXPECT_TRUE(Contains(sources.matches, "RXH")) << result.body.substr(0, 2000);
  EXPECT_TRUE(sources.outcomes.empty()) << result.body.substr(0, 2000);
}

TEST(FederationPeering, QueryAtOneBrokerReachesATrustBehindItsPeerAndLoopsEnd) {
  ExpectPeeringReachesBAndEnds(/*post_searches=*/false);
}

// federation.post_searches: the same through POST [base]/Patient/_search with a form body at every
// hop (trusts and the peer), so the NHS number is in no upstream URL; and $everything too.
TEST(FederationPeering, PostSearchesKeepTheNhsNumberOutOfEveryUpstreamUrl) {
  std::mutex mutex;
  std::vector<std::string> lines;
  core::SetLogSink([&](std::string_view line) {
    std::lock_guard lock(mutex);
    lines.emplace_back(line);
  });
  ExpectPeeringReachesBAndEnds(/*post_searches=*/true);
  {
    auto rgt = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
    BrokerOptions options;
    options.trusts = {{"RGT", rgt->fhir_port()}};
    options.post_searches = true;
    RunningBroker broker(BrokerConfigText(options));
    AnnounceByAdt(broker, "RGT", kShared);
    auto everything =
        HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                     "/fhir/Patient/$everything?" + IdentifierQuery(kShared), As("RJ1"));
    ASSERT_EQ(everything.status, 200) << everything.body;
    EXPECT_GT(SourcesOf(Json(everything.body)).matches.size(), 3U) << everything.body;
  }
  core::FlushLog();
  core::SetLogSink(nullptr);  // before `lines` goes
  // Only GETs were sent by this test; the POSTs are the brokers' upstream requests.
  const auto received = [&](std::string_view method, std::string_view path) {
    const std::string wanted =
        "\"method\":\"" + std::string(method) + "\",\"path\":\"" + std::string(path) + "\"";
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
      return line.find("\"http_request\"") != std::string::npos &&
             line.find(wanted) != std::string::npos;
    });
  };
  EXPECT_TRUE(received("POST", "/fhir/Patient/_search"));
  EXPECT_TRUE(received("POST", "/fhir/Patient/$everything"));
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find(kShared), std::string::npos) << "an NHS number in the log: " << line;
  }
}

}  // namespace
}  // namespace tb
