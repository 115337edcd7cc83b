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

struct HttpServerSettings {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (tests)
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 8 * 1024 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};  // waiting for the next request's headers
  std::chrono::milliseconds read_timeout{30'000};  // reading one request's body
  std::chrono::milliseconds write_timeout{30'000};
  // Waiting for the peer's close_notify after ours; a peer that never answers costs this much.
  std::chrono::milliseconds shutdown_timeout{1'500};
  std::size_t max_requests_per_connection = 100'000;
  // Connections open at once; more wait in the listen backlog until one closes (accept_loop.h).
  std::size_t max_connections = 4096;
  std::string component = "tb.net.https";  // logger name
};

// Called exactly once per request, from any thread. If every copy of a Responder is destroyed
// without being called, the client gets a 500 (a bug, logged) rather than a hung connection.
using Responder = std::function<void(core::HttpResponse)>;

// Handles one request. Runs on the connection's strand and must not block: post blocking work
// to a pool and call the responder when done. The request carries the verified peer identity.
using HttpHandler = std::function<void(core::HttpRequest, Responder)>;

// Renders transport-level refusals (body too large, malformed request...) in the API's error
// format (FHIR OperationOutcome); supplied by the composition root.
using ErrorRenderer = std::function<core::HttpResponse(const core::Error&)>;

// The status line and header fields HttpsServer writes for `response` (into `head`, cleared
// first; the body follows it on the wire). Fields: the handler's (the last of repeated names;
// its own Content-Length, Transfer-Encoding, Connection, X-Request-ID and Server are replaced),
// Cache-Control: no-store unless the handler set one, X-Request-ID, Server, Content-Length
// (none for 1xx, 204 and 304, which carry no body) and Connection: close unless `keep_alive`.
// A field whose name or value holds CR, LF or NUL (or a malformed name) is dropped, never
// written; returns how many were.
std::size_t AppendResponseHead(std::string& head, const core::HttpResponse& response,
                               std::string_view request_id, bool keep_alive);

// HTTPS/1.1 server on Boost.Beast with mandatory mutual TLS (the context decides what is
// verified; see tls_context.h). One strand per connection; one request at a time per
// connection (responses never queue up); keep-alive; header/body limits; deadlines on handshake,
// reads, writes and TLS shutdown. Every response echoes X-Request-ID (generated if absent) and
// sets Cache-Control: no-store. Logs one summary line per request without the query string
// (which may hold identifiers).
//
// Thread-safety: Start/Stop may be called from any thread; the io_context may be run by many.
// Lifetime: the server must outlive the io_context's run() or be stopped and the io_context
// drained before destruction.
class HttpsServer {
 public:
  HttpsServer(boost::asio::io_context& io_context, std::shared_ptr<boost::asio::ssl::context> tls,
              HttpServerSettings settings, HttpHandler handler, ErrorRenderer render_error);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Binds and starts accepting. Returns the bound port (useful with port 0).
  core::Result<std::uint16_t> Start();
  // Stops accepting; idle connections are closed with a TLS shutdown, busy ones after their
  // current response. Idempotent.
  void Stop();
  std::size_t ActiveConnections() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tb::net
