#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/core/log.h"

// How every TLS listener (HTTPS in tb::net, MLLP in tb::mllp) takes its connections, with two
// bounds a listener facing other organisations' networks needs:
//
// - At most `max_connections` connections at once. Beyond it the loop stops accepting, so
//   further connections wait in the kernel's listen backlog (their TLS handshake starts late)
//   until one closes. A refusal would make a trust's engine see an error for what is only a
//   busy broker; a wait keeps it a delay, and the handshake and idle timeouts free the places
//   that stalled or abandoned connections hold.
// - An accept that fails for want of resources (no file descriptor left in the process or the
//   system, no kernel memory), or 16 times in a row, pauses accepting for `resource_pause`
//   instead of trying again at once: the pending connection stays in the backlog, so the next
//   try fails the same way, and retrying at once spun a core and wrote a warning line per try
//   until a descriptor came free.
//
// Logged per change of state, not per connection: accept_paused and accepting_again once each
// per pause, connection_limit_reached at most every 10 s (with how often since the last line).
namespace tb::net {

struct AcceptSettings {
  std::size_t max_connections = 4096;
  std::chrono::milliseconds resource_pause{250};
};

class AcceptLoop;

// One admitted connection's place under max_connections. The session keeps it for its whole
// life; destroying it (on any thread) frees the place, and a loop paused at the limit accepts
// again. Move-only.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot();

 private:
  friend class AcceptLoop;
  explicit ConnectionSlot(std::shared_ptr<AcceptLoop> loop);

  std::shared_ptr<AcceptLoop> loop_;
};

class AcceptLoop : public std::enable_shared_from_this<AcceptLoop> {
 public:
  // Gets each accepted socket (TCP_NODELAY set) with its slot, on the acceptor's executor.
  using Admit = std::function<void(boost::asio::ip::tcp::socket, ConnectionSlot)>;

  struct Stats {
    std::uint64_t accepted = 0;
    std::uint64_t failed_accepts = 0;  // accept errors of any kind
    std::uint64_t pauses = 0;  // accepting paused after failures (no resources, or a run of them)
    std::uint64_t limit_pauses = 0;  // times the loop stopped at max_connections
  };

  // `acceptor`: open and listening (OpenAcceptor), with a strand as its executor; the loop owns
  // it from here. New sockets get their own strand on `io_context`.
  static std::shared_ptr<AcceptLoop> Create(boost::asio::ip::tcp::acceptor acceptor,
                                            boost::asio::io_context& io_context,
                                            AcceptSettings settings, core::Logger log, Admit admit);
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  void Start();
  // Closes the acceptor (from any thread); admitted connections are the listener's to close.
  void Stop();

  std::size_t connections() const { return connections_.load(); }
  Stats stats() const;

 private:
  friend class ConnectionSlot;

  AcceptLoop(boost::asio::ip::tcp::acceptor acceptor, boost::asio::io_context& io_context,
             AcceptSettings settings, core::Logger log, Admit admit);

  void Arm();  // these run on the acceptor's strand
  void OnAccept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void Pause(const boost::system::error_code& ec);
  void ResumeIfBelowLimit();
  void Release();  // from any thread: a slot was destroyed

  boost::asio::io_context& io_context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  AcceptSettings settings_;
  const core::Logger log_;
  const Admit admit_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> stopped_{false};
  // Set (on the strand) while the loop waits for a place, with no accept pending; read by Release.
  std::atomic<bool> at_limit_{false};
  // Strand-only state.
  bool paused_ = false;  // accepting failed and has not succeeded since
  int failures_in_a_row_ = 0;
  std::chrono::steady_clock::time_point limit_logged_{};
  std::uint64_t limit_pauses_logged_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> failed_accepts_{0};
  std::atomic<std::uint64_t> pauses_{0};
  std::atomic<std::uint64_t> limit_pauses_{0};
};

}  // namespace tb::net
