// Issue 9 item 4: three `trustbridge serve` nodes on one PostgreSQL, as behind a TCP load
// balancer. An engine sends >= 3,000 ADTs for 50 patients over six MLLP/TLS connections spread
// over the nodes (each patient always on one connection, one message at a time, resending what
// was not acknowledged - to another node when its own is down). One node is SIGKILLed mid-run and
// not restarted: the others must take over its leases. Afterwards every acknowledged message has
// reached the destination trust once, in per-patient order (a repeat only for an item in flight
// at the kill, with the same control id), and `trustbridge audit verify` passes on the shared
// ledger.
//
// Needs PostgreSQL: the CTest fixture `pg` (scripts/pg-test-server.sh) or BROKER_TEST_PG_URI;
// skips with the reason otherwise.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <Poco/Data/Statement.h>
#include <gtest/gtest.h>

#include "adapters/net/tls_context.h"
#include "broker/store/database_impl.h"
#include "broker/store/store_url.h"
#include "tests/broker/store/store_test_support.h"
#include "tests/crash/crash_fixture.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/child_process.h"
#include "tests/support/delivery_check.h"
#include "tests/support/hl7_load_sender.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using Poco::Data::Keywords::into;
using Poco::Data::Keywords::now;

constexpr std::size_t kNodes = 3;
constexpr std::size_t kPatients = 50;
constexpr std::size_t kConnections = 6;  // two per node while all are up

// 50 x 60 = 3,000 messages. TB_CLUSTER_MESSAGES_PER_PATIENT overrides the second figure.
std::size_t MessagesPerPatient() {
  const char* text = std::getenv("TB_CLUSTER_MESSAGES_PER_PATIENT");
  return text != nullptr && std::atoi(text) > 0 ? static_cast<std::size_t>(std::atoi(text)) : 60;
}

// A look at the shared database from outside the nodes.
class SharedDatabase {
 public:
  explicit SharedDatabase(const std::string& url) {
    core::Result<store::StoreLocation> location = store::ParseStoreUrl(url);
    if (!location) {
      ADD_FAILURE() << location.error().message;
      return;
    }
    store::StoreSettings settings;
    settings.url = url;
    settings.max_sessions = 1;
    core::Result<std::unique_ptr<store::Database::Impl>> db =
        store::Database::Impl::Open(std::move(*location), settings);
    if (!db) {
      ADD_FAILURE() << db.error().message;
      return;
    }
    db_ = std::move(*db);
  }

  std::int64_t Count(const std::string& sql) {
    Poco::Int64 count = -1;
    if (db_ != nullptr) {
      const core::Status read = db_->Read("test count", [&](Poco::Data::Session& session) {
        session << sql, into(count), now;
        return core::Ok();
      });
      EXPECT_TRUE(read) << read.error().message;
    }
    return count;
  }

  // Control ids of the items in flight: claimed by some node's worker, perhaps already sent.
  std::set<std::string> InFlightControlIds() {
    std::vector<std::string> ids;
    if (db_ != nullptr) {
      const core::Status read = db_->Read("test in flight", [&](Poco::Data::Session& session) {
        session << "SELECT m.control_id FROM outbound_message o"
                   " JOIN inbound_message m ON m.id = o.inbound_message_id"
                   " WHERE o.status = 'in_flight'",
            into(ids), now;
        return core::Ok();
      });
      EXPECT_TRUE(read) << read.error().message;
    }
    return {ids.begin(), ids.end()};
  }

 private:
  std::unique_ptr<store::Database::Impl> db_;
};

TEST(ThreeNodes, OneKilledMidLoadTheOthersDeliverEverythingOnceInOrderAndTheLedgerVerifies) {
  store::testing::PostgresqlBackend backend;  // a fresh schema, dropped at the end
  const std::string url = backend.FreshUrl();
  if (url.empty()) {
    if (HasFailure()) {
      return;
    }
    GTEST_SKIP() << backend.skip_reason();
  }
  const std::size_t kMessagesPerPatient = MessagesPerPatient();
  testing::TempDir dir;
  const fs::path received_log = dir / "rxh-received.jsonl";
  auto rxh = testing::StartMllpTrust("RXH", received_log);

  // The same config on every node but broker.id. A short lease, so that the killed node's
  // claimed items pass to the others within seconds; still far above a delivery to RXH (a few
  // ms, even on a loaded machine), so no live node's delivery outlives its lease.
  std::vector<std::string> configs;
  for (std::size_t i = 0; i < kNodes; ++i) {
    configs.push_back(testing::CrashBrokerConfig(
        "node-" + std::string(1, static_cast<char>('a' + i)), R"("url": ")" + url + R"(")", "RXH",
        rxh->mllp_port(), R"("delivery_threads": 4, "lease_ms": 10000)"));
  }
  testing::BrokerCluster cluster(dir.path(), configs);
  std::string error;
  ASSERT_TRUE(cluster.StartAll(error)) << error;
  SharedDatabase database(url);

  const testing::TestPki& pki = testing::TestPki::Get();
  auto tls = net::MakeClientContext({pki.Cert("RJ1"), pki.Key("RJ1"), pki.CaCert(), {}});
  ASSERT_TRUE(tls);
  testing::Hl7LoadSettings settings;
  settings.patients = testing::TestNhsNumbers(kPatients);
  settings.messages_per_patient = kMessagesPerPatient;
  settings.connections = kConnections;
  settings.tls = *tls;
  settings.port = [&cluster](std::size_t connection) { return cluster.PortFor(connection); };
  testing::Hl7LoadSender sender(settings);
  const auto started = std::chrono::steady_clock::now();
  sender.Start();

  // Kill node-b at about 40% of the load: all three are ingesting and delivering then.
  ASSERT_TRUE(testing::WaitFor([&] { return sender.acknowledged() >= sender.total() * 2 / 5; },
                               std::chrono::seconds(60)))
      << "acknowledged " << sender.acknowledged() << " of " << sender.total();
  cluster.node(1).Kill();
  const std::set<std::string> in_flight_at_kill = database.InFlightControlIds();

  ASSERT_TRUE(testing::WaitFor([&] { return sender.acknowledged() == sender.total(); },
                               std::chrono::seconds(60)))
      << "acknowledged " << sender.acknowledged() << " of " << sender.total();
  EXPECT_TRUE(sender.Wait());
  const auto acknowledged_at = std::chrono::steady_clock::now();

  testing::DeliveryReport report =
      testing::WaitForDeliveries(received_log, settings.patients, kMessagesPerPatient,
                                 in_flight_at_kill, sender.total(), std::chrono::seconds(60));
  const auto drained_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(cluster.StopAll());
  report = testing::CheckDeliveries(testing::ReadReceivedLog(received_log), settings.patients,
                                    kMessagesPerPatient, in_flight_at_kill);
  EXPECT_TRUE(report.problems.empty()) << report.Summary();
  EXPECT_EQ(report.delivered, sender.total()) << report.Summary();

  // Each message stored once (resends to another node were recognised as duplicates), each
  // queue item delivered once.
  const auto total = static_cast<std::int64_t>(sender.total());
  EXPECT_EQ(database.Count("SELECT COUNT(*) FROM inbound_message WHERE control_id LIKE 'L%'"),
            total);
  EXPECT_EQ(database.Count("SELECT COUNT(*) FROM outbound_message WHERE status = 'delivered'"),
            total);
  EXPECT_EQ(database.Count("SELECT COUNT(DISTINCT lease_owner) FROM outbound_message"), 0)
      << "leases left behind";

  // The three nodes' ledger records form one chain that verifies.
  const int verified =
      testing::RunToCompletion({testing::TrustbridgeBinary().string(), "audit", "verify",
                                "--config", (dir / "node0.json").string()},
                               dir / "audit-verify.log");
  EXPECT_EQ(verified, 0) << testing::ReadFile(dir / "audit-verify.log");

  if (HasFailure() || std::getenv("TB_CRASH_KEEP") != nullptr) {  // for a post-mortem
    const fs::path kept = fs::temp_directory_path() / "tb-three-nodes-test-failed";
    std::error_code ec;
    fs::remove_all(kept, ec);
    fs::copy(dir.path(), kept, fs::copy_options::recursive, ec);
    std::printf("three nodes: kept its folder in %s\n", kept.c_str());
  }
  const auto seconds = [](auto from, auto to) {
    return std::chrono::duration<double>(to - from).count();
  };
  std::printf(
      "three nodes: %zu messages over %zu connections, node-b killed at %zu%%, %zu resends, "
      "%zu error ACKs, %zu in flight at the kill, %zu duplicate deliveries; all acknowledged "
      "after %.1f s, drained after %.1f s\n",
      sender.total(), kConnections, std::size_t{40}, sender.resends(), sender.error_acks(),
      in_flight_at_kill.size(), report.duplicates, seconds(started, acknowledged_at),
      seconds(started, drained_at));
}

}  // namespace
}  // namespace tb
