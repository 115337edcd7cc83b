#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapters/net/https_client.h"
#include "broker/core/upstream_client.h"

namespace tb::app {

// core::UpstreamClient over tb::net::HttpsClient: the request's base URL (a participant's or
// peer's fhir_base) gives host, port and path prefix; the server certificate must chain to our CA,
// carry the host's name or IP, and have the configured cert_cn as its subject CN.
// Each (base URL, CN) is parsed and prepared once (net::PreparedHttpsTarget) and kept: they come
// from the configuration, so there are few; past kMaxPreparedTargets the cache starts over.
// Thread-safety and callback rules: as net::HttpsClient.
class HttpsUpstreamClient final : public core::UpstreamClient {
 public:
  static constexpr std::size_t kMaxPreparedTargets = 1024;

  explicit HttpsUpstreamClient(std::shared_ptr<net::HttpsClient> client)
      : client_(std::move(client)) {}

  void Send(core::UpstreamRequest request, std::chrono::steady_clock::time_point deadline,
            Callback done) override;

 private:
  struct Prepared {
    std::string expected_cn;
    std::shared_ptr<const net::PreparedHttpsTarget> target;
    std::string path;  // the base URL's path, prefixed to each request's target
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };

  // The prepared target for `base_url` and `expected_cn`, or the URL's parse error.
  core::Result<Prepared> Find(const std::string& base_url, const std::string& expected_cn);

  std::shared_ptr<net::HttpsClient> client_;
  std::mutex mutex_;
  // By base URL; a few CNs each (usually one).
  std::unordered_map<std::string, std::vector<Prepared>, StringHash, std::equal_to<>> prepared_;
  std::size_t prepared_count_ = 0;
};

}  // namespace tb::app
