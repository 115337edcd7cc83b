// The federated read path records its audit hops without blocking a thread (Ledger::AppendAsync)
// and still answers only once they are durable: when the client has the answer, its records are
// in the database; when they cannot be written, the answer is 503 and nothing is released.
#include <atomic>
#include <sqlite3.h>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/simtrust/simulated_trust.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kRgtPatient = "9990001375";  // at RGT only (demo data)

std::string ConfigText(std::uint16_t trust_port) {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "admin": { "cert_cns": ["RJ1"] },
    "federation": { "deadline_ms": 5000, "max_idle_per_trust": 16 },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(trust_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ]
  })";
}

std::string SearchTarget() {
  return "/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
         std::string(kRgtPatient);
}

// Runs one statement on the broker's SQLite file from a connection of its own (as another
// process would see the data); returns the first column of the first row, or -1 on error.
long long QueryNumber(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  long long value = -1;
  if (sqlite3_open_v2(file.string().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK) {
      const int step = sqlite3_step(statement);
      if (step == SQLITE_ROW) {
        value = sqlite3_column_int64(statement, 0);
      } else if (step == SQLITE_DONE) {
        value = 0;
      }
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return value;
}

long long ResponseRecords(const std::filesystem::path& file, const std::string& request_id) {
  return QueryNumber(file,
                     "SELECT count(*) FROM ledger_record WHERE kind = 'response' AND "
                     "canonical LIKE '%\"" +
                         request_id + "\"%'");
}

class ReadAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trust_ = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
    broker_ = std::make_unique<RunningBroker>(ConfigText(trust_->fhir_port()));
    auto taught =
        HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/locator", As("RJ1"),
                     {{"Content-Type", "application/json"}},
                     R"({"nhs_number": ")" + std::string(kRgtPatient) + R"(", "ods": "RGT"})");
    ASSERT_EQ(taught.status, 204) << taught.body;
  }

  testing::HttpsResult Search(const std::string& request_id) const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET", SearchTarget(), As("RJ1"),
                        {{"X-Request-ID", request_id}});
  }

  std::unique_ptr<simtrust::SimulatedTrust> trust_;
  std::unique_ptr<RunningBroker> broker_;
};

TEST_F(ReadAuditTest, EachAnswerArrivesWithItsRecordsAlreadyDurable) {
  for (const char* id : {"read-audit-a", "read-audit-b", "read-audit-c"}) {
    auto result = Search(id);
    ASSERT_EQ(result.status, 200) << result.body;
    EXPECT_NE(result.body.find("RGT"), std::string::npos);
    // Read at once, while the broker runs, from another connection.
    EXPECT_EQ(ResponseRecords(broker_->store_file(), id), 1) << id;
  }
}

TEST_F(ReadAuditTest, ConcurrentAnswersEachFindTheirRecordsDurable) {
  constexpr int kClients = 16;
  std::atomic<int> answered{0};
  std::atomic<int> recorded{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      const std::string id = "read-audit-concurrent-" + std::to_string(100 + i);
      auto result = Search(id);
      if (result.status == 200) {
        ++answered;
        recorded += ResponseRecords(broker_->store_file(), id) == 1 ? 1 : 0;
      }
    });
  }
  for (std::thread& client : clients) {
    client.join();
  }
  EXPECT_EQ(answered.load(), kClients);
  EXPECT_EQ(recorded.load(), kClients);
}

TEST_F(ReadAuditTest, WhenTheRecordsCannotBeWrittenTheAnswerIs503AndNothingIsReleased) {
  // The ledger's table refuses new rows (as a full or failing disk would make every append fail).
  ASSERT_EQ(QueryNumber(broker_->store_file(),
                        "CREATE TRIGGER readperf_refuse BEFORE INSERT ON ledger_record "
                        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"),
            0);
  auto refused = Search("read-audit-unrecorded");
  EXPECT_EQ(refused.status, 503) << refused.body.substr(0, 300);
  EXPECT_NE(refused.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(refused.body.find("searchset"), std::string::npos);
  EXPECT_EQ(refused.body.find(kRgtPatient), std::string::npos);
  EXPECT_EQ(ResponseRecords(broker_->store_file(), "read-audit-unrecorded"), 0);

  // Once the ledger can write again, reads are answered (the chain continues from its head).
  ASSERT_EQ(QueryNumber(broker_->store_file(), "DROP TRIGGER readperf_refuse"), 0);
  auto answered = Search("read-audit-recorded");
  ASSERT_EQ(answered.status, 200) << answered.body.substr(0, 300);
  EXPECT_EQ(ResponseRecords(broker_->store_file(), "read-audit-recorded"), 1);
}

}  // namespace
}  // namespace tb
