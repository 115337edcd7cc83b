// MllpClientPool against a real MLLP/TLS listener on 127.0.0.1 (test PKI, mutual TLS). The server
// counts the connections it accepted by the connection id of each frame.
#include "adapters/mllp/client_pool.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/mllp/server.h"
#include "adapters/net/tls_context.h"
#include "tests/support/loopback_mllp_server.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::mllp {
namespace {

using testing::TestPki;
using testing::WaitFor;
using namespace std::chrono_literals;

class MllpClientPoolTest : public ::testing::Test {
 protected:
  void TearDown() override { StopServer(); }

  // Echoes each frame; a frame starting with "hold" is never answered, one starting with "twice"
  // is answered with two frames.
  void StartServer(MllpServerSettings settings = {}) {
    auto port = server_.Start(
        TestPki::kBrokerA,
        [this](FrameRequest request, ReplyFn reply) {
          std::lock_guard lock(mutex_);
          connections_.insert(request.connection_id);
          ++frames_;
          if (request.payload.rfind("hold", 0) == 0) {
            held_.push_back(std::move(reply));
            return;
          }
          if (request.payload.rfind("twice", 0) == 0) {
            // Two frames for one message (an end and a start block inside the payload), as a
            // peer sending a commit ACK then an application ACK does.
            reply("echo:" + request.payload + "\x1c\r\x0b" + "again:" + request.payload);
            return;
          }
          reply("echo:" + request.payload);
        },
        settings);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  void StopServer() {
    {
      std::lock_guard lock(mutex_);
      held_.clear();
    }
    server_.Stop();
  }

  std::unique_ptr<MllpClientPool> Pool(MllpClientPoolSettings settings = {}) {
    const TestPki& pki = TestPki::Get();
    auto tls =
        net::MakeClientContext({pki.Cert(TestPki::kRj1), pki.Key(TestPki::kRj1), pki.CaCert(), ""});
    EXPECT_TRUE(tls) << tls.error().message;
    return std::make_unique<MllpClientPool>(tls ? *tls : nullptr, settings);
  }

  MllpClientSettings Destination(std::chrono::milliseconds reply_timeout = 5s) const {
    MllpClientSettings settings;
    settings.host = "127.0.0.1";
    settings.port = port_;
    settings.connect_timeout = 5s;
    settings.reply_timeout = reply_timeout;
    settings.shutdown_timeout = 300ms;
    return settings;
  }

  // One exchange as the deliverer does it: acquire, send, give back only if it went well.
  core::Result<std::string> SendOnce(MllpClientPool& pool, const std::string& payload,
                                     std::chrono::milliseconds reply_timeout = 5s) {
    auto client = pool.Acquire(Destination(reply_timeout));
    if (!client) {
      return std::move(client).error();
    }
    auto reply = pool.Send(*client, payload);
    if (reply) {
      pool.Release(std::move(*client));
    }
    return reply;
  }

  std::size_t Connections() {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }
  int Frames() {
    std::lock_guard lock(mutex_);
    return frames_;
  }

  testing::LoopbackMllpServer server_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::set<std::uint64_t> connections_;
  int frames_ = 0;
  std::vector<ReplyFn> held_;
};

TEST_F(MllpClientPoolTest, SeveralSendsReuseOneConnection) {
  StartServer();
  auto pool = Pool();
  for (int i = 0; i < 10; ++i) {
    auto reply = SendOnce(*pool, "m" + std::to_string(i));
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(*reply, "echo:m" + std::to_string(i));
  }
  EXPECT_EQ(Connections(), 1u);
  EXPECT_EQ(pool->stats().connects, 1u);
  EXPECT_EQ(pool->stats().reuses, 9u);
  EXPECT_EQ(pool->IdleCount(), 1u);
  EXPECT_EQ(server_->ActiveConnections(), 1u);
}

TEST_F(MllpClientPoolTest, AConnectionTheServerClosedWhileIdleIsReplacedWithinTheSend) {
  MllpServerSettings settings;
  settings.idle_timeout = 200ms;  // the server (or a firewall) drops idle connections early
  StartServer(settings);
  auto pool = Pool();  // keeps idle connections for 30 s
  ASSERT_TRUE(SendOnce(*pool, "first"));
  ASSERT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  ASSERT_EQ(pool->IdleCount(), 1u);  // the pool does not know yet

  auto reply = SendOnce(*pool, "second");
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "echo:second");
  // The server's close_notify is unread input, so the pool usually drops the connection before
  // sending on it; a peer that vanishes without one (a firewall) is caught by the retry.
  EXPECT_EQ(pool->stats().stale_retries + pool->stats().unread_input, 1u);
  EXPECT_EQ(pool->stats().connects, 2u);
  EXPECT_EQ(Connections(), 2u);
  EXPECT_EQ(Frames(), 2);  // the dead connection never delivered "second"
}

TEST_F(MllpClientPoolTest, IdleConnectionsAreClosedAfterTheIdleTime) {
  StartServer();
  MllpClientPoolSettings settings;
  settings.idle_timeout = 100ms;
  auto pool = Pool(settings);
  ASSERT_TRUE(SendOnce(*pool, "first"));
  EXPECT_TRUE(WaitFor([&] { return pool->IdleCount() == 0; }));
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  EXPECT_EQ(pool->stats().expired, 1u);

  ASSERT_TRUE(SendOnce(*pool, "later"));
  EXPECT_EQ(pool->stats().connects, 2u);
  EXPECT_EQ(pool->stats().stale_retries, 0u);  // a fresh connection, not a failed reuse
}

TEST_F(MllpClientPoolTest, AServerThatNeverAnswersTimesOutAndTheClientIsNotKept) {
  StartServer();
  auto pool = Pool();
  // So that the silent exchange runs on a reused client (which keeps the settings it was
  // connected with: the same reply timeout).
  ASSERT_TRUE(SendOnce(*pool, "warm", 300ms));

  auto client = pool->Acquire(Destination(300ms));
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_TRUE(client->reused());
  auto reply = pool->Send(*client, "hold me");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kTimeout);
  // Even given back, a client whose reply may still come is closed, never lent again.
  pool->Release(std::move(*client));
  EXPECT_EQ(pool->IdleCount(), 0u);
  EXPECT_EQ(pool->stats().discarded, 1u);
  EXPECT_EQ(pool->stats().stale_retries, 0u);  // a timeout is not resent here
  EXPECT_EQ(Frames(), 2);

  auto next = SendOnce(*pool, "after", 300ms);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(*next, "echo:after");  // not the late answer to "hold me"
  EXPECT_EQ(pool->stats().connects, 2u);
}

TEST_F(MllpClientPoolTest, ConcurrentSendsFromSeveralThreadsEachGetTheirOwnReply) {
  StartServer();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  MllpClientPoolSettings settings;
  settings.max_idle_per_destination = kThreads;
  auto pool = Pool(settings);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string payload = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto reply = SendOnce(*pool, payload);
        if (!reply || *reply != "echo:" + payload) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(Frames(), kThreads * kPerThread);
  const MllpClientPoolStats stats = pool->stats();
  EXPECT_EQ(stats.connects + stats.reuses, std::uint64_t{kThreads * kPerThread});
  EXPECT_LE(stats.connects, std::uint64_t{kThreads});  // never more than one per thread
  EXPECT_EQ(Connections(), stats.connects);
  EXPECT_LE(pool->IdleCount(), std::size_t{kThreads});
}

TEST_F(MllpClientPoolTest, KeepsAtMostMaxIdleConnectionsPerDestination) {
  StartServer();
  MllpClientPoolSettings settings;
  settings.max_idle_per_destination = 2;
  auto pool = Pool(settings);
  std::vector<PooledMllpClient> held;
  for (int i = 0; i < 3; ++i) {
    auto client = pool->Acquire(Destination());
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_TRUE(pool->Send(*client, "x"));
    held.push_back(std::move(*client));
  }
  for (PooledMllpClient& client : held) {
    pool->Release(std::move(client));
  }
  EXPECT_EQ(pool->IdleCount(), 2u);
  EXPECT_EQ(pool->stats().discarded, 1u);
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 2; }));
}

// A second frame for one message must not reach the next message as its reply: the connection
// it waits on is not reused. Before, the next Send returned "again:twice".
TEST_F(MllpClientPoolTest, AConnectionWithUnreadInputIsNotReused) {
  StartServer();
  auto pool = Pool();
  auto first = SendOnce(*pool, "twice");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "echo:twice");
  // Both frames went out in one write (one TLS record), so the second was read with the first.
  auto next = SendOnce(*pool, "next");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(*next, "echo:next");
  EXPECT_EQ(pool->stats().unread_input, 1u);
  EXPECT_EQ(Connections(), 2u);
}

TEST_F(MllpClientPoolTest, AReusedConnectionToAServerThatIsGoneFailsAfterOneRetry) {
  StartServer();
  auto pool = Pool();
  ASSERT_TRUE(SendOnce(*pool, "first"));
  StopServer();  // the port is closed now: the fresh connection is refused
  auto reply = SendOnce(*pool, "second");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(pool->IdleCount(), 0u);
  EXPECT_EQ(pool->stats().connects, 1u);
}

}  // namespace
}  // namespace tb::mllp
