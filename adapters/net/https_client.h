#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "broker/core/http_types.h"
#include "broker/core/result.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace tb::net {

struct HttpsClientSettings {
  // Keep-alive connections kept open per target (host, port and expected identity) once their
  // response is complete; more are closed after their response. Set it to at least the number of
  // requests expected in flight to one target: below that, every burst opens (and closes) new
  // connections, a full mTLS handshake each (docs/federation.md, Performance).
  std::size_t max_idle_per_host = 64;
  // Connections open at once per target (in use, pooled or closing); 0: no limit. At the limit a
  // request waits, within its deadline, for a pooled connection or a free place, first come
  // first served; one still waiting at its deadline fails with kTimeout. Protects a trust's
  // server from a burst of queries opening a connection each.
  std::size_t max_connections_per_host = 0;
  // A pooled connection unused for this long is closed (with a TLS close_notify).
  std::chrono::milliseconds idle_expiry{30'000};
  // Each phase is also bounded by the request's own deadline, whichever comes first.
  std::chrono::milliseconds connect_timeout{5'000};    // name resolution + TCP connect
  std::chrono::milliseconds handshake_timeout{5'000};  // TLS handshake
  std::chrono::milliseconds request_timeout{30'000};   // writing the request, reading the response
  std::size_t max_response_header_bytes = 64 * 1024;
  std::size_t max_response_body_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds shutdown_timeout{1'000};  // TLS close_notify of a retired connection
  // Watch pooled connections for the server closing them (close_notify or FIN), and retire them
  // at once with our own close_notify, so servers that stop are not kept waiting and the pool
  // holds few stale connections. Off only in tests of the stale-connection retry.
  bool watch_idle_connections = true;
  // New connections resume a stored TLS session of the same target (below). Off: every new
  // connection makes a full handshake (benchmarks of the full handshake's cost).
  bool resume_sessions = true;
  std::string user_agent = "trustbridge";
  std::string component = "tb.net.client";  // logger name
};

// Where to send a request and whom to expect there.
struct HttpsTarget {
  std::string host;  // name or IP address to connect to
  std::uint16_t port = 443;
  // The name the server certificate must carry (subjectAltName DNS or IP); empty: `host`. A DNS
  // name is also sent as SNI.
  std::string server_name;
  bool verify_server_name = true;  // false: any certificate of the trusted CA (plus expected_cn)
  // When set, the server certificate's subject CN must equal it (e.g. a participant's cert_cn).
  std::string expected_cn;

  // "host:port" for messages and logs.
  std::string ToString() const;
};

// A target with what the client derives from it per request (its pool key and name) worked out
// once, for callers that send many requests to the same few targets (HttpsUpstreamClient keeps
// one per participant base URL and CN). Immutable: share it freely between threads.
struct PreparedHttpsTarget {
  explicit PreparedHttpsTarget(HttpsTarget prepared);
  const HttpsTarget target;
  const std::string pool_key;  // host, port and every identity check
  const std::string name;      // target.ToString()
};

// An https URL split for the client, e.g. a participant's fhir_base
// "https://127.0.0.1:9201/fhir" -> target 127.0.0.1:9201, path "/fhir".
struct HttpsUrl {
  HttpsTarget target;  // host (IPv6 without brackets) and port (443 when absent)
  std::string path;    // without a trailing '/'; empty for the root
};
// Accepts only "https://host[:port][/path]": no user info, query or fragment. kInvalidValue
// (location "url") otherwise.
core::Result<HttpsUrl> ParseHttpsUrl(std::string_view url);

// Counters for tests, benchmarks and health pages.
struct HttpsClientStats {
  std::uint64_t requests = 0;               // AsyncRequest calls
  std::uint64_t connections_opened = 0;     // TLS handshakes completed
  std::uint64_t connections_resumed = 0;    // of which resumed a stored TLS session
  std::uint64_t connections_reused = 0;     // requests sent on a pooled connection
  std::uint64_t stale_retries = 0;          // requests retried after a pooled connection failed
  std::uint64_t waited_for_connection = 0;  // requests queued at max_connections_per_host
  std::size_t idle_connections = 0;         // in the pool now
};

// A pooled keep-alive mutual-TLS HTTP/1.1 client on Boost.Beast + OpenSSL, for fan-out: many
// requests in flight at once on one io_context, each with its own deadline.
//
// TLS: the context comes from tb::net::MakeClientContext (our certificate + key, the CA bundle
// and CRL that the server certificate must chain to). On top of the chain, every connection
// checks the server's name (HttpsTarget::server_name or host; DNS or IP SAN) and, when given,
// its certificate CN (HttpsTarget::expected_cn). A connection is pooled per target, identity
// checks included, so a connection verified for one identity never serves another.
//
// TLS sessions: a new connection resumes the session of an earlier connection to the same target
// (same pool key, so the same name and CN checks) when the server accepts it, which skips the
// certificate exchange and its verification; the CN is checked again on the resumed session's
// certificate. Each stored session is offered once (up to 16 kept per target, so a burst of new
// connections can each resume one); sessions live as long as the client (a new
// CA bundle or CRL means a new context and a new client).
//
// Pooling: a connection goes back to the pool only after a complete response that allows
// keep-alive. If a pooled connection turns out to be closed by the server (nothing at all was
// received back), an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) is retried once on a
// fresh connection; other requests fail, since the server may have acted on them.
//
// Errors (the callback's core::Error; messages name the target, never request content):
//   kTimeout              the deadline (or a phase timeout in the settings) passed;
//   kUpstreamUnavailable  cannot resolve or connect (refused), TLS handshake failed (untrusted,
//                         expired or revoked certificate, wrong name, wrong CN), the connection
//                         was closed or reset, malformed response, or the client is shut down;
//   kTooLarge             the response header or body exceeds the limits;
//   kInvalidValue         the request cannot be sent (bad method, target, header or server
//                         name to verify).
// Any HTTP status is a success at this level: a 503 is a response, not an Error.
//
// Thread-safety: every public member may be called from any thread, concurrently. Completion
// callbacks run on a thread running the io_context (on the connection's strand): they must not
// block or throw. Each callback runs exactly once, provided the io_context keeps running until
// then.
// Lifetime: the client may be destroyed with requests in flight; they complete with an error.
// With an external io_context, that io_context must outlive the client's pending handlers (run
// it until it returns, or destroy it after the client).
class HttpsClient {
 public:
  using Callback = std::function<void(core::Result<core::HttpResponse>)>;

  // Runs on `io_context`, which the caller runs (any number of threads).
  HttpsClient(boost::asio::io_context& io_context, std::shared_ptr<boost::asio::ssl::context> tls,
              HttpsClientSettings settings = {});
  // Owns an io_context run by one internal thread: for the CLI and tests that only block.
  explicit HttpsClient(std::shared_ptr<boost::asio::ssl::context> tls,
                       HttpsClientSettings settings = {});
  ~HttpsClient();  // Shutdown(); with an owned io_context, also joins its thread
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Sends `request` (method, origin-form target, headers, body; `peer` and `connection_id` are
  // ignored) and calls `done` once with the response or an Error. Host, User-Agent and
  // Content-Length are set unless present.
  void AsyncRequest(const HttpsTarget& target, core::HttpRequest request,
                    std::chrono::steady_clock::time_point deadline, Callback done);
  // The same, to a target prepared once (PreparedHttpsTarget).
  void AsyncRequest(std::shared_ptr<const PreparedHttpsTarget> target, core::HttpRequest request,
                    std::chrono::steady_clock::time_point deadline, Callback done);

  // Blocking form of AsyncRequest. Needs a thread running the io_context (always true for the
  // owning constructor); called from one of the io_context's own threads it would deadlock, so it
  // returns kInternal instead.
  core::Result<core::HttpResponse> Request(const HttpsTarget& target, core::HttpRequest request,
                                           std::chrono::steady_clock::time_point deadline);
  core::Result<core::HttpResponse> Request(const HttpsTarget& target, core::HttpRequest request,
                                           std::chrono::milliseconds timeout);

  // Closes pooled connections, aborts requests in flight (kUpstreamUnavailable) and refuses new
  // ones. Idempotent.
  void Shutdown();

  HttpsClientStats Stats() const;

 private:
  class Impl;
  class OwnedIo;
  std::unique_ptr<OwnedIo> owned_;  // declared first: destroyed after impl_
  std::shared_ptr<Impl> impl_;
};

}  // namespace tb::net
