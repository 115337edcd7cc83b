#include "broker/app/https_upstream_client.h"

#include <utility>

namespace tb::app {

core::Result<HttpsUpstreamClient::Prepared> HttpsUpstreamClient::Find(
    const std::string& base_url, const std::string& expected_cn) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = prepared_.find(base_url); found != prepared_.end()) {
      for (const Prepared& prepared : found->second) {
        if (prepared.expected_cn == expected_cn) {
          return prepared;
        }
      }
    }
  }
  auto url = net::ParseHttpsUrl(base_url);
  if (!url) {
    return url.error();
  }
  url->target.expected_cn = expected_cn;
  Prepared prepared{expected_cn,
                    std::make_shared<const net::PreparedHttpsTarget>(std::move(url->target)),
                    std::move(url->path)};
  std::lock_guard lock(mutex_);
  if (prepared_count_ >= kMaxPreparedTargets) {
    prepared_.clear();
    prepared_count_ = 0;
  }
  prepared_[base_url].push_back(prepared);
  ++prepared_count_;
  return prepared;
}

void HttpsUpstreamClient::Send(core::UpstreamRequest request,
                               std::chrono::steady_clock::time_point deadline, Callback done) {
  auto prepared = Find(request.base_url, request.expected_cn);
  if (!prepared) {
    done(prepared.error());
    return;
  }
  core::HttpRequest http = std::move(request.request);
  http.target.insert(0, prepared->path);
  client_->AsyncRequest(std::move(prepared->target), std::move(http), deadline, std::move(done));
}

}  // namespace tb::app
