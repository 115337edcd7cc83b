// Issue 6 on the push path and issue 8 item 2 end to end: before each delivery attempt the broker
// checks the patient's consents for the destination and the destination's scopes. A refused
// delivery is discarded (not a dead letter) and recorded in the ledger; a replayed dead letter
// is checked again.
#include <chrono>
#include <cstdint>
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
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::HttpsResult;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";  // at RGT and RXH (demo data)

// The queue status of the message `control_id` for `destination` ("" when there is no row).
std::string QueueStatus(const fs::path& store, const std::string& control_id,
                        const std::string& destination) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return {};
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* statement = nullptr;
  std::string status;
  if (sqlite3_prepare_v2(db,
                         "SELECT o.status FROM outbound_message o JOIN inbound_message i ON "
                         "i.id = o.inbound_message_id WHERE i.control_id = ? AND o.destination = ?",
                         -1, &statement, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(statement, 1, control_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 2, destination.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(statement) == SQLITE_ROW) {
      status = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return status;
}

// RJ1 (a sender that manages consents and is an administrator) and two FHIR trusts; with
// `rgt_mllp_port`, RGT takes HL7 v2 over MLLP instead.
std::string ConfigText(std::uint16_t rgt_port, std::uint16_t rxh_port,
                       const std::string& rxh_scopes = R"(["system/*.rs"])",
                       std::uint16_t rgt_mllp_port = 0) {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a", /*with_crl=*/false) + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "admin": { "cert_cns": ["RJ1"] },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs", "system/Consent.crus"] },
      { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/*.rs"],
        "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir")" +
         (rgt_mllp_port != 0 ? R"(, "mllp": "127.0.0.1:)" + std::to_string(rgt_mllp_port) + "\""
                             : std::string()) +
         R"( },
      { "ods": "RXH", "cert_cn": "RXH", "scopes": )" +
         rxh_scopes + R"(,
        "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rxh_port) + R"(/fhir" }
    ]
  })";
}

std::string DenyOrganisationConsent(std::string_view ods) {
  return R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kShared) + R"("}},
    "provision": {"type": "deny", "actor": [{"role": {"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": ")" +
         std::string(ods) + R"("}}}]}})";
}

class PushPolicyTest : public ::testing::Test {
 protected:
  // `rgt_refuses_a06`: RGT takes HL7 v2 and its MLLP endpoint answers AR to ADT^A06, which
  // makes a dead letter for RGT.
  void Start(const std::string& rxh_scopes = R"(["system/*.rs"])", bool rgt_refuses_a06 = false) {
    rgt_ = rgt_refuses_a06 ? StartTrust("RGT", DemoPatients("RGT"), {}, logs_ / "rgt.jsonl",
                                        /*with_mllp=*/true, 0, {"ADT^A06"})
                           : StartTrust("RGT", DemoPatients("RGT"), {}, logs_ / "rgt.jsonl");
    rxh_ = StartTrust("RXH", DemoPatients("RXH"), {}, logs_ / "rxh.jsonl");
    broker_ = std::make_unique<RunningBroker>(
        ConfigText(rgt_->fhir_port(), rxh_->fhir_port(), rxh_scopes, rgt_->mllp_port()));
    AnnounceByAdt(*broker_, "RGT", kShared);
    AnnounceByAdt(*broker_, "RXH", kShared);
  }

  void SendFromRj1(const std::string& message) {
    mllp::MllpClient client = testing::EngineOf(*broker_, "RJ1");
    auto ack = client.Send(message);
    ASSERT_TRUE(ack) << ack.error().message;
    EXPECT_NE(ack->find("MSA|AA|"), std::string::npos) << *ack;
  }

  static std::string Adt(const std::string& type, const std::string& control_id) {
    return "MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^" + type + "|" + control_id +
           "|P|2.4\rEVN|" + type + "|20261123120000\rPID|1||" + std::string(kShared) +
           "^^^NHS^NH||HUGHES^AMELIA||19840312|F\rPV1|1|I|RJ1WARD^B1^2\r";
  }

  HttpsResult Call(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& content_type) const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), method, path, As("RJ1"),
                        {{"Content-Type", content_type}}, body);
  }

  void DenyOrganisation(std::string_view ods) {
    HttpsResult created =
        Call("POST", "/fhir/Consent", DenyOrganisationConsent(ods), "application/fhir+json");
    ASSERT_EQ(created.status, 201) << created.body;
  }

  bool WaitForStatus(const std::string& control_id, const std::string& destination,
                     const std::string& status) const {
    return testing::WaitFor(
        [&] { return QueueStatus(broker_->store_file(), control_id, destination) == status; },
        std::chrono::seconds(20));
  }

  // The kinds of the patient's ledger records, from its journey, in order.
  std::string Journey() const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET",
                        "/fhir/Patient/$journey?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                        "nhs-number%7C" +
                            std::string(kShared),
                        As("RJ1"))
        .body;
  }

  testing::TempDir logs_;
  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_;
};

TEST_F(PushPolicyTest, AConsentDenyingOneTrustStopsItsDeliveryWhileTheOtherTrustReceives) {
  Start();
  DenyOrganisation("RGT");
  SendFromRj1(Adt("A08", "PUSH0001"));
  ASSERT_TRUE(WaitForStatus("PUSH0001", "RXH", "delivered"));
  ASSERT_TRUE(WaitForStatus("PUSH0001", "RGT", "discarded"));
  // A FHIR trust logs the event code (the Bundle id is not the v2 control id); only this test's
  // message is an A08.
  EXPECT_NE(testing::ReadReceivedLog(logs_ / "rxh.jsonl").find("A08"), std::string::npos);
  EXPECT_EQ(testing::ReadReceivedLog(logs_ / "rgt.jsonl").find("A08"), std::string::npos);
  // Not a dead letter: the patient's later messages to RXH and RGT are not held.
  HttpsResult dead = Call("POST", "/admin/queue/_dead", "{}", "application/json");
  EXPECT_EQ(dead.body.find("PUSH0001"), std::string::npos) << dead.body;
  // The refusal is in the ledger, and the journey shows it.
  const std::string journey = Journey();
  EXPECT_NE(journey.find("Security Alert"), std::string::npos) << journey.substr(0, 400);
}

TEST_F(PushPolicyTest, ALabOnlyTrustReceivesNoAdtPatientData) {
  Start(R"(["system/Observation.rs?category=laboratory"])");
  SendFromRj1(Adt("A08", "PUSH0002"));
  ASSERT_TRUE(WaitForStatus("PUSH0002", "RGT", "delivered"));
  ASSERT_TRUE(WaitForStatus("PUSH0002", "RXH", "discarded"));
  EXPECT_EQ(testing::ReadReceivedLog(logs_ / "rxh.jsonl").find("A08"), std::string::npos);
  EXPECT_NE(testing::ReadReceivedLog(logs_ / "rgt.jsonl").find("A08"), std::string::npos);
}

// A dead letter replayed after the patient denied the destination is refused, not delivered; the
// replay itself is a new hop in the ledger.
TEST_F(PushPolicyTest, AReplayAfterAConsentDenyIsRefusedAndRecorded) {
  Start(R"(["system/*.rs"])", /*rgt_refuses_a06=*/true);
  // RGT answers AR to ADT^A06: a dead letter for RGT.
  SendFromRj1(Adt("A06", "PUSH0003"));
  ASSERT_TRUE(WaitForStatus("PUSH0003", "RGT", "dead"));
  DenyOrganisation("RGT");
  HttpsResult listing = Call("POST", "/admin/queue/_dead", "{}", "application/json");
  rapidjson::Document dead = testing::Json(listing.body);
  ASSERT_TRUE(dead.IsObject() && dead.HasMember("dead") && dead["dead"].Size() >= 1u)
      << listing.body;
  std::int64_t id = 0;
  for (const auto& item : dead["dead"].GetArray()) {
    if (std::string_view(item["control_id"].GetString()) == "PUSH0003" &&
        std::string_view(item["destination"].GetString()) == "RGT") {
      id = item["id"].GetInt64();
    }
  }
  ASSERT_GT(id, 0) << listing.body;
  EXPECT_EQ(Call("POST", "/admin/queue/replay", R"({"id": )" + std::to_string(id) + "}",
                 "application/json")
                .status,
            204);
  ASSERT_TRUE(WaitForStatus("PUSH0003", "RGT", "discarded"));
  EXPECT_EQ(testing::ReadReceivedLog(logs_ / "rgt.jsonl").find("A06"), std::string::npos);
  const std::string journey = Journey();
  EXPECT_NE(journey.find("replay requested by RJ1"), std::string::npos) << journey.substr(0, 400);
}

}  // namespace
}  // namespace tb
