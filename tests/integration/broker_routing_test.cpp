// Issue 5 item 4 / issue 8 end to end: a trust's ADT reaches the other trusts that hold the
// patient, each in its own format (FHIR $process-message or MLLP/TLS), after the sender's ACK.
#include <chrono>
#include <filesystem>
#include <sqlite3.h>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using testing::AnnounceByAdt;
using testing::DemoPatients;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";  // at RGT and RXH (demo data)

// Bytes of the stored payload of the message with this control id (-1: no such row).
std::int64_t StoredPayloadBytes(const fs::path& store, const std::string& control_id) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_stmt* statement = nullptr;
  std::int64_t bytes = -1;
  if (sqlite3_prepare_v2(db, "SELECT length(payload) FROM inbound_message WHERE control_id = ?", -1,
                         &statement, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(statement, 1, control_id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(statement) == SQLITE_ROW) {
      bytes = sqlite3_column_int64(statement, 0);
    }
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return bytes;
}

// A broker whose engine RJ1 sends to RGT, which takes FHIR messages, and RXH, which takes HL7 v2
// over MLLP/TLS; payloads are purged as soon as they are delivered everywhere; RJ1 administers.
std::string FhirAndV2TrustsConfig(int rgt_fhir_port, int rxh_mllp_port) {
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         TestPki::Get().TlsConfigJson("broker-a", /*with_crl=*/false) +
         R"(,
    "store": { "url": "sqlite:var/tb.db", "payload_retention_ms": 0, "purge_interval_ms": 100 },
    "admin": { "cert_cns": ["RJ1"] },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
      { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/*.rs"],
        "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_fhir_port) + R"(/fhir" },
      { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"],
        "mllp": "127.0.0.1:)" +
         std::to_string(rxh_mllp_port) + R"(" }
    ]
  })";
}

TEST(MessageRouting, AdtFromOneTrustReachesTheOthersInTheirOwnFormat) {
  testing::TempDir logs;
  // RGT takes FHIR messages; RXH takes HL7 v2 over MLLP/TLS.
  auto rgt = StartTrust("RGT", DemoPatients("RGT"), {}, logs / "rgt.jsonl");
  auto rxh = StartTrust("RXH", DemoPatients("RXH"), {}, logs / "rxh.jsonl", /*with_mllp=*/true);
  RunningBroker broker(FhirAndV2TrustsConfig(rgt->fhir_port(), rxh->mllp_port()));
  AnnounceByAdt(broker, "RGT", kShared);
  AnnounceByAdt(broker, "RXH", kShared);  // RGT already holds the patient: it gets this too

  mllp::MllpClient client = testing::EngineOf(broker, "RJ1");
  auto ack = client.Send(
      "MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A08|ROUTE0001|P|2.4\r"
      "EVN|A08|20261123120000\r"
      "PID|1||9990001235^^^NHS^NH||HUGHES^AMELIA||19840312|F\r"
      "PV1|1|I|RJ1WARD^B1^2\r");
  ASSERT_TRUE(ack) << ack.error().message;
  EXPECT_NE(ack->find("MSA|AA|ROUTE0001"), std::string::npos) << *ack;

  // RXH gets it as v2 over MLLP with the sender's control id; RGT gets it (and RXH's A28) as
  // FHIR message Bundles.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadReceivedLog(logs / "rxh.jsonl").find("ROUTE0001") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(logs / "rxh.jsonl");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::Occurrences(testing::ReadReceivedLog(logs / "rgt.jsonl"),
                                    "\"protocol\":\"fhir\"") >= 2;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(logs / "rgt.jsonl");
  const std::string rxh_log = testing::ReadReceivedLog(logs / "rxh.jsonl");
  EXPECT_NE(rxh_log.find("\"protocol\":\"mllp\""), std::string::npos) << rxh_log;
  EXPECT_NE(rxh_log.find(std::string(kShared)), std::string::npos);
  // The sender does not receive its own message.
  EXPECT_EQ(testing::ReadReceivedLog(logs / "rgt.jsonl").find("\"protocol\":\"mllp\""),
            std::string::npos);

  // Delivered everywhere, so the purge (retention 0 here) erases the payload; the row and its
  // dedupe key stay, so a resend is acknowledged but not delivered again.
  EXPECT_TRUE(
      testing::WaitFor([&] { return StoredPayloadBytes(broker.store_file(), "ROUTE0001") == 0; },
                       std::chrono::seconds(20)));
}

// A legacy PAS sending ISO 8859-1 (a Welsh name: "Siân" as 53 69 E2 6E) and declaring it in
// MSH-18 is taken and delivered to a FHIR trust (as UTF-8 JSON) and a v2 trust (as sent). Before,
// the mapping copied the bytes into JSON that no reader accepts and both deliveries went to the
// dead letters after an AA. The same bytes undeclared get an AE naming MSH-18 instead of an AA.
TEST(MessageRouting, Latin1DeclaredInMsh18IsDeliveredAndUndeclaredIsRefused) {
  testing::TempDir logs;
  auto rgt = StartTrust("RGT", DemoPatients("RGT"), {}, logs / "rgt.jsonl");
  auto rxh = StartTrust("RXH", DemoPatients("RXH"), {}, logs / "rxh.jsonl", /*with_mllp=*/true);
  RunningBroker broker(FhirAndV2TrustsConfig(rgt->fhir_port(), rxh->mllp_port()));
  AnnounceByAdt(broker, "RGT", kShared);
  AnnounceByAdt(broker, "RXH", kShared);
  const std::string rgt_before = testing::ReadReceivedLog(logs / "rgt.jsonl");

  mllp::MllpClient client = testing::EngineOf(broker, "RJ1");
  const auto send = [&](std::string_view control_id, std::string_view charset) {
    return client.Send("MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A08|" +
                       std::string(control_id) + "|P|2.4||||||" + std::string(charset) +
                       "\rEVN|A08|20261123120000\r"
                       "PID|1||9990001235^^^NHS^NH||LLYWEL\xCAN^SI\xC2N||19840312|F\r"
                       "PV1|1|I|RJ1WARD^B1^2\r");
  };
  auto refused = send("LATIN002", "");
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_NE(refused->find("MSA|AE|LATIN002"), std::string::npos) << *refused;
  EXPECT_NE(refused->find("MSH^1^18"), std::string::npos) << *refused;
  auto taken = send("LATIN001", "8859/1");
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_NE(taken->find("MSA|AA|LATIN001"), std::string::npos) << *taken;

  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadReceivedLog(logs / "rxh.jsonl").find("LATIN001") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(logs / "rxh.jsonl");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::Occurrences(testing::ReadReceivedLog(logs / "rgt.jsonl"),
                                    "\"type\":\"A08\"") >
               testing::Occurrences(rgt_before, "\"type\":\"A08\"");
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(logs / "rgt.jsonl");
  EXPECT_EQ(testing::ReadReceivedLog(logs / "rxh.jsonl").find("LATIN002"), std::string::npos);
  const testing::HttpsResult dead =
      testing::HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/admin/queue/_dead",
                            testing::As("RJ1"), {{"Content-Type", "application/json"}}, "{}");
  EXPECT_EQ(dead.body.find("LATIN001"), std::string::npos) << dead.body;
}

// A message the destination refuses for good (RGT's MLLP endpoint answers AR to ADT^A06) goes
// to the dead letters and holds that patient's later messages to RGT, in order, until an
// operator discards it; then the held message is delivered.
TEST(MessageRouting, DeadLetterHoldsThePatientsLaterMessagesUntilDiscarded) {
  testing::TempDir logs;
  auto rgt = StartTrust("RGT", DemoPatients("RGT"), {}, logs / "rgt.jsonl", /*with_mllp=*/true, 0,
                        {"ADT^A06"});
  const TestPki& pki = TestPki::Get();
  RunningBroker broker(R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                       R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "admin": { "cert_cns": ["RJ1"] },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
      { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/*.rs"],
        "mllp": "127.0.0.1:)" +
                       std::to_string(rgt->mllp_port()) + R"(" }
    ]
  })");
  AnnounceByAdt(broker, "RGT", kShared);

  mllp::MllpClient client = testing::EngineOf(broker, "RJ1");
  const std::string pid = "PID|1||9990001235^^^NHS^NH||HUGHES^AMELIA||19840312|F\r";
  ASSERT_TRUE(
      client.Send("MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A06|POISON01|P|2.4\r"
                  "EVN|A06|20261123120000\r" +
                  pid));
  ASSERT_TRUE(
      client.Send("MSH|^~\\&|PAS|RJ1|TB|X26|20261123120100||ADT^A08|HELD0001|P|2.4\r"
                  "EVN|A08|20261123120100\r" +
                  pid + "PV1|1|I\r"));

  auto admin = [&](const std::string& path, const std::string& body) {
    return testing::HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", path, testing::As("RJ1"),
                                 {{"Content-Type", "application/json"}}, body);
  };
  testing::HttpsResult dead;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        dead = admin("/admin/queue/_dead", "{}");
        return dead.body.find("POISON01") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << dead.body;
  EXPECT_EQ(dead.body.find("9990001235"), std::string::npos);  // no NHS numbers in the listing
  // HELD0001 waits behind the dead letter: RGT has not received it.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(testing::ReadReceivedLog(logs / "rgt.jsonl").find("ADT^A08"), std::string::npos);

  rapidjson::Document listing = testing::Json(dead.body);
  const std::int64_t id = listing["dead"][0]["id"].GetInt64();

  // The list comes in pages: a second dead letter (another patient, addressed to RGT) is on the
  // page after the first; a bad page is a 400.
  ASSERT_TRUE(
      client.Send("MSH|^~\\&|PAS|RJ1|TB|RGT|20261123120200||ADT^A06|POISON02|P|2.4\r"
                  "EVN|A06|20261123120200\r"
                  "PID|1||9990001243^^^NHS^NH||HUGHES^BEN||19840312|M\r"));
  ASSERT_TRUE(testing::WaitFor(
      [&] { return admin("/admin/queue/_dead", "{}").body.find("POISON02") != std::string::npos; },
      std::chrono::seconds(20)));
  rapidjson::Document first = testing::Json(admin("/admin/queue/_dead", R"({"limit": 1})").body);
  ASSERT_EQ(first["dead"].Size(), 1u);
  EXPECT_EQ(first["dead"][0]["id"].GetInt64(), id);
  ASSERT_TRUE(first.HasMember("next_after"));
  EXPECT_EQ(first["next_after"].GetInt64(), id);
  rapidjson::Document second = testing::Json(
      admin("/admin/queue/_dead", R"({"limit": 1, "after": )" + std::to_string(id) + "}").body);
  ASSERT_EQ(second["dead"].Size(), 1u);
  EXPECT_EQ(std::string(second["dead"][0]["control_id"].GetString()), "POISON02");
  EXPECT_FALSE(second.HasMember("next_after"));
  EXPECT_EQ(admin("/admin/queue/_dead", R"({"limit": 0})").status, 400);

  EXPECT_EQ(admin("/admin/queue/discard", R"({"id": )" + std::to_string(id) + "}").status, 204);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return testing::ReadReceivedLog(logs / "rgt.jsonl").find("A08") != std::string::npos; },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(logs / "rgt.jsonl");
  auto counts = admin("/admin/queue/_counts", "{}");
  EXPECT_NE(counts.body.find("\"discarded\":1"), std::string::npos) << counts.body;
}

}  // namespace
}  // namespace tb
