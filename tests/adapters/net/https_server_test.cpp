// Loopback integration tests of the mutual-TLS HTTPS listener: real sockets, real OpenSSL,
// certificates from the test PKI (certs/make-dev-pki.sh).
#include "adapters/net/https_server.h"

#include <algorithm>
#include <sched.h>
#include <thread>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "adapters/net/server_runtime.h"
#include "adapters/net/tls_context.h"
#include "broker/core/pem_passphrase.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::net {
namespace {

using testing::HttpsClientOptions;
using testing::HttpsRequest;
using testing::TestPki;

core::HttpResponse Render(const core::Error& error) {
  core::HttpResponse response;
  response.status = core::Info(error.code).http_status;
  response.body = error.message;
  return response;
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(HttpServerSettings{}); }

  void StartServer(HttpServerSettings settings) {
    const TestPki& pki = TestPki::Get();
    auto tls =
        MakeServerContext({pki.Cert("broker-a"), pki.Key("broker-a"), pki.CaCert(), pki.Crl()});
    ASSERT_TRUE(tls) << tls.error().message;
    settings.address = "127.0.0.1";
    settings.port = 0;
    server_ = std::make_unique<HttpsServer>(
        io_context_, *tls, settings,
        [this](core::HttpRequest request, Responder respond) {
          ++requests_;
          core::HttpResponse response;
          response.body = "hello " + request.peer.subject_cn + " " + request.method + " " +
                          request.target + " " + std::to_string(request.body.size());
          if (request.target == "/drop") {
            return;  // never answered: the guard must answer 500
          }
          if (request.target == "/fields") {
            response.headers.fields = {{"Content-Type", "application/fhir+json"},
                                       {"X-Twice", "first"},
                                       {"Server", "not-this"},
                                       {"X-Split", "a\r\nX-Injected: 1"},
                                       {"x-twice", "second"},
                                       {"Content-Length", "9999"}};
          }
          if (request.target == "/large") {
            response.body.assign(100 * 1024 + 7, 'x');  // written apart from the head
          }
          if (request.target == "/later") {
            // Answer from another thread, as blocking work on a pool would.
            std::thread([respond, response]() mutable { respond(std::move(response)); }).detach();
            return;
          }
          respond(std::move(response));
        },
        &Render);
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    thread_ = std::thread([this] { io_context_.run(); });
  }

  void TearDown() override {
    if (server_) {
      server_->Stop();
      EXPECT_TRUE(testing::WaitFor([this] { return server_->ActiveConnections() == 0; }));
    }
    io_context_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  HttpsClientOptions As(const std::string& name) const {
    const TestPki& pki = TestPki::Get();
    return HttpsClientOptions{pki.CaCert(), pki.Cert(name), pki.Key(name)};
  }

  boost::asio::io_context io_context_;
  std::unique_ptr<HttpsServer> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
};

TEST_F(HttpsServerTest, AcceptsValidClientCertificateAndExposesIdentity) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("RJ1"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "hello RJ1 GET /fhir/metadata 0");
  EXPECT_EQ(result.Header("Cache-Control"), "no-store");
  EXPECT_EQ(result.Header("X-Request-ID").size(), 32u);
}

TEST_F(HttpsServerTest, EchoesAcceptableRequestIdAndReplacesHostileOne) {
  auto kept = HttpsRequest("127.0.0.1", port_, "GET", "/", As("RJ1"), {{"X-Request-ID", "abc-1"}});
  EXPECT_EQ(kept.Header("X-Request-ID"), "abc-1");
  auto replaced =
      HttpsRequest("127.0.0.1", port_, "GET", "/", As("RJ1"), {{"X-Request-ID", "bad id\"{}"}});
  EXPECT_NE(replaced.Header("X-Request-ID"), "bad id\"{}");
  EXPECT_EQ(replaced.Header("X-Request-ID").size(), 32u);
}

TEST_F(HttpsServerTest, WritesTheHandlersFieldsAndItsOwn) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fields", As("RJ1"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "hello RJ1 GET /fields 0");  // framed by the real length, not 9999
  EXPECT_EQ(result.Header("Content-Type"), "application/fhir+json");
  EXPECT_EQ(result.Header("X-Twice"), "second");  // the last of a repeated name
  EXPECT_EQ(result.Header("Server"), "trustbridge");
  EXPECT_EQ(result.Header("X-Split"), "");  // dropped, and nothing injected
  EXPECT_EQ(result.Header("X-Injected"), "");
  EXPECT_EQ(result.Header("Cache-Control"), "no-store");
}

TEST_F(HttpsServerTest, WritesALargeBodyWhole) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/large", As("RJ1"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, std::string(100 * 1024 + 7, 'x'));
}

// A request without a body is handled as soon as its header is read; one with a body only once
// all of it arrived.
TEST_F(HttpsServerTest, HandlesRequestsWithAndWithoutABody) {
  auto get = HttpsRequest("127.0.0.1", port_, "GET", "/g", As("RJ1"));
  EXPECT_EQ(get.body, "hello RJ1 GET /g 0");
  auto post = HttpsRequest("127.0.0.1", port_, "POST", "/p", As("RJ1"),
                           {{"Content-Type", "application/x-www-form-urlencoded"}},
                           std::string(70 * 1024, 'a'));
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "hello RJ1 POST /p " + std::to_string(70 * 1024));
}

TEST(ResponseHead, StatusLineFieldsAndFraming) {
  core::HttpResponse response;
  response.status = 201;
  response.body = "{}";
  response.headers.fields = {{"Location", "/fhir/Consent/c1"}, {"Cache-Control", "private"}};
  std::string head = "left over";
  EXPECT_EQ(AppendResponseHead(head, response, "r-1", true), 0U);
  EXPECT_EQ(head,
            "HTTP/1.1 201 Created\r\nLocation: /fhir/Consent/c1\r\nCache-Control: private\r\n"
            "X-Request-ID: r-1\r\nServer: trustbridge\r\nContent-Length: 2\r\n\r\n");
  response.headers.fields.clear();
  AppendResponseHead(head, response, "r-2", false);
  EXPECT_EQ(head,
            "HTTP/1.1 201 Created\r\nCache-Control: no-store\r\nX-Request-ID: r-2\r\n"
            "Server: trustbridge\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
}

TEST(ResponseHead, NoContentLengthWhereNoBodyMayFollow) {
  for (const int status : {101, 204, 304}) {
    core::HttpResponse response;
    response.status = status;
    std::string head;
    AppendResponseHead(head, response, "r", true);
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    EXPECT_EQ(head.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0U) << head;
  }
}

TEST(ResponseHead, DropsFieldsThatWouldSplitTheHead) {
  core::HttpResponse response;
  response.headers.fields = {{"X-A", "ok"},       {"X-B", "one\ntwo"}, {"X-C\r\nX-D", "v"},
                             {"", "empty name"},  {"X E", "space"},    {"X-F", {"nul\0", 4}},
                             {"X-G", "tab\tkept"}};
  std::string head;
  EXPECT_EQ(AppendResponseHead(head, response, "r", true), 5U);
  EXPECT_NE(head.find("\r\nX-A: ok\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-G: tab\tkept\r\n"), std::string::npos);
  EXPECT_EQ(head.find("two"), std::string::npos);
  EXPECT_EQ(head.find("X-D"), std::string::npos);
  EXPECT_EQ(head.find("space"), std::string::npos);
  EXPECT_EQ(head.find("nul"), std::string::npos);
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);  // the head ends once, at its end
}

TEST_F(HttpsServerTest, RefusesClientWithoutCertificateAtHandshake) {
  HttpsClientOptions options = As("RJ1");
  options.cert.clear();
  options.key.clear();
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", options);
  EXPECT_FALSE(result.connected);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, RefusesCertificateFromUnknownCa) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("wrong-ca"));
  EXPECT_FALSE(result.connected);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, RefusesExpiredCertificate) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("expired"));
  EXPECT_FALSE(result.connected);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, RefusesRevokedCertificate) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", As("revoked"));
  EXPECT_FALSE(result.connected);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, RefusesTls11) {
  HttpsClientOptions options = As("RJ1");
  options.max_tls_version = TLS1_1_VERSION;
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/fhir/metadata", options);
  EXPECT_FALSE(result.connected);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, AcceptsTls12AndTls13) {
  HttpsClientOptions tls12 = As("RJ1");
  tls12.max_tls_version = TLS1_2_VERSION;
  tls12.min_tls_version = TLS1_2_VERSION;
  EXPECT_EQ(HttpsRequest("127.0.0.1", port_, "GET", "/", tls12).status, 200);
  HttpsClientOptions tls13 = As("RJ1");
  tls13.min_tls_version = TLS1_3_VERSION;
  EXPECT_EQ(HttpsRequest("127.0.0.1", port_, "GET", "/", tls13).status, 200);
}

TEST_F(HttpsServerTest, RefusesPlaintextOnTlsPort) {
  // A plain HTTP request to the TLS port must never be served.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  const std::string plain = "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(plain));
  char buffer[512];
  boost::system::error_code ec;
  const std::size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
  const std::string reply(buffer, ec ? 0 : n);
  EXPECT_EQ(reply.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, AnswersFromAnotherThread) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/later", As("RJ1"));
  EXPECT_EQ(result.status, 200);
}

TEST_F(HttpsServerTest, DroppedRequestGets500NotAHang) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/drop", As("RJ1"));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 500);
}

TEST_F(HttpsServerTest, RejectsOversizeBodyWith413) {
  TearDown();
  io_context_.restart();
  HttpServerSettings settings;
  settings.body_limit = 1024;
  StartServer(settings);
  auto result =
      HttpsRequest("127.0.0.1", port_, "POST", "/fhir/x", As("RJ1"), {}, std::string(4096, 'x'));
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 413);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, ServesSeveralRequestsOnOneKeepAliveConnection) {
  boost::asio::io_context io;
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  const TestPki& pki = TestPki::Get();
  tls.load_verify_file(pki.CaCert().string());
  tls.use_certificate_chain_file(pki.Cert("RJ1").string());
  tls.use_private_key_file(pki.Key("RJ1").string(), boost::asio::ssl::context::pem);
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(io, tls);
  stream.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  stream.handshake(boost::asio::ssl::stream_base::client);
  const std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    boost::asio::write(stream, boost::asio::buffer(request));
    boost::asio::streambuf reply;
    boost::asio::read_until(stream, reply, "GET /a 0");
  }
  EXPECT_EQ(requests_.load(), 3);
  EXPECT_EQ(server_->ActiveConnections(), 1u);
}

// RFC 9110 section 9.3.2: HEAD gets GET's head, Content-Length included, and no body. Before,
// the body was written too, and on a kept-alive connection the client read it as the start of
// the next response.
TEST_F(HttpsServerTest, HeadGetsTheHeadWithoutTheBodyAndTheConnectionStaysInStep) {
  boost::asio::io_context io;
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  const TestPki& pki = TestPki::Get();
  tls.load_verify_file(pki.CaCert().string());
  tls.use_certificate_chain_file(pki.Cert("RJ1").string());
  tls.use_private_key_file(pki.Key("RJ1").string(), boost::asio::ssl::context::pem);
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(io, tls);
  stream.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  stream.handshake(boost::asio::ssl::stream_base::client);

  boost::asio::streambuf reply;
  const std::string head_request = "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(stream, boost::asio::buffer(head_request));
  const std::size_t head_size = boost::asio::read_until(stream, reply, "\r\n\r\n");
  const std::string head(
      boost::asio::buffers_begin(reply.data()),
      boost::asio::buffers_begin(reply.data()) + static_cast<std::ptrdiff_t>(head_size));
  reply.consume(head_size);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  // The length of the body a GET would get ("hello RJ1 HEAD /a 0"), though none follows.
  EXPECT_NE(head.find("Content-Length: 19\r\n"), std::string::npos) << head;

  const std::string get_request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(stream, boost::asio::buffer(get_request));
  boost::asio::read_until(stream, reply, "GET /a 0");
  const std::string rest(boost::asio::buffers_begin(reply.data()),
                         boost::asio::buffers_end(reply.data()));
  EXPECT_EQ(rest.rfind("HTTP/1.1 200", 0), 0u) << rest;
  EXPECT_EQ(requests_.load(), 2);
  EXPECT_EQ(server_->ActiveConnections(), 1u);
}

TEST_F(HttpsServerTest, RejectsOversizeHeaderWith431) {
  auto result = HttpsRequest("127.0.0.1", port_, "GET", "/", As("RJ1"),
                             {{"X-Padding", std::string(32 * 1024, 'h')}});
  ASSERT_TRUE(result.connected) << result.error;
  EXPECT_EQ(result.status, 431);
  EXPECT_EQ(requests_.load(), 0);
}

TEST_F(HttpsServerTest, StopClosesIdleKeepAliveConnections) {
  // Open a connection and leave it idle; Stop() must not wait for the idle timeout.
  boost::asio::io_context io;
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  const TestPki& pki = TestPki::Get();
  tls.load_verify_file(pki.CaCert().string());
  tls.use_certificate_chain_file(pki.Cert("RJ1").string());
  tls.use_private_key_file(pki.Key("RJ1").string(), boost::asio::ssl::context::pem);
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(io, tls);
  stream.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  stream.handshake(boost::asio::ssl::stream_base::client);
  ASSERT_TRUE(testing::WaitFor([this] { return server_->ActiveConnections() == 1; }));
  server_->Stop();
  EXPECT_TRUE(testing::WaitFor([this] { return server_->ActiveConnections() == 0; },
                               std::chrono::seconds(3)));
}

// One connection's place is held for the connection's whole life: at the limit the next
// client's handshake waits in the listen backlog, and goes ahead once the first closes.
TEST_F(HttpsServerTest, AtMaxConnectionsTheNextHandshakeWaitsForAPlace) {
  server_->Stop();
  ASSERT_TRUE(testing::WaitFor([this] { return server_->ActiveConnections() == 0; }));
  io_context_.stop();
  thread_.join();
  io_context_.restart();
  HttpServerSettings settings;
  settings.max_connections = 1;
  StartServer(settings);

  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  const TestPki& pki = TestPki::Get();
  tls.load_verify_file(pki.CaCert().string());
  tls.use_certificate_chain_file(pki.Cert("RJ1").string());
  tls.use_private_key_file(pki.Key("RJ1").string(), boost::asio::ssl::context::pem);
  boost::asio::io_context io;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> first(io, tls);
  first.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  first.handshake(boost::asio::ssl::stream_base::client);
  ASSERT_TRUE(testing::WaitFor([this] { return server_->ActiveConnections() == 1; }));

  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> second(io, tls);
  second.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port_});
  std::atomic<bool> handshaken{false};
  boost::system::error_code handshake_error;
  std::thread handshake([&] {
    second.handshake(boost::asio::ssl::stream_base::client, handshake_error);
    handshaken = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const bool early = handshaken.load();
  EXPECT_FALSE(early) << "the second connection was served beside the first";
  EXPECT_EQ(server_->ActiveConnections(), 1u);

  first.next_layer().close();  // the first goes away: its place is free
  const bool served = testing::WaitFor([&] { return handshaken.load(); });
  if (!served) {
    second.next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both);
  }
  handshake.join();
  ASSERT_TRUE(served);
  ASSERT_FALSE(handshake_error) << handshake_error.message();
  const std::string request = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(second, boost::asio::buffer(request));
  boost::asio::streambuf reply;
  boost::asio::read_until(second, reply, "GET /b 0");
}

// The default number of I/O threads follows the CPUs the process may use (`taskset -c 1`
// confines it to one), not the machine's count.
TEST(UsableCpus, CountsTheAffinityMaskNotTheMachine) {
  const unsigned all = UsableCpus();
  EXPECT_GE(all, 1U);
  EXPECT_LE(all, std::max(1U, std::thread::hardware_concurrency()));
  unsigned confined_count = 0;
  std::thread confined([&confined_count] {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    int first = 0;
    while (!CPU_ISSET(first, &allowed)) {
      ++first;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread only
    confined_count = UsableCpus();
  });
  confined.join();
  EXPECT_EQ(confined_count, 1U);
}

// OpenSSL's default would prompt for the passphrase on the terminal and wait (or read stdin); a
// broker started as a service must fail at once with a config error naming the file.
TEST(TlsContext, AnEncryptedKeyIsAConfigErrorNotAPassphrasePrompt) {
  const TestPki& pki = TestPki::Get();
  tb::testing::TempDir dir;
  const std::filesystem::path encrypted = dir / "broker-a.key";
  tb::testing::WriteFile(encrypted, pki.EncryptedKeyPem("broker-a", "secret"));
  auto refused = MakeServerContext({pki.Cert("broker-a"), encrypted, pki.CaCert(), pki.Crl()});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kConfig);
  EXPECT_NE(refused.error().message.find("cannot load private key"), std::string::npos);

  auto server =
      MakeServerContext({pki.Cert("broker-a"), pki.Key("broker-a"), pki.CaCert(), pki.Crl()});
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(SSL_CTX_get_default_passwd_cb((*server)->native_handle()), &core::NoPemPassphrase);
  auto client = MakeClientContext({pki.Cert("RJ1"), pki.Key("RJ1"), pki.CaCert(), pki.Crl()});
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_EQ(SSL_CTX_get_default_passwd_cb((*client)->native_handle()), &core::NoPemPassphrase);
}

}  // namespace
}  // namespace tb::net
