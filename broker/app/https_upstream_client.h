#pragma once

#include <memory>

#include "adapters/net/https_client.h"
#include "broker/core/upstream_client.h"

namespace tb::app {

// core::UpstreamClient over tb::net::HttpsClient: the request's base URL (a participant's or
// peer's fhir_base) gives host, port and path prefix; the server certificate must chain to our CA,
// carry the host's name or IP, and have the configured cert_cn as its subject CN.
// Thread-safety and callback rules: as net::HttpsClient.
class HttpsUpstreamClient final : public core::UpstreamClient {
 public:
  explicit HttpsUpstreamClient(std::shared_ptr<net::HttpsClient> client)
      : client_(std::move(client)) {}

  void Send(core::UpstreamRequest request, std::chrono::steady_clock::time_point deadline,
            Callback done) override;

 private:
  std::shared_ptr<net::HttpsClient> client_;
};

}  // namespace tb::app
