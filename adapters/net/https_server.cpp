#include "adapters/net/https_server.h"

#include <atomic>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "adapters/net/accept_loop.h"
#include "adapters/net/listener.h"
#include "adapters/net/peer_identity.h"
#include "adapters/net/request_id.h"
#include "broker/core/log.h"

namespace tb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;

std::atomic<std::uint64_t> g_next_connection_id{1};

// True for the errors that mean "the peer went away", which are normal and not worth a warning.
bool IsNormalClose(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == http::error::end_of_stream;
}

std::string ToString(std::uint64_t id) { return "c" + std::to_string(id); }

// A field that would end early or start another: dropped rather than written (no injection).
bool IsFieldText(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The fields the server writes itself; a handler's own copy is dropped.
bool IsServerField(std::string_view name) {
  return beast::iequals(name, "Content-Length") || beast::iequals(name, "Connection") ||
         beast::iequals(name, "Transfer-Encoding") || beast::iequals(name, "X-Request-ID") ||
         beast::iequals(name, "Server");
}

// Statuses whose responses never carry a body (RFC 9110 6.4.1): no Content-Length either.
bool HasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

// Written by hand rather than with Beast's message and serializer: no field list allocated per
// response, and the head and a small body go out in one SSL_write (Session::Write).
std::size_t AppendResponseHead(std::string& head, const core::HttpResponse& response,
                               std::string_view request_id, bool keep_alive) {
  head.clear();
  const auto status = static_cast<unsigned>(response.status);
  head.append("HTTP/1.1 ")
      .append(std::to_string(status))
      .append(" ")
      .append(http::obsolete_reason(http::int_to_status(status)))
      .append("\r\n");
  std::size_t dropped = 0;
  bool cache_control = false;
  const auto& fields = response.headers.fields;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto& [name, value] = fields[i];
    if (IsServerField(name)) {
      continue;
    }
    bool repeated_later = false;
    for (std::size_t j = i + 1; j < fields.size() && !repeated_later; ++j) {
      repeated_later = beast::iequals(fields[j].first, name);
    }
    if (repeated_later) {
      continue;
    }
    if (name.empty() || !IsFieldText(name) || !IsFieldText(value) ||
        name.find_first_of(": \t") != std::string::npos) {
      ++dropped;
      continue;
    }
    cache_control = cache_control || beast::iequals(name, "Cache-Control");
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (!cache_control) {
    head.append("Cache-Control: no-store\r\n");
  }
  head.append("X-Request-ID: ").append(request_id).append("\r\n");
  head.append("Server: trustbridge\r\n");
  if (!HasNoBody(response.status)) {
    head.append("Content-Length: ").append(std::to_string(response.body.size())).append("\r\n");
  }
  if (!keep_alive) {
    head.append("Connection: close\r\n");
  }
  head.append("\r\n");
  return dropped;
}

class HttpsServer::Impl : public std::enable_shared_from_this<HttpsServer::Impl> {
 public:
  class Session;

  Impl(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
       HttpServerSettings settings, HttpHandler handler, ErrorRenderer render_error)
      : io_context_(io_context),
        tls_(std::move(tls)),
        settings_(std::move(settings)),
        handler_(std::move(handler)),
        render_error_(std::move(render_error)),
        log_(settings_.component) {}

  core::Result<std::uint16_t> Start();
  void Stop();
  std::size_t ActiveConnections() const { return sessions_.Size(); }

  bool stopping() const { return stopping_.load(); }

  asio::io_context& io_context_;
  std::shared_ptr<asio::ssl::context> tls_;
  const HttpServerSettings settings_;
  const HttpHandler handler_;
  const ErrorRenderer render_error_;
  std::shared_ptr<AcceptLoop> accept_;  // set by Start
  core::Logger log_;
  std::atomic<bool> stopping_{false};
  SessionRegistry<Session> sessions_;
};

// One TLS connection. All state is touched only on the connection's strand.
class HttpsServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Impl> server, tcp::socket socket, ConnectionSlot slot)
      : server_(std::move(server)),
        slot_(std::move(slot)),
        stream_(std::move(socket), *server_->tls_),
        id_(g_next_connection_id.fetch_add(1)) {
    beast::error_code ec;
    const auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    }
  }

  void Run() {
    server_->sessions_.Register(id_, weak_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Handshake(); });
  }

  // Called by Stop(), from any thread.
  void RequestClose() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (self->idle_) {
        // Waiting for a request: interrupt the read; OnHeader then shuts the session down.
        beast::get_lowest_layer(self->stream_).socket().cancel();
      }
    });
  }

  ~Session() { server_->sessions_.Unregister(id_); }

 private:
  void Handshake() {
    beast::get_lowest_layer(stream_).expires_after(server_->settings_.handshake_timeout);
    stream_.async_handshake(
        asio::ssl::stream_base::server,
        [self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // Refused at the handshake: no certificate, unknown CA, expired or revoked certificate,
      // old protocol, or plaintext on a TLS port. Nothing was served.
      server_->log_.Warn("tls_handshake_refused",
                         {{"conn", ToString(id_)}, {"remote", remote_}, {"reason", ec.message()}});
      return;  // socket closes when the session is destroyed
    }
    peer_ = ExtractPeerIdentity(stream_.native_handle());
    peer_.remote_address = remote_;
    server_->log_.Info("tls_connected", {{"conn", ToString(id_)},
                                         {"remote", remote_},
                                         {"peer_cn", peer_.subject_cn},
                                         {"tls", SSL_get_version(stream_.native_handle())}});
    ReadHeader();
  }

  void ReadHeader() {
    if (closing_ || server_->stopping()) {
      Shutdown();
      return;
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->settings_.header_limit));
    parser_->body_limit(server_->settings_.body_limit);
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(server_->settings_.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    idle_ = false;
    if (ec) {
      OnReadError(ec);
      return;
    }
    if (parser_->is_done()) {
      // No body (a GET), or all of it came with the header: nothing left to read, so no read
      // operation is started only to complete at once through another hand-off.
      OnRequest({});
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(server_->settings_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code read_ec, std::size_t) {
                       self->OnRequest(read_ec);
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (IsNormalClose(ec) || ec == http::error::partial_message || closing_) {
      // The peer closed (or we are stopping): nobody to answer.
      Shutdown();
    } else if (ec == http::error::body_limit) {
      Refuse(core::MakeError(core::ErrorCode::kTooLarge, "request body exceeds the limit"), 413);
    } else if (ec == http::error::header_limit) {
      Refuse(core::MakeError(core::ErrorCode::kTooLarge, "request header exceeds the limit"), 431);
    } else if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      Refuse(core::MakeError(core::ErrorCode::kInvalidValue, "malformed HTTP request"), 400);
    } else {
      server_->log_.Warn("read_failed", {{"conn", ToString(id_)}, {"reason", ec.message()}});
    }
  }

  void OnRequest(beast::error_code ec) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    ++requests_;

    core::HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.fields.emplace_back(std::string(field.name_string()),
                                          std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.peer = peer_;
    request.connection_id = id_;
    request_id_ = AcceptOrMakeRequestId(request.headers.Get("X-Request-ID"));
    request.headers.Set("X-Request-ID", request_id_);
    method_ = request.method;
    path_ = std::string(request.Path());
    started_ = std::chrono::steady_clock::now();

    // The responder may be called from any thread; it hops back onto this strand. If the
    // handler drops it unanswered, the guard answers 500 so the client is never left hanging.
    auto guard = std::make_shared<ResponseGuard>(shared_from_this());
    server_->handler_(std::move(request),
                      [guard](core::HttpResponse response) { guard->Answer(std::move(response)); });
  }

  struct ResponseGuard {
    explicit ResponseGuard(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    ~ResponseGuard() {
      if (!answered_.exchange(true)) {
        session_->server_->log_.Error("handler_dropped_request",
                                      {{"conn", ToString(session_->id_)}});
        Post(session_->server_->render_error_(
            core::MakeError(core::ErrorCode::kInternal, "the request was not answered")));
      }
    }
    void Answer(core::HttpResponse response) {
      if (!answered_.exchange(true)) {
        Post(std::move(response));
      }
    }
    void Post(core::HttpResponse response) {
      asio::post(session_->stream_.get_executor(),
                 [session = session_, response = std::move(response)]() mutable {
                   session->Write(std::move(response));
                 });
    }
    std::shared_ptr<Session> session_;
    std::atomic<bool> answered_{false};
  };

  void Refuse(const core::Error& error, int status) {
    keep_alive_ = false;
    method_ = "-";
    path_ = "-";
    request_id_ = AcceptOrMakeRequestId({});
    started_ = std::chrono::steady_clock::now();
    core::HttpResponse response = server_->render_error_(error);
    response.status = status;
    Write(std::move(response));
  }

  void Write(core::HttpResponse response) {
    const bool keep_alive = keep_alive_ && !closing_ && !server_->stopping() &&
                            requests_ < server_->settings_.max_requests_per_connection;
    if (HasNoBody(response.status) && !response.body.empty()) {
      server_->log_.Error("response_body_dropped", {{"conn", ToString(id_)},
                                                    {"request_id", request_id_},
                                                    {"status", std::to_string(response.status)}});
      response.body.clear();
    }
    if (const std::size_t dropped = AppendResponseHead(out_, response, request_id_, keep_alive);
        dropped != 0) {
      server_->log_.Warn("response_fields_dropped", {{"conn", ToString(id_)},
                                                     {"request_id", request_id_},
                                                     {"fields", std::to_string(dropped)}});
    }
    if (method_ == "HEAD") {
      // RFC 9110 section 9.3.2: the head a GET would get (its Content-Length included), never
      // the body. On a kept-alive connection a body would be read as the next response.
      response.body.clear();
    }

    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    server_->log_.InfoBatched("http_request", {{"conn", ToString(id_)},
                                               {"request_id", request_id_},
                                               {"participant", peer_.subject_cn},
                                               {"method", method_},
                                               {"path", path_},
                                               {"status", std::to_string(response.status)},
                                               {"us", std::to_string(elapsed.count())}});

    beast::get_lowest_layer(stream_).expires_after(server_->settings_.write_timeout);
    auto done = [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      std::string().swap(self->body_);  // a large body's memory is not kept by the connection
      self->OnWrite(ec, keep_alive);
    };
    if (response.body.size() <= kCoalescedBody) {
      // Head and body in one buffer: one TLS record, one SSL_write, one send.
      out_.append(response.body);
      asio::async_write(stream_, asio::buffer(out_), std::move(done));
      return;
    }
    // A large body is not copied behind the head: the two go out one after the other.
    // (Not a std::array of two: Asio's write_op for that type ended after the first buffer
    // through Beast's ssl_stream, which writes the small head alone.)
    body_ = std::move(response.body);
    const std::vector<asio::const_buffer> buffers{asio::buffer(out_), asio::buffer(body_)};
    asio::async_write(stream_, buffers, std::move(done));
  }

  void OnWrite(beast::error_code ec, bool keep_alive) {
    if (ec) {
      if (!IsNormalClose(ec)) {
        server_->log_.Warn("write_failed", {{"conn", ToString(id_)}, {"reason", ec.message()}});
      }
      return;
    }
    if (!keep_alive) {
      Shutdown();
      return;
    }
    ReadHeader();
  }

  void Shutdown() {
    if (shutting_down_) {
      return;
    }
    shutting_down_ = true;
    beast::get_lowest_layer(stream_).expires_after(server_->settings_.shutdown_timeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  // Bodies up to this size are copied behind the head and written with it (a TLS record
  // holds 16 KiB); larger ones are written from their own buffer.
  static constexpr std::size_t kCoalescedBody = 16 * 1024;

  std::shared_ptr<Impl> server_;
  ConnectionSlot slot_;  // this connection's place under max_connections
  Stream stream_;
  const std::uint64_t id_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::string out_;   // the response being written: head (and a small body); reused
  std::string body_;  // a large response body while it is written
  std::optional<http::request_parser<http::string_body>> parser_;
  core::PeerIdentity peer_;
  std::string request_id_;
  std::string method_;
  std::string path_;
  std::chrono::steady_clock::time_point started_;
  std::size_t requests_ = 0;
  bool keep_alive_ = true;
  bool idle_ = false;
  bool closing_ = false;
  bool shutting_down_ = false;
};

core::Result<std::uint16_t> HttpsServer::Impl::Start() {
  tcp::acceptor acceptor(asio::make_strand(io_context_));
  auto bound = OpenAcceptor(acceptor, settings_.address, settings_.port, "listen");
  if (!bound) {
    return bound.error();
  }
  const std::uint16_t port = *bound;
  log_.Info("listening", {{"address", settings_.address},
                          {"port", std::to_string(port)},
                          {"max_connections", std::to_string(settings_.max_connections)}});
  // The loop holds the server weakly: a session, not the acceptor, keeps it alive.
  accept_ = AcceptLoop::Create(
      std::move(acceptor), io_context_, AcceptSettings{settings_.max_connections}, log_,
      [weak = weak_from_this()](tcp::socket socket, ConnectionSlot slot) {
        auto self = weak.lock();
        if (self && !self->stopping()) {
          std::make_shared<Session>(self, std::move(socket), std::move(slot))->Run();
        }
      });
  accept_->Start();
  return port;
}

void HttpsServer::Impl::Stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  if (accept_) {
    accept_->Stop();
  }
  const std::vector<std::shared_ptr<Session>> live = sessions_.Live();
  for (const auto& session : live) {
    session->RequestClose();
  }
  log_.Info("stopping", {{"connections", std::to_string(live.size())}});
}

HttpsServer::HttpsServer(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
                         HttpServerSettings settings, HttpHandler handler,
                         ErrorRenderer render_error)
    : impl_(std::make_shared<Impl>(io_context, std::move(tls), std::move(settings),
                                   std::move(handler), std::move(render_error))) {}

HttpsServer::~HttpsServer() { impl_->Stop(); }

core::Result<std::uint16_t> HttpsServer::Start() { return impl_->Start(); }
void HttpsServer::Stop() { impl_->Stop(); }
std::size_t HttpsServer::ActiveConnections() const { return impl_->ActiveConnections(); }

}  // namespace tb::net
