#pragma once

#include <string>
#include <utility>
#include <vector>

#include "adapters/net/tls_settings.h"
#include "bench/load/load_result.h"

namespace tb::bench {

struct HttpsLoadOptions {
  std::string url;                 // https://host:port/path?query
  net::TlsSettings tls;            // our client certificate + key, the CA of the server
  std::string method = "GET";
  std::string body;                // sent with every request (POST)
  std::vector<std::pair<std::string, std::string>> headers;
  int connections = 16;            // requests in flight at once, one per connection
  bool keep_alive = true;          // false: a new connection per request
  // With keep_alive false: new connections resume the TLS session of an earlier one (an
  // abbreviated handshake) instead of a full handshake each.
  bool resume_sessions = false;
  int io_threads = 1;              // threads running the client's io_context
  double warmup_s = 1;
  double duration_s = 5;
  std::vector<int> server_pids;    // whose CPU time and peak RSS to report
};

// Closed loop: each of `connections` virtual users sends a request, waits for the answer, sends
// the next. A 2xx answer is `ok`; anything else is a bad reply. Never throws; a bad URL or
// certificate comes back in first_error with nothing measured.
LoadResult RunHttpsLoad(const HttpsLoadOptions& options);

}  // namespace tb::bench
