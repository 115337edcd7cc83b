// Issue 8 item 5: a full disk or a locked database gets an error ACK (AR, never AA), leaves
// nothing half-written (no message without its queue rows), and once space (or the lock) returns
// the sender's resend is accepted and delivered exactly once, in order.
//
// The broker is the real `trustbridge serve` binary as a child process on a SQLite store. "Disk
// full" is its RLIMIT_FSIZE lowered to one byte while it runs (prlimit, no root needed): every
// write past the first byte of any file then fails with EFBIG / a short write, which SQLite
// reports as SQLITE_FULL or an I/O error, as on a full file system. "Locked" is this test holding
// SQLite's write lock (BEGIN IMMEDIATE) for longer than the broker's store.lock_timeout_ms.
#include <cstdio>
#include <memory>
#include <set>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "tests/crash/crash_fixture.h"
#include "tests/support/broker_process.h"
#include "tests/support/delivery_check.h"
#include "tests/support/hl7_load_sender.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMessages = 3;  // L0-0 before, L0-1 refused then resent, L0-2 after

// A read-only look at the broker's SQLite store from outside (WAL: never blocks the broker).
std::int64_t CountRows(const fs::path& store, const std::string& sql) {
  sqlite3* db = nullptr;
  std::int64_t count = -1;
  if (sqlite3_open_v2(store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      count = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return count;
}

class ResourceExhaustionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rxh_ = testing::StartMllpTrust("RXH", received_log_);
    ASSERT_NE(rxh_->mllp_port(), 0);
    // A short lock timeout, so that the locked case answers quickly.
    testing::WriteFile(dir_ / "broker.json",
                       testing::CrashBrokerConfig("exhaustion-node",
                                                  R"("url": "sqlite:var/tb.db",
                                                     "lock_timeout_ms": 300)",
                                                  "RXH", rxh_->mllp_port()));
    broker_ = std::make_unique<testing::BrokerProcess>(testing::TrustbridgeBinary(),
                                                       dir_ / "broker.json", dir_.path());
    // No limit yet, but SIGXFSZ ignored from the start: a write past a lowered limit then fails
    // (EFBIG) instead of killing the broker, as a write to a full disk fails with ENOSPC.
    testing::ChildLimits limits;
    limits.max_file_bytes = RLIM_INFINITY;
    std::string error;
    ASSERT_TRUE(broker_->Start(error, std::chrono::seconds(60), limits)) << error;

    const testing::TestPki& pki = testing::TestPki::Get();
    auto tls = net::MakeClientContext({pki.Cert("RJ1"), pki.Key("RJ1"), pki.CaCert(), {}});
    ASSERT_TRUE(tls);
    load_.patients = testing::TestNhsNumbers(1);
    load_.messages_per_patient = kMessages;
    load_.tls = *tls;
    messages_ = std::make_unique<testing::Hl7LoadSender>(load_);  // only to build the messages
  }

  void TearDown() override {
    if (broker_ != nullptr && broker_->running()) {
      EXPECT_EQ(broker_->Stop(), 0);
    }
    if (HasFailure()) {  // keep the logs and the store for a post-mortem
      const fs::path kept = fs::temp_directory_path() / "tb-exhaustion-test-failed";
      std::error_code ec;
      fs::remove_all(kept, ec);
      fs::copy(dir_.path(), kept, fs::copy_options::recursive, ec);
      std::printf("resource exhaustion: kept its folder in %s\n", kept.c_str());
    }
  }

  // Sends message L0-`seq` on a new connection and returns the ACK's MSA-1 ("AA", "AE", ...), or
  // "no answer: ..." when the broker did not answer.
  std::string Send(std::size_t seq) {
    mllp::MllpClientSettings options;
    options.port = broker_->mllp_port();
    options.reply_timeout = std::chrono::seconds(30);
    mllp::MllpClient client(load_.tls, options);
    const core::Result<std::string> ack = client.Send(messages_->Message({0, seq}));
    if (!ack) {
      return "no answer: " + ack.error().message;
    }
    const core::Result<hl7v2::Message> parsed = hl7v2::Message::Parse(*ack);
    if (!parsed) {
      return "unparsable ACK";
    }
    EXPECT_EQ(parsed->Get("MSA-2").Decoded(), testing::LoadControlId({0, seq}));
    return std::string(parsed->Get("MSA-1").Decoded());
  }

  static bool IsErrorAck(const std::string& code) {
    return code == "AE" || code == "AR" || code == "CE" || code == "CR";
  }

  std::int64_t Stored(std::size_t seq) {
    return CountRows(store_, "SELECT COUNT(*) FROM inbound_message WHERE control_id = '" +
                                 testing::LoadControlId({0, seq}) + "'");
  }

  // Nothing half-written: every stored message has its queue row, and no queue row lacks its
  // message.
  void ExpectNoHalfWrittenMessage() {
    EXPECT_EQ(CountRows(store_,
                        "SELECT COUNT(*) FROM inbound_message m WHERE NOT EXISTS"
                        " (SELECT 1 FROM outbound_message o WHERE o.inbound_message_id = m.id)"),
              0);
    EXPECT_EQ(CountRows(store_,
                        "SELECT COUNT(*) FROM outbound_message o WHERE NOT EXISTS"
                        " (SELECT 1 FROM inbound_message m WHERE m.id = o.inbound_message_id)"),
              0);
  }

  // All three messages reached RXH, in order, each exactly once (no in-flight exception).
  void ExpectAllDeliveredOnceInOrder() {
    const testing::DeliveryReport report = testing::WaitForDeliveries(
        received_log_, load_.patients, kMessages, {}, kMessages, std::chrono::seconds(30));
    EXPECT_EQ(report.delivered, kMessages) << report.Summary();
    EXPECT_TRUE(report.problems.empty()) << report.Summary();
    EXPECT_EQ(report.received, kMessages) << report.Summary();
  }

  testing::TempDir dir_;
  fs::path received_log_ = dir_ / "rxh-received.jsonl";
  fs::path store_ = dir_ / "var/tb.db";
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  testing::Hl7LoadSettings load_;
  std::unique_ptr<testing::Hl7LoadSender> messages_;
};

TEST_F(ResourceExhaustionTest, AFullDiskGetsAnErrorAckAndTheResendIsDeliveredOnce) {
  ASSERT_EQ(Send(0), "AA");

  ASSERT_TRUE(broker_->child()->SetMaxFileBytes(1));  // the disk is full
  const std::string refused = Send(1);
  EXPECT_TRUE(IsErrorAck(refused)) << "a full disk was answered " << refused;
  const std::string refused_again = Send(1);  // the engine resends while the disk is still full
  EXPECT_TRUE(IsErrorAck(refused_again)) << "a full disk was answered " << refused_again;
  EXPECT_EQ(Stored(1), 0);
  ExpectNoHalfWrittenMessage();

  ASSERT_TRUE(broker_->child()->SetMaxFileBytes(RLIM_INFINITY));  // space is back
  ASSERT_TRUE(broker_->running()) << "the broker died of the full disk";
  EXPECT_EQ(Send(1), "AA");
  EXPECT_EQ(Send(2), "AA");
  ExpectAllDeliveredOnceInOrder();
  EXPECT_EQ(Stored(1), 1);
  ExpectNoHalfWrittenMessage();
}

TEST_F(ResourceExhaustionTest, ALockedDatabaseGetsAnErrorAckAndTheResendIsDeliveredOnce) {
  ASSERT_EQ(Send(0), "AA");

  // Another program holds the write lock for longer than the broker's lock timeout (300 ms).
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open_v2(store_.c_str(), &holder, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(holder, 5000);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(holder);
  const std::string refused = Send(1);
  EXPECT_TRUE(IsErrorAck(refused)) << "a locked database was answered " << refused;
  EXPECT_EQ(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(holder);
  EXPECT_EQ(Stored(1), 0);
  ExpectNoHalfWrittenMessage();

  EXPECT_EQ(Send(1), "AA");
  EXPECT_EQ(Send(2), "AA");
  ExpectAllDeliveredOnceInOrder();
  EXPECT_EQ(Stored(1), 1);
  ExpectNoHalfWrittenMessage();
}

}  // namespace
}  // namespace tb
