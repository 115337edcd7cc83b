#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "adapters/mllp/server.h"
#include "broker/core/result.h"

namespace tb::testing {

// An MllpServer for tests: MLLP/TLS on 127.0.0.1 at an ephemeral port, presenting the test PKI's
// certificate `cert_name` and requiring client certificates from its CA (with its CRL), run by
// a thread of its own. A test client does not read after its last reply, so it never answers
// the server's close_notify: the shutdown timeout is 300 ms.
class LoopbackMllpServer {
 public:
  LoopbackMllpServer() = default;
  ~LoopbackMllpServer() { Stop(); }
  LoopbackMllpServer(const LoopbackMllpServer&) = delete;
  LoopbackMllpServer& operator=(const LoopbackMllpServer&) = delete;

  // Returns the port. `settings` other than address, port and shutdown_timeout are kept.
  core::Result<std::uint16_t> Start(std::string_view cert_name, mllp::FrameHandler handler,
                                    mllp::MllpServerSettings settings = {},
                                    mllp::FaultHandler on_fault = nullptr);

  // Stops the server and expects (EXPECT_*) every connection to close and the io_context to run
  // out of work, then joins the thread. Replies the handler still holds keep their connections
  // open: drop them first. Idempotent.
  void Stop();

  explicit operator bool() const { return server_ != nullptr; }
  mllp::MllpServer* operator->() const { return server_.get(); }

 private:
  boost::asio::io_context io_context_;
  std::unique_ptr<mllp::MllpServer> server_;
  std::thread thread_;
};

}  // namespace tb::testing
