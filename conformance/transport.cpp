#include "conformance/transport.h"

#include "adapters/mllp/client.h"
#include "adapters/net/https_client.h"
#include "adapters/net/tls_context.h"

namespace tb::conformance {
namespace {

using core::ErrorCode;
using core::MakeError;

class TlsTransport final : public Transport {
 public:
  TlsTransport(TlsTransportSettings settings, std::shared_ptr<boost::asio::ssl::context> tls)
      : settings_(std::move(settings)), tls_(tls), http_(std::move(tls)) {
    while (!settings_.base_url.empty() && settings_.base_url.back() == '/') {
      settings_.base_url.pop_back();
    }
  }

  const std::string& base_url() const override { return settings_.base_url; }

  core::Result<core::HttpResponse> Http(std::string_view method, std::string_view url,
                                        core::HttpHeaders headers, std::string body) override {
    // Split "https://authority/target" so that ParseHttpsUrl (which refuses queries) sees only
    // the authority.
    constexpr std::string_view kScheme = "https://";
    if (!url.starts_with(kScheme)) {
      return MakeError(ErrorCode::kInvalidValue, "only https:// URLs are supported", "url");
    }
    const std::size_t slash = url.find_first_of("/?", kScheme.size());
    auto parsed = net::ParseHttpsUrl(url.substr(0, slash));
    if (!parsed) {
      return std::move(parsed).error();
    }
    core::HttpRequest request;
    request.method = std::string(method);
    request.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (request.target.front() == '?') {
      request.target.insert(0, "/");
    }
    request.headers = std::move(headers);
    request.body = std::move(body);
    return http_.Request(parsed->target, std::move(request), settings_.timeout);
  }

  core::Result<std::string> Hl7(std::string_view er7) override {
    if (!settings_.mllp) {
      return MakeError(ErrorCode::kConfig, "an hl7v2-send operation needs --mllp HOST:PORT");
    }
    if (!mllp_) {
      mllp::MllpClientSettings settings;
      settings.host = settings_.mllp->host;
      settings.port = settings_.mllp->port;
      settings.connect_timeout = settings_.timeout;
      settings.reply_timeout = settings_.timeout;
      mllp_ = std::make_unique<mllp::MllpClient>(tls_, settings);
    }
    auto reply = mllp_->Send(er7);
    if (!reply) {
      mllp_->Close();  // the next message gets a fresh connection
    }
    return reply;
  }

  std::string mllp_endpoint() const override {
    return settings_.mllp ? settings_.mllp->host + ":" + std::to_string(settings_.mllp->port)
                          : std::string();
  }

 private:
  TlsTransportSettings settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  net::HttpsClient http_;
  std::unique_ptr<mllp::MllpClient> mllp_;
};

}  // namespace

core::Result<std::unique_ptr<Transport>> MakeTlsTransport(TlsTransportSettings settings) {
  auto base = net::ParseHttpsUrl(settings.base_url);
  if (!base) {
    return MakeError(ErrorCode::kInvalidValue,
                     "--target must be https://host[:port][/path]: " + base.error().message,
                     "target");
  }
  auto tls = net::MakeClientContext(settings.tls);
  if (!tls) {
    return std::move(tls).error();
  }
  return std::unique_ptr<Transport>(
      std::make_unique<TlsTransport>(std::move(settings), std::move(*tls)));
}

}  // namespace tb::conformance
