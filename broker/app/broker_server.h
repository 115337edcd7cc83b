#pragma once

#include <memory>

#include "broker/app/config.h"
#include "broker/core/result.h"

namespace tb::app {

// The running broker: builds every component from the config (composition root), owns the
// io_context and its threads, and stops everything on Stop() or SIGINT/SIGTERM.
class BrokerServer {
 public:
  explicit BrokerServer(BrokerConfig config);
  ~BrokerServer();
  BrokerServer(const BrokerServer&) = delete;
  BrokerServer& operator=(const BrokerServer&) = delete;

  // Builds TLS, the store and the listeners, and binds; nothing listens if anything fails.
  core::Status Start();
  // Ports actually bound (useful with port 0 in tests).
  std::uint16_t fhir_port() const;
  std::uint16_t mllp_port() const;
  // Blocks until Stop() or a termination signal, then drains and joins.
  void Wait();
  // Thread-safe, idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb::app
