// `trustbridge audit verify --config FILE` on a broker's real SQLite store: 0 for an untouched
// ledger, 1 naming the first bad sequence number once a row is edited or deleted in SQL.
#include "broker/app/audit_command.h"

#include <sqlite3.h>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/core/clock.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/ledger.h"
#include "broker/store/store.h"
#include "tests/broker/app/run_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::app {
namespace {

using testing::TestPki;

class AuditCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TestPki& pki = TestPki::Get();
    testing::WriteFile(dir_ / "broker.json", R"({
      "broker": { "id": "broker-a", "ods": "X26" },
      "listen": { "fhir": "127.0.0.1:0" },
      "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                                                 R"(,
      "store": { "url": "sqlite:tb.db" },
      "participants": [ { "ods": "RJ1", "cert_cn": "RJ1" } ]
    })");
    // Ten hops, signed with the broker's key, checkpoint after the fifth.
    auto database = store::OpenDatabase({.url = "sqlite:" + (dir_ / "tb.db").string()});
    ASSERT_TRUE(database) << database.error().message;
    auto ledger_store = store::MakeLedgerStore(**database);
    auto signer = ledger::CheckpointSigner::FromPemFile(pki.Key("broker-a"));
    ASSERT_TRUE(signer) << signer.error().message;
    core::SystemClock clock;
    ledger::LedgerSettings settings;
    settings.checkpoint_every = 5;
    auto ledger = ledger::Ledger::Open(*ledger_store, clock, signer->get(), settings);
    ASSERT_TRUE(ledger) << ledger.error().message;
    for (int i = 0; i < 10; ++i) {
      ledger::HopRecord hop;
      hop.kind = ledger::HopKind::kQuery;
      hop.time_ms = 1'795'000'000'000 + i;
      hop.broker_ods = "X26";
      hop.requester_ods = "RJ1";
      hop.destination_ods = "RGT";
      hop.nhs_number = "9449305552";
      hop.request_id = "req-" + std::to_string(i);
      ASSERT_TRUE((*ledger)->Append(hop)) << i;
    }
  }

  testing::CommandOutput Verify() {
    return testing::RunCommand(AuditCommand,
                               {"verify", "--config", (dir_ / "broker.json").string()});
  }

  void Sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "tb.db").string().c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message != nullptr ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
  }

  testing::TempDir dir_;
};

TEST_F(AuditCommandTest, UntouchedLedgerVerifies) {
  testing::CommandOutput outcome = Verify();
  EXPECT_EQ(outcome.code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("10 records"), std::string::npos) << outcome.out;
}

TEST_F(AuditCommandTest, EditedRecordFailsNamingIt) {
  Sql("UPDATE ledger_record SET canonical = replace(canonical, 'RGT', 'RXH') WHERE seq = 4");
  testing::CommandOutput outcome = Verify();
  EXPECT_EQ(outcome.code, 1);
  EXPECT_NE(outcome.err.find("seq 4"), std::string::npos) << outcome.err;
}

TEST_F(AuditCommandTest, DeletedRecordFailsNamingTheGap) {
  Sql("DELETE FROM ledger_record WHERE seq = 7");
  testing::CommandOutput outcome = Verify();
  EXPECT_EQ(outcome.code, 1);
  EXPECT_NE(outcome.err.find("seq 7"), std::string::npos) << outcome.err;
}

TEST_F(AuditCommandTest, UsageAndConfigErrorsExitTwo) {
  const Flags none = Flags::Parse(0, nullptr);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(AuditCommand(none, out, err), 2);
}

}  // namespace
}  // namespace tb::app
