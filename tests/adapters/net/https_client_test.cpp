// Loopback integration tests of the pooled mutual-TLS HTTPS client against tb::net::HttpsServer:
// real sockets, real OpenSSL, certificates from the test PKI (certs/make-dev-pki.sh).
#include "adapters/net/https_client.h"

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "adapters/net/https_server.h"
#include "adapters/net/tls_context.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::TestPki;
using testing::WaitFor;

core::HttpResponse Render(const core::Error& error) {
  core::HttpResponse response;
  response.status = core::Info(error.code).http_status;
  response.body = error.message;
  return response;
}

core::HttpRequest Get(std::string target) {
  core::HttpRequest request;
  request.method = "GET";
  request.target = std::move(target);
  return request;
}

// An io_context run by `threads` threads until destroyed.
class IoThreads {
 public:
  explicit IoThreads(int threads) : work_(asio::make_work_guard(io_)) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }
  ~IoThreads() {
    work_.reset();
    for (auto& thread : threads_) {
      thread.join();
    }
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// An HttpsServer with a few test routes:
//   /echo          200 "<peer CN> <method> <target> <body>"
//   /slow?ms=N     answers after N ms (asynchronously, on a timer)
//   /big?n=N       a body of N bytes
// It records the connection id of every request, to count connections.
class TestServer {
 public:
  explicit TestServer(std::string_view cert_name, HttpServerSettings settings = {}) {
    const TestPki& pki = TestPki::Get();
    auto tls =
        MakeServerContext({pki.Cert(cert_name), pki.Key(cert_name), pki.CaCert(), pki.Crl()});
    EXPECT_TRUE(tls) << tls.error().message;
    settings.address = "127.0.0.1";  // port: as given (0: ephemeral)
    server_ = std::make_unique<HttpsServer>(
        io_.io(), *tls, settings,
        [this](core::HttpRequest request, Responder respond) { Handle(request, respond); },
        &Render);
    auto port = server_->Start();
    EXPECT_TRUE(port) << port.error().message;
    port_ = port ? *port : 0;
  }

  ~TestServer() {
    {
      std::lock_guard lock(mutex_);
      for (auto& timer : timers_) {
        asio::post(io_.io(), [timer] { timer->cancel(); });
      }
    }
    server_->Stop();
    EXPECT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));
  }

  std::uint16_t port() const { return port_; }
  HttpsServer& server() { return *server_; }
  int requests() const { return requests_.load(); }
  std::size_t DistinctConnections() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }
  HttpsTarget Target() const {
    HttpsTarget target;
    target.host = "127.0.0.1";
    target.port = port_;
    return target;
  }

 private:
  void Handle(const core::HttpRequest& request, const Responder& respond) {
    ++requests_;
    {
      std::lock_guard lock(mutex_);
      connections_.insert(request.connection_id);
    }
    const std::string_view path = request.Path();
    const std::string query(request.Query());
    core::HttpResponse response;
    if (path == "/slow") {
      const int ms = std::stoi(query.substr(query.find('=') + 1));
      auto timer = std::make_shared<asio::steady_timer>(io_.io(), std::chrono::milliseconds(ms));
      {
        std::lock_guard lock(mutex_);
        timers_.push_back(timer);
      }
      timer->async_wait([respond, timer](const boost::system::error_code&) {
        core::HttpResponse late;
        late.body = "late";
        respond(std::move(late));
      });
      return;
    }
    if (path == "/big") {
      response.body.assign(std::stoul(query.substr(query.find('=') + 1)), 'x');
    } else {
      response.body = request.peer.subject_cn + " " + request.method + " " + request.target + " " +
                      request.body;
      response.headers.Set("Content-Type", "text/plain");
      // What framed the request, as the server saw it.
      for (const char* name : {"Host", "User-Agent", "Content-Length", "Transfer-Encoding"}) {
        if (const std::string_view value = request.headers.Get(name); !value.empty()) {
          response.headers.Set(std::string("X-Seen-") + name, std::string(value));
        }
      }
    }
    respond(std::move(response));
  }

  IoThreads io_{1};
  std::unique_ptr<HttpsServer> server_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::set<std::uint64_t> connections_;
  std::vector<std::shared_ptr<asio::steady_timer>> timers_;
};

std::shared_ptr<asio::ssl::context> ClientTls(std::string_view name = TestPki::kRj1) {
  const TestPki& pki = TestPki::Get();
  auto tls = MakeClientContext({pki.Cert(name), pki.Key(name), pki.CaCert(), pki.Crl()});
  EXPECT_TRUE(tls) << tls.error().message;
  return tls ? *tls : nullptr;
}

TEST(HttpsClient, SendsRequestAndReadsResponseOverMutualTls) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  core::HttpRequest request;
  request.method = "POST";
  request.target = "/echo?x=1";
  request.body = "resourceType=Patient";
  request.headers.Set("X-Request-ID", "req-42");
  request.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  auto response = client.Request(server.Target(), std::move(request), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "RJ1 POST /echo?x=1 resourceType=Patient");
  EXPECT_EQ(response->headers.Get("X-Request-ID"), "req-42");
  EXPECT_EQ(response->headers.Get("Content-Type"), "text/plain");
}

TEST(HttpsClient, FramesTheRequestItselfIgnoringTheCallersFramingFields) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  core::HttpRequest post;
  post.method = "POST";
  post.target = "/echo";
  post.body = "abc";
  post.headers.Set("Content-Length", "999");  // would desynchronise the connection if sent
  post.headers.Set("Transfer-Encoding", "chunked");
  post.headers.Set("Connection", "close");
  auto response = client.Request(server.Target(), std::move(post), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "RJ1 POST /echo abc");
  EXPECT_EQ(response->headers.Get("X-Seen-Content-Length"), "3");
  EXPECT_EQ(response->headers.Get("X-Seen-Transfer-Encoding"), "");
  EXPECT_EQ(response->headers.Get("X-Seen-Host"), server.Target().ToString());
  EXPECT_EQ(response->headers.Get("X-Seen-User-Agent"), "trustbridge");

  core::HttpRequest empty_post;
  empty_post.method = "POST";
  empty_post.target = "/echo";
  empty_post.headers.Set("Host", "fhir.example.nhs.uk");
  response = client.Request(server.Target(), std::move(empty_post), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->headers.Get("X-Seen-Content-Length"), "0");
  EXPECT_EQ(response->headers.Get("X-Seen-Host"), "fhir.example.nhs.uk");

  response = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "RJ1 GET /echo ");
  EXPECT_EQ(response->headers.Get("X-Seen-Content-Length"), "");
  // Connection: close was not sent: all three requests went over one kept-alive connection.
  EXPECT_EQ(server.DistinctConnections(), 1u);
}

TEST(HttpsClient, ReusesKeepAliveConnection) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  for (int i = 0; i < 5; ++i) {
    auto response = client.Request(server.Target(), Get("/echo"), 5s);
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(server.DistinctConnections(), 1u);
  const HttpsClientStats stats = client.Stats();
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 4u);
  EXPECT_EQ(stats.idle_connections, 1u);
}

TEST(HttpsClient, PoolsPerExpectedIdentity) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  HttpsTarget by_cn = server.Target();
  by_cn.expected_cn = "broker-a";
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  ASSERT_TRUE(client.Request(by_cn, Get("/echo"), 5s));
  ASSERT_TRUE(client.Request(by_cn, Get("/echo"), 5s));
  EXPECT_EQ(server.DistinctConnections(), 2u);
  EXPECT_EQ(client.Stats().connections_opened, 2u);
}

TEST(HttpsClient, DeadlineEndsSlowRequestWithTimeout) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  // The handler answers after 3 s; a 200 would mean the deadline was ignored.
  auto response = client.Request(server.Target(), Get("/slow?ms=3000"), 150ms);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kTimeout) << response.error().message;
  // The timed-out connection is not pooled; the next request works on a new one.
  EXPECT_EQ(client.Stats().idle_connections, 0u);
  auto next = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(client.Stats().connections_opened, 2u);
}

TEST(HttpsClient, RequestTimeoutEndsSlowResponseBeforeTheDeadline) {
  TestServer server(TestPki::kBrokerA);
  HttpsClientSettings settings;
  settings.request_timeout = 150ms;
  HttpsClient client(ClientTls(), settings);
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));  // a pooled connection
  // The handler answers after 3 s, well inside the deadline: a 200 would mean the request
  // phase was not bounded on a reused connection.
  auto response = client.Request(server.Target(), Get("/slow?ms=3000"), 60s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kTimeout) << response.error().message;
  EXPECT_EQ(client.Stats().connections_reused, 1u);
}

TEST(HttpsClient, HandshakeTimeoutEndsSilentServer) {
  // Accepts TCP connections, says nothing, and closes each after 3 s: a kUpstreamUnavailable
  // (closed) instead of kTimeout would mean the handshake phase was not bounded.
  IoThreads io(1);
  asio::ip::tcp::acceptor acceptor(io.io(), {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket accepted(io.io());
  asio::steady_timer close_later(io.io());
  acceptor.async_accept(accepted, [&](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    close_later.expires_after(3s);
    close_later.async_wait([&](const boost::system::error_code& waited) {
      if (!waited) {
        accepted.close();
      }
    });
  });
  HttpsClientSettings settings;
  settings.handshake_timeout = 150ms;
  HttpsClient client(ClientTls(), settings);
  HttpsTarget target;
  target.host = "127.0.0.1";
  target.port = acceptor.local_endpoint().port();
  auto response = client.Request(target, Get("/echo"), 60s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kTimeout) << response.error().message;
  EXPECT_EQ(client.Stats().connections_opened, 0u);
  std::promise<void> closed;
  asio::post(io.io(), [&] {
    close_later.cancel();
    acceptor.close();
    accepted.close();
    closed.set_value();
  });
  closed.get_future().wait();
}

// A client that keeps no idle connection: every request opens (and closes) one.
HttpsClientSettings NoPooling() {
  HttpsClientSettings settings;
  settings.max_idle_per_host = 0;
  return settings;
}

TEST(HttpsClient, NewConnectionsResumeTheTargetsTlsSession) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls(), NoPooling());
  for (int i = 0; i < 3; ++i) {
    auto response = client.Request(server.Target(), Get("/echo"), 5s);
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->body, "RJ1 GET /echo ");  // the server still knows our certificate
  }
  EXPECT_EQ(server.DistinctConnections(), 3u);
  EXPECT_EQ(client.Stats().connections_opened, 3u);
  EXPECT_EQ(client.Stats().connections_resumed, 2u);
}

// resume_sessions off (benchmarks of the full handshake): every connection is a full one.
TEST(HttpsClient, WithoutResumptionEveryNewConnectionIsAFullHandshake) {
  TestServer server(TestPki::kBrokerA);
  HttpsClientSettings settings = NoPooling();
  settings.resume_sessions = false;
  HttpsClient client(ClientTls(), settings);
  for (int i = 0; i < 3; ++i) {
    auto response = client.Request(server.Target(), Get("/echo"), 5s);
    ASSERT_TRUE(response) << response.error().message;
  }
  EXPECT_EQ(client.Stats().connections_opened, 3u);
  EXPECT_EQ(client.Stats().connections_resumed, 0u);
}

TEST(HttpsClient, ABurstOfNewConnectionsEachResumesASession) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls(), NoPooling());
  auto burst = [&] {
    std::vector<std::future<core::Result<core::HttpResponse>>> answers;
    for (int i = 0; i < 4; ++i) {
      answers.push_back(std::async(std::launch::async, [&] {
        return client.Request(server.Target(), Get("/slow?ms=100"), 5s);
      }));
    }
    for (auto& answer : answers) {
      auto response = answer.get();
      ASSERT_TRUE(response) << response.error().message;
    }
  };
  burst();  // four full handshakes, four sessions kept
  const std::uint64_t resumed_before = client.Stats().connections_resumed;
  burst();
  EXPECT_EQ(client.Stats().connections_resumed - resumed_before, 4u);
  EXPECT_EQ(client.Stats().connections_opened, 8u);
}

TEST(HttpsClient, AStoredSessionIsNeverOfferedToAnotherIdentity) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls(), NoPooling());
  HttpsTarget right = server.Target();
  right.expected_cn = "broker-a";
  ASSERT_TRUE(client.Request(right, Get("/echo"), 5s));
  // Same address, another expected CN: a full handshake, and the CN check refuses it.
  HttpsTarget wrong = right;
  wrong.expected_cn = "RGT";
  auto refused = client.Request(wrong, Get("/echo"), 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(client.Stats().connections_resumed, 0u);
  // The right identity still resumes its own session.
  ASSERT_TRUE(client.Request(right, Get("/echo"), 5s));
  EXPECT_EQ(client.Stats().connections_resumed, 1u);
}

TEST(HttpsClient, AServerWithARevokedCertificateIsRefusedDespiteAStoredSession) {
  HttpsClient client(ClientTls(), NoPooling());
  HttpsTarget target;
  std::uint16_t port = 0;
  {
    TestServer good(TestPki::kBrokerA);
    target = good.Target();
    port = good.port();
    ASSERT_TRUE(client.Request(target, Get("/echo"), 5s));
    ASSERT_TRUE(client.Request(target, Get("/echo"), 5s));
    ASSERT_EQ(client.Stats().connections_resumed, 1u);  // sessions are stored and offered
  }
  // Another server on the same address, with a revoked certificate: it cannot resume the
  // session (its own ticket keys), and the full handshake checks the CRL.
  HttpServerSettings same_port;
  same_port.port = port;
  TestServer revoked(TestPki::kRevoked, same_port);
  ASSERT_EQ(revoked.port(), port);
  auto refused = client.Request(target, Get("/echo"), 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(refused.error().message.find("revoked"), std::string::npos) << refused.error().message;
  EXPECT_EQ(client.Stats().connections_resumed, 1u);
}

TEST(HttpsClient, ConnectionRefusedIsUpstreamUnavailable) {
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = acceptor.local_endpoint().port();
  }
  HttpsClient client(ClientTls());
  HttpsTarget target;
  target.host = "127.0.0.1";
  target.port = closed_port;
  auto response = client.Request(target, Get("/echo"), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(response.error().message.find("cannot connect"), std::string::npos)
      << response.error().message;
}

TEST(HttpsClient, RefusesServerCertificateFromAnotherCa) {
  TestServer server(TestPki::kWrongCa);
  HttpsClient client(ClientTls());
  auto response = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(response.error().message.find("server certificate"), std::string::npos)
      << response.error().message;
  EXPECT_EQ(server.requests(), 0);
}

TEST(HttpsClient, RefusesServerWithoutTheExpectedName) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  HttpsTarget target = server.Target();
  target.server_name = "rgt.example.nhs.uk";  // the certificate names localhost and 127.0.0.1
  auto response = client.Request(target, Get("/echo"), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(response.error().message.find("hostname mismatch"), std::string::npos)
      << response.error().message;

  target.server_name = "localhost";  // what the certificate does carry
  auto good = client.Request(target, Get("/echo"), 5s);
  EXPECT_TRUE(good) << good.error().message;
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpsClient, RefusesServerWithoutTheExpectedCn) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  HttpsTarget target = server.Target();
  target.expected_cn = "RGT";
  auto response = client.Request(target, Get("/echo"), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_NE(response.error().message.find("expected 'RGT'"), std::string::npos)
      << response.error().message;
  EXPECT_EQ(server.requests(), 0);
}

TEST(HttpsClient, ServerRefusesClientFromAnotherCa) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls(TestPki::kWrongCa));
  auto response = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(server.requests(), 0);
}

// A server that answers each request on one mutual-TLS connection with the next of `replies`
// (raw HTTP/1.1 text, so framings HttpsServer never writes can be sent), then ends the
// connection with a close_notify.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> replies)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    const TestPki& pki = TestPki::Get();
    auto tls = MakeServerContext(
        {pki.Cert(TestPki::kBrokerA), pki.Key(TestPki::kBrokerA), pki.CaCert(), pki.Crl()});
    EXPECT_TRUE(tls) << tls.error().message;
    tls_ = *tls;
    thread_ = std::thread([this, replies = std::move(replies)] { Serve(replies); });
  }
  ~ScriptedServer() { thread_.join(); }

  HttpsTarget Target() const {
    HttpsTarget target;
    target.host = "127.0.0.1";
    target.port = acceptor_.local_endpoint().port();
    return target;
  }

 private:
  void Serve(const std::vector<std::string>& replies) {
    asio::ssl::stream<asio::ip::tcp::socket> stream(io_, *tls_);
    boost::system::error_code ec;
    acceptor_.accept(stream.next_layer(), ec);
    if (!ec) {
      stream.handshake(asio::ssl::stream_base::server, ec);
    }
    for (const std::string& reply : replies) {
      asio::streambuf request;
      if (ec || asio::read_until(stream, request, "\r\n\r\n", ec) == 0 || ec) {
        ADD_FAILURE() << "no request: " << ec.message();
        return;
      }
      asio::write(stream, asio::buffer(reply), ec);
    }
    stream.shutdown(ec);  // close_notify; returns once the client has closed too
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::thread thread_;
};

// Framings the trusts' own server never uses: a chunked body, a HEAD answer's Content-Length
// without a body, a body that ends with the connection. Status, fields and body come through
// each time, the connection is reused while the server keeps it open, and a connection whose
// end closed the body is not pooled.
TEST(HttpsClient, ReadsChunkedHeadAndUntilCloseResponses) {
  ScriptedServer server({
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-One: a\r\nX-Two: b b\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX-Head: yes\r\n\r\n",
      "HTTP/1.1 203 Whatever\r\nContent-Type: text/plain\r\n\r\nuntil close",
  });
  HttpsClient client(ClientTls());
  auto chunked = client.Request(server.Target(), Get("/chunked"), 5s);
  ASSERT_TRUE(chunked) << chunked.error().message;
  EXPECT_EQ(chunked->status, 200);
  EXPECT_EQ(chunked->body, "hello world");
  EXPECT_EQ(chunked->headers.Get("X-One"), "a");
  EXPECT_EQ(chunked->headers.Get("X-Two"), "b b");
  EXPECT_EQ(chunked->headers.fields.size(), 3U);

  core::HttpRequest head = Get("/head");
  head.method = "HEAD";
  auto headed = client.Request(server.Target(), std::move(head), 5s);
  ASSERT_TRUE(headed) << headed.error().message;
  EXPECT_EQ(headed->status, 200);
  EXPECT_EQ(headed->body, "");
  EXPECT_EQ(headed->headers.Get("Content-Length"), "42");

  auto until_close = client.Request(server.Target(), Get("/until-close"), 5s);
  ASSERT_TRUE(until_close) << until_close.error().message;
  EXPECT_EQ(until_close->status, 203);
  EXPECT_EQ(until_close->body, "until close");
  const HttpsClientStats stats = client.Stats();
  EXPECT_EQ(stats.connections_opened, 1U);  // one connection for all three
  EXPECT_EQ(stats.connections_reused, 2U);
  EXPECT_EQ(stats.idle_connections, 0U);  // its end ended the last body: not pooled
}

TEST(HttpsClient, RefusesOversizeResponseBody) {
  TestServer server(TestPki::kBrokerA);
  HttpsClientSettings settings;
  settings.max_response_body_bytes = 1000;
  HttpsClient client(ClientTls(), settings);
  auto small = client.Request(server.Target(), Get("/big?n=1000"), 5s);
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_EQ(small->body.size(), 1000u);
  auto big = client.Request(server.Target(), Get("/big?n=1001"), 5s);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, core::ErrorCode::kTooLarge);
}

TEST(HttpsClient, ManyConcurrentRequestsOnOneIoContext) {
  TestServer server(TestPki::kBrokerA);
  IoThreads io(2);
  HttpsClientSettings settings;
  settings.max_idle_per_host = 4;
  HttpsClient client(io.io(), ClientTls(), settings);
  constexpr int kRequests = 64;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  std::mutex mutex;
  std::vector<std::string> errors;
  for (int i = 0; i < kRequests; ++i) {
    client.AsyncRequest(
        server.Target(), Get("/echo?i=" + std::to_string(i)),
        std::chrono::steady_clock::now() + 10s, [&, i](core::Result<core::HttpResponse> response) {
          if (response && response->body == "RJ1 GET /echo?i=" + std::to_string(i) + " ") {
            ++ok;
          } else {
            std::lock_guard lock(mutex);
            errors.push_back(response ? response->body : response.error().message);
          }
          ++done;
        });
  }
  ASSERT_TRUE(WaitFor([&] { return done.load() == kRequests; }, 20s));
  EXPECT_EQ(ok.load(), kRequests) << (errors.empty() ? "" : errors.front());
  const HttpsClientStats stats = client.Stats();
  EXPECT_EQ(stats.requests, static_cast<std::uint64_t>(kRequests));
  EXPECT_LE(stats.idle_connections, 4u);
  EXPECT_EQ(stats.connections_opened + stats.connections_reused,
            static_cast<std::uint64_t>(kRequests));
  // Once the burst is over, requests go over pooled connections.
  const std::uint64_t opened = stats.connections_opened;
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  EXPECT_EQ(client.Stats().connections_opened, opened);
}

// The broker's upstream pool with its default settings: 16 requests in flight to one trust (as
// with 16 client connections at the broker) must reuse the connections the first burst opened.
// With the old default of 8 idle connections per host, each later burst opened 8 new ones.
TEST(HttpsClient, DefaultPoolKeepsSixteenConcurrentRequestsOnTheirConnections) {
  TestServer server(TestPki::kBrokerA);
  IoThreads io(2);
  HttpsClient client(io.io(), ClientTls());
  // Sequential requests: one connection.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  }
  EXPECT_EQ(server.DistinctConnections(), 1u);
  // Bursts of 16 concurrent requests; each waits a little at the server so that they overlap.
  constexpr int kConcurrent = 16;
  constexpr int kBursts = 4;
  for (int burst = 0; burst < kBursts; ++burst) {
    std::atomic<int> ok{0};
    std::atomic<int> done{0};
    for (int i = 0; i < kConcurrent; ++i) {
      client.AsyncRequest(server.Target(), Get("/slow?ms=50"),
                          std::chrono::steady_clock::now() + 10s,
                          [&](core::Result<core::HttpResponse> response) {
                            ok += response && response->body == "late" ? 1 : 0;
                            ++done;
                          });
    }
    ASSERT_TRUE(WaitFor([&] { return done.load() == kConcurrent; }, 20s));
    ASSERT_EQ(ok.load(), kConcurrent) << "burst " << burst;
  }
  // Never more connections than requests in flight at once, however many bursts.
  EXPECT_LE(server.DistinctConnections(), static_cast<std::size_t>(kConcurrent));
  const HttpsClientStats stats = client.Stats();
  EXPECT_LE(stats.connections_opened, static_cast<std::uint64_t>(kConcurrent));
  EXPECT_EQ(stats.connections_opened + stats.connections_reused,
            static_cast<std::uint64_t>(4 + kConcurrent * kBursts));
  EXPECT_EQ(stats.idle_connections, stats.connections_opened);
}

// Sends `count` requests for `target` at once; waits for every answer.
std::vector<core::Result<core::HttpResponse>> Burst(HttpsClient& client, const HttpsTarget& to,
                                                    const std::string& target, int count,
                                                    std::chrono::milliseconds deadline) {
  std::mutex mutex;
  std::vector<core::Result<core::HttpResponse>> results;
  for (int i = 0; i < count; ++i) {
    client.AsyncRequest(to, Get(target), std::chrono::steady_clock::now() + deadline,
                        [&](core::Result<core::HttpResponse> response) {
                          std::lock_guard lock(mutex);
                          results.push_back(std::move(response));
                        });
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mutex);
        return results.size() == static_cast<std::size_t>(count);
      },
      20s));
  std::lock_guard lock(mutex);
  return results;
}

// max_connections_per_host: a burst larger than the limit shares the limit's connections,
// the rest of the requests waiting for each to answer.
TEST(HttpsClient, AtMostMaxConnectionsPerTargetTheRestWaitForOne) {
  TestServer server(TestPki::kBrokerA);
  IoThreads io(2);
  HttpsClientSettings settings;
  settings.max_connections_per_host = 2;
  HttpsClient client(io.io(), ClientTls(), settings);
  const auto results = Burst(client, server.Target(), "/slow?ms=100", 6, 10s);
  for (const auto& result : results) {
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->body, "late");
  }
  EXPECT_EQ(server.DistinctConnections(), 2u);
  const HttpsClientStats stats = client.Stats();
  EXPECT_EQ(stats.connections_opened, 2u);
  EXPECT_EQ(stats.waited_for_connection, 4u);
  EXPECT_EQ(stats.connections_reused, 4u);
}

// A server that closes each connection after one answer: each closed connection's place goes
// to the next waiting request, which opens a new one.
TEST(HttpsClient, AClosedConnectionsPlaceGoesToTheNextWaitingRequest) {
  HttpServerSettings one_each;
  one_each.max_requests_per_connection = 1;
  TestServer server(TestPki::kBrokerA, one_each);
  IoThreads io(2);
  HttpsClientSettings settings;
  settings.max_connections_per_host = 1;
  HttpsClient client(io.io(), ClientTls(), settings);
  const auto results = Burst(client, server.Target(), "/slow?ms=30", 3, 10s);
  for (const auto& result : results) {
    ASSERT_TRUE(result) << result.error().message;
  }
  EXPECT_EQ(server.DistinctConnections(), 3u);
  EXPECT_EQ(client.Stats().waited_for_connection, 2u);
}

// max_connections_per_host 1, and that connection busy with a slow request.
class OneBusyConnection : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpsClientSettings settings;
    settings.max_connections_per_host = 1;
    client_.emplace(io_.io(), ClientTls(), settings);
    client_->AsyncRequest(server_.Target(), Get("/slow?ms=1500"),
                          std::chrono::steady_clock::now() + 10s,
                          [this](core::Result<core::HttpResponse> response) {
                            slow_.set_value(std::move(response));
                          });
    ASSERT_TRUE(WaitFor([&] { return server_.requests() == 1; }));
  }

  TestServer server_{TestPki::kBrokerA};
  IoThreads io_{2};
  std::optional<HttpsClient> client_;
  std::promise<core::Result<core::HttpResponse>> slow_;
};

TEST_F(OneBusyConnection, ARequestStillWaitingForAConnectionAtItsDeadlineTimesOut) {
  const auto started = std::chrono::steady_clock::now();
  auto queued = client_->Request(server_.Target(), Get("/echo"), 200ms);
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(queued);
  EXPECT_EQ(queued.error().code, core::ErrorCode::kTimeout);
  EXPECT_NE(queued.error().message.find("came free within the deadline"), std::string::npos)
      << queued.error().message;
  EXPECT_LT(waited, 1s);  // at its own deadline, not when the connection came free
  auto first = slow_.get_future().get();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(server_.requests(), 1);  // the one that timed out was never sent
  // The place is there again for the next request.
  ASSERT_TRUE(client_->Request(server_.Target(), Get("/echo"), 5s));
}

TEST_F(OneBusyConnection, ShutdownAnswersTheRequestsWaitingForAConnection) {
  std::promise<core::Result<core::HttpResponse>> waiting;
  client_->AsyncRequest(server_.Target(), Get("/echo"), std::chrono::steady_clock::now() + 10s,
                        [&waiting](core::Result<core::HttpResponse> response) {
                          waiting.set_value(std::move(response));
                        });
  ASSERT_TRUE(WaitFor([&] { return client_->Stats().waited_for_connection == 1; }));
  client_->Shutdown();
  auto future = waiting.get_future();
  ASSERT_EQ(future.wait_for(3s), std::future_status::ready);
  auto answer = future.get();
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_FALSE(slow_.get_future().get());
}

class StaleRetry : public ::testing::TestWithParam<std::size_t> {};

// Also at max_connections_per_host 1, where the retry's new connection needs the place the stale
// one held.
TEST_P(StaleRetry, RetriesIdempotentRequestOnceWhenPooledConnectionWentStale) {
  HttpServerSettings short_idle;
  short_idle.idle_timeout = 100ms;  // the server closes idle connections quickly
  TestServer server(TestPki::kBrokerA, short_idle);
  HttpsClientSettings settings;
  settings.watch_idle_connections = false;  // so that the pooled connection goes stale
  settings.max_connections_per_host = GetParam();
  HttpsClient client(ClientTls(), settings);
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  ASSERT_EQ(client.Stats().idle_connections, 1u);
  ASSERT_TRUE(WaitFor([&] { return server.server().ActiveConnections() == 0; }));

  auto response = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(client.Stats().stale_retries, 1u);
  EXPECT_EQ(server.DistinctConnections(), 2u);
}

INSTANTIATE_TEST_SUITE_P(HttpsClient, StaleRetry, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<std::size_t>& param_info) {
                           return param_info.param == 0 ? std::string("NoConnectionLimit")
                                                        : std::string("OneConnectionAllowed");
                         });

TEST(HttpsClient, DoesNotRetryNonIdempotentRequestOnStaleConnection) {
  HttpServerSettings short_idle;
  short_idle.idle_timeout = 100ms;
  TestServer server(TestPki::kBrokerA, short_idle);
  HttpsClientSettings settings;
  settings.watch_idle_connections = false;
  HttpsClient client(ClientTls(), settings);
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  ASSERT_TRUE(WaitFor([&] { return server.server().ActiveConnections() == 0; }));

  core::HttpRequest post;
  post.method = "POST";
  post.target = "/echo";
  post.body = "message";
  auto response = client.Request(server.Target(), std::move(post), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kUpstreamUnavailable);
  EXPECT_EQ(client.Stats().stale_retries, 0u);
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpsClient, RetiresPooledConnectionAsSoonAsTheServerClosesIt) {
  HttpServerSettings short_idle;
  short_idle.idle_timeout = 100ms;
  TestServer server(TestPki::kBrokerA, short_idle);
  HttpsClient client(ClientTls());
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  // The server's close is noticed while pooled: no stale connection is left to retry on.
  EXPECT_TRUE(WaitFor([&] { return client.Stats().idle_connections == 0; }));
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  EXPECT_EQ(client.Stats().stale_retries, 0u);
  EXPECT_EQ(client.Stats().connections_opened, 2u);
}

TEST(HttpsClient, ServerStopIsNotHeldUpByPooledConnections) {
  auto server = std::make_unique<TestServer>(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  ASSERT_TRUE(client.Request(server->Target(), Get("/echo"), 5s));
  server->server().Stop();
  // The server sends close_notify to the idle connection; the pool answers it, so the server
  // need not wait out its shutdown timeout.
  EXPECT_TRUE(WaitFor([&] { return server->server().ActiveConnections() == 0; }, 5s));
  EXPECT_TRUE(WaitFor([&] { return client.Stats().idle_connections == 0; }));
}

TEST(HttpsClient, ClosesIdleConnectionsAfterExpiry) {
  TestServer server(TestPki::kBrokerA);
  HttpsClientSettings settings;
  settings.idle_expiry = 50ms;
  HttpsClient client(ClientTls(), settings);
  ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
  EXPECT_TRUE(WaitFor([&] { return client.Stats().idle_connections == 0; }));
  EXPECT_TRUE(WaitFor([&] { return server.server().ActiveConnections() == 0; }));
}

TEST(HttpsClient, IdleExpiryCountsFromTheLastParkNotTheFirst) {
  TestServer server(TestPki::kBrokerA);
  HttpsClientSettings settings;
  settings.idle_expiry = 600ms;
  HttpsClient client(ClientTls(), settings);
  // Used every 100 ms for over two expiry periods: the idle timer armed at the first park must
  // not close the connection that was parked again since.
  for (int i = 0; i < 14; ++i) {
    ASSERT_TRUE(client.Request(server.Target(), Get("/echo"), 5s));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(client.Stats().connections_opened, 1u);
  EXPECT_EQ(server.DistinctConnections(), 1u);
  // Left alone, it is still closed after its expiry.
  EXPECT_TRUE(WaitFor([&] { return client.Stats().idle_connections == 0; }));
  EXPECT_TRUE(WaitFor([&] { return server.server().ActiveConnections() == 0; }));
}

TEST(HttpsClient, ShutdownAbortsRequestsInFlightAndRefusesNewOnes) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  std::promise<core::Result<core::HttpResponse>> slow;
  client.AsyncRequest(
      server.Target(), Get("/slow?ms=3000"), std::chrono::steady_clock::now() + 10s,
      [&slow](core::Result<core::HttpResponse> response) { slow.set_value(std::move(response)); });
  ASSERT_TRUE(WaitFor([&] { return server.requests() == 1; }));
  client.Shutdown();
  auto aborted = slow.get_future().get();
  ASSERT_FALSE(aborted);
  EXPECT_EQ(aborted.error().code, core::ErrorCode::kUpstreamUnavailable);
  auto refused = client.Request(server.Target(), Get("/echo"), 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kUpstreamUnavailable);
}

TEST(HttpsClient, RejectsMalformedRequestsWithoutSending) {
  TestServer server(TestPki::kBrokerA);
  HttpsClient client(ClientTls());
  core::HttpRequest bad_target = Get("no-slash");
  auto response = client.Request(server.Target(), std::move(bad_target), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kInvalidValue);
  core::HttpRequest bad_header = Get("/echo");
  bad_header.headers.Set("X-Injected", "a\r\nX-Evil: 1");
  response = client.Request(server.Target(), std::move(bad_header), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kInvalidValue);
  core::HttpRequest trace_with_body = Get("/echo");
  trace_with_body.method = "TRACE";
  trace_with_body.body = "x";
  response = client.Request(server.Target(), std::move(trace_with_body), 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(server.requests(), 0);
}

TEST(HttpsClient, BlockingRequestFromIoThreadIsRefusedNotDeadlocked) {
  TestServer server(TestPki::kBrokerA);
  IoThreads io(1);
  HttpsClient client(io.io(), ClientTls());
  std::promise<core::Result<core::HttpResponse>> result;
  asio::post(io.io(), [&] { result.set_value(client.Request(server.Target(), Get("/echo"), 5s)); });
  auto response = result.get_future().get();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kInternal);
}

TEST(ParseHttpsUrl, SplitsParticipantBaseUrls) {
  auto url = ParseHttpsUrl("https://127.0.0.1:9201/fhir");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->target.host, "127.0.0.1");
  EXPECT_EQ(url->target.port, 9201);
  EXPECT_EQ(url->path, "/fhir");

  url = ParseHttpsUrl("HTTPS://rgt.example.nhs.uk/fhir/R4/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target.host, "rgt.example.nhs.uk");
  EXPECT_EQ(url->target.port, 443);
  EXPECT_EQ(url->path, "/fhir/R4");

  url = ParseHttpsUrl("https://[::1]:8443");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target.host, "::1");
  EXPECT_EQ(url->target.port, 8443);
  EXPECT_EQ(url->path, "");
  EXPECT_EQ(url->target.ToString(), "[::1]:8443");

  for (const char* bad :
       {"http://127.0.0.1/fhir", "https://", "https://:443/fhir", "https://host:/x",
        "https://host:0", "https://host:70000", "https://host:8a", "https://user@host/fhir",
        "https://host/fhir?x=1", "https://host/fhir#a", "https://[::1/fhir", "https://[::1]x",
        "127.0.0.1:9201"}) {
    auto parsed = ParseHttpsUrl(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, core::ErrorCode::kInvalidValue);
    }
  }
}

}  // namespace
}  // namespace tb::net
