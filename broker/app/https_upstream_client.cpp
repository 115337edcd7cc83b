#include "broker/app/https_upstream_client.h"

#include <utility>

namespace tb::app {

void HttpsUpstreamClient::Send(core::UpstreamRequest request,
                               std::chrono::steady_clock::time_point deadline, Callback done) {
  auto url = net::ParseHttpsUrl(request.base_url);
  if (!url) {
    done(url.error());
    return;
  }
  url->target.expected_cn = std::move(request.expected_cn);
  core::HttpRequest http = std::move(request.request);
  http.target = url->path + http.target;
  client_->AsyncRequest(url->target, std::move(http), deadline, std::move(done));
}

}  // namespace tb::app
