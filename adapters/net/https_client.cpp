#include "adapters/net/https_client.h"

#include <atomic>
#include <cerrno>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "adapters/net/peer_identity.h"
#include "broker/core/log.h"

namespace tb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// Every operation of a connection runs on its strand: naming the strand's type (instead of
// any_io_executor) spares each layer of each read and write a type-erased executor copy.
using Strand = asio::strand<asio::io_context::executor_type>;
using TcpStream = beast::basic_stream<tcp, Strand>;
using Stream = beast::ssl_stream<TcpStream>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Strand>;
using SteadyClock = std::chrono::steady_clock;
using core::ErrorCode;
using core::MakeError;

std::atomic<std::uint64_t> g_next_connection_id{1};

// SSL_set_tlsext_host_name is a macro with an old-style cast; this is what it expands to.
bool SetSni(SSL* ssl, const std::string& name) {
  return SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(name.c_str())) == 1;
}

// True when the socket has no byte and no end of stream waiting: a readiness report for it was
// stale. A peek without waiting, so neither the TLS state nor the socket's mode changes.
bool NothingToRead(int socket) {
  char byte = 0;
  const ssize_t got = ::recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Parses a response straight into a core::HttpResponse: each field is appended as it is read,
// instead of kept in Beast's field container (allocations per field) and copied out of it again
// once the message is complete, for every upstream answer. Limits, framing (Content-Length,
// chunked, end of stream), HEAD and keep-alive are Beast's basic_parser's, as before.
class ResponseParser final : public http::basic_parser<false> {
 public:
  static constexpr std::size_t kUsualResponseFields = 8;

  core::HttpResponse& response() { return response_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}  // responses only
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    response_.status = code;
    // Room for a usual answer's fields (a trust's has five), so the vector is not regrown and
    // its strings moved three times while they are read.
    response_.headers.fields.reserve(kUsualResponseFields);
  }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    response_.headers.fields.emplace_back(std::string(name), std::string(value));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) {
      // Within the body limit: a longer Content-Length fails before the body starts.
      response_.body.reserve(static_cast<std::size_t>(*length));
    }
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  core::HttpResponse response_;
};

// RFC 9110 section 9.2.2: safe to repeat, so safe to retry after a stale pooled connection.
bool IsIdempotent(http::verb verb) {
  return verb == http::verb::get || verb == http::verb::head || verb == http::verb::put ||
         verb == http::verb::delete_ || verb == http::verb::options || verb == http::verb::trace;
}

bool IsToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool HasControlCharacters(std::string_view text) {
  for (const char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return true;
    }
  }
  return false;
}

std::string PoolKey(const HttpsTarget& target) {
  std::string key = target.host;
  key += '\n';
  key += std::to_string(target.port);
  key += '\n';
  key += target.server_name;
  key += target.verify_server_name ? "\nv\n" : "\nn\n";
  key += target.expected_cn;
  return key;
}

struct SessionFree {
  void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;
// Sessions kept per target (enough for a burst of new connections, each resuming its own) and in
// all; past the latter the store starts over.
constexpr std::size_t kMaxSessionsPerTarget = 16;
constexpr std::size_t kMaxSessions = 1024;

// A request as sent (ToWire below): its HTTP/1.1 text and its method.
struct WireRequest {
  std::string text;
  http::verb verb = http::verb::unknown;
};

// One TLS connection. Its stream, buffer and timer are touched only on its strand.
struct Connection {
  Connection(const Strand& strand, asio::ssl::context& tls, std::string pool_key)
      : stream(strand, tls),
        idle_timer(strand),
        phase_timer(strand),
        key(std::move(pool_key)),
        id(g_next_connection_id.fetch_add(1)) {}

  TcpStream& Lowest() { return beast::get_lowest_layer(stream); }

  Stream stream;
  beast::flat_buffer buffer;
  Timer idle_timer;
  // Bounds the current phase of an exchange (connect, handshake, request and response) with
  // one wait per phase, instead of Beast's per-operation stream timeouts (a timer armed and
  // cancelled for every read and write). Strand only, like phase_generation.
  Timer phase_timer;
  std::uint64_t phase_generation = 0;
  const std::string key;
  const std::uint64_t id;
  std::uint64_t park_generation = 0;  // guarded by the client's mutex
  SteadyClock::time_point parked_at;  // guarded by the client's mutex
  bool pooled = false;                // in the client's idle pool; guarded by its mutex
  // The idle timer is armed at most once per idle_expiry, not on every park: when it fires, a
  // connection parked again meanwhile is given the rest of its time. Strand only.
  bool idle_timer_armed = false;
  bool session_saved = false;  // its TLS session is in the client's store; strand only
  bool retired = false;        // strand only
  // Frees the connection's place under max_connections_per_host when its last owner lets go
  // (closed, and no handler left holding it); empty without a limit.
  std::function<void()> release_place;

  ~Connection() {
    if (release_place) {
      release_place();
    }
  }
};

}  // namespace

core::Result<HttpsUrl> ParseHttpsUrl(std::string_view url) {
  auto invalid = [](std::string what) {
    return MakeError(ErrorCode::kInvalidValue, "invalid https URL: " + what, "url");
  };
  constexpr std::string_view kScheme = "https://";
  if (url.size() < kScheme.size() ||
      !core::EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return invalid("must start with https://");
  }
  url.remove_prefix(kScheme.size());
  if (url.find_first_of("?#") != std::string_view::npos) {
    return invalid("no query or fragment allowed");
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return invalid("no user info allowed");
  }
  HttpsUrl out;
  out.target.port = 443;
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid("unclosed IPv6 address");
    }
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return invalid("unexpected text after the IPv6 address");
      }
      port = rest.substr(1);
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || HasControlCharacters(host) || host.find(' ') != std::string_view::npos) {
    return invalid("missing or malformed host");
  }
  if (!port.empty() || authority.back() == ':') {
    unsigned long value = 0;
    for (const char c : port) {
      if (c < '0' || c > '9' ||
          (value = value * 10 + static_cast<unsigned long>(c - '0')) > 65535) {
        return invalid("malformed port");
      }
    }
    if (port.empty() || value == 0) {
      return invalid("malformed port");
    }
    out.target.port = static_cast<std::uint16_t>(value);
  }
  out.target.host = std::string(host);
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  if (HasControlCharacters(path) || path.find(' ') != std::string_view::npos) {
    return invalid("malformed path");
  }
  out.path = std::string(path);
  return out;
}

PreparedHttpsTarget::PreparedHttpsTarget(HttpsTarget prepared)
    : target(std::move(prepared)), pool_key(PoolKey(target)), name(target.ToString()) {}

std::string HttpsTarget::ToString() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

class HttpsClient::OwnedIo {
 public:
  OwnedIo() : work_(asio::make_work_guard(io_)) {
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (const std::exception& error) {
        // A completion callback threw: a bug in the caller.
        core::Logger("tb.net.client").Error("io_thread_exception", {{"what", error.what()}});
        std::abort();
      }
    });
  }
  ~OwnedIo() { Join(); }
  OwnedIo(const OwnedIo&) = delete;
  OwnedIo& operator=(const OwnedIo&) = delete;

  asio::io_context& io() { return io_; }
  // Lets run() return once the pending work is done, and waits for it.
  void Join() {
    work_.reset();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

class HttpsClient::Impl : public std::enable_shared_from_this<HttpsClient::Impl> {
 public:
  class Exchange;

  Impl(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
       HttpsClientSettings settings)
      : io_context_(io_context),
        tls_(std::move(tls)),
        settings_(std::move(settings)),
        log_(settings_.component) {}

  asio::io_context& io_context() { return io_context_; }
  const HttpsClientSettings& settings() const { return settings_; }
  const core::Logger& log() const { return log_; }

  void AsyncRequest(std::shared_ptr<const PreparedHttpsTarget> target, core::HttpRequest request,
                    SteadyClock::time_point deadline, Callback done);
  void Shutdown();
  HttpsClientStats Stats() const;

  bool shut_down() const {
    std::lock_guard lock(mutex_);
    return shut_down_;
  }

  // A pooled connection for `key`, or nullptr. Any thread.
  std::shared_ptr<Connection> TakeIdle(const std::string& key);
  // With max_connections_per_host: a pooled connection (into `pooled`; not when `fresh`), else a
  // place for a new one (taken now), else `exchange` is queued until Park or ReleasePlace hands
  // it one. Any thread.
  enum class Place : std::uint8_t { kPooled, kNew, kWait };
  Place Acquire(const std::string& key, std::weak_ptr<Exchange> exchange,
                std::shared_ptr<Connection>& pooled, bool fresh);
  // A new, unconnected connection on a fresh strand, registered for Shutdown. Any thread.
  std::shared_ptr<Connection> NewConnection(const std::string& key);
  // After a complete keep-alive response: back to the pool, or closed if the pool is full.
  // On the connection's strand.
  void Park(std::shared_ptr<Connection> connection);
  // Waits (on the connection's strand) for a parked connection to turn readable: the server
  // closing it. Runs again after a wake-up that finds nothing to read.
  void WatchIdle(const std::shared_ptr<Connection>& connection, std::uint64_t generation);
  // Closes a connection for good: with a TLS close_notify when `graceful`, else at once.
  // Idempotent. On the connection's strand.
  void Retire(const std::shared_ptr<Connection>& connection, bool graceful);

  // TLS session resumption for new connections: one resumable session per pool key (target and
  // every identity check), so a session is only ever offered to the identity it was verified
  // for. A session is used once (TLS 1.3 tickets are single-use) and replaced by the new
  // connection's own. Any thread.
  SessionPtr TakeSession(const std::string& key);
  void SaveSession(const std::string& key, SessionPtr session);

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> resumed_{0};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::uint64_t> reused_{0};
  std::atomic<std::uint64_t> stale_retries_{0};
  std::atomic<std::uint64_t> waited_{0};

 private:
  // Connections to one pool key and the requests waiting for one (max_connections_per_host).
  struct HostConnections {
    std::size_t open = 0;  // places taken: connections not yet destroyed, or about to be opened
    std::deque<std::weak_ptr<Exchange>> waiting;  // oldest first
  };
  std::shared_ptr<Connection> TakeIdleLocked(const std::string& key);
  // The first queued request that is still waiting, now claimed for a place; or nullptr. The
  // requests it passes over (gone, or claimed by their deadline) go to `discard`, for the caller
  // to let go of once it has unlocked: a last reference could otherwise end the client's own
  // life under its lock.
  static std::shared_ptr<Exchange> ClaimWaiterLocked(
      HostConnections& host, std::vector<std::shared_ptr<Exchange>>& discard);
  // A counted connection to `key` is gone: its place goes to the first waiting request, if any.
  void ReleasePlace(const std::string& key);

  // Arms the idle timer to fire at `when`. On the connection's strand.
  void ArmIdleTimer(const std::shared_ptr<Connection>& connection, SteadyClock::time_point when);
  // The idle timer fired: retire the connection if it has sat in the pool for idle_expiry, else
  // wait for the rest of that time (parked) or for the next park (in use). On its strand.
  void OnIdleTimer(const std::shared_ptr<Connection>& connection);
  // The server closed a pooled connection: retire it unless taken.
  void OnIdleExpired(const std::shared_ptr<Connection>& connection, std::uint64_t generation,
                     std::string_view event);
  // Removes `connection` from the pool if it is there with `generation`; mutex held.
  bool RemoveIdleLocked(const std::shared_ptr<Connection>& connection, std::uint64_t generation);

  asio::io_context& io_context_;
  std::shared_ptr<asio::ssl::context> tls_;
  const HttpsClientSettings settings_;
  core::Logger log_;

  mutable std::mutex mutex_;
  bool shut_down_ = false;
  // Pooled connections by key; the back is the most recently parked (reused first).
  std::unordered_map<std::string, std::deque<std::shared_ptr<Connection>>> idle_;
  std::size_t idle_count_ = 0;
  std::unordered_map<std::string, std::vector<SessionPtr>> sessions_;  // newest last
  std::size_t session_count_ = 0;
  // Every connection not yet retired, so Shutdown can abort requests in flight.
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> live_;
  std::unordered_map<std::string, HostConnections> hosts_;  // with max_connections_per_host only
};

// One request, from the pool or a new connection to its callback; retried at most once on a
// fresh connection when a pooled one turns out stale. Runs on the connection's strand.
class HttpsClient::Impl::Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Impl> client, std::shared_ptr<const PreparedHttpsTarget> prepared,
           WireRequest request, SteadyClock::time_point deadline, Callback done)
      : client_(std::move(client)),
        prepared_(std::move(prepared)),
        request_(std::move(request)),
        deadline_(deadline),
        done_(std::move(done)) {}

  void Start() {
    if (client_->shut_down()) {
      FinishSoon(
          MakeError(ErrorCode::kUpstreamUnavailable, "the HTTPS client is shut down", name_));
      return;
    }
    if (client_->settings().max_connections_per_host > 0) {
      Acquire(/*fresh=*/false);
      return;
    }
    if (auto pooled = client_->TakeIdle(key_)) {
      SendOnPooled(std::move(pooled));
      return;
    }
    Open();
  }

  // Queued at max_connections_per_host: whoever takes the request off the queue (a free place,
  // a parked connection, the deadline, Shutdown) claims it first, so exactly one of them acts.
  bool Claim() { return !claimed_.exchange(true); }
  // The client gave this queued request a place for a new connection.
  void TakeReserved() {
    wait_timer_->cancel();
    Open();
  }
  // The client gave this queued request a connection that had just answered another.
  void TakeConnection(std::shared_ptr<Connection> connection) {
    wait_timer_->cancel();
    SendOnPooled(std::move(connection));
  }
  void FailWaiting(core::Error error) {
    wait_timer_->cancel();
    Finish(std::move(error));
  }

 private:
  SteadyClock::time_point PhaseDeadline(std::chrono::milliseconds phase) const {
    return std::min(deadline_, SteadyClock::now() + phase);
  }

  void SendOnPooled(std::shared_ptr<Connection> connection) {
    connection_ = std::move(connection);
    reused_ = true;
    client_->reused_.fetch_add(1);
    asio::dispatch(connection_->stream.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->connection_->Lowest().socket().cancel(ignored);  // the idle watch
      self->Send();
    });
  }

  // A connection within max_connections_per_host: pooled (unless `fresh`: the retry after a
  // stale pooled one), new, or (at the limit) the first to come free before the deadline.
  void Acquire(bool fresh) {
    if (auto pooled = fresh ? nullptr : client_->TakeIdle(key_)) {
      SendOnPooled(std::move(pooled));  // the common case, without the wait's timer
      return;
    }
    // Armed before the request can be queued, so whoever claims it can cancel the wait.
    wait_timer_.emplace(client_->io_context(), deadline_);
    wait_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->Claim()) {
        self->Finish(MakeError(
            ErrorCode::kTimeout,
            "no connection to " + self->name_ + " came free within the deadline (at most " +
                std::to_string(self->client_->settings().max_connections_per_host) +
                " open at once)",
            self->name_));
      }
    });
    std::shared_ptr<Connection> pooled;
    switch (client_->Acquire(key_, weak_from_this(), pooled, fresh)) {
      case Impl::Place::kPooled:
        wait_timer_->cancel();
        SendOnPooled(std::move(pooled));
        return;
      case Impl::Place::kNew:
        wait_timer_->cancel();
        Open();
        return;
      case Impl::Place::kWait:
        return;
    }
  }

  void Open() {
    connection_ = client_->NewConnection(key_);
    reused_ = false;
    asio::dispatch(connection_->stream.get_executor(),
                   [self = shared_from_this()] { self->Resolve(); });
  }

  void Resolve() {
    if (AbortIfShutDown()) {
      return;
    }
    beast::error_code not_ip;
    const auto address = asio::ip::make_address(target_.host, not_ip);
    if (!not_ip) {
      endpoints_.emplace_back(address, target_.port);
      Connect();
      return;
    }
    resolver_.emplace(connection_->stream.get_executor());
    resolve_timer_.emplace(connection_->stream.get_executor());
    resolve_timer_->expires_at(PhaseDeadline(client_->settings().connect_timeout));
    resolve_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->resolve_timed_out_ = true;
        self->resolver_->cancel();
      }
    });
    resolver_->async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->resolve_timer_->cancel();
          if (ec) {
            self->Fail(
                self->resolve_timed_out_ ? ErrorCode::kTimeout : ErrorCode::kUpstreamUnavailable,
                "cannot resolve " + self->name_ + ": " + ec.message());
            return;
          }
          for (const auto& entry : results) {
            self->endpoints_.push_back(entry.endpoint());
          }
          self->Connect();
        });
  }

  void Connect() {
    if (AbortIfShutDown()) {
      return;
    }
    ArmPhase(client_->settings().connect_timeout);
    connection_->Lowest().async_connect(
        endpoints_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) {
            self->Fail(self->IsTimeout(ec) ? ErrorCode::kTimeout : ErrorCode::kUpstreamUnavailable,
                       "cannot connect to " + self->name_ + ": " + ec.message());
            return;
          }
          beast::error_code ignored;
          self->connection_->Lowest().socket().set_option(tcp::no_delay(true), ignored);
          self->Handshake();
        });
  }

  core::Status ConfigureServerName() {
    const std::string& name = target_.server_name.empty() ? target_.host : target_.server_name;
    SSL* ssl = connection_->stream.native_handle();
    beast::error_code not_ip;
    asio::ip::make_address(name, not_ip);
    const bool is_ip = !not_ip;
    if (!is_ip && !name.empty() && !SetSni(ssl, name)) {
      return MakeError(ErrorCode::kInvalidValue, "cannot set SNI for " + name, "server_name");
    }
    if (!target_.verify_server_name) {
      return core::Ok();
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                         : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (ok != 1 || name.empty()) {
      return MakeError(ErrorCode::kInvalidValue, "invalid server name to verify: " + name,
                       "server_name");
    }
    return core::Ok();
  }

  void Handshake() {
    if (AbortIfShutDown()) {
      return;
    }
    if (core::Status status = ConfigureServerName(); !status) {
      client_->Retire(connection_, false);
      Finish(std::move(status).error());
      return;
    }
    if (SessionPtr session = client_->TakeSession(key_)) {
      // Resumption skips the certificate exchange: the session holds the certificate verified
      // (chain, CRL, name) by the full handshake it came from, for this same pool key, and the
      // CN check below runs on it again. A server that does not accept it (another server on
      // this address, a restart) makes this a full handshake with every check.
      SSL_set_session(connection_->stream.native_handle(), session.get());
    }
    ArmPhase(client_->settings().handshake_timeout);
    connection_->stream.async_handshake(
        asio::ssl::stream_base::client,
        [self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      std::string message = "TLS handshake with " + name_ + " failed: " + ec.message();
      const long verify = SSL_get_verify_result(connection_->stream.native_handle());
      if (verify != X509_V_OK) {
        message +=
            std::string(" (server certificate: ") + X509_verify_cert_error_string(verify) + ")";
      }
      Fail(IsTimeout(ec) ? ErrorCode::kTimeout : ErrorCode::kUpstreamUnavailable,
           std::move(message));
      return;
    }
    if (!target_.expected_cn.empty()) {
      const core::PeerIdentity server = ExtractPeerIdentity(connection_->stream.native_handle());
      if (server.subject_cn != target_.expected_cn) {
        client_->log().Warn("server_identity_mismatch", {{"target", name_},
                                                         {"expected_cn", target_.expected_cn},
                                                         {"peer_cn", server.subject_cn}});
        // Not a close_notify: we do not talk to a server that is not who we expected.
        Fail(ErrorCode::kUpstreamUnavailable, "server certificate of " + name_ + " has CN '" +
                                                  server.subject_cn + "', expected '" +
                                                  target_.expected_cn + "'");
        return;
      }
    }
    client_->opened_.fetch_add(1);
    const bool resumed = SSL_session_reused(connection_->stream.native_handle()) == 1;
    if (resumed) {
      client_->resumed_.fetch_add(1);
    }
    client_->log().Debug("connection_opened",
                         {{"conn", "o" + std::to_string(connection_->id)},
                          {"target", name_},
                          {"tls", SSL_get_version(connection_->stream.native_handle())},
                          {"resumed", resumed ? "true" : "false"}});
    Send();
  }

  void Send() {
    if (AbortIfShutDown()) {
      return;
    }
    ArmPhase(client_->settings().request_timeout);
    // The whole request in one buffer: one SSL_write (one TLS record and one send for a
    // request under 16 KiB) instead of Beast's serializer gathering header pieces and body.
    asio::async_write(connection_->stream, asio::buffer(request_.text),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->OnIoError(ec, /*nothing_received=*/true);
                          return;
                        }
                        self->Read();
                      });
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(client_->settings().max_response_header_bytes));
    parser_->body_limit(client_->settings().max_response_body_bytes);
    if (request_.verb == http::verb::head) {
      parser_->skip(true);
    }
    http::async_read(
        connection_->stream, connection_->buffer, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    DisarmPhase();
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      client_->Retire(connection_, false);
      Finish(MakeError(ErrorCode::kTooLarge,
                       std::string("response from ") + name_ + " exceeds the " +
                           (ec == http::error::body_limit ? "body" : "header") + " limit",
                       name_));
      return;
    }
    if (ec) {
      OnIoError(ec, !parser_->got_some());
      return;
    }
    core::HttpResponse response = std::move(parser_->response());
    if (!connection_->session_saved) {
      // By the first response, a TLS 1.3 server's tickets have been read.
      SessionPtr session(SSL_get1_session(connection_->stream.native_handle()));
      if (session && SSL_SESSION_is_resumable(session.get()) == 1) {
        client_->SaveSession(key_, std::move(session));
        connection_->session_saved = true;
      }
    }
    if (parser_->keep_alive()) {
      client_->Park(std::move(connection_));
    } else {
      client_->Retire(connection_, true);
    }
    Finish(std::move(response));
  }

  void OnIoError(beast::error_code ec, bool nothing_received) {
    client_->Retire(connection_, false);
    if (client_->shut_down()) {
      Finish(MakeError(ErrorCode::kUpstreamUnavailable, "the HTTPS client is shut down", name_));
      return;
    }
    if (IsTimeout(ec)) {
      Finish(MakeError(ErrorCode::kTimeout, "no response from " + name_ + " within the deadline",
                       name_));
      return;
    }
    if (reused_ && nothing_received && !retried_ && IsIdempotent(request_.verb)) {
      // The server closed the pooled connection while it sat idle: try once on a fresh one.
      retried_ = true;
      client_->stale_retries_.fetch_add(1);
      client_->log().Debug("stale_connection_retry", {{"target", name_}, {"reason", ec.message()}});
      if (client_->settings().max_connections_per_host > 0) {
        connection_.reset();  // its place frees once its handlers let go of it
        Acquire(/*fresh=*/true);
      } else {
        Open();
      }
      return;
    }
    Finish(MakeError(ErrorCode::kUpstreamUnavailable,
                     "exchange with " + name_ + " failed: " + ec.message(), name_));
  }

  bool IsTimeout(const beast::error_code& ec) const {
    return timed_out_ || ec == beast::error::timeout || SteadyClock::now() >= deadline_;
  }

  // Starts the phase timer for a phase of at most `phase` (and never past the deadline): when it
  // fires first, the socket is closed, so the pending operation fails and IsTimeout says why.
  // Re-arming replaces the previous phase's wait.
  void ArmPhase(std::chrono::milliseconds phase) {
    Connection& connection = *connection_;
    const std::uint64_t generation = ++connection.phase_generation;
    connection.phase_timer.expires_at(PhaseDeadline(phase));
    connection.phase_timer.async_wait(
        [self = shared_from_this(), timed = connection_, generation](beast::error_code ec) {
          if (ec || timed->phase_generation != generation) {
            return;  // disarmed, re-armed, or the exchange finished meanwhile
          }
          self->timed_out_ = true;
          beast::error_code ignored;
          timed->Lowest().socket().close(ignored);
        });
  }

  // Ends the current phase's wait: the response is in (Retire also disarms).
  void DisarmPhase() {
    ++connection_->phase_generation;
    connection_->phase_timer.cancel();
  }

  bool AbortIfShutDown() {
    if (!client_->shut_down()) {
      return false;
    }
    client_->Retire(connection_, false);
    Finish(MakeError(ErrorCode::kUpstreamUnavailable, "the HTTPS client is shut down", name_));
    return true;
  }

  void Fail(ErrorCode code, std::string message) {
    client_->Retire(connection_, false);
    Finish(MakeError(code, std::move(message), name_));
  }

  void Finish(core::Result<core::HttpResponse> result) {
    if (done_) {
      Callback done = std::move(done_);
      done_ = nullptr;
      done(std::move(result));
    }
  }

  // For failures found before any connection exists: the callback still runs on the io_context.
  void FinishSoon(core::Error error) {
    asio::post(client_->io_context(),
               [self = shared_from_this(), error = std::move(error)]() mutable {
                 self->Finish(std::move(error));
               });
  }

  std::shared_ptr<Impl> client_;
  const std::shared_ptr<const PreparedHttpsTarget> prepared_;
  const HttpsTarget& target_ = prepared_->target;
  const std::string& key_ = prepared_->pool_key;
  const std::string& name_ = prepared_->name;  // "host:port"
  const WireRequest request_;
  const SteadyClock::time_point deadline_;
  Callback done_;
  std::shared_ptr<Connection> connection_;
  std::vector<tcp::endpoint> endpoints_;
  std::optional<asio::ip::basic_resolver<tcp, Strand>> resolver_;
  std::optional<Timer> resolve_timer_;
  std::optional<ResponseParser> parser_;
  bool reused_ = false;
  bool retried_ = false;
  bool resolve_timed_out_ = false;
  bool timed_out_ = false;                        // the phase timer fired and closed the socket
  std::optional<asio::steady_timer> wait_timer_;  // the deadline while queued (Acquire)
  std::atomic<bool> claimed_{false};
};

namespace {

// The request as written: request line, header and body in one HTTP/1.1 text, refusing what
// would corrupt the wire. Framing is the client's: the caller's Content-Length,
// Transfer-Encoding and Connection fields are left out, Content-Length is written as Beast's
// prepare_payload would (for a body, or an empty one of POST, PUT and OPTIONS) and the
// connection is kept alive (HTTP/1.1's default).
core::Result<WireRequest> ToWire(const PreparedHttpsTarget& target, core::HttpRequest request,
                                 const std::string& user_agent) {
  if (!IsToken(request.method)) {
    return MakeError(ErrorCode::kInvalidValue, "invalid HTTP method", "method");
  }
  if (request.target.empty() || request.target.front() != '/' ||
      HasControlCharacters(request.target) || request.target.find(' ') != std::string::npos) {
    return MakeError(ErrorCode::kInvalidValue, "invalid request target", "target");
  }
  WireRequest wire;
  wire.verb = http::string_to_verb(request.method);
  if (wire.verb == http::verb::trace && !request.body.empty()) {
    return MakeError(ErrorCode::kInvalidValue, "a TRACE request has no body", "body");
  }
  std::size_t size = request.method.size() + request.target.size() + request.body.size() + 64 +
                     user_agent.size() + 16;
  bool has_host = false;
  bool has_user_agent = false;
  for (const auto& [name, value] : request.headers.fields) {
    if (!IsToken(name) || HasControlCharacters(value)) {
      return MakeError(ErrorCode::kInvalidValue, "invalid header field", "headers");
    }
    has_host = has_host || core::EqualsIgnoreCase(name, "Host");
    has_user_agent = has_user_agent || core::EqualsIgnoreCase(name, "User-Agent");
    size += name.size() + value.size() + 4;
  }
  std::string& text = wire.text;
  text.reserve(size);
  text.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  if (!has_host) {
    text.append("Host: ").append(target.name).append("\r\n");  // host:port
  }
  if (!has_user_agent && !user_agent.empty()) {
    text.append("User-Agent: ").append(user_agent).append("\r\n");
  }
  for (const auto& [name, value] : request.headers.fields) {
    if (core::EqualsIgnoreCase(name, "Content-Length") ||
        core::EqualsIgnoreCase(name, "Transfer-Encoding") ||
        core::EqualsIgnoreCase(name, "Connection")) {
      continue;
    }
    text.append(name).append(": ").append(value).append("\r\n");
  }
  if (!request.body.empty() || wire.verb == http::verb::post || wire.verb == http::verb::put ||
      wire.verb == http::verb::options) {
    text.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  }
  text.append("\r\n").append(request.body);
  return wire;
}

}  // namespace

void HttpsClient::Impl::AsyncRequest(std::shared_ptr<const PreparedHttpsTarget> target,
                                     core::HttpRequest request, SteadyClock::time_point deadline,
                                     Callback done) {
  requests_.fetch_add(1);
  auto message = ToWire(*target, std::move(request), settings_.user_agent);
  if (!message) {
    asio::post(io_context_, [done = std::move(done), error = std::move(message).error()]() mutable {
      done(std::move(error));
    });
    return;
  }
  std::make_shared<Exchange>(shared_from_this(), std::move(target), std::move(*message), deadline,
                             std::move(done))
      ->Start();
}

SessionPtr HttpsClient::Impl::TakeSession(const std::string& key) {
  if (!settings_.resume_sessions) {
    return nullptr;  // none are saved either
  }
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(key);
  if (found == sessions_.end()) {
    return nullptr;
  }
  SessionPtr session = std::move(found->second.back());
  found->second.pop_back();
  --session_count_;
  if (found->second.empty()) {
    sessions_.erase(found);
  }
  return session;
}

void HttpsClient::Impl::SaveSession(const std::string& key, SessionPtr session) {
  std::lock_guard lock(mutex_);
  if (shut_down_ || !settings_.resume_sessions) {
    return;
  }
  if (session_count_ >= kMaxSessions) {
    sessions_.clear();
    session_count_ = 0;
  }
  auto& stored = sessions_[key];
  if (stored.size() >= kMaxSessionsPerTarget) {
    stored.erase(stored.begin());  // the oldest
    --session_count_;
  }
  stored.push_back(std::move(session));
  ++session_count_;
}

std::shared_ptr<Connection> HttpsClient::Impl::TakeIdle(const std::string& key) {
  std::lock_guard lock(mutex_);
  return TakeIdleLocked(key);
}

std::shared_ptr<Connection> HttpsClient::Impl::TakeIdleLocked(const std::string& key) {
  auto found = idle_.find(key);
  if (found == idle_.end() || found->second.empty()) {
    return nullptr;
  }
  std::shared_ptr<Connection> connection = std::move(found->second.back());
  found->second.pop_back();
  if (found->second.empty()) {
    idle_.erase(found);
  }
  --idle_count_;
  ++connection->park_generation;  // a pending idle watch no longer applies
  connection->pooled = false;
  return connection;
}

HttpsClient::Impl::Place HttpsClient::Impl::Acquire(const std::string& key,
                                                    std::weak_ptr<Exchange> exchange,
                                                    std::shared_ptr<Connection>& pooled,
                                                    bool fresh) {
  std::lock_guard lock(mutex_);
  // Under the lock that Park and ReleasePlace take: a connection parked or a place freed between
  // the request's look and its queueing is seen here, so no request waits beside a free one.
  if (!fresh && (pooled = TakeIdleLocked(key))) {
    return Place::kPooled;
  }
  HostConnections& host = hosts_[key];
  if (shut_down_ || host.open < settings_.max_connections_per_host) {
    ++host.open;
    return Place::kNew;
  }
  host.waiting.push_back(std::move(exchange));
  waited_.fetch_add(1);
  return Place::kWait;
}

std::shared_ptr<HttpsClient::Impl::Exchange> HttpsClient::Impl::ClaimWaiterLocked(
    HostConnections& host, std::vector<std::shared_ptr<Exchange>>& discard) {
  while (!host.waiting.empty()) {
    std::shared_ptr<Exchange> waiter = host.waiting.front().lock();
    host.waiting.pop_front();
    if (waiter && waiter->Claim()) {
      return waiter;
    }
    discard.push_back(std::move(waiter));
  }
  return nullptr;
}

void HttpsClient::Impl::ReleasePlace(const std::string& key) {
  std::vector<std::shared_ptr<Exchange>> discard;
  std::shared_ptr<Exchange> next;
  {
    std::lock_guard lock(mutex_);
    auto found = hosts_.find(key);
    if (found == hosts_.end()) {
      return;
    }
    HostConnections& host = found->second;
    --host.open;
    if ((next = ClaimWaiterLocked(host, discard))) {
      ++host.open;
    } else if (host.open == 0 && host.waiting.empty()) {
      hosts_.erase(found);
    }
  }
  if (next) {
    // Not inline: this runs in a connection's destructor, wherever its last owner let go.
    asio::post(io_context_, [next] { next->TakeReserved(); });
  }
}

std::shared_ptr<Connection> HttpsClient::Impl::NewConnection(const std::string& key) {
  auto connection = std::make_shared<Connection>(asio::make_strand(io_context_), *tls_, key);
  if (settings_.max_connections_per_host > 0) {
    // Its place was taken by Acquire.
    connection->release_place = [weak = weak_from_this(), key] {
      if (auto self = weak.lock()) {
        self->ReleasePlace(key);
      }
    };
  }
  std::lock_guard lock(mutex_);
  live_[connection->id] = connection;
  return connection;
}

void HttpsClient::Impl::Park(std::shared_ptr<Connection> connection) {
  std::uint64_t generation = 0;
  std::vector<std::shared_ptr<Exchange>> discard;
  std::shared_ptr<Exchange> waiter;
  {
    std::lock_guard lock(mutex_);
    if (!shut_down_ && settings_.max_connections_per_host > 0) {
      if (auto host = hosts_.find(connection->key); host != hosts_.end()) {
        waiter = ClaimWaiterLocked(host->second, discard);
      }
    }
    auto& pool = idle_[connection->key];
    if (waiter) {
      if (pool.empty()) {
        idle_.erase(connection->key);
      }
    } else if (!shut_down_ && pool.size() < settings_.max_idle_per_host) {
      generation = ++connection->park_generation;
      connection->parked_at = SteadyClock::now();
      connection->pooled = true;
      pool.push_back(connection);
      ++idle_count_;
    } else if (pool.empty()) {
      idle_.erase(connection->key);
    }
  }
  if (waiter) {
    // Straight to the request that waited longest for a connection to this target.
    asio::post(io_context_, [waiter, connection = std::move(connection)]() mutable {
      waiter->TakeConnection(std::move(connection));
    });
    return;
  }
  if (generation == 0) {
    Retire(connection, true);
    return;
  }
  if (!connection->idle_timer_armed) {
    ArmIdleTimer(connection, SteadyClock::now() + settings_.idle_expiry);
  }
  if (settings_.watch_idle_connections) {
    WatchIdle(connection, generation);
  }
}

void HttpsClient::Impl::WatchIdle(const std::shared_ptr<Connection>& connection,
                                  std::uint64_t generation) {
  // Readiness only: nothing is read, so the TLS state is untouched if the wait is cancelled.
  // An idle HTTP/1.1 connection has nothing to say; readable means closing (or misbehaving).
  connection->Lowest().socket().async_wait(
      tcp::socket::wait_read,
      [weak = weak_from_this(), connection, generation](beast::error_code ec) {
        if (ec) {
          return;  // taken from the pool (cancelled) or closed
        }
        auto self = weak.lock();
        if (!self) {
          return;
        }
        if (NothingToRead(connection->Lowest().socket().native_handle())) {
          // A stale edge: epoll reported the response's bytes after the read had taken them.
          std::unique_lock lock(self->mutex_);
          if (connection->pooled && connection->park_generation == generation) {
            lock.unlock();
            self->WatchIdle(connection, generation);
          }
          return;
        }
        self->OnIdleExpired(connection, generation, "idle_connection_closed_by_server");
      });
}

void HttpsClient::Impl::ArmIdleTimer(const std::shared_ptr<Connection>& connection,
                                     SteadyClock::time_point when) {
  connection->idle_timer_armed = true;
  connection->idle_timer.expires_at(when);
  connection->idle_timer.async_wait([weak = weak_from_this(), connection](beast::error_code ec) {
    connection->idle_timer_armed = false;
    if (ec) {
      return;  // retired or shut down
    }
    if (auto self = weak.lock()) {
      self->OnIdleTimer(connection);
    }
  });
}

void HttpsClient::Impl::OnIdleTimer(const std::shared_ptr<Connection>& connection) {
  if (connection->retired) {
    return;
  }
  SteadyClock::time_point due;
  bool expired = false;
  bool rearm = false;
  {
    std::lock_guard lock(mutex_);
    if (connection->pooled) {
      due = connection->parked_at + settings_.idle_expiry;
      if (due <= SteadyClock::now()) {
        expired = RemoveIdleLocked(connection, connection->park_generation);
      } else {
        rearm = true;
      }
    }
  }
  if (expired) {
    log_.Debug("idle_connection_expired", {{"conn", "o" + std::to_string(connection->id)}});
    Retire(connection, true);
  } else if (rearm) {
    ArmIdleTimer(connection, due);
  }
}

bool HttpsClient::Impl::RemoveIdleLocked(const std::shared_ptr<Connection>& connection,
                                         std::uint64_t generation) {
  auto found = idle_.find(connection->key);
  if (found == idle_.end() || connection->park_generation != generation) {
    return false;
  }
  auto& pool = found->second;
  for (auto it = pool.begin(); it != pool.end(); ++it) {
    if (*it == connection) {
      pool.erase(it);
      --idle_count_;
      connection->pooled = false;
      if (pool.empty()) {
        idle_.erase(found);
      }
      return true;
    }
  }
  return false;
}

void HttpsClient::Impl::OnIdleExpired(const std::shared_ptr<Connection>& connection,
                                      std::uint64_t generation, std::string_view event) {
  {
    std::lock_guard lock(mutex_);
    if (!RemoveIdleLocked(connection, generation)) {
      return;  // taken by a request meanwhile
    }
  }
  log_.Debug(event, {{"conn", "o" + std::to_string(connection->id)}});
  Retire(connection, true);
}

void HttpsClient::Impl::Retire(const std::shared_ptr<Connection>& connection, bool graceful) {
  if (!connection || connection->retired) {
    return;
  }
  connection->retired = true;
  {
    std::lock_guard lock(mutex_);
    live_.erase(connection->id);
  }
  connection->idle_timer.cancel();
  ++connection->phase_generation;
  connection->phase_timer.cancel();
  beast::error_code ignored;
  connection->Lowest().socket().cancel(ignored);  // an idle watch, if any
  if (!graceful || !connection->Lowest().socket().is_open()) {
    connection->Lowest().close();
    return;
  }
  connection->Lowest().expires_after(settings_.shutdown_timeout);
  connection->stream.async_shutdown([connection](beast::error_code) {
    // Whatever the peer did (close_notify, reset, nothing before the timeout), we are done.
    connection->Lowest().close();
  });
}

void HttpsClient::Impl::Shutdown() {
  std::vector<std::shared_ptr<Connection>> idle;
  std::vector<std::shared_ptr<Connection>> busy;
  std::vector<std::shared_ptr<Exchange>> waiting;
  std::vector<std::shared_ptr<Exchange>> discard;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) {
      return;
    }
    shut_down_ = true;
    for (auto& [key, pool] : idle_) {
      for (auto& connection : pool) {
        ++connection->park_generation;
        connection->pooled = false;
        idle.push_back(std::move(connection));
      }
    }
    idle_.clear();
    idle_count_ = 0;
    sessions_.clear();
    session_count_ = 0;
    for (auto& [id, weak] : live_) {
      if (auto connection = weak.lock()) {
        busy.push_back(std::move(connection));
      }
    }
    for (auto& [key, host] : hosts_) {
      while (auto waiter = ClaimWaiterLocked(host, discard)) {
        waiting.push_back(std::move(waiter));
      }
    }
  }
  for (auto& waiter : waiting) {
    asio::post(io_context_, [waiter] {
      waiter->FailWaiting(
          MakeError(ErrorCode::kUpstreamUnavailable, "the HTTPS client is shut down"));
    });
  }
  for (auto& connection : idle) {
    asio::dispatch(connection->stream.get_executor(),
                   [self = shared_from_this(), connection] { self->Retire(connection, true); });
  }
  for (auto& connection : busy) {
    // Closing the socket completes the pending operation with an error; the exchange then sees
    // the shut-down flag and answers its callback. Idle ones (also in live_) are retired above.
    asio::dispatch(connection->stream.get_executor(), [connection] {
      if (!connection->retired) {
        connection->Lowest().close();
      }
    });
  }
}

HttpsClientStats HttpsClient::Impl::Stats() const {
  HttpsClientStats stats;
  stats.requests = requests_.load();
  stats.connections_opened = opened_.load();
  stats.connections_reused = reused_.load();
  stats.stale_retries = stale_retries_.load();
  stats.waited_for_connection = waited_.load();
  stats.connections_resumed = resumed_.load();
  std::lock_guard lock(mutex_);
  stats.idle_connections = idle_count_;
  return stats;
}

HttpsClient::HttpsClient(asio::io_context& io_context, std::shared_ptr<asio::ssl::context> tls,
                         HttpsClientSettings settings)
    : impl_(std::make_shared<Impl>(io_context, std::move(tls), std::move(settings))) {}

HttpsClient::HttpsClient(std::shared_ptr<asio::ssl::context> tls, HttpsClientSettings settings)
    : owned_(std::make_unique<OwnedIo>()),
      impl_(std::make_shared<Impl>(owned_->io(), std::move(tls), std::move(settings))) {}

HttpsClient::~HttpsClient() {
  impl_->Shutdown();
  if (owned_) {
    owned_->Join();
  }
}

void HttpsClient::AsyncRequest(const HttpsTarget& target, core::HttpRequest request,
                               std::chrono::steady_clock::time_point deadline, Callback done) {
  impl_->AsyncRequest(std::make_shared<const PreparedHttpsTarget>(target), std::move(request),
                      deadline, std::move(done));
}

void HttpsClient::AsyncRequest(std::shared_ptr<const PreparedHttpsTarget> target,
                               core::HttpRequest request,
                               std::chrono::steady_clock::time_point deadline, Callback done) {
  impl_->AsyncRequest(std::move(target), std::move(request), deadline, std::move(done));
}

core::Result<core::HttpResponse> HttpsClient::Request(
    const HttpsTarget& target, core::HttpRequest request,
    std::chrono::steady_clock::time_point deadline) {
  if (impl_->io_context().get_executor().running_in_this_thread()) {
    return MakeError(ErrorCode::kInternal,
                     "blocking HTTPS request from an io thread of the same io_context");
  }
  std::promise<core::Result<core::HttpResponse>> promise;
  std::future<core::Result<core::HttpResponse>> future = promise.get_future();
  impl_->AsyncRequest(std::make_shared<const PreparedHttpsTarget>(target), std::move(request),
                      deadline, [&promise](core::Result<core::HttpResponse> result) {
                        promise.set_value(std::move(result));
                      });
  return future.get();
}

core::Result<core::HttpResponse> HttpsClient::Request(const HttpsTarget& target,
                                                      core::HttpRequest request,
                                                      std::chrono::milliseconds timeout) {
  return Request(target, std::move(request), std::chrono::steady_clock::now() + timeout);
}

void HttpsClient::Shutdown() { impl_->Shutdown(); }

HttpsClientStats HttpsClient::Stats() const { return impl_->Stats(); }

}  // namespace tb::net
