// The ledger on a real SQLite file (tb::store), tampered with directly in SQL the way an insider
// with database access would: each change makes verify fail naming the first bad seq.
#include <set>
#include <sqlite3.h>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/ledger/ledger.h"
#include "broker/ledger/verify.h"
#include "broker/store/store.h"
#include "tests/broker/ledger/ledger_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::ledger {
namespace {

using tb::testing::TestPki;
using testing::MakeHop;

class SqliteLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "store.db";
    auto signer = CheckpointSigner::FromPemFile(TestPki::Get().Key(TestPki::kBrokerA));
    ASSERT_TRUE(signer) << signer.error().message;
    signer_ = std::move(*signer);
    auto verifier = CheckpointVerifier::FromPemFile(TestPki::Get().Cert(TestPki::kBrokerA));
    ASSERT_TRUE(verifier) << verifier.error().message;
    verifier_ = std::move(*verifier);
    Open();
  }
  void TearDown() override { Close(); }

  void Open(LedgerSettings settings = {.checkpoint_every = 0}) {
    auto database = store::OpenDatabase({.url = "sqlite:" + path_.string()});
    ASSERT_TRUE(database) << database.error().message;
    database_ = std::move(*database);
    store_ = store::MakeLedgerStore(*database_);
    auto ledger = Ledger::Open(*store_, clock_, signer_.get(), settings);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ledger_ = std::move(*ledger);
  }
  void Close() {
    ledger_.reset();
    store_.reset();
    database_.reset();
  }

  void AppendHops(int n) {
    for (int i = 1; i <= n; ++i) {
      ASSERT_TRUE(ledger_->Append(MakeHop(HopKind::kQuery, testing::kPatientA, i)));
    }
  }

  // Runs `sql` on the closed database file, as an insider would.
  void Tamper(const std::string& sql) {
    Close();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string error = message != nullptr ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << error;
    Open();
  }

  VerifyReport Verify(const VerifyOptions& options = {}) {
    auto report = VerifyLedger(*store_, *verifier_, options);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : VerifyReport{};
  }

  void ExpectFailure(std::int64_t seq, VerifyProblem problem, const VerifyOptions& options = {}) {
    const VerifyReport report = Verify(options);
    ASSERT_TRUE(report.failure.has_value()) << "tampering not detected";
    EXPECT_EQ(report.failure->seq, seq) << report.failure->detail;
    EXPECT_EQ(ToString(report.failure->problem), ToString(problem)) << report.failure->detail;
  }

  tb::testing::TempDir dir_;
  std::filesystem::path path_;
  testing::SteppingClock clock_;
  std::unique_ptr<CheckpointSigner> signer_;
  std::unique_ptr<CheckpointVerifier> verifier_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<core::LedgerStore> store_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(SqliteLedgerTest, UntouchedLedgerVerifiesAfterReopening) {
  AppendHops(12);
  ASSERT_TRUE(ledger_->Checkpoint());
  Close();
  Open();
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, 12);
  EXPECT_EQ(report.checkpoints, 1);
  EXPECT_EQ(report.unsigned_tail, 0);
  auto journey = ledger_->Journey(testing::kPatientA);
  ASSERT_TRUE(journey);
  EXPECT_EQ(journey->size(), 12u);
}

TEST_F(SqliteLedgerTest, OneByteEditedIsAltered) {
  AppendHops(10);
  Tamper("UPDATE ledger_record SET canonical = replace(canonical, 'TREAT', 'TREAX') WHERE seq = 7");
  ExpectFailure(7, VerifyProblem::kAltered);
}

TEST_F(SqliteLedgerTest, NhsNumberColumnMovedToAnotherPatientIsAltered) {
  AppendHops(10);
  Tamper("UPDATE ledger_record SET nhs_number = '9000000009' WHERE seq = 3");
  ExpectFailure(3, VerifyProblem::kAltered);
}

TEST_F(SqliteLedgerTest, DeletedRowIsDeleted) {
  AppendHops(10);
  Tamper("DELETE FROM ledger_record WHERE seq = 4");
  ExpectFailure(4, VerifyProblem::kDeleted);
}

TEST_F(SqliteLedgerTest, DeletedRowWithRenumberingIsDeleted) {
  AppendHops(10);
  Tamper(
      "DELETE FROM ledger_record WHERE seq = 4;"
      "UPDATE ledger_record SET seq = -seq WHERE seq > 4;"
      "UPDATE ledger_record SET seq = -seq - 1 WHERE seq < 0;");
  ExpectFailure(4, VerifyProblem::kDeleted);
}

TEST_F(SqliteLedgerTest, SwappedRowsAreReordered) {
  AppendHops(10);
  Tamper(
      "UPDATE ledger_record SET seq = -1 WHERE seq = 5;"
      "UPDATE ledger_record SET seq = 5 WHERE seq = 6;"
      "UPDATE ledger_record SET seq = 6 WHERE seq = -1;");
  ExpectFailure(5, VerifyProblem::kReordered);
}

TEST_F(SqliteLedgerTest, InsertedRowIsInserted) {
  AppendHops(10);
  Tamper(
      "UPDATE ledger_record SET seq = -seq WHERE seq >= 6;"
      "UPDATE ledger_record SET seq = -seq + 1 WHERE seq < 0;"
      "INSERT INTO ledger_record (seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash)"
      " SELECT 6, recorded_at, kind, nhs_number, canonical, hash, prev_hash FROM ledger_record"
      " WHERE seq = 5;");
  ExpectFailure(6, VerifyProblem::kInserted);
}

TEST_F(SqliteLedgerTest, CheckpointWithBadSignatureIsReported) {
  AppendHops(5);
  ASSERT_TRUE(ledger_->Checkpoint());
  Tamper("UPDATE ledger_checkpoint SET created_at = created_at + 1");
  ExpectFailure(5, VerifyProblem::kBadSignature);
}

TEST_F(SqliteLedgerTest, CutTailIsFoundAgainstAnExportedCheckpoint) {
  AppendHops(10);
  auto checkpoint = ledger_->Checkpoint();
  ASSERT_TRUE(checkpoint);
  const std::string exported = CheckpointToJson(*checkpoint);
  Tamper("DELETE FROM ledger_record WHERE seq > 6; DELETE FROM ledger_checkpoint;");
  EXPECT_TRUE(Verify().ok());  // the chain alone cannot show a cut tail
  auto held = CheckpointFromJson(exported);
  ASSERT_TRUE(held);
  ExpectFailure(7, VerifyProblem::kTailCut, {.external_checkpoints = {*held}});
}

TEST_F(SqliteLedgerTest, ManyThreadsAppendOneValidChainInFewTransactions) {
  Close();
  Open({.checkpoint_every = 100});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto receipt =
            ledger_->Append(MakeHop(HopKind::kResponse, testing::kPatientB, t * 100 + i));
        EXPECT_TRUE(receipt) << receipt.error().message;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  const Ledger::Stats stats = ledger_->stats();
  EXPECT_EQ(stats.records, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_LE(stats.batches, stats.records);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, kThreads * kPerThread);
  EXPECT_GE(report.checkpoints, 1);
}

}  // namespace
}  // namespace tb::ledger
