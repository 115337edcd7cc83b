#include "broker/app/config.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace tb::app {
namespace {

// A minimal valid config; each test breaks one thing.
std::string ValidConfig() {
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:8443", "mllp": "127.0.0.1:2575" },
    "tls": { "cert": "pki/broker-a.crt", "key": "pki/broker-a.key", "ca": "pki/ca.crt",
             "crl": "pki/ca.crl" },
    "store": { "url": "sqlite:var/trustbridge.db" },
    "participants": [
      { "ods": "RJ1", "name": "Example Hospital Trust", "cert_cn": "RJ1",
        "fhir_base": "https://127.0.0.1:9101/fhir", "mllp": "127.0.0.1:9102",
        "scopes": ["system/Patient.rs", "system/Observation.rs?category=laboratory"],
        "purposes": ["TREAT"], "break_glass": false }
    ],
    "peers": [ { "id": "broker-b", "cert_cn": "broker-b",
                 "fhir_base": "https://127.0.0.1:8543/fhir", "scopes": ["system/*.rs"] } ]
  })";
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

ConfigLoad Parse(const std::string& text) { return ParseBrokerConfig(text, "/etc/tb", false); }

TEST(BrokerConfig, AcceptsDesignSketch) {
  ConfigLoad load = Parse(ValidConfig());
  ASSERT_TRUE(load.config) << (load.problems.empty() ? "" : load.problems[0].message);
  const BrokerConfig& config = *load.config;
  EXPECT_EQ(config.broker_id, "broker-a");
  EXPECT_EQ(config.broker_ods, "X26");
  EXPECT_EQ(config.listen_fhir.host, "127.0.0.1");
  EXPECT_EQ(config.listen_fhir.port, 8443);
  EXPECT_EQ(config.listen_mllp.port, 2575);
  ASSERT_EQ(config.participants.size(), 1u);
  EXPECT_EQ(config.participants[0].cert_cn, "RJ1");
  EXPECT_EQ(config.participants[0].mllp.port, 9102);
  EXPECT_EQ(config.participants[0].scopes.size(), 2u);
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers[0].id, "broker-b");
  EXPECT_EQ(config.federation_deadline_ms, 3000u);
  EXPECT_FALSE(config.federation_post_searches);
  EXPECT_EQ(config.federation_max_pages, 20u);
  EXPECT_EQ(config.federation_max_connections_per_trust, 64u);
  ConfigLoad posting = Parse(Replace(ValidConfig(), R"("store": {)",
                                     R"("federation": { "post_searches": true, "max_pages": 1,
                                                        "max_connections_per_trust": 8 },
                                        "store": {)"));
  ASSERT_TRUE(posting.config) << (posting.problems.empty() ? "" : posting.problems[0].message);
  EXPECT_TRUE(posting.config->federation_post_searches);
  EXPECT_EQ(posting.config->federation_max_pages, 1u);
  EXPECT_EQ(posting.config->federation_max_connections_per_trust, 8u);
  EXPECT_FALSE(Parse(Replace(ValidConfig(), R"("store": {)",
                             R"("federation": { "max_pages": 0 }, "store": {)"))
                   .config);
}

TEST(BrokerConfig, ReadsStoreAndQueueTuning) {
  ConfigLoad defaults = Parse(ValidConfig());
  ASSERT_TRUE(defaults.config);
  EXPECT_TRUE(defaults.config->store_durable);
  EXPECT_FALSE(defaults.config->store_sync_outside_write_lock);
  EXPECT_EQ(defaults.config->store_lock_timeout_ms, 5000u);
  EXPECT_EQ(defaults.config->delivery_lease_ms, 120000u);
  EXPECT_EQ(defaults.config->mllp_idle_timeout_ms, 30000u);
  EXPECT_EQ(defaults.config->mllp_max_idle_per_destination, 8u);

  ConfigLoad tuned =
      Parse(Replace(ValidConfig(), R"("store": { "url": "sqlite:var/trustbridge.db" })",
                    R"("store": { "url": "sqlite:var/trustbridge.db", "durability": "off",
                                  "sqlite_wal_sync": "background", "lock_timeout_ms": 250 },
                       "queue": { "delivery_threads": 8, "lease_ms": 5000,
                                  "mllp_idle_timeout_ms": 0,
                                  "mllp_max_idle_per_destination": 16 })"));
  ASSERT_TRUE(tuned.config) << (tuned.problems.empty() ? "" : tuned.problems[0].message);
  EXPECT_FALSE(tuned.config->store_durable);
  EXPECT_TRUE(tuned.config->store_sync_outside_write_lock);
  EXPECT_EQ(tuned.config->store_lock_timeout_ms, 250u);
  EXPECT_EQ(tuned.config->delivery_threads, 8u);
  EXPECT_EQ(tuned.config->delivery_lease_ms, 5000u);
  EXPECT_EQ(tuned.config->mllp_idle_timeout_ms, 0u);
  EXPECT_EQ(tuned.config->mllp_max_idle_per_destination, 16u);

  // A lease shorter than a second would expire under a slow delivery: refused, naming the key.
  ConfigLoad short_lease =
      Parse(Replace(ValidConfig(), R"("store": {)", R"("queue": { "lease_ms": 10 }, "store": {)"));
  ASSERT_FALSE(short_lease.config);
  ASSERT_FALSE(short_lease.problems.empty());
  EXPECT_NE(short_lease.problems[0].message.find("lease_ms"), std::string::npos)
      << short_lease.problems[0].message;
}

TEST(BrokerConfig, ReadsTheHealthCheckCertificates) {
  ConfigLoad load = Parse(
      Replace(ValidConfig(), R"("store": {)",
              R"("admin": { "cert_cns": ["ops"], "health_cns": ["lb-1", "lb-2"] }, "store": {)"));
  ASSERT_TRUE(load.config) << (load.problems.empty() ? "" : load.problems[0].message);
  EXPECT_EQ(load.config->admin_cert_cns, std::vector<std::string>{"ops"});
  EXPECT_EQ(load.config->admin_health_cns, (std::vector<std::string>{"lb-1", "lb-2"}));
}

TEST(BrokerConfig, ReadsTheConnectionLimit) {
  ConfigLoad defaults = Parse(ValidConfig());
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->limits.max_connections, 4096u);
  ConfigLoad limited = Parse(Replace(ValidConfig(), R"("store": {)",
                                     R"("limits": { "max_connections": 64 }, "store": {)"));
  ASSERT_TRUE(limited.config) << (limited.problems.empty() ? "" : limited.problems[0].message);
  EXPECT_EQ(limited.config->limits.max_connections, 64u);
}

TEST(BrokerConfig, ResolvesRelativePathsAgainstConfigFolder) {
  ConfigLoad load = Parse(ValidConfig());
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->tls.cert, "/etc/tb/pki/broker-a.crt");
  EXPECT_EQ(load.config->tls.crl, "/etc/tb/pki/ca.crl");
  EXPECT_EQ(load.config->store_url, "sqlite:/etc/tb/var/trustbridge.db");
}

TEST(BrokerConfig, KeepsAbsolutePathsAndPostgresUrls) {
  std::string text = Replace(ValidConfig(), "\"pki/ca.crt\"", "\"/srv/pki/ca.crt\"");
  text = Replace(text, "sqlite:var/trustbridge.db", "postgresql://tb@db:5432/tb");
  ConfigLoad load = Parse(text);
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->tls.ca, "/srv/pki/ca.crt");
  EXPECT_EQ(load.config->store_url, "postgresql://tb@db:5432/tb");
}

TEST(BrokerConfig, DefaultsPurposeToTreat) {
  ConfigLoad load = Parse(Replace(ValidConfig(), "\"purposes\": [\"TREAT\"], ", ""));
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->participants[0].purposes, std::vector<std::string>{"TREAT"});
}

struct BadCase {
  const char* name;
  const char* from;
  const char* to;
  const char* expected_location;
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, NamesTheJsonPathAtFault) {
  const BadCase& c = GetParam();
  ConfigLoad load = Parse(Replace(ValidConfig(), c.from, c.to));
  EXPECT_FALSE(load.config);
  ASSERT_FALSE(load.problems.empty());
  EXPECT_EQ(load.problems[0].location, c.expected_location) << load.problems[0].message;
  EXPECT_EQ(load.problems[0].code, core::ErrorCode::kConfig);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfig,
    ::testing::Values(
        BadCase{"MissingBroker", R"("broker": { "id": "broker-a", "ods": "X26" },)", "", "/broker"},
        BadCase{"MissingBrokerOds", R"("ods": "X26")", R"("name": "A")", "/broker/ods"},
        BadCase{"BadOds", R"("ods": "RJ1")", R"("ods": "rj-1")", "/participants/0/ods"},
        BadCase{"UnknownKey", R"("break_glass": false)", R"("break_glass": false, "colour": 1)",
                "/participants/0/colour"},
        BadCase{"WrongType", R"("break_glass": false)", R"("break_glass": "no")",
                "/participants/0/break_glass"},
        BadCase{"BadListen", R"("fhir": "127.0.0.1:8443")", R"("fhir": "nowhere")", "/listen/fhir"},
        BadCase{"PortTooBig", R"("fhir": "127.0.0.1:8443")", R"("fhir": "127.0.0.1:99999")",
                "/listen/fhir"},
        BadCase{"PlainHttpParticipant", "https://127.0.0.1:9101/fhir", "http://127.0.0.1:9101/fhir",
                "/participants/0/fhir_base"},
        BadCase{"UnknownPurpose", R"(["TREAT"])", R"(["SNOOP"])", "/participants/0/purposes/0"},
        BadCase{"BadStoreUrl", "sqlite:var/trustbridge.db", "mysql://x", "/store/url"},
        BadCase{"MissingTlsCa", R"("ca": "pki/ca.crt",)", "", "/tls/ca"},
        BadCase{"DuplicateCertCn", R"("cert_cn": "broker-b")", R"("cert_cn": "RJ1")",
                "/peers/0/cert_cn"},
        BadCase{"NoConnectionsAllowed", R"("store": {)",
                R"("limits": { "max_connections": 0 }, "store": {)", "/limits/max_connections"},
        BadCase{"ParticipantIsBroker", R"("ods": "RJ1")", R"("ods": "X26")", "/participants/0/ods"},
        BadCase{"FormatWithoutItsEndpoint", R"(, "mllp": "127.0.0.1:9102")",
                R"(, "format": "hl7v2")", "/participants/0/format"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(BrokerConfig, RejectsInvalidJsonWithOffset) {
  ConfigLoad load = Parse("{ \"broker\": ");
  ASSERT_FALSE(load.config);
  EXPECT_NE(load.problems[0].message.find("not valid JSON"), std::string::npos);
}

TEST(BrokerConfig, ReportsMissingTlsFiles) {
  testing::TempDir dir;
  testing::WriteFile(dir / "broker.json", ValidConfig());
  ConfigLoad load = LoadBrokerConfig(dir / "broker.json");
  ASSERT_FALSE(load.config);
  // Every missing file is reported at once, not one per run.
  ASSERT_EQ(load.problems.size(), 4u);
  EXPECT_EQ(load.problems[0].location, "/tls/cert");
  EXPECT_EQ(load.problems[3].location, "/tls/crl");
}

TEST(BrokerConfig, ReportsUnreadableFile) {
  ConfigLoad load = LoadBrokerConfig("/nonexistent/trustbridge.json");
  ASSERT_FALSE(load.config);
  EXPECT_EQ(load.problems.size(), 1u);
}

}  // namespace
}  // namespace tb::app
