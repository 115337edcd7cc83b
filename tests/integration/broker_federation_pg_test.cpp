// Issue 5 on PostgreSQL: the federated search of broker_federation_test.cpp with the broker's
// store on PostgreSQL. There no store read runs on an I/O thread (core::NoWaitReads: every
// PostgreSQL read is a network round trip), so every search takes the path the SQLite tests
// rarely see: the I/O thread's attempt at the consent and locator reads gives way at once and
// the blocking pool reads them. A Consent stored a moment before a search applies to it.
// Label pg; needs the `pg` fixture of tests/broker/store (or BROKER_TEST_PG_URI), else skips.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/broker/store/store_test_support.h"
#include "tests/integration/broker_harness.h"

namespace tb {
namespace {

using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::Json;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";   // at RGT and RXH (demo data)
constexpr std::string_view kUnknown = "9449305552";  // valid, held by nobody

std::string BrokerConfigText(const std::string& store_url, std::uint16_t rgt_port,
                             std::uint16_t rxh_port) {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": ")" +
         store_url + R"(" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs", "system/Consent.crus"] },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir", "scopes": ["system/*.rs"] },
      { "ods": "RXH", "cert_cn": "RXH", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rxh_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ]
  })";
}

std::string PatientSearch(std::string_view nhs_number) {
  return "/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
         std::string(nhs_number);
}

// The meta.source of every Patient entry.
std::vector<std::string> Sources(const rapidjson::Document& bundle) {
  std::vector<std::string> sources;
  if (!bundle.IsObject() || !bundle.HasMember("entry")) {
    return sources;
  }
  for (const auto& entry : bundle["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) == "Patient") {
      sources.emplace_back(resource["meta"]["source"].GetString());
    }
  }
  return sources;
}

TEST(FederationOnPostgresql, SearchesReadConsentsAndTheLocatorOnThePoolAndAConsentAppliesAtOnce) {
  store::testing::PostgresqlBackend backend;  // a fresh schema, dropped at the end
  const std::string url = backend.FreshUrl();
  if (url.empty()) {
    if (HasFailure()) {
      return;
    }
    GTEST_SKIP() << backend.skip_reason();
  }
  auto rgt = StartTrust("RGT", DemoPatients("RGT"));
  auto rxh = StartTrust("RXH", DemoPatients("RXH"));
  RunningBroker broker(BrokerConfigText(url, rgt->fhir_port(), rxh->fhir_port()));
  AnnounceByAdt(broker, "RGT", kShared);
  AnnounceByAdt(broker, "RXH", kShared);
  const auto get = [&](const std::string& target) {
    return HttpsRequest("127.0.0.1", broker.fhir_port(), "GET", target, As("RJ1"));
  };

  for (int round = 0; round < 3; ++round) {
    const auto found = get(PatientSearch(kShared));
    ASSERT_EQ(found.status, 200) << found.body;
    std::vector<std::string> sources = Sources(Json(found.body));
    std::sort(sources.begin(), sources.end());
    ASSERT_EQ(sources.size(), 2u) << found.body.substr(0, 400);
    EXPECT_NE(sources[0].find("RGT"), std::string::npos);
    EXPECT_NE(sources[1].find("RXH"), std::string::npos);
  }
  const auto unknown = get(PatientSearch(kUnknown));
  ASSERT_EQ(unknown.status, 200) << unknown.body;
  EXPECT_EQ(Json(unknown.body)["total"].GetInt(), 0);

  // The patient refuses RJ1: the next search answers as if there were no data.
  const std::string consent = R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
                              std::string(kShared) + R"("}},
    "provision": {"type": "deny", "actor": [{"role": {"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": "RJ1"}}}]}})";
  const auto stored = HttpsRequest("127.0.0.1", broker.fhir_port(), "POST", "/fhir/Consent",
                                   As("RJ1"), {{"Content-Type", "application/fhir+json"}}, consent);
  ASSERT_EQ(stored.status, 201) << stored.body;
  const auto refused = get(PatientSearch(kShared));
  ASSERT_EQ(refused.status, 200) << refused.body;
  rapidjson::Document empty = Json(refused.body);
  EXPECT_EQ(empty["total"].GetInt(), 0);
  EXPECT_FALSE(empty.HasMember("entry"));
}

}  // namespace
}  // namespace tb
