// The broker on PostgreSQL carries on across a restart of the database under it (a crash,
// maintenance, or a failover's new primary at the same address) without being restarted itself:
// a message whose statements the restart cut off is refused with an AR, so the sender resends it
// and nothing of it was stored or delivered; the pooled sessions are replaced, so the messages
// after it are stored, acknowledged and delivered, and federated searches are answered. While
// the database is down, GET /admin/health says so (503, for a load balancer to take the node out)
// and messages get AEs; once it is back, both recover.
// Its own cluster (scripts/pg-test-server.sh start / restart / stop), not the `pg` fixture's:
// restarting that one would cut off the other pg tests. Label pg; skips without PostgreSQL.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/child_process.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";  // at RXH (demo data)

// A cluster of its own, stopped (and its folder removed) when the test ends.
class OwnPostgresql {
 public:
  explicit OwnPostgresql(const fs::path& dir) : dir_(dir) {
    status_ = Run("start");
    if (status_ == 0) {
      uri_ = testing::ReadFile(dir_ / "uri");
      while (!uri_.empty() && (uri_.back() == '\n' || uri_.back() == '\r')) {
        uri_.pop_back();
      }
    }
  }
  ~OwnPostgresql() { Run("stop"); }
  OwnPostgresql(const OwnPostgresql&) = delete;
  OwnPostgresql& operator=(const OwnPostgresql&) = delete;

  int status() const { return status_; }  // of start: 0, or 77 when PostgreSQL is unavailable
  const std::string& uri() const { return uri_; }
  std::string log() const { return testing::ReadFile(dir_.parent_path() / "pg-script.log"); }
  int Restart() { return Run("restart"); }
  int Pause() { return Run("pause"); }
  int Resume() { return Run("resume"); }

 private:
  int Run(const std::string& action) {
    return testing::RunToCompletion(
        {"/bin/bash", (fs::path(TB_SOURCE_DIR) / "scripts/pg-test-server.sh").string(), action,
         dir_.string()},
        dir_.parent_path() / "pg-script.log", 180s);
  }

  fs::path dir_;
  int status_ = -1;
  std::string uri_;
};

TEST(PostgresqlRestart, TheBrokerCarriesOnAcrossARestartOfItsDatabase) {
  testing::TempDir dir;
  OwnPostgresql postgresql(dir / "pg");
  if (postgresql.status() == 77) {
    GTEST_SKIP() << "PostgreSQL is not available: " << postgresql.log();
  }
  ASSERT_EQ(postgresql.status(), 0) << postgresql.log();

  auto rxh = StartTrust("RXH", DemoPatients("RXH"), {}, dir / "rxh.jsonl", /*with_mllp=*/true);
  const TestPki& pki = TestPki::Get();
  RunningBroker broker(R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                       R"(,
    "store": { "url": ")" +
                       postgresql.uri() +
                       R"(" },
    "admin": { "health_cns": ["RGT"] },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
      { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"],
        "fhir_base": "https://127.0.0.1:)" +
                       std::to_string(rxh->fhir_port()) + R"(/fhir",
        "mllp": "127.0.0.1:)" +
                       std::to_string(rxh->mllp_port()) +
                       R"(", "format": "hl7v2" }
    ]
  })");
  testing::AnnounceByAdt(broker, "RXH", kShared);

  mllp::MllpClient engine = testing::EngineOf(broker, "RJ1");
  // MSA-1 of the ACK to an ADT^A08 with control id `id` ("" when no ACK came).
  const auto send = [&](const std::string& id) -> std::string {
    auto ack = engine.Send("MSH|^~\\&|PAS|RJ1|TB|X26|20261124120000||ADT^A08|" + id +
                           "|P|2.4\rEVN|A08|20261124120000\rPID|1||" + std::string(kShared) +
                           "^^^NHS^NH||HUGHES^AMELIA||19840312|F\r");
    if (!ack) {
      engine.Close();  // a new connection for the next one
      return "";
    }
    const auto at = ack->find("MSA|");
    return at == std::string::npos ? "?" : ack->substr(at + 4, 2);
  };
  const auto delivered = [&](const std::string& id) {
    return testing::ReadReceivedLog(dir / "rxh.jsonl").find("\"" + id + "\"") != std::string::npos;
  };
  ASSERT_EQ(send("PGRESTART0"), "AA");
  ASSERT_TRUE(testing::WaitFor([&] { return delivered("PGRESTART0"); }, 20s));

  ASSERT_EQ(postgresql.Restart(), 0) << postgresql.log();

  // Messages until three in a row are acknowledged; each one refused before that must be an AR
  // (resend later, v2.5.1 section 2.9.2.2), and the broker must not take more than a few to
  // recover.
  std::vector<std::string> refused;
  std::vector<std::string> accepted;
  for (int i = 1; i <= 12 && accepted.size() < 3; ++i) {
    const std::string id = "PGRESTART" + std::to_string(i);
    const std::string answer = send(id);
    if (answer == "AA") {
      accepted.push_back(id);
    } else {
      EXPECT_TRUE(answer == "AR" || answer.empty()) << id << ": MSA-1 " << answer;
      EXPECT_TRUE(accepted.empty()) << id << " refused after " << accepted.back() << " was taken";
      refused.push_back(id);
    }
  }
  ASSERT_EQ(accepted.size(), 3u) << refused.size() << " refused";
  EXPECT_LE(refused.size(), 4u);
  for (const std::string& id : accepted) {
    EXPECT_TRUE(testing::WaitFor([&] { return delivered(id); }, 20s)) << id;
  }
  // A refused message was not stored: nothing of it is delivered, and its resend is taken.
  for (const std::string& id : refused) {
    EXPECT_FALSE(delivered(id)) << id;
    EXPECT_EQ(send(id), "AA") << id;
    EXPECT_TRUE(testing::WaitFor([&] { return delivered(id); }, 20s)) << id;
  }

  // Federated searches read the locator and consents through the replaced sessions.
  const auto search =
      HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                   "/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
                       std::string(kShared),
                   As("RJ1"));
  EXPECT_EQ(search.status, 200) << search.body.substr(0, 400);
  EXPECT_NE(search.body.find("RXH"), std::string::npos) << search.body.substr(0, 400);

  // The database down for a while: the health check fails and messages are refused; back up,
  // both recover.
  const auto health = [&] {
    return HttpsRequest("127.0.0.1", broker.fhir_port(), "GET", "/admin/health", As("RGT"));
  };
  const auto healthy = health();
  EXPECT_EQ(healthy.status, 200) << healthy.body;
  EXPECT_NE(healthy.body.find(R"("status":"pass")"), std::string::npos) << healthy.body;
  ASSERT_EQ(postgresql.Pause(), 0) << postgresql.log();
  const auto down = health();
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_NE(down.body.find(R"("status":"fail")"), std::string::npos) << down.body;
  EXPECT_NE(send("PGDOWN1"), "AA");
  ASSERT_EQ(postgresql.Resume(), 0) << postgresql.log();
  EXPECT_TRUE(testing::WaitFor([&] { return health().status == 200; }, 20s));
  std::string answer;
  for (int i = 0; i < 5 && answer != "AA"; ++i) {
    answer = send("PGDOWN1");  // the sender resends until it is taken
  }
  EXPECT_EQ(answer, "AA");
  EXPECT_TRUE(testing::WaitFor([&] { return delivered("PGDOWN1"); }, 20s));
  broker.Stop();
}

}  // namespace
}  // namespace tb
