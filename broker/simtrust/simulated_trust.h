#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>

#include "broker/core/result.h"
#include "broker/simtrust/config.h"

namespace tb::simtrust {

// A simulated NHS trust for demos and tests (`trustbridge simulate-trust`): a FHIR R4 server over
// mutual TLS serving the synthetic patients of `config.patients` (search by NHS number, read,
// $everything), an MLLP/TLS endpoint, and intake of delivered messages (MLLP or FHIR) recorded in
// `config.received_log`. Every FHIR answer is delayed by `latency` on a timer (never a sleeping
// I/O thread) and `failure_rate` of FHIR requests are answered 503 (seeded: reproducible).
//
// Usage:  SimulatedTrust trust(config);  trust.Start();  ... trust.fhir_port() ...
//         trust.Stop();  trust.Wait();   (the destructor does both)
// Thread-safety: Stop() and the port accessors may be called from any thread; Start() and Wait()
// from the owning thread. Owns its io_context, I/O threads and a one-thread pool for file I/O.
class SimulatedTrust {
 public:
  explicit SimulatedTrust(SimTrustConfig config);
  ~SimulatedTrust();
  SimulatedTrust(const SimulatedTrust&) = delete;
  SimulatedTrust& operator=(const SimulatedTrust&) = delete;

  // Loads the patients, opens the received log, builds TLS, binds both listeners and starts the
  // I/O threads. On error (kConfig: bad patient Bundle, TLS file, address in use...) nothing
  // listens. Call once.
  core::Status Start();
  // Bound ports (useful with port 0); mllp_port() is 0 without an MLLP listener.
  std::uint16_t fhir_port() const;
  std::uint16_t mllp_port() const;
  // Patients loaded (after a successful Start).
  std::size_t patient_count() const;
  // FHIR requests now waiting out their latency: shows that the delay is a timer, not a blocked
  // I/O thread (with one I/O thread, several requests can be waiting at once).
  std::size_t DelayedRequestsForTest() const;
  // Ends Wait(): the listeners stop, connections finish their current request. Idempotent.
  void Stop();
  // Blocks until Stop() (or SIGINT/SIGTERM when config.handle_signals), then drains and joins.
  void Wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// `trustbridge simulate-trust --config FILE`: loads the config, starts, prints the bound
// endpoints on `out`, runs until SIGINT/SIGTERM. Returns the exit code: 0 after a clean stop,
// 2 for a bad config, 1 when it cannot start. Never throws.
int RunSimulateTrust(const std::filesystem::path& config_file, std::ostream& out,
                     std::ostream& err);

}  // namespace tb::simtrust
