#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/net/tls_settings.h"
#include "broker/core/host_port.h"
#include "broker/core/log.h"
#include "broker/core/result.h"

namespace tb::simtrust {

// The settings of `trustbridge simulate-trust --config FILE` (docs/simulate-trust.md):
//   { "ods": "RGT", "name": "...",
//     "listen": { "fhir": "127.0.0.1:9201", "mllp": "127.0.0.1:9202" },
//     "tls": { "cert", "key", "ca", "crl" },
//     "patients": "patients", "latency_ms": 0, "failure_rate": 0.0, "seed": 1,
//     "received_log": "received.jsonl", "clients": ["broker-a"], "refuse_types": ["ADT^A06"],
//     "io_threads": 2,
//     "page_size": 0, "log_level": "info" }
// Relative paths are relative to the config file's folder.
struct SimTrustConfig {
  std::string ods;   // the trust's ODS code
  std::string name;  // display name; defaults to "Simulated trust <ods>"
  core::HostPort listen_fhir;
  std::optional<core::HostPort> listen_mllp;  // absent: no MLLP/TLS endpoint
  net::TlsSettings tls;
  std::filesystem::path patients;        // folder of patient Bundles (*.json)
  std::chrono::milliseconds latency{0};  // added to every FHIR answer (asynchronously)
  double failure_rate = 0.0;             // 0..1: that fraction of FHIR requests get 503
  std::optional<std::uint64_t> seed;     // makes failures reproducible
  std::filesystem::path received_log;    // JSON lines, one per accepted message; empty: none
  std::vector<std::string> clients;      // certificate CNs allowed; empty: any CN of the CA
  // HL7 v2 message types ("ADT^A06", or "ADT" for every trigger) answered AR over MLLP, not
  // recorded: a trust that can never take them, for testing how senders handle a refusal.
  std::vector<std::string> refuse_types;
  unsigned io_threads = 2;
  // Searchsets longer than this are answered one page at a time, each linking the next
  // (`[base]/_page?token=...&offset=N`), as servers that page do; 0 = whole searchsets.
  std::size_t page_size = 0;
  // The process's log level (trace, debug, info, warn, error, off), applied by
  // RunSimulateTrust only: in-process trusts (tests) leave the process's level alone. "warn"
  // drops the per-request access line, e.g. for trusts sharing a CPU with a benchmarked broker.
  core::LogLevel log_level = core::LogLevel::kInfo;
  // Not from JSON: whether Wait() also ends on SIGINT/SIGTERM (the CLI sets it; tests do not).
  bool handle_signals = false;
};

// Reads and checks a config. Every problem found is reported at once: the error is kConfig, its
// message lists each problem as "<JSON pointer>: <what>" separated by "; ", and its location is
// the first problem's pointer. Unknown keys are problems (a typo must not silently change a
// test). Paths are resolved against `base_dir`; the patients folder must exist; TLS files are
// checked when the listeners start.
core::Result<SimTrustConfig> ParseSimTrustConfig(std::string_view json,
                                                 const std::filesystem::path& base_dir);
core::Result<SimTrustConfig> LoadSimTrustConfig(const std::filesystem::path& file);

}  // namespace tb::simtrust
