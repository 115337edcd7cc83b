// Issue 6 item 7: SMART Backend Services against the running broker. An independent client signs
// its private_key_jwt assertion with plain OpenSSL (ES256 over its TLS key, whose certificate is
// registered as its key), gets an access token bound to its TLS certificate (RFC 8705), and the
// token narrows what the certificate's participant may do.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>

#include "broker/simtrust/simulated_trust.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::HttpsResult;
using testing::Json;
using testing::RunningBroker;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Base64Url(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}
std::string Base64Url(std::string_view text) {
  return Base64Url(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

// An ES256 JWT over `claims`, signed with the PEM private key in `key_file`: the JOSE signature
// is r || s, 32 bytes each.
std::string SignEs256(const std::string& claims, const std::filesystem::path& key_file) {
  std::ifstream in(key_file);
  std::stringstream pem;
  pem << in.rdbuf();
  const std::string text = pem.str();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text.data(), -1), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  EXPECT_NE(key, nullptr);
  const std::string input = Base64Url(R"({"alg":"ES256","typ":"JWT"})") + "." + Base64Url(claims);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  std::size_t size = 0;
  EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get());
  EVP_DigestSign(context.get(), nullptr, &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::vector<unsigned char> der(size);
  EVP_DigestSign(context.get(), der.data(), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  const unsigned char* cursor = der.data();
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> signature(
      d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(size)), ECDSA_SIG_free);
  unsigned char raw[64];
  BN_bn2binpad(ECDSA_SIG_get0_r(signature.get()), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(signature.get()), raw + 32, 32);
  return input + "." + Base64Url(raw, sizeof raw);
}

std::string FormEncode(std::string_view value) {
  std::string out;
  for (const char c : value) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[static_cast<unsigned char>(c) >> 4U];
      out += kHex[static_cast<unsigned char>(c) & 0x0FU];
    }
  }
  return out;
}

std::string BrokerConfigText(std::uint16_t rgt_port, bool require_tokens = false) {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "policy": { "smart": { "token_lifetime_s": 120, "require_tokens": )" +
         std::string(require_tokens ? "true" : "false") + R"(,
                           "clients": [ { "cert_cn": "RJ1", "public_key": ")" +
         pki.Cert("RJ1").string() + R"(" } ] } },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs", "system/Consent.crus"] },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ]
  })";
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = testing::StartTrust("RGT", DemoPatients("RGT"));
    broker_ = std::make_unique<RunningBroker>(BrokerConfigText(rgt_->fhir_port()));
    AnnounceByAdt(*broker_, "RGT", kShared);
    HttpsResult discovery = Call("RJ1", "GET", "/fhir/.well-known/smart-configuration");
    ASSERT_EQ(discovery.status, 200) << discovery.body;
    rapidjson::Document document = Json(discovery.body);
    token_url_ = document["token_endpoint"].GetString();
  }

  HttpsResult Call(const std::string& who, const std::string& method, const std::string& target,
                   Headers headers = {}, const std::string& body = {}) const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), method, target, As(who), headers, body);
  }

  // RJ1's assertion with this jti, signed with RJ1's TLS key.
  std::string Assertion(const std::string& jti, const std::string& aud = {}) const {
    const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count() +
                     120;
    const std::string claims = R"({"iss":"RJ1","sub":"RJ1","aud":")" +
                               (aud.empty() ? token_url_ : aud) + R"(","exp":)" +
                               std::to_string(exp) + R"(,"jti":")" + jti + R"("})";
    return SignEs256(claims, TestPki::Get().Key("RJ1"));
  }

  HttpsResult RequestToken(const std::string& who, const std::string& assertion,
                           const std::string& scope) const {
    const std::string body = "grant_type=client_credentials&client_assertion_type=" +
                             FormEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                             "&client_assertion=" + FormEncode(assertion) +
                             "&scope=" + FormEncode(scope);
    return Call(who, "POST", "/fhir/auth/token",
                {{"Content-Type", "application/x-www-form-urlencoded"}}, body);
  }

  std::string Search(std::string_view type) const {
    return "/fhir/" + std::string(type) +
           (type == "Patient" ? "?identifier=" : "?patient:identifier=") +
           "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kShared);
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<RunningBroker> broker_;
  std::string token_url_;
};

TEST_F(TokenTest, ACertificateBoundTokenNarrowsTheParticipantsScopes) {
  EXPECT_EQ(token_url_, "https://127.0.0.1/fhir/auth/token");
  HttpsResult issued = RequestToken("RJ1", Assertion("t1"), "system/Observation.rs");
  ASSERT_EQ(issued.status, 200) << issued.body;
  EXPECT_EQ(issued.Header("Cache-Control"), "no-store");
  rapidjson::Document token = Json(issued.body);
  EXPECT_STREQ(token["token_type"].GetString(), "bearer");
  EXPECT_STREQ(token["scope"].GetString(), "system/Observation.rs");
  EXPECT_EQ(token["expires_in"].GetInt(), 120);
  const std::string bearer = std::string("Bearer ") + token["access_token"].GetString();

  HttpsResult observations = Call("RJ1", "GET", Search("Observation"), {{"Authorization", bearer}});
  ASSERT_EQ(observations.status, 200) << observations.body;
  EXPECT_NE(observations.body.find("\"Observation\""), std::string::npos);
  // The certificate alone may search Patient and Consent; the token may not.
  EXPECT_EQ(Call("RJ1", "GET", Search("Patient"), {{"Authorization", bearer}}).status, 403);
  EXPECT_EQ(Call("RJ1", "GET", Search("Patient")).status, 200);
  EXPECT_EQ(Call("RJ1", "GET", "/fhir/Consent/x", {{"Authorization", bearer}}).status, 403);

  // Over another client's connection the token is refused (it is bound to RJ1's certificate).
  HttpsResult stolen = Call("RGT", "GET", Search("Observation"), {{"Authorization", bearer}});
  EXPECT_EQ(stolen.status, 401) << stolen.body;
  EXPECT_EQ(stolen.Header("WWW-Authenticate"), "Bearer error=\"invalid_token\"");
  EXPECT_NE(stolen.body.find("OperationOutcome"), std::string::npos);
  // A token altered by one character, or not a token at all.
  std::string altered = bearer;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Call("RJ1", "GET", Search("Observation"), {{"Authorization", altered}}).status, 401);
  EXPECT_EQ(Call("RJ1", "GET", Search("Observation"), {{"Authorization", "Basic abc"}}).status,
            401);
}

TEST_F(TokenTest, TheTokenEndpointRefusesWhatItShouldNotIssue) {
  // The same assertion twice.
  const std::string assertion = Assertion("once");
  EXPECT_EQ(RequestToken("RJ1", assertion, "system/Observation.rs").status, 200);
  HttpsResult replay = RequestToken("RJ1", assertion, "system/Observation.rs");
  EXPECT_EQ(replay.status, 401) << replay.body;
  EXPECT_STREQ(Json(replay.body)["error"].GetString(), "invalid_client");
  // RJ1's assertion presented over RGT's connection (RGT has no registered key either).
  EXPECT_EQ(RequestToken("RGT", Assertion("r1"), "system/Observation.rs").status, 401);
  // Another audience.
  EXPECT_EQ(
      RequestToken("RJ1", Assertion("a1", "https://elsewhere.example/token"), "system/*.rs").status,
      401);
  // Scopes the certificate's participant does not hold.
  HttpsResult wider = RequestToken("RJ1", Assertion("w1"), "system/*.cruds");
  EXPECT_EQ(wider.status, 400) << wider.body;
  EXPECT_STREQ(Json(wider.body)["error"].GetString(), "invalid_scope");
  // Wrong method and grant.
  EXPECT_EQ(Call("RJ1", "GET", "/fhir/auth/token").status, 400);
  HttpsResult grant = Call("RJ1", "POST", "/fhir/auth/token",
                           {{"Content-Type", "application/x-www-form-urlencoded"}},
                           "grant_type=password&username=a");
  EXPECT_EQ(grant.status, 400);
  EXPECT_STREQ(Json(grant.body)["error"].GetString(), "unsupported_grant_type");
}

// With require_tokens, the certificate alone no longer reads data; discovery, the token endpoint
// and the CapabilityStatement stay open to registered certificates.
TEST(TokenRequired, RequestsWithoutATokenAre401) {
  RunningBroker broker(BrokerConfigText(1, true));
  const auto call = [&](const std::string& target) {
    return HttpsRequest("127.0.0.1", broker.fhir_port(), "GET", target, As("RJ1"));
  };
  HttpsResult search =
      call("/fhir/Observation?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
           std::string(kShared));
  EXPECT_EQ(search.status, 401) << search.body;
  EXPECT_EQ(search.Header("WWW-Authenticate"), "Bearer error=\"invalid_token\"");
  EXPECT_EQ(call("/fhir/metadata").status, 200);
  EXPECT_EQ(call("/fhir/.well-known/smart-configuration").status, 200);
}

TEST(TokenConfig, AClientMustBeARegisteredParticipant) {
  std::string text = BrokerConfigText(1);
  text.replace(text.find(R"("cert_cn": "RJ1", "public_key")"), 16, R"("cert_cn": "RXH")");
  app::ConfigLoad load =
      app::ParseBrokerConfig(text, std::filesystem::temp_directory_path(), false);
  EXPECT_FALSE(load.config);
  bool named = false;
  for (const core::Error& problem : load.problems) {
    named = named || problem.location == "/policy/smart/clients/0/cert_cn";
  }
  EXPECT_TRUE(named);
}

}  // namespace
}  // namespace tb
