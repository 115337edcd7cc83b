#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace tb::testing {

// A deliberately independent, synchronous HTTPS client for tests: plain OpenSSL settings, so a
// test can present no certificate, a wrong one, or cap the protocol version.
struct HttpsClientOptions {
  std::filesystem::path ca;    // trust anchor for the server
  std::filesystem::path cert;  // client certificate (empty: none)
  std::filesystem::path key;
  int max_tls_version = 0;  // e.g. TLS1_1_VERSION to force an old protocol; 0 = library default
  int min_tls_version = 0;
  std::chrono::milliseconds timeout{5000};
};

struct HttpsResult {
  bool connected = false;  // TLS handshake completed and a response was read
  std::string error;       // why not
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(const std::string& name) const;
};

HttpsResult HttpsRequest(const std::string& host, std::uint16_t port, const std::string& method,
                         const std::string& target, const HttpsClientOptions& options,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         const std::string& body = {});

}  // namespace tb::testing
