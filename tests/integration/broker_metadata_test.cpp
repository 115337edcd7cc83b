// The broker as a whole (BrokerServer from config) over real mutual TLS on loopback.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "broker/app/broker_server.h"
#include "broker/app/cli.h"
#include "broker/app/config.h"
#include "broker/store/store.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::HttpsClientOptions;
using testing::HttpsRequest;
using testing::TestPki;

std::string ConfigText(const std::string& listen = "127.0.0.1:0") {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": ")" +
         listen + R"(" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "participants": [ { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] } ],
    "peers": [ { "id": "broker-b", "cert_cn": "broker-b",
                 "fhir_base": "https://127.0.0.1:1/fhir" } ]
  })";
}

class BrokerMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(dir_ / "broker.json", ConfigText());
    app::ConfigLoad load = app::LoadBrokerConfig(dir_ / "broker.json");
    ASSERT_TRUE(load.config) << load.problems[0].message;
    server_ = std::make_unique<app::BrokerServer>(std::move(*load.config));
    core::Status started = server_->Start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
    port_ = server_->fhir_port();
    waiter_ = std::thread([this] { server_->Wait(); });
  }
  void TearDown() override {
    if (server_) {
      server_->Stop();
    }
    if (waiter_.joinable()) {
      waiter_.join();
    }
  }

  HttpsClientOptions As(const std::string& name) const {
    const TestPki& pki = TestPki::Get();
    return HttpsClientOptions{pki.CaCert(), pki.Cert(name), pki.Key(name)};
  }

  testing::TempDir dir_;
  std::unique_ptr<app::BrokerServer> server_;
  std::thread waiter_;
  std::uint16_t port_ = 0;
};

TEST_F(BrokerMetadataTest, ParticipantGetsTruthfulCapabilityStatement) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("RJ1"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_NE(result.Header("Content-Type").find("application/fhir+json"), std::string::npos);
  rapidjson::Document statement;
  statement.Parse(result.body.c_str());
  ASSERT_FALSE(statement.HasParseError());
  EXPECT_STREQ(statement["resourceType"].GetString(), "CapabilityStatement");
  EXPECT_STREQ(statement["fhirVersion"].GetString(), "4.0.1");
  EXPECT_STREQ(statement["kind"].GetString(), "instance");
  const auto& rest = statement["rest"][0];
  EXPECT_STREQ(rest["mode"].GetString(), "server");
  EXPECT_STREQ(rest["security"]["service"][0]["coding"][0]["code"].GetString(), "Certificates");
}

TEST_F(BrokerMetadataTest, OpensItsSqliteStoreUnderTheConfigFolder) {
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ / "var" / "tb.db"));
}

TEST(BrokerStart, StoreThatCannotBeOpenedStopsTheStart) {
  testing::TempDir dir;
  std::string text = ConfigText();
  text.replace(text.find("sqlite:var/tb.db"), 16, "sqlite:/proc/trustbridge/tb.db");
  testing::WriteFile(dir / "broker.json", text);
  app::ConfigLoad load = app::LoadBrokerConfig(dir / "broker.json");
  ASSERT_TRUE(load.config);
  app::BrokerServer server(std::move(*load.config));
  EXPECT_FALSE(server.Start().has_value());
  EXPECT_EQ(server.fhir_port(), 0);  // nothing was bound
}

TEST_F(BrokerMetadataTest, PeerBrokerIsRecognised) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("broker-b"));
  EXPECT_EQ(result.status, 200);
}

TEST_F(BrokerMetadataTest, ValidCertificateOfUnregisteredOrganisationGets403Outcome) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("RGT"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 403);
  rapidjson::Document outcome;
  outcome.Parse(result.body.c_str());
  ASSERT_FALSE(outcome.HasParseError());
  EXPECT_STREQ(outcome["resourceType"].GetString(), "OperationOutcome");
  EXPECT_STREQ(outcome["issue"][0]["code"].GetString(), "forbidden");

  // Recorded before it was answered, naming the certificate (as MLLP and $process-message do).
  server_->Stop();
  auto database = store::OpenDatabase({.url = "sqlite:" + (dir_ / "var/tb.db").string()});
  ASSERT_TRUE(database) << database.error().message;
  auto records = store::MakeLedgerStore(**database)->ReadRange(1, 100);
  ASSERT_TRUE(records);
  ASSERT_FALSE(records->empty());
  const core::LedgerRecord& refusal = records->back();
  EXPECT_EQ(refusal.kind, "refusal");
  EXPECT_NE(refusal.canonical.find("unknown-certificate CN=RGT"), std::string::npos)
      << refusal.canonical;
}

TEST_F(BrokerMetadataTest, NoCertificateIsRefusedAtHandshake) {
  HttpsClientOptions options = As("RJ1");
  options.cert.clear();
  options.key.clear();
  EXPECT_FALSE(HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", options).connected);
}

TEST_F(BrokerMetadataTest, RevokedAndExpiredAreRefused) {
  EXPECT_FALSE(HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("revoked")).connected);
  EXPECT_FALSE(HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("expired")).connected);
}

TEST_F(BrokerMetadataTest, UnknownEndpointIsOperationOutcome404) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/Nothing", As("RJ1"));
  EXPECT_EQ(result.status, 404);
  EXPECT_NE(result.body.find("OperationOutcome"), std::string::npos);
}

TEST_F(BrokerMetadataTest, MetadataIsReadOnly) {
  auto result = HttpsRequest("127.0.0.1", port_, "POST", "/fhir/metadata", As("RJ1"), {}, "{}");
  EXPECT_EQ(result.status, 405);
}

TEST(ServeCommand, BadConfigExitsNonZeroWithoutListening) {
  testing::TempDir dir;
  std::string text = ConfigText("127.0.0.1:0");
  text.replace(text.find("\"ods\": \"X26\""), 12, "\"ods\": \"x\"");
  testing::WriteFile(dir / "bad.json", text);
  std::string path = (dir / "bad.json").string();
  std::string serve = "serve";
  std::string flag = "--config";
  std::string program = "trustbridge";
  char* argv[] = {program.data(), serve.data(), flag.data(), path.data()};
  ::testing::internal::CaptureStderr();
  const int code = app::RunCli(4, argv);
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(printed.find("/broker/ods"), std::string::npos) << printed;
}

}  // namespace
}  // namespace tb
