// The rule "never log NHS numbers or clinical payloads at info level", checked on every path a
// patient's data takes through one broker process: v2 in over MLLP (accepted, refused with a
// NAK), delivered on to a trust in FHIR and to one in v2, FHIR messages in, federated searches
// and $everything (GET and POST), an invalid NHS number refused, a Consent stored, the record
// locator taught and read, the audit trail and the data journey read. Every log line written
// at info level in the process (broker and simulated trusts) is captured and searched for the
// NHS numbers used and for names and clinical text that only the messages carry.
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/core/log.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::HttpsResult;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";   // at RGT and RXH (demo data)
constexpr std::string_view kOther = "9990001243";    // valid, known to no trust at first
constexpr std::string_view kInvalid = "9990001234";  // fails the Modulus 11 check
// Text that only the messages below carry: a name and clinical content.
constexpr std::string_view kFamily = "QUILLFEATHER";
constexpr std::string_view kFinding = "INCIDENTALOMA-OF-LEFT-ADRENAL";
constexpr std::string_view kFhirFamily = "MARCHBANKSON";

std::string IdentifierForm(std::string_view nhs_number) {
  return "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs_number);
}

std::string DenyingConsent(std::string_view nhs_number) {
  return R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(nhs_number) + R"("}},
    "provision": {"type": "deny", "actor": [{"role": {"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": "RGT"}}}]}})";
}

// `ods` announces that it holds the patient, as a trust does: an ADT^A28 over MLLP/TLS. (Not
// testing::AnnounceByAdt: its control ids hold the NHS number, which the broker logs as the
// sender's message id.)
void Announce(const RunningBroker& broker, const std::string& ods, const std::string& control_id) {
  mllp::MllpClient client = testing::EngineOf(broker, ods);
  auto ack = client.Send("MSH|^~\\&|PAS|" + ods + "|TB||20261124100000||ADT^A28|" + control_id +
                         "|P|2.4\rEVN|A28|20261124100000\rPID|1||" + std::string(kShared) +
                         "^^^NHS^NH||" + std::string(kFamily) + "^AMELIA\r");
  ASSERT_TRUE(ack) << ack.error().message;
  EXPECT_NE(ack->find("MSA|AA|" + control_id), std::string::npos) << *ack;
}

class LogPrivacyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::SetLogLevel(core::LogLevel::kInfo);
    core::SetLogSink([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }

  void TearDown() override {
    core::FlushLog();
    core::SetLogSink(nullptr);  // before lines_ goes
  }

  std::vector<std::string> Lines() {
    core::FlushLog();
    std::lock_guard lock(mutex_);
    return lines_;
  }

  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST_F(LogPrivacyTest, NoNhsNumberOrClinicalTextIsLoggedAtInfoOnAnyPath) {
  testing::TempDir received;
  // RGT takes messages in FHIR, RXH in v2 over MLLP/TLS.
  auto rgt = StartTrust("RGT", DemoPatients("RGT"), {}, received / "rgt.jsonl");
  auto rxh = StartTrust("RXH", DemoPatients("RXH"), {}, received / "rxh.jsonl",
                        /*with_mllp=*/true);
  const TestPki& pki = TestPki::Get();
  RunningBroker broker(R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                       R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "admin": { "cert_cns": ["RJ1"] },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs", "system/Consent.crus"] },
      { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/*.rs"],
        "fhir_base": "https://127.0.0.1:)" +
                       std::to_string(rgt->fhir_port()) + R"(/fhir" },
      { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"],
        "fhir_base": "https://127.0.0.1:)" +
                       std::to_string(rxh->fhir_port()) + R"(/fhir",
        "mllp": "127.0.0.1:)" +
                       std::to_string(rxh->mllp_port()) +
                       R"(", "format": "hl7v2" }
    ]
  })");
  Announce(broker, "RGT", "PRIVA28RGT");
  Announce(broker, "RXH", "PRIVA28RXH");

  // v2 in: an ADT and an ORU routed on to both trusts, and a refused message (invalid NHS
  // number) that gets a NAK.
  mllp::MllpClient engine = testing::EngineOf(broker, "RJ1");
  auto adt = engine.Send(
      "MSH|^~\\&|PAS|RJ1|TB|X26|20261124120000||ADT^A08|PRIV0001|P|2.4\r"
      "EVN|A08|20261124120000\r"
      "PID|1||" +
      std::string(kShared) + "^^^NHS^NH||" + std::string(kFamily) +
      "^AMELIA||19840312|F|||1 Lantern Row^^Leeds^^LS1 4AP\r"
      "PV1|1|I|RJ1WARD^B1^2\r");
  ASSERT_TRUE(adt) << adt.error().message;
  EXPECT_NE(adt->find("MSA|AA|PRIV0001"), std::string::npos) << *adt;
  auto oru = engine.Send(
      "MSH|^~\\&|LAB|RJ1|TB|X26|20261124120500||ORU^R01|PRIV0002|P|2.4\r"
      "PID|1||" +
      std::string(kShared) + "^^^NHS^NH||" + std::string(kFamily) +
      "^AMELIA||19840312|F\r"
      "OBR|1||LAB77|24627-2^CT abdomen^LN|||20261124110000\r"
      "OBX|1|TX|24627-2^CT abdomen^LN||" +
      std::string(kFinding) + "||||||F\r");
  ASSERT_TRUE(oru) << oru.error().message;
  EXPECT_NE(oru->find("MSA|AA|PRIV0002"), std::string::npos) << *oru;
  auto refused = engine.Send(
      "MSH|^~\\&|PAS|RJ1|TB|X26|20261124121000||ADT^A08|PRIV0003|P|2.4\r"
      "EVN|A08|20261124121000\r"
      "PID|1||" +
      std::string(kInvalid) + "^^^NHS^NH||" + std::string(kFamily) + "^AMELIA||19840312|F\r");
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->find("MSA|AA|"), std::string::npos) << *refused;

  // FHIR in: a message Bundle about the same patient.
  const HttpsResult processed =
      HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/fhir/$process-message", As("RJ1"),
                   {{"Content-Type", "application/fhir+json"}},
                   testing::FhirA08Message("priv-msg-1", kShared, std::string(kFhirFamily)));
  EXPECT_EQ(processed.status, 200) << processed.body.substr(0, 400);

  // Every delivery arrives, so its path has logged: RXH gets the ADT, the ORU and the FHIR
  // message in v2 (in order, the last with MSH-10 = Bundle.id); RGT gets those and RXH's A28 as
  // FHIR messages.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadReceivedLog(received / "rxh.jsonl").find("priv-msg-1") !=
               std::string::npos;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(received / "rxh.jsonl");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return testing::Occurrences(testing::ReadReceivedLog(received / "rgt.jsonl"),
                                    "\"protocol\":\"fhir\"") >= 4;
      },
      std::chrono::seconds(20)))
      << testing::ReadReceivedLog(received / "rgt.jsonl");

  // Queries: searches by GET and POST, $everything, an invalid NHS number refused.
  const auto get = [&](const std::string& target) {
    return HttpsRequest("127.0.0.1", broker.fhir_port(), "GET", target, As("RJ1"));
  };
  const auto post_form = [&](const std::string& path, const std::string& body) {
    return HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", path, As("RJ1"),
                        {{"Content-Type", "application/x-www-form-urlencoded"}}, body);
  };
  EXPECT_EQ(get("/fhir/Patient?" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(get("/fhir/Patient/$everything?" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(post_form("/fhir/Patient/_search", IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(get("/fhir/Observation?patient:" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(get("/fhir/Patient?" + IdentifierForm(kOther)).status, 200);
  EXPECT_EQ(get("/fhir/Patient?" + IdentifierForm(kInvalid)).status, 400);
  EXPECT_EQ(post_form("/fhir/Patient/_search", IdentifierForm(kInvalid)).status, 400);

  // A Consent stored and read back; a search it refuses.
  const HttpsResult consent =
      HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/fhir/Consent", As("RJ1"),
                   {{"Content-Type", "application/fhir+json"}}, DenyingConsent(kShared));
  EXPECT_EQ(consent.status, 201) << consent.body.substr(0, 400);
  EXPECT_EQ(get("/fhir/Consent?patient:" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(HttpsRequest("127.0.0.1", broker.fhir_port(), "GET",
                         "/fhir/Patient?" + IdentifierForm(kShared), As("RGT"))
                .status,
            200);

  // The record locator taught and read by an operator.
  EXPECT_EQ(HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/admin/locator", As("RJ1"),
                         {{"Content-Type", "application/json"}},
                         R"({"nhs_number": ")" + std::string(kOther) + R"(", "ods": "RXH"})")
                .status,
            204);
  EXPECT_EQ(HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/admin/locator/_search",
                         As("RJ1"), {{"Content-Type", "application/json"}},
                         R"({"nhs_number": ")" + std::string(kShared) + R"("})")
                .status,
            200);

  // The audit trail and the journey.
  EXPECT_EQ(get("/fhir/AuditEvent?patient:" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(get("/fhir/Provenance?patient:" + IdentifierForm(kShared)).status, 200);
  EXPECT_EQ(post_form("/fhir/Patient/$journey", IdentifierForm(kShared)).status, 200);

  broker.Stop();
  const std::vector<std::string> lines = Lines();
  ASSERT_GT(lines.size(), 50u);  // the paths above did log
  for (const std::string& line : lines) {
    for (std::string_view secret : {kShared, kOther, kInvalid, kFamily, kFinding, kFhirFamily,
                                    std::string_view("Lantern Row"), std::string_view("LS1 4AP")}) {
      EXPECT_EQ(line.find(secret), std::string::npos) << secret << " in the log: " << line;
    }
  }
}

}  // namespace
}  // namespace tb
