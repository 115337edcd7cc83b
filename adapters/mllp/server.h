#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "adapters/mllp/framer.h"
#include "broker/core/error.h"
#include "broker/core/peer_identity.h"
#include "broker/core/result.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace tb::mllp {

struct MllpServerSettings {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (tests)
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
  std::chrono::milliseconds handshake_timeout{10'000};
  // Waiting for the start of the next frame; when it passes the connection closes quietly.
  std::chrono::milliseconds idle_timeout{60'000};
  // Receiving the rest of a frame once its first bytes arrived: one deadline for the whole
  // frame, which further bytes do not extend (a peer trickling a byte at a time still times out).
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  // Waiting for the peer's close_notify after ours; a peer that never answers costs this much.
  std::chrono::milliseconds shutdown_timeout{1'500};
  std::size_t read_buffer_bytes = 16 * 1024;  // one read's worth; not a frame limit
  // Connections open at once; more wait in the listen backlog until one closes
  // (adapters/net/accept_loop.h).
  std::size_t max_connections = 4096;
  std::string component = "tb.mllp";  // logger name
};

// One received frame. `payload` is unframed and unparsed (HL7 ER7 by convention).
struct FrameRequest {
  std::string payload;
  core::PeerIdentity peer;  // verified client certificate, extracted once per connection
  std::uint64_t connection_id = 0;
  std::uint64_t sequence = 0;  // 1 for the connection's first frame, then 2, 3...
};

enum class FaultKind : std::uint8_t {
  kOversize,  // a frame passed max_frame_bytes; the connection closes after the fault reply
};

// A frame that could not be handed to the handler. `head` is the beginning of the frame (at most
// kOversizeHeadBytes; may hold PHI: never log it) so the reply can quote MSH-10.
struct FrameFault {
  FaultKind kind = FaultKind::kOversize;
  core::Error error;  // kTooLarge, message without payload content
  std::string head;
  std::size_t bytes = 0;  // bytes of the frame seen when it was refused
  std::size_t limit = 0;  // max_frame_bytes
  core::PeerIdentity peer;
  std::uint64_t connection_id = 0;
};

// Sends the reply to one frame: the payload unframed; "" sends nothing (e.g. MSH-15 = NE) and
// the session goes on to the next frame. Call exactly once, from any thread. If every copy is
// destroyed without a call, the connection is closed (a bug, logged as an error): the sender
// then resends on a new connection rather than waiting forever.
using ReplyFn = std::function<void(std::string)>;

// Handles one frame. Runs on the connection's strand and must neither block nor throw: post
// blocking work (storage, mapping) to a pool and call the reply function when done. The next
// frame of the same connection is not read before the reply is sent, so order is kept per
// connection; other connections are not held up.
using FrameHandler = std::function<void(FrameRequest, ReplyFn)>;

// Builds the reply to a fault (the NAK, built by the hl7v2 layer). Runs on the connection's
// strand, must be quick and must not throw. "" sends nothing. Unset: nothing is sent. Either way
// the connection is then closed.
using FaultHandler = std::function<std::string(const FrameFault&)>;

// MLLP over mutual TLS on Boost.Asio. One strand per connection; per connection: read one frame,
// hand it to the handler, write its reply, then take the next frame (frames that arrived early
// wait in the decoder). Deadlines on the handshake, each read, each write and the TLS shutdown;
// frames above max_frame_bytes are refused through the FaultHandler and the connection closed.
// Logs (JSON lines via core::Logger) the connection with the peer CN, refused handshakes (warn),
// one debug line per frame with sizes and time, never payload content.
//
// Thread-safety: Start/Stop/ActiveConnections may be called from any thread; the io_context
// may be run by many threads. Lifetime: the server must outlive the io_context's run(), or be
// stopped and the io_context drained before destruction (the destructor calls Stop()).
class MllpServer {
 public:
  // `tls` comes from tb::net::MakeServerContext (client certificates required) and is shared.
  MllpServer(boost::asio::io_context& io_context, std::shared_ptr<boost::asio::ssl::context> tls,
             MllpServerSettings settings, FrameHandler handler, FaultHandler on_fault = {});
  ~MllpServer();
  MllpServer(const MllpServer&) = delete;
  MllpServer& operator=(const MllpServer&) = delete;

  // Binds and starts accepting. Returns the bound port (useful with port 0); kConfig if the
  // address is invalid or cannot be bound.
  core::Result<std::uint16_t> Start();
  // Stops accepting; idle connections are closed with a TLS shutdown, busy ones after the reply
  // to their current frame (frames that arrived early and were not taken yet are not answered:
  // the sender never got an ACK for them and resends). Idempotent.
  void Stop();
  std::size_t ActiveConnections() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tb::mllp
