// HttpsUpstreamClient against a simulated trust over real mutual TLS: the base URL's path is
// prefixed, a (base URL, CN) prepared once is reused, and a target prepared for one CN never
// serves another.
#include "broker/app/https_upstream_client.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "adapters/net/tls_context.h"
#include "tests/integration/broker_harness.h"

namespace tb::testing {
namespace {

using namespace std::chrono_literals;

class HttpsUpstreamClientTest : public ::testing::Test {
 protected:
  HttpsUpstreamClientTest() {
    trust_ = StartTrust("RGT", DemoPatients("RGT"));
    base_url_ = "https://127.0.0.1:" + std::to_string(trust_->fhir_port()) + "/fhir";
    const TestPki& pki = TestPki::Get();
    auto tls = net::MakeClientContext(
        {pki.Cert(TestPki::kBrokerA), pki.Key(TestPki::kBrokerA), pki.CaCert(), pki.Crl()});
    EXPECT_TRUE(tls) << tls.error().message;
    http_ = std::make_shared<net::HttpsClient>(*tls);
    upstream_ = std::make_unique<app::HttpsUpstreamClient>(http_);
  }
  ~HttpsUpstreamClientTest() override {
    upstream_.reset();
    http_.reset();
    trust_->Stop();
    trust_->Wait();
  }

  core::Result<core::HttpResponse> Send(const std::string& base_url, const std::string& cn,
                                        const std::string& target) {
    core::UpstreamRequest request;
    request.base_url = base_url;
    request.expected_cn = cn;
    request.request.method = "GET";
    request.request.target = target;
    std::promise<core::Result<core::HttpResponse>> answer;
    upstream_->Send(std::move(request), std::chrono::steady_clock::now() + 10s,
                    [&answer](core::Result<core::HttpResponse> result) {
                      answer.set_value(std::move(result));
                    });
    return answer.get_future().get();
  }

  std::unique_ptr<simtrust::SimulatedTrust> trust_;
  std::string base_url_;
  std::shared_ptr<net::HttpsClient> http_;
  std::unique_ptr<app::HttpsUpstreamClient> upstream_;
};

TEST_F(HttpsUpstreamClientTest, PrefixesTheBasePathAndReusesThePreparedTarget) {
  for (int i = 0; i < 3; ++i) {
    auto answer = Send(base_url_, "RGT", "/metadata");
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, 200);  // /fhir/metadata: the base path was prefixed
    EXPECT_NE(answer->body.find("CapabilityStatement"), std::string::npos);
  }
  EXPECT_EQ(http_->Stats().connections_opened, 1u);
  EXPECT_EQ(http_->Stats().connections_reused, 2u);
}

TEST_F(HttpsUpstreamClientTest, EachExpectedCnIsCheckedOnItsOwn) {
  ASSERT_TRUE(Send(base_url_, "RGT", "/metadata"));
  // The same base URL with another CN: refused at the handshake, not served by RGT's target.
  auto wrong = Send(base_url_, "RXH", "/metadata");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, core::ErrorCode::kUpstreamUnavailable) << wrong.error().message;
  auto wrong_again = Send(base_url_, "RXH", "/metadata");
  ASSERT_FALSE(wrong_again);
  EXPECT_EQ(wrong_again.error().code, core::ErrorCode::kUpstreamUnavailable);
  // The right CN still works, on its pooled connection.
  auto right = Send(base_url_, "RGT", "/metadata");
  ASSERT_TRUE(right) << right.error().message;
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(http_->Stats().connections_reused, 1u);
}

TEST_F(HttpsUpstreamClientTest, MalformedBaseUrlIsInvalidValue) {
  auto answer = Send("http://127.0.0.1:1/fhir", "RGT", "/metadata");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, core::ErrorCode::kInvalidValue);
  // Not cached as a target: asked again, the same answer.
  answer = Send("http://127.0.0.1:1/fhir", "RGT", "/metadata");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, core::ErrorCode::kInvalidValue);
}

}  // namespace
}  // namespace tb::testing
