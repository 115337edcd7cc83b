#include "tests/support/loopback_mllp_server.h"

#include <chrono>
#include <utility>

#include <gtest/gtest.h>

#include "adapters/net/tls_context.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::testing {

core::Result<std::uint16_t> LoopbackMllpServer::Start(std::string_view cert_name,
                                                      mllp::FrameHandler handler,
                                                      mllp::MllpServerSettings settings,
                                                      mllp::FaultHandler on_fault) {
  const TestPki& pki = TestPki::Get();
  auto tls =
      net::MakeServerContext({pki.Cert(cert_name), pki.Key(cert_name), pki.CaCert(), pki.Crl()});
  if (!tls) {
    return tls.error();
  }
  settings.address = "127.0.0.1";
  settings.port = 0;
  settings.shutdown_timeout = std::chrono::milliseconds(300);
  server_ = std::make_unique<mllp::MllpServer>(io_context_, *tls, settings, std::move(handler),
                                               std::move(on_fault));
  auto port = server_->Start();
  if (port) {
    thread_ = std::thread([this] { io_context_.run(); });
  }
  return port;
}

void LoopbackMllpServer::Stop() {
  if (server_) {
    server_->Stop();
    EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
    // With the acceptor closed and every session gone, run() runs out of work.
    EXPECT_TRUE(WaitFor([this] { return io_context_.stopped(); }));
  }
  io_context_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  server_.reset();
}

}  // namespace tb::testing
