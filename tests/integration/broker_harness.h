#pragma once

// What the end-to-end tests share: simulated trusts on ephemeral ports (and what they received), a
// broker running from config text in its own folder, a trust's MLLP engine announcing a patient
// by ADT, a FHIR message to send, and the test certificates.

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "broker/simtrust/simulated_trust.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::testing {

inline std::filesystem::path DemoPatients(const std::string& ods) {
  return std::filesystem::path(TB_SOURCE_DIR) / "config/demo/trusts" / ods / "patients";
}

// Client options presenting the test PKI's certificate `name`.
inline HttpsClientOptions As(const std::string& name) {
  const TestPki& pki = TestPki::Get();
  HttpsClientOptions options{pki.CaCert(), pki.Cert(name), pki.Key(name)};
  options.timeout = std::chrono::seconds(20);
  return options;
}

// A simulated trust named `ods` (its certificate is the PKI's `ods`) on ephemeral ports.
// With `received_log`, delivered messages are logged there; `with_mllp` adds an MLLP/TLS endpoint;
// `page_size` makes it answer longer searchsets a page at a time; `refuse_types` are v2 message
// types its MLLP endpoint answers AR.
inline std::unique_ptr<simtrust::SimulatedTrust> StartTrust(
    const std::string& ods, const std::filesystem::path& patients,
    std::chrono::milliseconds latency = std::chrono::milliseconds(0),
    const std::filesystem::path& received_log = {}, bool with_mllp = false,
    std::size_t page_size = 0, std::vector<std::string> refuse_types = {}) {
  const TestPki& pki = TestPki::Get();
  simtrust::SimTrustConfig config;
  config.ods = ods;
  config.listen_fhir = {"127.0.0.1", 0};
  config.tls = {pki.Cert(ods), pki.Key(ods), pki.CaCert(), pki.Crl()};
  config.patients = patients;
  config.latency = latency;
  config.received_log = received_log;
  if (with_mllp) {
    config.listen_mllp = core::HostPort{"127.0.0.1", 0};
  }
  config.io_threads = 1;
  config.page_size = page_size;
  config.refuse_types = std::move(refuse_types);
  auto trust = std::make_unique<simtrust::SimulatedTrust>(std::move(config));
  core::Status started = trust->Start();
  EXPECT_TRUE(started.has_value()) << (started ? "" : started.error().message);
  return trust;
}

// A broker from config text, with extra files (name, content) beside the config; stopped and
// joined on destruction.
class RunningBroker {
 public:
  explicit RunningBroker(const std::string& config_text,
                         const std::vector<std::pair<std::string, std::string>>& files = {}) {
    WriteFile(dir_ / "broker.json", config_text);
    for (const auto& [name, content] : files) {
      WriteFile(dir_ / name, content);
    }
    app::ConfigLoad load = app::LoadBrokerConfig(dir_ / "broker.json");
    EXPECT_TRUE(load.config) << (load.problems.empty() ? "" : load.problems[0].message);
    server_ = std::make_unique<app::BrokerServer>(std::move(*load.config));
    core::Status started = server_->Start();
    EXPECT_TRUE(started.has_value()) << (started ? "" : started.error().message);
    waiter_ = std::thread([this] { server_->Wait(); });
  }
  ~RunningBroker() { Stop(); }
  RunningBroker(const RunningBroker&) = delete;
  RunningBroker& operator=(const RunningBroker&) = delete;

  std::uint16_t fhir_port() const { return server_->fhir_port(); }
  std::uint16_t mllp_port() const { return server_->mllp_port(); }
  std::filesystem::path config_file() const { return dir_ / "broker.json"; }
  std::filesystem::path store_file() const { return dir_ / "var/tb.db"; }

  // Stops the broker (the ledger's last batch is committed); the folder stays.
  void Stop() {
    if (server_) {
      server_->Stop();
      waiter_.join();
      server_.reset();
    }
  }

 private:
  TempDir dir_;
  std::unique_ptr<app::BrokerServer> server_;
  std::thread waiter_;
};

// An MLLP/TLS client of the broker with `ods`'s certificate: that trust's integration engine.
inline mllp::MllpClient EngineOf(const RunningBroker& broker, const std::string& ods) {
  const TestPki& pki = TestPki::Get();
  auto tls = net::MakeClientContext({pki.Cert(ods), pki.Key(ods), pki.CaCert(), {}});
  if (!tls) {
    throw std::runtime_error("client TLS context for " + ods + ": " + tls.error().message);
  }
  mllp::MllpClientSettings settings;
  settings.port = broker.mllp_port();
  return mllp::MllpClient(*tls, settings);
}

// `ods` announces that it holds `nhs_number` the way a trust does: an ADT^A28 over MLLP/TLS.
inline void AnnounceByAdt(const RunningBroker& broker, const std::string& ods,
                          std::string_view nhs_number) {
  mllp::MllpClient client = EngineOf(broker, ods);
  const std::string message = "MSH|^~\\&|PAS|" + ods + "|TB||20261123100000||ADT^A28|" + ods +
                              std::string(nhs_number) + "|P|2.4\rEVN|A28|20261123100000\rPID|1||" +
                              std::string(nhs_number) + "^^^NHS^NH||TEST^PATIENT\r";
  auto ack = client.Send(message);
  ASSERT_TRUE(ack) << ack.error().message;
  auto parsed = hl7v2::Message::Parse(*ack);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->Get("MSA-1").Decoded(), "AA");
}

// An ADT A08 from RJ1 about `nhs` as a FHIR message Bundle, addressed to the broker (X26) unless
// `destination` (one MessageHeader.destination element) says otherwise.
inline std::string FhirA08Message(const std::string& id, std::string_view nhs,
                                  const std::string& family = "HUGHES",
                                  const std::string& destination = {}) {
  const std::string to_broker =
      R"({"name":"TB","endpoint":"urn:trustbridge","receiver":{"reference":"urn:uuid:org-x26"}})";
  return R"({"resourceType":"Bundle","id":")" + id +
         R"(","type":"message","timestamp":"2026-11-23T12:00:00Z","entry":[)"
         R"({"fullUrl":"urn:uuid:header","resource":{"resourceType":"MessageHeader",)"
         R"("id":"hdr-)" +
         id +
         R"(","eventCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0003",)"
         R"("code":"A08"},"destination":[)" +
         (destination.empty() ? to_broker : destination) +
         R"(],"sender":{"reference":"urn:uuid:org-rj1"},)"
         R"("source":{"name":"PAS","endpoint":"https://rj1.example.nhs.uk/fhir"},)"
         R"("focus":[{"reference":"urn:uuid:patient"}]}},)"
         R"({"fullUrl":"urn:uuid:patient","resource":{"resourceType":"Patient","id":"p1",)"
         R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" +
         std::string(nhs) + R"("}],"name":[{"family":")" + family +
         R"(","given":["AMELIA"]}],"gender":"female","birthDate":"1984-03-12"}},)"
         R"({"fullUrl":"urn:uuid:org-rj1","resource":{"resourceType":"Organization","id":"o1",)"
         R"("identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code",)"
         R"("value":"RJ1"}],"name":"RJ1"}},)"
         R"({"fullUrl":"urn:uuid:org-x26","resource":{"resourceType":"Organization","id":"o2",)"
         R"("identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code",)"
         R"("value":"X26"}],"name":"Broker"}}]})";
}

// A simulated trust's received_log so far (empty before its first message).
inline std::string ReadReceivedLog(const std::filesystem::path& file) {
  return std::filesystem::exists(file) ? ReadFile(file) : std::string();
}

// How often `needle` occurs in `text`.
inline std::size_t Occurrences(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

inline rapidjson::Document Json(const std::string& body) {
  rapidjson::Document document;
  document.Parse(body.c_str());
  EXPECT_FALSE(document.HasParseError()) << body.substr(0, 300);
  return document;
}

}  // namespace tb::testing
