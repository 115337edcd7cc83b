#pragma once

// What the crash tests share: a simulated destination trust (in process, MLLP/TLS, received_log)
// and broker config text for child `trustbridge serve` processes.

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "broker/simtrust/simulated_trust.h"
#include "tests/support/test_pki.h"

namespace tb::testing {

// A trust `ods` taking HL7 v2 over MLLP/TLS on an ephemeral port, logging what it accepts.
inline std::unique_ptr<simtrust::SimulatedTrust> StartMllpTrust(
    const std::string& ods, const std::filesystem::path& received_log) {
  const TestPki& pki = TestPki::Get();
  simtrust::SimTrustConfig config;
  config.ods = ods;
  config.listen_fhir = {"127.0.0.1", 0};
  config.listen_mllp = core::HostPort{"127.0.0.1", 0};
  config.tls = {pki.Cert(ods), pki.Key(ods), pki.CaCert(), pki.Crl()};
  config.patients = std::filesystem::path(TB_SOURCE_DIR) / "config/demo/trusts" / ods / "patients";
  config.received_log = received_log;
  config.io_threads = 2;
  auto trust = std::make_unique<simtrust::SimulatedTrust>(std::move(config));
  core::Status started = trust->Start();
  EXPECT_TRUE(started.has_value()) << (started ? "" : started.error().message);
  return trust;
}

// A broker config: RJ1 sends, `destination` receives over MLLP/TLS on `destination_port`.
// `store` is the whole "store" object's body (e.g. R"("url": "sqlite:var/tb.db")"), `queue` the
// "queue" object's. Nodes of one cluster get the same text except `broker_id`.
inline std::string CrashBrokerConfig(const std::string& broker_id, const std::string& store,
                                     const std::string& destination, std::uint16_t destination_port,
                                     const std::string& queue = R"("delivery_threads": 8)") {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": ")" +
         broker_id + R"(", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a", /*with_crl=*/false) + R"(,
    "store": { )" +
         store + R"( },
    "io_threads": 2,
    "queue": { )" +
         queue + R"( },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
      { "ods": ")" +
         destination + R"(", "cert_cn": ")" + destination +
         R"(", "scopes": ["system/*.rs"], "mllp": "127.0.0.1:)" + std::to_string(destination_port) +
         R"(" }
    ]
  })";
}

}  // namespace tb::testing
