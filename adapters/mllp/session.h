#pragma once

// Internal to tb::mllp (and its tests): the per-connection MLLP state machine. It is a template
// on the stream (STYLE.md section 5.6) so tests can drive it over beast::test::stream; the
// listener instantiates it over beast::ssl_stream<beast::tcp_stream> in server.cpp. What differs
// between streams (TLS handshake, deadlines, cancellation, shutdown) goes through
// StreamTraits<Stream>, specialised next to each instantiation.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include "adapters/mllp/framer.h"
#include "adapters/mllp/server.h"
#include "adapters/net/accept_loop.h"
#include "adapters/net/listener.h"
#include "broker/core/log.h"

namespace tb::mllp::detail {

// Stream-specific operations. Each specialisation provides:
//   static void SetDeadline(Stream&, std::chrono::milliseconds);   // for the next operation(s)
//   static void Cancel(Stream&);                      // interrupt a pending read/handshake
//   static void AsyncHandshake(Stream&, Handler);     // Handler(const error_code&)
//   static void AsyncShutdown(Stream&, Handler);      // Handler(); closes the connection
//   static core::PeerIdentity Peer(Stream&);          // after a successful handshake
//   static std::string Remote(Stream&);               // "address:port" or ""
//   static std::string Protocol(Stream&);             // "TLSv1.3"
//   static std::string RefusalDetail(Stream&);        // why the peer's certificate failed, or ""
//   static bool IsTimeout(const error_code&);         // a deadline passed
template <class Stream>
struct StreamTraits;

// True for the errors that mean "the peer went away", which are normal and not worth a warning.
bool IsNormalClose(const boost::system::error_code& ec);
// Process-wide connection ids, so log lines of different listeners never share one.
std::uint64_t NextConnectionId();
std::string ConnectionName(std::uint64_t id);  // "c42"

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Stop(): close when idle, or after the current reply. Any thread.
  virtual void RequestClose() = 0;
};

// What a listener shares with its sessions. Settings and callbacks are immutable; the registry
// is guarded by its mutex, `stopping` is atomic. Thread-safe.
class ServerState {
 public:
  ServerState(MllpServerSettings settings_in, FrameHandler handler_in, FaultHandler on_fault_in);

  std::size_t ActiveConnections() const { return sessions.Size(); }

  const MllpServerSettings settings;
  const FrameHandler handler;
  const FaultHandler on_fault;
  const core::Logger log;
  std::atomic<bool> stopping{false};
  net::SessionRegistry<SessionBase> sessions;
};

// Broken frames in a row (no good frame between) after which a connection is closed.
inline constexpr std::size_t kMaxDroppedFramesInARow = 64;

// One connection. All state is touched only on the stream's executor (a strand for sockets).
// Owned by the shared_ptrs held in its pending handlers and reply guard (STYLE.md section 5.2).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  using Traits = StreamTraits<Stream>;
  using ErrorCode = boost::system::error_code;

 public:
  // `args` construct the stream.
  template <class... Args>
  Session(std::shared_ptr<ServerState> state, net::ConnectionSlot slot, Args&&... args)
      : state_(std::move(state)),
        slot_(std::move(slot)),
        stream_(std::forward<Args>(args)...),
        id_(NextConnectionId()),
        remote_(Traits::Remote(stream_)),
        decoder_(state_->settings.max_frame_bytes),
        read_buffer_(std::max<std::size_t>(state_->settings.read_buffer_bytes, 256)) {}

  ~Session() override {
    if (connected_) {
      log().Info("disconnected", {{"conn", ConnectionName(id_)},
                                  {"frames", std::to_string(sequence_)},
                                  {"skipped_bytes", std::to_string(skipped_bytes_)}});
    }
    state_->sessions.Unregister(id_);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers with the listener and starts the handshake.
  void Run() {
    state_->sessions.Register(id_, this->weak_from_this());
    boost::asio::dispatch(stream_.get_executor(),
                          [self = this->shared_from_this()] { self->Handshake(); });
  }

  void RequestClose() override {
    boost::asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      if (self->reading_ || self->handshaking_) {
        // Waiting on the peer, with no reply owed (a partial frame is dropped: it was never
        // acknowledged, so the sender resends it): interrupt; the handler then closes.
        Traits::Cancel(self->stream_);
      }
    });
  }

  std::uint64_t id() const { return id_; }

 private:
  // Answers one frame exactly once, from any thread, hopping back onto the session's executor.
  // While a reply is owed, the guard counts as outstanding work on the session's executor: with
  // no read pending and the acceptor closed, nothing else would, and an io_context run without
  // a work guard would return before the reply could be written.
  class ReplyGuard {
    using Executor = decltype(std::declval<Stream&>().get_executor());
    using TrackedExecutor = decltype(boost::asio::prefer(
        std::declval<Executor>(), boost::asio::execution::outstanding_work.tracked));

   public:
    explicit ReplyGuard(std::shared_ptr<Session> session)
        : session_(std::move(session)),
          work_(boost::asio::prefer(session_->stream_.get_executor(),
                                    boost::asio::execution::outstanding_work.tracked)) {}
    ReplyGuard(const ReplyGuard&) = delete;
    ReplyGuard& operator=(const ReplyGuard&) = delete;
    ~ReplyGuard() {
      if (!answered_.exchange(true)) {
        boost::asio::post(work_, [session = std::move(session_)] { session->OnDropped(); });
      }
    }
    void Answer(std::string reply) {
      if (!answered_.exchange(true)) {
        // The guard lets go of the session here: a handler that keeps the reply function
        // after calling it does not keep the connection alive. The posted handler is work of
        // its own, so the tracked executor goes too.
        boost::asio::post(work_,
                          [session = std::move(session_), reply = std::move(reply)]() mutable {
                            session->OnReply(std::move(reply));
                          });
        work_ = TrackedExecutor();
      }
    }

   private:
    std::shared_ptr<Session> session_;
    TrackedExecutor work_;
    std::atomic<bool> answered_{false};
  };

  const MllpServerSettings& settings() const { return state_->settings; }
  const core::Logger& log() const { return state_->log; }
  bool closing() const { return closing_ || state_->stopping.load(); }

  void Handshake() {
    if (closing()) {
      return;  // stopped before the handshake began: just drop the connection
    }
    handshaking_ = true;
    Traits::SetDeadline(stream_, settings().handshake_timeout);
    Traits::AsyncHandshake(
        stream_, [self = this->shared_from_this()](const ErrorCode& ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(const ErrorCode& ec) {
    handshaking_ = false;
    if (ec) {
      if (closing_) {
        return;
      }
      // Refused: no certificate, unknown CA, expired or revoked certificate, old protocol,
      // plaintext on a TLS port, or too slow. Nothing was read or served.
      log().Warn("tls_handshake_refused", {{"conn", ConnectionName(id_)},
                                           {"remote", remote_},
                                           {"reason", ec.message()},
                                           {"verify", Traits::RefusalDetail(stream_)}});
      return;  // the connection closes when the session is destroyed
    }
    connected_ = true;
    peer_ = Traits::Peer(stream_);
    peer_.remote_address = remote_;
    log().Info("connected", {{"conn", ConnectionName(id_)},
                             {"remote", remote_},
                             {"peer_cn", peer_.subject_cn},
                             {"tls", Traits::Protocol(stream_)}});
    Continue();
  }

  // Takes the next buffered frame, or reads more.
  void Continue() {
    if (closing()) {
      Shutdown();
      return;
    }
    // Broken frames are counted over the whole pass and logged once per reason: a peer (or an
    // attacker) sending 100 KB of start blocks would otherwise write 100,000 warning lines.
    DropTally truncated;
    DropTally bad_terminator;
    std::optional<DecodeEvent> next;
    while (std::optional<DecodeEvent> event = decoder_.Next()) {
      if (event->kind == DecodeEventKind::kFrame || event->kind == DecodeEventKind::kOversize) {
        next = std::move(event);
        break;
      }
      if (event->kind == DecodeEventKind::kSkipped) {
        skipped_bytes_ += event->bytes;
        log().Debug("bytes_skipped",
                    {{"conn", ConnectionName(id_)}, {"bytes", std::to_string(event->bytes)}});
        continue;
      }
      // kTruncated, kBadTerminator: a frame ends unread.
      frame_deadline_.reset();
      DropTally& tally = event->kind == DecodeEventKind::kTruncated ? truncated : bad_terminator;
      ++tally.frames;
      tally.bytes += event->bytes;
      if (++dropped_in_a_row_ > kMaxDroppedFramesInARow) {
        break;
      }
    }
    LogDropped(DecodeEventKind::kTruncated, truncated);
    LogDropped(DecodeEventKind::kBadTerminator, bad_terminator);
    if (dropped_in_a_row_ > kMaxDroppedFramesInARow) {
      // Nothing a sender means to deliver looks like this; stop spending time and log on it.
      log().Warn("too_many_dropped_frames",
                 {{"conn", ConnectionName(id_)}, {"in_a_row", std::to_string(dropped_in_a_row_)}});
      Shutdown();
      return;
    }
    if (!next) {
      Read();
      return;
    }
    frame_deadline_.reset();
    dropped_in_a_row_ = 0;
    if (next->kind == DecodeEventKind::kFrame) {
      Dispatch(std::move(next->payload));
    } else {
      Refuse(std::move(*next));
    }
  }

  struct DropTally {
    std::size_t frames = 0;
    std::size_t bytes = 0;
  };

  void LogDropped(DecodeEventKind kind, const DropTally& tally) const {
    if (tally.frames == 0) {
      return;
    }
    log().Warn("frame_dropped", {{"conn", ConnectionName(id_)},
                                 {"reason", std::string(ToString(kind))},
                                 {"frames", std::to_string(tally.frames)},
                                 {"bytes", std::to_string(tally.bytes)}});
  }

  void Read() {
    reading_ = true;
    idle_ = !decoder_.InFrame();
    std::chrono::milliseconds timeout = settings().idle_timeout;
    if (!idle_) {
      // read_timeout bounds the whole rest of the frame from its first bytes, not each read:
      // re-arming it per read let a peer trickling a byte a second hold the connection (and
      // its buffer) forever.
      const auto now = std::chrono::steady_clock::now();
      if (!frame_deadline_) {
        frame_deadline_ = now + settings().read_timeout;
      }
      timeout = std::max(std::chrono::milliseconds(0),
                         std::chrono::ceil<std::chrono::milliseconds>(*frame_deadline_ - now));
    }
    Traits::SetDeadline(stream_, timeout);
    stream_.async_read_some(
        boost::asio::buffer(read_buffer_),
        [self = this->shared_from_this()](const ErrorCode& ec, std::size_t bytes) {
          self->OnRead(ec, bytes);
        });
  }

  void OnRead(const ErrorCode& ec, std::size_t bytes) {
    const bool was_idle = idle_;
    idle_ = false;
    reading_ = false;
    if (ec) {
      OnReadError(ec, was_idle);
      return;
    }
    decoder_.Feed(std::string_view(read_buffer_.data(), bytes));
    Continue();
  }

  void OnReadError(const ErrorCode& ec, bool was_idle) {
    if (Traits::IsTimeout(ec)) {
      // The deadline closed the connection already; no reply is owed.
      if (was_idle) {
        log().Info("idle_timeout", {{"conn", ConnectionName(id_)}});
      } else {
        log().Warn("read_timeout", {{"conn", ConnectionName(id_)},
                                    {"buffered_bytes", std::to_string(decoder_.BufferedBytes())}});
      }
      return;
    }
    if (closing_ || IsNormalClose(ec)) {
      if (decoder_.InFrame() && !closing_) {
        log().Warn("closed_mid_frame",
                   {{"conn", ConnectionName(id_)},
                    {"buffered_bytes", std::to_string(decoder_.BufferedBytes())}});
      }
      Shutdown();  // answers the peer's close_notify; fails fast if the socket is gone
      return;
    }
    log().Warn("read_failed", {{"conn", ConnectionName(id_)}, {"reason", ec.message()}});
  }

  void Dispatch(std::string payload) {
    ++sequence_;
    frame_bytes_ = payload.size();
    frame_started_ = std::chrono::steady_clock::now();
    FrameRequest request{std::move(payload), peer_, id_, sequence_};
    auto guard = std::make_shared<ReplyGuard>(this->shared_from_this());
    state_->handler(std::move(request),
                    [guard](std::string reply) { guard->Answer(std::move(reply)); });
  }

  void OnReply(std::string reply) {
    if (reply.empty()) {
      LogFrame(0);
      Continue();
      return;
    }
    out_.clear();
    AppendFrame(out_, reply);
    Write(After::kContinue);
  }

  void OnDropped() {
    log().Error("handler_dropped_frame",
                {{"conn", ConnectionName(id_)}, {"frame", std::to_string(sequence_)}});
    Shutdown();
  }

  void Refuse(DecodeEvent event) {
    FrameFault fault;
    fault.kind = FaultKind::kOversize;
    fault.error = core::MakeError(
        core::ErrorCode::kTooLarge,
        "MLLP frame exceeds the limit of " + std::to_string(settings().max_frame_bytes) + " bytes");
    fault.head = std::move(event.payload);
    fault.bytes = event.bytes;
    fault.limit = settings().max_frame_bytes;
    fault.peer = peer_;
    fault.connection_id = id_;
    log().Warn("frame_oversize", {{"conn", ConnectionName(id_)},
                                  {"bytes", std::to_string(fault.bytes)},
                                  {"limit", std::to_string(fault.limit)}});
    const std::string reply = state_->on_fault ? state_->on_fault(fault) : std::string();
    if (reply.empty()) {
      Shutdown();
      return;
    }
    out_.clear();
    AppendFrame(out_, reply);
    Write(After::kDrainThenClose);
  }

  enum class After : std::uint8_t { kContinue, kDrainThenClose };

  void Write(After after) {
    Traits::SetDeadline(stream_, settings().write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(out_),
                             [self = this->shared_from_this(), after](
                                 const ErrorCode& ec, std::size_t) { self->OnWrite(ec, after); });
  }

  void OnWrite(const ErrorCode& ec, After after) {
    if (ec) {
      if (!IsNormalClose(ec)) {
        log().Warn("write_failed", {{"conn", ConnectionName(id_)}, {"reason", ec.message()}});
      }
      return;
    }
    if (after == After::kDrainThenClose) {
      // A sender that writes the whole frame before reading would otherwise hit a closed
      // connection (a reset) and never see the fault reply: read and drop the rest of the
      // refused frame first. One deadline bounds the whole drain.
      Traits::SetDeadline(stream_, settings().read_timeout);
      Drain();
      return;
    }
    LogFrame(out_.size() - 3);
    Continue();
  }

  void Drain() {
    // Whatever follows the refused frame goes too: it was sent before the sender saw the fault
    // reply, was never acknowledged, and is resent on a new connection.
    while (decoder_.Next()) {
    }
    if (!decoder_.Discarding() || closing()) {
      Shutdown();
      return;
    }
    reading_ = true;
    stream_.async_read_some(
        boost::asio::buffer(read_buffer_),
        [self = this->shared_from_this()](const ErrorCode& ec, std::size_t bytes) {
          self->reading_ = false;
          if (ec) {
            if (!Traits::IsTimeout(ec)) {
              self->Shutdown();
            }
            return;
          }
          self->decoder_.Feed(std::string_view(self->read_buffer_.data(), bytes));
          self->Drain();
        });
  }

  void LogFrame(std::size_t reply_bytes) const {
    if (!log().Enabled(core::LogLevel::kDebug)) {
      return;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - frame_started_);
    log().Debug("frame", {{"conn", ConnectionName(id_)},
                          {"frame", std::to_string(sequence_)},
                          {"bytes", std::to_string(frame_bytes_)},
                          {"reply_bytes", std::to_string(reply_bytes)},
                          {"us", std::to_string(elapsed.count())}});
  }

  void Shutdown() {
    if (shutting_down_) {
      return;
    }
    shutting_down_ = true;
    Traits::SetDeadline(stream_, settings().shutdown_timeout);
    Traits::AsyncShutdown(stream_, [self = this->shared_from_this()] {});
  }

  std::shared_ptr<ServerState> state_;
  net::ConnectionSlot slot_;  // this connection's place under max_connections
  Stream stream_;
  const std::uint64_t id_;
  const std::string remote_;
  FrameDecoder decoder_;
  std::vector<char> read_buffer_;
  std::string out_;  // the framed reply being written
  core::PeerIdentity peer_;
  std::uint64_t sequence_ = 0;
  std::size_t frame_bytes_ = 0;
  std::size_t skipped_bytes_ = 0;
  std::chrono::steady_clock::time_point frame_started_;
  // When the frame being received must be complete (read_timeout after its first bytes); unset
  // between frames.
  std::optional<std::chrono::steady_clock::time_point> frame_deadline_;
  // Broken frames (truncated, bad terminator) since the last good one.
  std::size_t dropped_in_a_row_ = 0;
  bool connected_ = false;
  bool handshaking_ = false;
  bool reading_ = false;
  bool idle_ = false;  // reading, with no partial frame buffered
  bool closing_ = false;
  bool shutting_down_ = false;
};

}  // namespace tb::mllp::detail
