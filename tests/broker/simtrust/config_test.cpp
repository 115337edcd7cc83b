// The simulate-trust config file and the demo data shipped in config/demo/trusts.
#include "broker/simtrust/config.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "broker/simtrust/patient_store.h"
#include "tests/support/temp_dir.h"

namespace tb::simtrust {
namespace {

const std::filesystem::path kDemo = std::filesystem::path(TB_SOURCE_DIR) / "config/demo/trusts";

TEST(SimTrustConfig, DemoConfigsLoadWithPathsRelativeToTheirFolder) {
  for (const std::string ods : {"RGT", "RXH"}) {
    auto config = LoadSimTrustConfig(kDemo / ods / "config.json");
    ASSERT_TRUE(config) << ods << ": " << config.error().message;
    EXPECT_EQ(config->ods, ods);
    EXPECT_EQ(config->listen_fhir.host, "127.0.0.1");
    ASSERT_TRUE(config->listen_mllp.has_value());
    EXPECT_EQ(
        config->tls.cert,
        (std::filesystem::path(TB_SOURCE_DIR) / "var/pki" / (ods + ".crt")).lexically_normal());
    EXPECT_EQ(config->patients, kDemo / ods / "patients");
    EXPECT_EQ(config->received_log.filename(), ods + "-received.jsonl");
    EXPECT_FALSE(config->handle_signals);
  }
}

TEST(SimTrustConfig, DemoPatientsOverlapAcrossTrusts) {
  auto rgt = PatientStore::LoadFolder(kDemo / "RGT/patients");
  auto rxh = PatientStore::LoadFolder(kDemo / "RXH/patients");
  ASSERT_TRUE(rgt) << rgt.error().message;
  ASSERT_TRUE(rxh) << rxh.error().message;
  EXPECT_GE(rgt->patient_count(), 3u);
  EXPECT_GE(rxh->patient_count(), 3u);
  for (const std::string_view shared : {"9990001235", "9990001308"}) {
    const StoredResource* at_rgt = rgt->FindPatientByNhsNumber(shared);
    const StoredResource* at_rxh = rxh->FindPatientByNhsNumber(shared);
    ASSERT_NE(at_rgt, nullptr) << shared;
    ASSERT_NE(at_rxh, nullptr) << shared;
    EXPECT_NE(at_rgt->id, at_rxh->id);  // local ids differ; the NHS number links them
  }
  EXPECT_EQ(rxh->FindPatientByNhsNumber("9990001375"), nullptr);  // held by RGT only
  for (const std::string type :
       {"Patient", "Observation", "Condition", "AllergyIntolerance", "Encounter"}) {
    EXPECT_EQ(rgt->Types().count(type), 1u) << type;
    EXPECT_EQ(rxh->Types().count(type), 1u) << type;
  }
  std::set<std::string> categories;
  for (const StoredResource* observation : rgt->OfType("Observation")) {
    categories.insert((*observation->json)["category"][0]["coding"][0]["code"].GetString());
  }
  EXPECT_EQ(categories, (std::set<std::string>{"laboratory", "vital-signs"}));
}

TEST(SimTrustConfig, ReportsEveryProblemAtOnce) {
  testing::TempDir dir;
  auto config = ParseSimTrustConfig(R"({
      "ods": "rgt", "listen": {"fhir": "nohost"}, "tls": {"cert": "a.crt"},
      "latency_ms": -1, "failure_rate": 2, "clients": ["", 3], "latancy": 5,
      "log_level": "loud", "refuse_types": "ADT^A06" })",
                                    dir.path());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, core::ErrorCode::kConfig);
  const std::string& message = config.error().message;
  for (const char* pointer :
       {"/ods", "/listen/fhir", "/tls/key", "/tls/ca", "/patients", "/latency_ms", "/failure_rate",
        "/clients/0", "/clients/1", "/latancy: unknown key", "/log_level", "/refuse_types"}) {
    EXPECT_NE(message.find(pointer), std::string::npos) << pointer << " in " << message;
  }
}

TEST(SimTrustConfig, MinimalConfigGetsDefaults) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "pats");
  auto config = ParseSimTrustConfig(R"({
      "ods": "R0A", "listen": {"fhir": "127.0.0.1:0"},
      "tls": {"cert": "c.crt", "key": "c.key", "ca": "/etc/ca.crt"}, "patients": "pats" })",
                                    dir.path());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->name, "Simulated trust R0A");
  EXPECT_FALSE(config->listen_mllp.has_value());
  EXPECT_EQ(config->tls.cert, dir / "c.crt");
  EXPECT_EQ(config->tls.ca, "/etc/ca.crt");
  EXPECT_TRUE(config->tls.crl.empty());
  EXPECT_EQ(config->latency.count(), 0);
  EXPECT_EQ(config->failure_rate, 0.0);
  EXPECT_FALSE(config->seed.has_value());
  EXPECT_TRUE(config->received_log.empty());
  EXPECT_TRUE(config->clients.empty());
  EXPECT_TRUE(config->refuse_types.empty());
  EXPECT_EQ(config->log_level, core::LogLevel::kInfo);
}

TEST(SimTrustConfig, ReadsTheTypesToRefuse) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "pats");
  auto config = ParseSimTrustConfig(R"({
      "ods": "R0A", "listen": {"fhir": "127.0.0.1:0"},
      "tls": {"cert": "c.crt", "key": "c.key", "ca": "/etc/ca.crt"}, "patients": "pats",
      "refuse_types": ["ADT^A06", "MDM"] })",
                                    dir.path());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->refuse_types, (std::vector<std::string>{"ADT^A06", "MDM"}));
}

TEST(SimTrustConfig, ReadsTheLogLevel) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "pats");
  auto config = ParseSimTrustConfig(R"({
      "ods": "R0A", "listen": {"fhir": "127.0.0.1:0"}, "log_level": "warn",
      "tls": {"cert": "c.crt", "key": "c.key", "ca": "/etc/ca.crt"}, "patients": "pats" })",
                                    dir.path());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, core::LogLevel::kWarn);
}

TEST(SimTrustConfig, RefusesNonJsonAndMissingFile) {
  EXPECT_FALSE(ParseSimTrustConfig("{", "/"));
  EXPECT_FALSE(ParseSimTrustConfig("[]", "/"));
  auto missing = LoadSimTrustConfig("/nonexistent/simtrust.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kConfig);
}

}  // namespace
}  // namespace tb::simtrust
