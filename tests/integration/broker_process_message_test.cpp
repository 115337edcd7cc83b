// Issue 5 item 4 for FHIR, end to end: a message Bundle POSTed to the broker's
// /fhir/$process-message over mutual TLS is answered after the commit, then reaches the trusts
// that hold the patient in their own format (ER7 over MLLP/TLS, or a Bundle to $process-message).
#include <chrono>
#include <filesystem>
#include <memory>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>

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

// Ledger records of `kind` whose canonical JSON mentions `text` (-1: unreadable store).
std::int64_t LedgerRows(const fs::path& store, const std::string& kind, const std::string& text) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_stmt* statement = nullptr;
  std::int64_t rows = -1;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM ledger_record WHERE kind = ? AND "
                         "instr(canonical, ?) > 0",
                         -1, &statement, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(statement, 1, kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 2, text.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(statement) == SQLITE_ROW) {
      rows = sqlite3_column_int64(statement, 0);
    }
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return rows;
}

// One broker (X26) with RJ1 (the sender), RGT (a FHIR trust) and RXH (an HL7 v2-only trust over
// MLLP/TLS), both of which hold the shared patient. Shared by the tests below: starting brokers
// and trusts is the slow part.
class ProcessMessageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    logs_ = new testing::TempDir();
    rgt_ = StartTrust("RGT", DemoPatients("RGT"), {}, *logs_ / "rgt.jsonl").release();
    rxh_ = StartTrust("RXH", DemoPatients("RXH"), {}, *logs_ / "rxh.jsonl", /*with_mllp=*/true)
               .release();
    const TestPki& pki = TestPki::Get();
    broker_ = new RunningBroker(R"({
      "broker": { "id": "broker-a", "ods": "X26" },
      "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
      "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                                R"(,
      "store": { "url": "sqlite:var/tb.db" },
      "admin": { "cert_cns": ["RJ1"] },
      "participants": [
        { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
        { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/*.rs"],
          "fhir_base": "https://127.0.0.1:)" +
                                std::to_string(rgt_->fhir_port()) +
                                R"(/fhir" },
        { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"],
          "mllp": "127.0.0.1:)" +
                                std::to_string(rxh_->mllp_port()) +
                                R"(" }
      ]
    })");
    AnnounceByAdt(*broker_, "RGT", kShared);
    AnnounceByAdt(*broker_, "RXH", kShared);
  }

  static void TearDownTestSuite() {
    delete broker_;
    delete rgt_;
    delete rxh_;
    delete logs_;
  }

  static testing::HttpsResult Post(const std::string& body, const std::string& as = "RJ1",
                                   const std::string& content_type = "application/fhir+json") {
    return testing::HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST",
                                 "/fhir/$process-message", testing::As(as),
                                 {{"Content-Type", content_type}}, body);
  }

  static std::string QueueCounts() {
    return testing::HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", "/admin/queue/_counts",
                                 testing::As("RJ1"), {{"Content-Type", "application/json"}}, "{}")
        .body;
  }

  static inline testing::TempDir* logs_ = nullptr;
  static inline simtrust::SimulatedTrust* rgt_ = nullptr;
  static inline simtrust::SimulatedTrust* rxh_ = nullptr;
  static inline RunningBroker* broker_ = nullptr;
};

TEST_F(ProcessMessageTest, MessageReachesTheV2TrustAsEr7AndTheFhirTrustAsABundleOnce) {
  const testing::HttpsResult answer = Post(testing::FhirA08Message("FHIRMSG-0001", kShared));
  ASSERT_TRUE(answer.connected) << answer.error;
  ASSERT_EQ(answer.status, 200) << answer.body;
  rapidjson::Document response = testing::Json(answer.body);
  ASSERT_TRUE(response.IsObject());
  EXPECT_STREQ(response["resourceType"].GetString(), "Bundle");
  EXPECT_STREQ(response["type"].GetString(), "message");
  const rapidjson::Value& header = response["entry"][0]["resource"];
  EXPECT_STREQ(header["resourceType"].GetString(), "MessageHeader");
  EXPECT_STREQ(header["response"]["identifier"].GetString(), "hdr-FHIRMSG-0001");
  EXPECT_STREQ(header["response"]["code"].GetString(), "ok");
  EXPECT_STREQ(response["entry"][1]["resource"]["resourceType"].GetString(), "OperationOutcome");

  // RXH speaks only v2: the Bundle arrives mapped to ER7 over MLLP/TLS, MSH-10 = Bundle.id.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadReceivedLog(*logs_ / "rxh.jsonl").find("FHIRMSG-0001") !=
               std::string::npos;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(*logs_ / "rxh.jsonl");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadReceivedLog(*logs_ / "rgt.jsonl").find("FHIRMSG-0001") !=
               std::string::npos;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(*logs_ / "rgt.jsonl");
  const std::string rxh = testing::ReadReceivedLog(*logs_ / "rxh.jsonl");
  const std::string rgt = testing::ReadReceivedLog(*logs_ / "rgt.jsonl");
  const std::string rxh_line = rxh.substr(rxh.find("FHIRMSG-0001"));
  EXPECT_NE(rxh_line.find("\"protocol\":\"mllp\""), std::string::npos) << rxh;
  EXPECT_NE(rxh_line.find("ADT^A08"), std::string::npos) << rxh;
  const std::string rgt_line = rgt.substr(rgt.find("FHIRMSG-0001"));
  EXPECT_NE(rgt_line.find("\"protocol\":\"fhir\""), std::string::npos) << rgt;
  EXPECT_NE(rgt_line.find(std::string(kShared)), std::string::npos) << rgt;

  // The same message again: answered ok again, nothing more queued (the answer follows the
  // commit, so a new queue row would already be visible), delivered once.
  ASSERT_TRUE(testing::WaitFor(
      [&] { return QueueCounts().find("\"queued\":0,\"in_flight\":0") != std::string::npos; },
      std::chrono::seconds(20)))
      << QueueCounts();
  const testing::HttpsResult again = Post(testing::FhirA08Message("FHIRMSG-0001", kShared));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body.find("\"code\":\"ok\""), std::string::npos) << again.body;
  EXPECT_NE(QueueCounts().find("\"queued\":0,\"in_flight\":0"), std::string::npos) << QueueCounts();
  EXPECT_EQ(testing::Occurrences(testing::ReadReceivedLog(*logs_ / "rgt.jsonl"), "FHIRMSG-0001"),
            1u);
  EXPECT_EQ(testing::Occurrences(testing::ReadReceivedLog(*logs_ / "rxh.jsonl"), "FHIRMSG-0001"),
            1u);
}

TEST_F(ProcessMessageTest, SameIdWithOtherContentIsAConflictAndTheFirstStands) {
  // Addressed to the sender itself: refused (422), nothing stored, so the id is still free.
  const testing::HttpsResult to_itself = Post(testing::FhirA08Message(
      "FHIRMSG-0002", kShared, "HUGHES",
      R"({"endpoint":"urn:x","receiver":{"identifier":{"system":)"
      R"("https://fhir.nhs.uk/Id/ods-organization-code","value":"RJ1"}}})"));
  EXPECT_EQ(to_itself.status, 422) << to_itself.body;
  EXPECT_NE(to_itself.body.find("the receiving facility is the sender"), std::string::npos)
      << to_itself.body;
  ASSERT_EQ(Post(testing::FhirA08Message("FHIRMSG-0002", kShared, "HUGHES")).status, 200);
  const testing::HttpsResult conflict =
      Post(testing::FhirA08Message("FHIRMSG-0002", kShared, "HEWES"));
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_NE(conflict.body.find("\"code\":\"fatal-error\""), std::string::npos) << conflict.body;
  EXPECT_NE(conflict.body.find("\"OperationOutcome\""), std::string::npos);
  EXPECT_NE(conflict.body.find("\"conflict\""), std::string::npos);
}

TEST_F(ProcessMessageTest, InvalidNhsNumberIsRefusedWithAnOperationOutcome) {
  const testing::HttpsResult answer = Post(testing::FhirA08Message("FHIRMSG-0003", "9990001236"));
  EXPECT_TRUE(answer.status == 400 || answer.status == 422) << answer.status << answer.body;
  EXPECT_NE(answer.body.find("\"OperationOutcome\""), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("identifier[0].value"), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("\"code\":\"fatal-error\""), std::string::npos);
  EXPECT_EQ(answer.body.find("9990001236"), std::string::npos);  // no payload echoed back
}

TEST_F(ProcessMessageTest, UnregisteredDestinationIsRefusedAndTheRefusalRecorded) {
  const testing::HttpsResult answer = Post(testing::FhirA08Message(
      "FHIRMSG-0004", kShared, "HUGHES",
      R"({"endpoint":"urn:x","receiver":{"identifier":{"system":)"
      R"("https://fhir.nhs.uk/Id/ods-organization-code","value":"ZZZ99"}}})"));
  EXPECT_EQ(answer.status, 403) << answer.body;
  EXPECT_NE(answer.body.find("destination[0]"), std::string::npos) << answer.body;
  EXPECT_EQ(LedgerRows(broker_->store_file(), "refusal", "ZZZ99"), 1);
  EXPECT_EQ(testing::ReadReceivedLog(*logs_ / "rgt.jsonl").find("FHIRMSG-0004"), std::string::npos);
}

TEST_F(ProcessMessageTest, CertificateOfNoParticipantGets403) {
  const testing::HttpsResult answer =
      Post(testing::FhirA08Message("FHIRMSG-0005", kShared), "broker-b");
  EXPECT_EQ(answer.status, 403) << answer.body;
  EXPECT_NE(answer.body.find("\"OperationOutcome\""), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("\"forbidden\""), std::string::npos);
}

TEST_F(ProcessMessageTest, OnlyPostOfFhirJsonIsTaken) {
  EXPECT_EQ(testing::HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET",
                                  "/fhir/$process-message", testing::As("RJ1"))
                .status,
            405);
  EXPECT_EQ(Post(testing::FhirA08Message("FHIRMSG-0006", kShared), "RJ1", "text/plain").status,
            415);
  const testing::HttpsResult not_json = Post("{\"resourceType\": ");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find("\"OperationOutcome\""), std::string::npos);
  const std::string metadata = testing::HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET",
                                                     "/fhir/metadata", testing::As("RJ1"))
                                   .body;
  EXPECT_NE(metadata.find("\"process-message\""), std::string::npos);
}

}  // namespace
}  // namespace tb
