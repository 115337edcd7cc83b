#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/mllp/framer.h"
#include "broker/core/peer_identity.h"
#include "broker/core/result.h"

namespace boost::asio::ssl {
class context;
}

namespace tb::mllp {

struct MllpClientSettings {
  std::string host = "127.0.0.1";  // name or IP address
  std::uint16_t port = 0;
  // The name the server certificate must carry (subjectAltName DNS or IP); empty: `host`.
  // A DNS name is also sent as SNI.
  std::string server_name;
  bool verify_server_name = true;  // false: any certificate of the trusted CA (tests, labs)
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;  // largest reply accepted
  std::chrono::milliseconds connect_timeout{10'000};    // TCP connect plus TLS handshake
  std::chrono::milliseconds reply_timeout{30'000};      // sending a frame and getting its reply
  std::chrono::milliseconds shutdown_timeout{1'500};
};

// A blocking MLLP-over-TLS client for the CLI, conformance runner and tests: one connection,
// reused for any number of messages, one message at a time. Every operation has a deadline and
// returns a Result; nothing throws. Errors:
//   kUpstreamUnavailable  cannot resolve/connect, TLS handshake refused (either side), peer
//                         closed or reset the connection, malformed reply framing;
//   kTimeout              a deadline passed (the connection is then closed, since a late reply
//                         would be taken as the answer to the next message);
//   kTooLarge             the reply frame exceeds max_frame_bytes (connection closed).
// With TLS 1.3 a server that refuses our certificate says so only after our handshake has
// completed, so such a refusal surfaces as an error of the first Send(), not of Connect().
//
// Not thread-safe: use one client per thread. Owns its own io_context; the ssl context (from
// tb::net::MakeClientContext) is shared and may be shared by many clients.
class MllpClient {
 public:
  MllpClient(std::shared_ptr<boost::asio::ssl::context> tls, MllpClientSettings settings);
  ~MllpClient();  // Close()
  MllpClient(MllpClient&&) noexcept;
  MllpClient& operator=(MllpClient&&) noexcept;
  MllpClient(const MllpClient&) = delete;
  MllpClient& operator=(const MllpClient&) = delete;

  // Connects and completes the TLS handshake (verifying the server certificate and name).
  // Closes any previous connection first.
  core::Status Connect();
  // Sends `payload` framed and returns the payload of the reply frame. Connects first if not
  // connected. If the server answers before it has read the whole frame (an oversize NAK),
  // that answer is returned and the connection closed.
  core::Result<std::string> Send(std::string_view payload);
  // The two halves of Send, for peers that do not answer every frame (MSH-15 = NE) or tests
  // that pipeline: Write sends one frame, Receive waits (reply_timeout) for the next one.
  core::Status Write(std::string_view payload);
  core::Result<std::string> Receive();
  // Receive with its own deadline instead of reply_timeout (a caller bounding several reads by
  // one deadline). A timeout closes the connection, as in Send.
  core::Result<std::string> Receive(std::chrono::milliseconds timeout);
  // Sends bytes as they are, without framing: for conformance tests of framing errors.
  core::Status WriteRaw(std::string_view bytes);
  // TLS shutdown within shutdown_timeout, then closes the socket. Idempotent.
  void Close();

  bool IsConnected() const;
  // True when bytes from the server are waiting that no call asked for: a frame (or part of
  // one) already decoded but not returned, or data buffered by TLS or by the socket. Such bytes
  // are an answer to an earlier message (a second acknowledgement, a late duplicate) or a
  // close_notify; the next Send would return them as its reply. Never blocks.
  bool HasUnreadInput();
  // The server's certificate identity, from the last successful handshake.
  const core::PeerIdentity& ServerIdentity() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb::mllp
