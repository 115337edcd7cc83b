// Issue 7 item 2: checkpoints exported and held elsewhere. `trustbridge audit checkpoint(s)
// --export` writes the signed checkpoints a peer keeps; `audit verify --checkpoint FILE` with
// that file finds the tail an insider cut together with the stored checkpoints, which the chain
// alone cannot show.
#include <algorithm>
#include <filesystem>
#include <sqlite3.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/app/audit_command.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/ledger.h"
#include "broker/store/store.h"
#include "tests/broker/app/run_command.h"
#include "tests/broker/ledger/ledger_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::ledger {
namespace {

using tb::testing::CommandOutput;
using tb::testing::RunCommand;
using tb::testing::TestPki;

class AuditCheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TestPki& pki = TestPki::Get();
    tb::testing::WriteFile(config_, R"({
      "broker": { "id": "broker-a", "ods": "X26" },
      "listen": { "fhir": "127.0.0.1:0" },
      "tls": { "cert": ")" + pki.Cert(TestPki::kBrokerA).string() +
                                        R"(", "key": ")" + pki.Key(TestPki::kBrokerA).string() +
                                        R"(", "ca": ")" + pki.CaCert().string() + R"(" },
      "store": { "url": "sqlite:)" + (dir_ / "tb.db").string() +
                                        R"(" },
      "participants": [ { "ods": "RJ1", "cert_cn": "RJ1" } ]
    })");
  }

  // Appends `n` hops with a checkpoint stored every fifth record, as a broker would.
  void AppendHops(int n) {
    auto database = store::OpenDatabase({.url = "sqlite:" + (dir_ / "tb.db").string()});
    ASSERT_TRUE(database) << database.error().message;
    auto ledger_store = store::MakeLedgerStore(**database);
    auto signer = CheckpointSigner::FromPemFile(TestPki::Get().Key(TestPki::kBrokerA));
    ASSERT_TRUE(signer) << signer.error().message;
    auto ledger =
        Ledger::Open(*ledger_store, clock_, signer->get(), {.checkpoint_every = 5, .max_batch = 1});
    ASSERT_TRUE(ledger) << ledger.error().message;
    for (int i = 1; i <= n; ++i) {
      ASSERT_TRUE((*ledger)->Append(testing::MakeHop(HopKind::kQuery, testing::kPatientA, i)));
    }
  }

  CommandOutput Audit(std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--config", config_.string()});
    return RunCommand(app::AuditCommand, std::move(args));
  }

  // Runs `sql` on the database file, as an insider with access to it would.
  void Sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "tb.db").string().c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message != nullptr ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
  }

  static int Lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  tb::testing::TempDir dir_;
  std::filesystem::path config_ = dir_ / "broker.json";
  testing::SteppingClock clock_;
};

TEST_F(AuditCheckpointsTest, CheckpointSignsTheHeadAndCheckpointsListsEveryStoredOne) {
  AppendHops(12);
  const CommandOutput head = Audit({"checkpoint"});
  ASSERT_EQ(head.code, 0) << head.err;
  ASSERT_EQ(Lines(head.out), 1) << head.out;
  auto signed_head = CheckpointFromJson(head.out);
  ASSERT_TRUE(signed_head) << head.out;
  EXPECT_EQ(signed_head->count, 12);

  const CommandOutput all = Audit({"checkpoints"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(Lines(all.out), 3) << all.out;  // at 5 and 10 (automatic), 12 (just signed)
  EXPECT_NE(all.out.find(R"("count":5,)"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find(R"("count":10,)"), std::string::npos) << all.out;

  // Signing the same head again gives the stored checkpoint, not a second one.
  const CommandOutput again = Audit({"checkpoint"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, head.out);
}

TEST_F(AuditCheckpointsTest, ATailCutWithItsCheckpointsIsFoundOnlyWithTheExportedOnes) {
  AppendHops(12);
  const std::string exported = (dir_ / "held-by-peer.jsonl").string();
  ASSERT_EQ(Audit({"checkpoint"}).code, 0);
  const CommandOutput wrote = Audit({"checkpoints", "--export", exported});
  ASSERT_EQ(wrote.code, 0) << wrote.err;
  EXPECT_NE(wrote.out.find("wrote 3 checkpoint(s), the last at record 12"), std::string::npos)
      << wrote.out;
  EXPECT_EQ(Audit({"verify", "--checkpoint", exported}).code, 0);

  // The insider cuts records 9 to 12 and the checkpoints that counted them.
  Sql("DELETE FROM ledger_record WHERE seq > 8; DELETE FROM ledger_checkpoint WHERE "
      "record_count > 8");
  const CommandOutput alone = Audit({"verify"});
  EXPECT_EQ(alone.code, 0) << alone.err;  // what remains is a valid chain
  const CommandOutput with_peer = Audit({"verify", "--checkpoint", exported});
  EXPECT_EQ(with_peer.code, 1) << with_peer.out;
  EXPECT_NE(with_peer.err.find("seq 9"), std::string::npos) << with_peer.err;
}

TEST_F(AuditCheckpointsTest, BadUseAndUnreadableCheckpointFilesExitTwo) {
  EXPECT_EQ(Audit({"checkpoints"}).code, 2);                          // an empty ledger has none
  EXPECT_EQ(Audit({"checkpoint"}).code, 2);                           // nor a head to sign
  EXPECT_EQ(RunCommand(app::AuditCommand, {"checkpoints"}).code, 2);  // no --config
  AppendHops(3);
  tb::testing::WriteFile(dir_ / "bad.jsonl", "{\"count\":3}\n");
  EXPECT_EQ(Audit({"verify", "--checkpoint", (dir_ / "bad.jsonl").string()}).code, 2);
  EXPECT_EQ(Audit({"verify", "--checkpoint", (dir_ / "missing.jsonl").string()}).code, 2);
  // An export to a folder that does not exist leaves nothing behind.
  const std::string nowhere = (dir_ / "no" / "such" / "file.jsonl").string();
  EXPECT_EQ(Audit({"checkpoint", "--export", nowhere}).code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "no"));
}

}  // namespace
}  // namespace tb::ledger
