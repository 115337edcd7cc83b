// Loopback integration tests of the MLLP/TLS listener and client: real sockets on 127.0.0.1,
// real OpenSSL, certificates from the test PKI (certs/make-dev-pki.sh).
#include "adapters/mllp/server.h"

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/core/log.h"
#include "tests/support/loopback_mllp_server.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::mllp {
namespace {

using testing::TestPki;
using testing::WaitFor;
using namespace std::chrono_literals;

class MllpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::SetLogSink([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      log_.emplace_back(line);
    });
  }

  void TearDown() override {
    StopServer();
    core::SetLogSink(nullptr);
    if (HasFailure()) {  // what the server saw, to explain a failure that does not reproduce
      std::lock_guard lock(mutex_);
      for (const std::string& line : log_) {
        std::cerr << "server log: " << line << '\n';
      }
    }
  }

  void StartServer(MllpServerSettings settings = {}) {
    auto port = server_.Start(
        TestPki::kBrokerA,
        [this](FrameRequest request, ReplyFn reply) {
          ++frames_;
          if (request.payload == "silent") {
            reply("");
            return;
          }
          if (request.payload.rfind("hold", 0) == 0) {
            std::lock_guard lock(mutex_);
            held_.push_back(std::move(reply));
            return;
          }
          reply("echo:" + request.payload + " from " + request.peer.subject_cn + " #" +
                std::to_string(request.sequence));
        },
        settings,
        [this](const FrameFault& fault) {
          ++faults_;
          return "NAK " + fault.error.message;
        });
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  void StopServer() {
    {
      std::lock_guard lock(mutex_);
      held_.clear();  // unanswered replies: their connections close
    }
    server_.Stop();
  }

  std::shared_ptr<boost::asio::ssl::context> ClientTls(std::string_view name,
                                                       bool other_ca = false) {
    const TestPki& pki = TestPki::Get();
    net::TlsSettings settings;
    if (!name.empty()) {
      settings.cert = pki.Cert(name);
      settings.key = pki.Key(name);
    }
    settings.ca = other_ca ? pki.OtherCaCert() : pki.CaCert();
    auto tls = net::MakeClientContext(settings);
    EXPECT_TRUE(tls) << tls.error().message;
    return tls ? *tls : nullptr;
  }

  MllpClient Client(std::string_view name, MllpClientSettings settings = {}) {
    settings.host = "127.0.0.1";
    settings.port = port_;
    settings.connect_timeout = 5s;
    settings.reply_timeout = 5s;
    return MllpClient(ClientTls(name), settings);
  }

  bool Logged(std::string_view text) {
    std::lock_guard lock(mutex_);
    for (const std::string& line : log_) {
      if (line.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  std::size_t HeldCount() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

  // Expects the connection to be refused, whether at Connect() (TLS 1.2, client side checks)
  // or at the first exchange (TLS 1.3 reports a refused client certificate after the
  // client's handshake has completed).
  void ExpectRefused(MllpClient& client) {
    core::Status connected = client.Connect();
    if (connected) {
      auto reply = client.Send("MSH|refused?");
      ASSERT_FALSE(reply);
      EXPECT_EQ(reply.error().code, core::ErrorCode::kUpstreamUnavailable) << reply.error().message;
    } else {
      EXPECT_EQ(connected.error().code, core::ErrorCode::kUpstreamUnavailable);
    }
    EXPECT_FALSE(client.IsConnected());
    EXPECT_EQ(frames_.load(), 0);
  }

  testing::LoopbackMllpServer server_;
  std::uint16_t port_ = 0;
  std::atomic<int> frames_{0};
  std::atomic<int> faults_{0};
  std::mutex mutex_;
  std::vector<std::string> log_;
  std::vector<ReplyFn> held_;
};

TEST_F(MllpServerTest, RoundTripsAFrameWithPeerIdentity) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  auto reply = client.Send("MSH|^~\\&|hello");
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "echo:MSH|^~\\&|hello from RJ1 #1");
  EXPECT_EQ(client.ServerIdentity().subject_cn, "broker-a");
  EXPECT_TRUE(WaitFor([this] { return Logged("\"peer_cn\":\"RJ1\""); }));
}

TEST_F(MllpServerTest, KeepsOrderOfSeveralMessagesOnOneConnection) {
  StartServer();
  MllpClient client = Client(TestPki::kRgt);
  for (int i = 1; i <= 20; ++i) {
    auto reply = client.Send("m" + std::to_string(i));
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(*reply, "echo:m" + std::to_string(i) + " from RGT #" + std::to_string(i));
  }
  // Pipelined: five frames sent before any reply is read still come back in order.
  for (int i = 21; i <= 25; ++i) {
    ASSERT_TRUE(client.Write("m" + std::to_string(i)));
  }
  for (int i = 21; i <= 25; ++i) {
    auto reply = client.Receive();
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(*reply, "echo:m" + std::to_string(i) + " from RGT #" + std::to_string(i));
  }
  EXPECT_EQ(server_->ActiveConnections(), 1u);
}

TEST_F(MllpServerTest, EmptyReplySendsNothingAndTheConnectionGoesOn) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Write("silent"));
  auto reply = client.Send("next");
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "echo:next from RJ1 #2");
}

TEST_F(MllpServerTest, ReassemblesFrameSentInPiecesWithGarbageAround) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.WriteRaw("noise\x0bpart-one|"));
  ASSERT_TRUE(client.WriteRaw("part-two\x1c"));
  ASSERT_TRUE(client.WriteRaw("\x0d"));
  auto reply = client.Receive();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "echo:part-one|part-two from RJ1 #1");
}

TEST_F(MllpServerTest, RefusesClientWithoutCertificate) {
  StartServer();
  MllpClient client = Client("");
  ExpectRefused(client);
  EXPECT_TRUE(WaitFor([this] { return Logged("tls_handshake_refused"); }));
}

TEST_F(MllpServerTest, RefusesCertificateFromWrongCa) {
  StartServer();
  MllpClient client = Client(TestPki::kWrongCa);
  ExpectRefused(client);
  EXPECT_TRUE(WaitFor([this] { return Logged("tls_handshake_refused"); }));
}

TEST_F(MllpServerTest, RefusesExpiredCertificate) {
  StartServer();
  MllpClient client = Client(TestPki::kExpired);
  ExpectRefused(client);
  EXPECT_TRUE(WaitFor([this] { return Logged("certificate has expired"); }));
}

TEST_F(MllpServerTest, RefusesRevokedCertificate) {
  StartServer();
  MllpClient client = Client(TestPki::kRevoked);
  ExpectRefused(client);
  EXPECT_TRUE(WaitFor([this] { return Logged("certificate revoked"); }));
}

TEST_F(MllpServerTest, RefusesPlaintextOnTheTlsPort) {
  StartServer();
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  boost::asio::write(socket, boost::asio::buffer(Frame("MSH|plain")));
  char buffer[256];
  boost::system::error_code ec;
  const std::size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
  EXPECT_EQ(std::string(buffer, ec ? 0 : n).find("echo"), std::string::npos);
  EXPECT_EQ(frames_.load(), 0);
  EXPECT_TRUE(WaitFor([this] { return Logged("tls_handshake_refused"); }));
}

TEST_F(MllpServerTest, ClientVerifiesServerNameAndCa) {
  StartServer();
  MllpClientSettings by_ip;
  by_ip.server_name = "127.0.0.1";
  MllpClient ip = Client(TestPki::kRj1, by_ip);
  EXPECT_TRUE(ip.Connect());
  MllpClientSettings by_name;
  by_name.server_name = "localhost";
  MllpClient name = Client(TestPki::kRj1, by_name);
  EXPECT_TRUE(name.Connect());

  MllpClientSettings wrong_name;
  wrong_name.server_name = "trust.example.org";
  MllpClient wrong = Client(TestPki::kRj1, wrong_name);
  core::Status status = wrong.Connect();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(status.error().message.find("certificate"), std::string::npos)
      << status.error().message;

  MllpClientSettings defaults;
  defaults.host = "127.0.0.1";
  defaults.port = port_;
  MllpClient other_ca(ClientTls(TestPki::kRj1, /*other_ca=*/true), defaults);
  status = other_ca.Connect();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(frames_.load(), 0);
}

TEST_F(MllpServerTest, OversizeFrameGetsFaultReplyThenTheConnectionCloses) {
  MllpServerSettings settings;
  settings.max_frame_bytes = 1024;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  auto reply = client.Send(std::string(4096, 'x'));
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "NAK MLLP frame exceeds the limit of 1024 bytes");
  EXPECT_EQ(frames_.load(), 0);
  EXPECT_EQ(faults_.load(), 1);
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  // The connection is gone: the next message on it fails, a new connection works.
  auto after = client.Send("small");
  if (!after) {
    EXPECT_EQ(after.error().code, core::ErrorCode::kUpstreamUnavailable);
    after = client.Send("small");
  }
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(*after, "echo:small from RJ1 #1");
}

TEST_F(MllpServerTest, OversizeNakReachesAClientStillSendingAHugeFrame) {
  // The server refuses after 64 KiB while the client is still writing 8 MiB: the client reads
  // while it writes, so it sees the NAK whenever it comes, not a reset or a write timeout.
  MllpServerSettings settings;
  settings.max_frame_bytes = 64 * 1024;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Connect());
  auto reply = client.Send(std::string(8 * 1024 * 1024, 'y'));
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->rfind("NAK", 0), 0u);
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
}

TEST_F(MllpServerTest, OversizeNakReachesAClientThatWritesEverythingBeforeReading) {
  // The server reads and drops the rest of the refused frame, so a sender that only reads once
  // its whole frame is out (most engines) is not stuck in its write and gets the NAK.
  MllpServerSettings settings;
  settings.max_frame_bytes = 64 * 1024;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Write(std::string(8 * 1024 * 1024, 'z')));
  auto reply = client.Receive();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "NAK MLLP frame exceeds the limit of 65536 bytes");
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  EXPECT_EQ(frames_.load(), 0);
}

TEST_F(MllpServerTest, IdleTimeoutClosesQuietly) {
  MllpServerSettings settings;
  settings.idle_timeout = 200ms;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Send("one"));
  EXPECT_EQ(server_->ActiveConnections(), 1u);
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }, 3s));
  EXPECT_TRUE(Logged("\"event\":\"idle_timeout\""));
  auto reply = client.Send("two");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kUpstreamUnavailable);
}

TEST_F(MllpServerTest, ReadTimeoutClosesAConnectionStuckMidFrame) {
  MllpServerSettings settings;
  settings.read_timeout = 200ms;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.WriteRaw("\x0bpartial"));
  EXPECT_TRUE(WaitFor([this] { return Logged("\"event\":\"read_timeout\""); }, 3s));
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  EXPECT_EQ(frames_.load(), 0);
}

// read_timeout covers the whole frame: a peer sending a byte every 100 ms (each read arriving
// well within 300 ms) is still cut off about 300 ms after the frame began. Before, every read
// re-armed the deadline and such a peer held the connection for as long as it liked.
TEST_F(MllpServerTest, ReadTimeoutIsNotExtendedByATrickleOfBytes) {
  MllpServerSettings settings;
  settings.read_timeout = 300ms;
  StartServer(settings);
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.WriteRaw("\x0bMSH|"));
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 30 && !Logged("\"event\":\"read_timeout\""); ++i) {
    std::this_thread::sleep_for(100ms);  // the trickle's pace, not a wait for a condition
    if (!client.WriteRaw("x")) {
      break;  // the server closed the connection
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(WaitFor([this] { return Logged("\"event\":\"read_timeout\""); }, 3s));
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  EXPECT_EQ(frames_.load(), 0);
}

TEST_F(MllpServerTest, ClientTimesOutWhenNoReplyComes) {
  StartServer();
  MllpClientSettings quick;
  quick.host = "127.0.0.1";
  quick.port = port_;
  quick.reply_timeout = 200ms;
  MllpClient impatient(ClientTls(TestPki::kRj1), quick);
  auto reply = impatient.Send("hold");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kTimeout);
  EXPECT_FALSE(impatient.IsConnected());
}

// Receive(timeout) waits its own deadline, not reply_timeout (5 s here): the deliverer bounds
// the reads of stale acknowledgements and the answer by one deadline this way.
TEST_F(MllpServerTest, ReceiveWithItsOwnDeadlineTimesOutByIt) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Write("hold"));
  const auto started = std::chrono::steady_clock::now();
  auto reply = client.Receive(200ms);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(client.IsConnected());
}

TEST_F(MllpServerTest, ClientReportsUnreachableServer) {
  StartServer();
  const std::uint16_t port = port_;
  StopServer();
  MllpClientSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.connect_timeout = 2s;
  MllpClient client(ClientTls(TestPki::kRj1), settings);
  auto reply = client.Send("x");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, core::ErrorCode::kUpstreamUnavailable);
}

TEST_F(MllpServerTest, StopClosesIdleConnectionPromptly) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  ASSERT_TRUE(client.Send("one"));
  ASSERT_EQ(server_->ActiveConnections(), 1u);
  const auto started = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);  // shutdown_timeout is 300 ms
  EXPECT_FALSE(client.Send("two"));
}

TEST_F(MllpServerTest, StopLetsABusyConnectionSendItsReplyFirst) {
  StartServer();
  MllpClient client = Client(TestPki::kRj1);
  core::Result<std::string> reply = std::string();
  std::thread sender([&] { reply = client.Send("hold-me"); });
  ASSERT_TRUE(WaitFor([this] { return HeldCount() == 1; }));
  server_->Stop();
  EXPECT_EQ(server_->ActiveConnections(), 1u);
  {
    std::lock_guard lock(mutex_);
    held_[0]("ACK for the held message");
  }
  sender.join();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "ACK for the held message");
  EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
}

TEST_F(MllpServerTest, ManyClientsInParallel) {
  StartServer();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      MllpClient client = Client(t % 2 == 0 ? TestPki::kRj1 : TestPki::kRxh);
      for (int i = 1; i <= 10; ++i) {
        auto reply = client.Send("p" + std::to_string(i));
        if (reply && reply->rfind("echo:p" + std::to_string(i) + " ", 0) == 0) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(ok.load(), 40);
}

// A connection holds its place for its whole life: at the limit a further engine's handshake
// is not answered (it waits in the listen backlog), and once the first disconnects the next is
// served.
TEST_F(MllpServerTest, AtMaxConnectionsAFurtherEngineWaitsForAPlace) {
  MllpServerSettings settings;
  settings.max_connections = 1;
  StartServer(settings);
  MllpClient first = Client(TestPki::kRj1);
  ASSERT_TRUE(first.Send("MSH|first"));

  MllpClientSettings impatient;
  impatient.host = "127.0.0.1";
  impatient.port = port_;
  impatient.connect_timeout = 300ms;
  MllpClient waiting(ClientTls(TestPki::kRgt), impatient);
  EXPECT_FALSE(waiting.Connect());
  EXPECT_EQ(server_->ActiveConnections(), 1u);

  first.Close();
  MllpClient next = Client(TestPki::kRgt);
  auto reply = next.Send("MSH|next");
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(*reply, "echo:MSH|next from RGT #1");
  EXPECT_EQ(frames_.load(), 2);
}

}  // namespace
}  // namespace tb::mllp
