#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/child_process.h"

namespace tb::testing {

// The real `trustbridge serve --config FILE` binary as a child process that a test can SIGKILL
// and start again on the same store, like a crashing production node. Each start writes its logs
// to `<log_dir>/<name>-<n>.log`; ports are read from the `broker_started` log line, so configs can
// listen on port 0.
//
// Thread-safety: Start/Kill/Stop from the owner thread; mllp_port()/fhir_port() from any thread
// (0 while the broker is down, so a load sender waits).
class BrokerProcess {
 public:
  BrokerProcess(std::filesystem::path binary, std::filesystem::path config,
                std::filesystem::path log_dir, std::string name = "serve");
  ~BrokerProcess();  // Kill() if running
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Starts the broker and waits (up to `timeout`) for it to listen. False (with the log's tail in
  // `error`) when it exited or did not start in time.
  bool Start(std::string& error, std::chrono::milliseconds timeout = std::chrono::seconds(60),
             ChildLimits limits = {});
  // SIGKILL: no shutdown code runs, whatever was not committed is lost.
  void Kill();
  // SIGTERM and wait: a graceful stop. Returns the exit code (-1 if it had to be killed).
  int Stop();
  bool running() const { return child_ != nullptr && child_->running(); }
  ChildProcess* child() { return child_.get(); }

  std::uint16_t mllp_port() const { return mllp_port_.load(); }
  std::uint16_t fhir_port() const { return fhir_port_.load(); }
  int starts() const { return starts_; }
  std::filesystem::path current_log() const;

 private:
  std::filesystem::path binary_;
  std::filesystem::path config_;
  std::filesystem::path log_dir_;
  std::string name_;
  int starts_ = 0;
  std::unique_ptr<ChildProcess> child_;
  std::atomic<std::uint16_t> mllp_port_{0};
  std::atomic<std::uint16_t> fhir_port_{0};
};

// The path of the trustbridge binary the tests were built with (TB_TRUSTBRIDGE_BIN).
std::filesystem::path TrustbridgeBinary();

}  // namespace tb::testing
