#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "adapters/mllp/client.h"
#include "broker/core/result.h"

namespace boost::asio::ssl {
class context;
}

namespace tb::mllp {

struct MllpClientPoolSettings {
  // Idle connections kept per destination; one more released is closed. About the number of
  // threads that send to one destination at once (the delivery threads).
  std::size_t max_idle_per_destination = 8;
  // An idle connection older than this is closed (TLS close_notify), before a trust's firewall
  // or engine silently drops it. 0: idle connections are never kept.
  std::chrono::milliseconds idle_timeout{30'000};
};

// What the pool did, for tests and metrics. Counts since construction.
struct MllpClientPoolStats {
  std::uint64_t connects = 0;       // new connections opened (TCP + TLS handshake)
  std::uint64_t reuses = 0;         // Acquire served by an idle connection
  std::uint64_t stale_retries = 0;  // a reused connection failed before a reply: sent again
  std::uint64_t expired = 0;        // idle connections closed for age
  std::uint64_t discarded = 0;      // released but closed (disconnected, or the pool full)
  // Connections closed rather than reused because the server had sent bytes nobody asked for
  // (a second acknowledgement, a late duplicate, a close_notify): on reuse they would be read
  // as the next message's answer. Counted on release and on acquire.
  std::uint64_t unread_input = 0;
};

class MllpClientPool;

// One client out of the pool, move-only. Hand it back with MllpClientPool::Release when the
// exchange went well; if it is destroyed instead, the connection is closed (a client that failed,
// timed out or got an unreadable reply must never carry the next message: a late reply would
// be taken as that message's answer).
class PooledMllpClient {
 public:
  PooledMllpClient(PooledMllpClient&&) noexcept = default;
  PooledMllpClient& operator=(PooledMllpClient&&) noexcept = default;
  PooledMllpClient(const PooledMllpClient&) = delete;
  PooledMllpClient& operator=(const PooledMllpClient&) = delete;
  ~PooledMllpClient() = default;  // MllpClient's destructor closes the connection

  MllpClient& client() { return *client_; }
  // True when the connection was idle in the pool (it may have been closed by the peer since).
  bool reused() const { return reused_; }

 private:
  friend class MllpClientPool;
  PooledMllpClient(std::unique_ptr<MllpClient> client, MllpClientSettings settings, bool reused)
      : client_(std::move(client)), settings_(std::move(settings)), reused_(reused) {}

  std::unique_ptr<MllpClient> client_;
  MllpClientSettings settings_;
  bool reused_ = false;
};

// A pool of connected MLLP/TLS clients (MllpClient), keyed by destination (host, port, server
// name): outbound delivery keeps connections open as integration engines do, instead of paying a
// TCP connect and a TLS handshake per message. A client keeps the settings of the Acquire that
// connected it (timeouts, frame limit): callers sharing a pool use the same settings per
// destination.
//
// Thread-safe: many threads may Acquire/Send/Release at once. The lock guards only the idle lists;
// connecting, sending and closing happen outside it. A background thread closes idle connections
// older than idle_timeout.
class MllpClientPool {
 public:
  MllpClientPool(std::shared_ptr<boost::asio::ssl::context> tls,
                 MllpClientPoolSettings settings = {});
  ~MllpClientPool();  // stops the reaper, closes every idle connection
  MllpClientPool(const MllpClientPool&) = delete;
  MllpClientPool& operator=(const MllpClientPool&) = delete;

  // The most recently used idle connection to the destination with no unread input from the
  // server, else a new one (connected and handshaken: errors as MllpClient::Connect).
  core::Result<PooledMllpClient> Acquire(const MllpClientSettings& destination);
  // MllpClient::Send on `pooled`. If a reused connection fails with kUpstreamUnavailable (closed
  // or reset: the peer dropped it while idle), the message is sent once more on a fresh
  // connection, which then replaces `pooled`. The destination can get the message twice only if
  // it read it and closed without answering; both copies carry the same control id, exactly as
  // a transient retry of the delivery would. A timeout is not retried here (the peer may be
  // slow, not gone): the caller's own retry policy applies.
  core::Result<std::string> Send(PooledMllpClient& pooled, std::string_view payload);
  // Gives a healthy client back (still connected, its last reply read and understood). A
  // disconnected client, one with unread input (MllpClient::HasUnreadInput), or one over
  // max_idle_per_destination, is closed instead.
  void Release(PooledMllpClient pooled);

  std::size_t IdleCount() const;  // over all destinations
  MllpClientPoolStats stats() const;

 private:
  using Key = std::tuple<std::string, std::uint16_t, std::string>;
  struct Idle {
    std::unique_ptr<MllpClient> client;
    std::chrono::steady_clock::time_point since;
  };

  static Key KeyOf(const MllpClientSettings& settings);
  core::Result<PooledMllpClient> Connect(const MllpClientSettings& destination);
  // Moves idle clients older than idle_timeout into `out` (closed by the caller, unlocked).
  void TakeExpiredLocked(std::chrono::steady_clock::time_point now,
                         std::vector<std::unique_ptr<MllpClient>>& out);
  void ReapLoop();

  std::shared_ptr<boost::asio::ssl::context> tls_;
  MllpClientPoolSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<Key, std::vector<Idle>> idle_;  // per destination, oldest first
  MllpClientPoolStats stats_;
  std::thread reaper_;
};

}  // namespace tb::mllp
