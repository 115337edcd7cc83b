// Issue 8 item 7: the broker is SIGKILLed several times while an engine pushes >= 10,000 ADTs
// for 100 patients over several MLLP/TLS connections, resending whatever was not acknowledged.
// Afterwards every acknowledged message must have reached the destination trust, each patient's
// messages in send order, and a message may arrive twice only if it was in flight at a kill.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sqlite3.h>
#include <string>
#include <thread>

#include <gtest/gtest.h>

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
using testing::BrokerProcess;
using testing::Hl7LoadSender;
using testing::TestPki;

// 100 x 100 = 10,000 messages (the issue's minimum). TB_CRASH_MESSAGES_PER_PATIENT overrides the
// second figure for quicker local experiments.
constexpr std::size_t kPatients = 100;
constexpr std::size_t kConnections = 8;

std::size_t MessagesPerPatient() {
  const char* text = std::getenv("TB_CRASH_MESSAGES_PER_PATIENT");
  return text != nullptr && std::atoi(text) > 0 ? static_cast<std::size_t>(std::atoi(text)) : 100;
}

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

// The store's keys: SQLite's WAL synced inside COMMIT (the default), and by the WAL syncer outside
// the write lock (store.sqlite_wal_sync "background": ACKs leave from the syncer's thread).
class SigkillCrash : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(WalSync, SigkillCrash,
                         ::testing::Values(R"("url": "sqlite:var/tb.db")",
                                           R"("url": "sqlite:var/tb.db",
                                              "sqlite_wal_sync": "background")"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return std::string(param.index == 0 ? "InCommit" : "Background");
                         });

TEST_P(SigkillCrash, AcknowledgedMessagesSurviveKillsInPerPatientOrder) {
  const std::size_t kMessagesPerPatient = MessagesPerPatient();
  testing::TempDir dir;
  const fs::path received_log = dir / "rxh-received.jsonl";
  auto rxh = testing::StartMllpTrust("RXH", received_log);
  testing::WriteFile(dir / "broker.json",
                     testing::CrashBrokerConfig("crash-node", GetParam(), "RXH", rxh->mllp_port()));
  const fs::path store = dir / "var/tb.db";

  BrokerProcess broker(testing::TrustbridgeBinary(), dir / "broker.json", dir.path());
  std::string error;
  ASSERT_TRUE(broker.Start(error)) << error;

  const TestPki& pki = TestPki::Get();
  auto tls = net::MakeClientContext({pki.Cert("RJ1"), pki.Key("RJ1"), pki.CaCert(), {}});
  ASSERT_TRUE(tls);
  testing::Hl7LoadSettings settings;
  settings.patients = testing::TestNhsNumbers(kPatients);
  settings.messages_per_patient = kMessagesPerPatient;
  settings.connections = kConnections;
  settings.tls = *tls;
  settings.port = [&broker](std::size_t) { return broker.mllp_port(); };
  Hl7LoadSender sender(settings);
  const auto started = std::chrono::steady_clock::now();
  sender.Start();

  // Kill at about a quarter, a half and three quarters of the load: ingest and delivery are both
  // busy then (delivery lags ingest), so some messages are committed but not acknowledged, and
  // some are delivered but not marked.
  std::set<std::string> in_flight_at_kill;
  for (const std::size_t at : {sender.total() / 4, sender.total() / 2, sender.total() * 3 / 4}) {
    ASSERT_TRUE(
        testing::WaitFor([&] { return sender.acknowledged() >= at; }, std::chrono::seconds(90)))
        << "acknowledged " << sender.acknowledged() << " of " << sender.total();
    broker.Kill();
    const std::set<std::string> in_flight = testing::InFlightControlIds(store);
    in_flight_at_kill.insert(in_flight.begin(), in_flight.end());
    ASSERT_TRUE(broker.Start(error)) << error;
  }
  ASSERT_TRUE(testing::WaitFor([&] { return sender.acknowledged() == sender.total(); },
                               std::chrono::seconds(120)))
      << "acknowledged " << sender.acknowledged() << " of " << sender.total();
  EXPECT_TRUE(sender.Wait());
  const auto acknowledged_at = std::chrono::steady_clock::now();

  // Drain: everything acknowledged reaches RXH (the check passes once nothing is missing).
  testing::DeliveryReport report =
      testing::WaitForDeliveries(received_log, settings.patients, kMessagesPerPatient,
                                 in_flight_at_kill, sender.total(), std::chrono::seconds(120));
  const auto drained_at = std::chrono::steady_clock::now();
  EXPECT_EQ(broker.Stop(), 0);
  report = testing::CheckDeliveries(testing::ReadReceivedLog(received_log), settings.patients,
                                    kMessagesPerPatient, in_flight_at_kill);
  EXPECT_TRUE(report.problems.empty()) << report.Summary();
  EXPECT_EQ(report.delivered, sender.total()) << report.Summary();

  // Resends of committed-but-unacknowledged messages were recognised: each stored once, each
  // queue item delivered once.
  EXPECT_EQ(CountRows(store, "SELECT COUNT(*) FROM inbound_message WHERE control_id LIKE 'L%'"),
            static_cast<std::int64_t>(sender.total()));
  EXPECT_EQ(CountRows(store, "SELECT COUNT(*) FROM outbound_message WHERE status = 'delivered'"),
            static_cast<std::int64_t>(sender.total()));

  if (HasFailure() || std::getenv("TB_CRASH_KEEP") != nullptr) {  // for a post-mortem
    const fs::path kept = fs::temp_directory_path() / "tb-crash-test-failed";
    std::error_code ec;
    fs::remove_all(kept, ec);
    fs::copy(dir.path(), kept, fs::copy_options::recursive, ec);
    std::printf("crash test: kept its folder in %s\n", kept.c_str());
  }
  const auto seconds = [](auto from, auto to) {
    return std::chrono::duration<double>(to - from).count();
  };
  std::printf(
      "crash test: %zu messages, %d broker starts (kills: 3), %zu resends, %zu error ACKs, "
      "%zu in flight at kills, %zu duplicate deliveries; all acknowledged after %.1f s, "
      "drained after %.1f s\n",
      sender.total(), broker.starts(), sender.resends(), sender.error_acks(),
      in_flight_at_kill.size(), report.duplicates, seconds(started, acknowledged_at),
      seconds(started, drained_at));
}

}  // namespace
}  // namespace tb
