// SMART Backend Services tokens: client assertions (private_key_jwt), scopes granted only within
// the configuration, and access tokens bound to the TLS certificate (RFC 8705).
#include "broker/policy/access_token.h"

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <Poco/Crypto/ECKey.h>
#include <Poco/JSON/Object.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Timestamp.h>
#include <gtest/gtest.h>

namespace tb::policy {
namespace {

using SysClock = std::chrono::system_clock;

class ManualClock final : public core::Clock {
 public:
  SysClock::time_point Now() const override { return now; }
  SysClock::time_point now = SysClock::now();
};

constexpr std::string_view kTokenUrl = "https://broker.example/fhir/auth/token";
// SHA-256 of "" and of "a": two certificates' thumbprints.
constexpr std::string_view kCertHex =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kOtherCertHex =
    "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";

struct KeyPem {
  std::string public_pem;
  std::string private_pem;
};
KeyPem NewEcKey() {
  Poco::Crypto::ECKey key("prime256v1");
  std::ostringstream public_pem;
  std::ostringstream private_pem;
  key.save(&public_pem, &private_pem);
  return {public_pem.str(), private_pem.str()};
}

Poco::Timestamp At(SysClock::time_point time) {
  return Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count()));
}

struct Claims {
  std::string iss = "RJ1";
  std::string sub = "RJ1";
  std::string aud = std::string(kTokenUrl);
  std::chrono::seconds exp_in{240};
  bool with_exp = true;
  std::string jti = "a1";
  std::string algorithm = Poco::JWT::Signer::ALGO_ES256;
};

std::string Assertion(const KeyPem& key, const Claims& claims, SysClock::time_point now) {
  std::istringstream private_pem(key.private_pem);
  Poco::SharedPtr<Poco::Crypto::ECKey> ec = new Poco::Crypto::ECKey(nullptr, &private_pem);
  Poco::JWT::Token token;
  token.setType("JWT");
  token.setIssuer(claims.iss);
  token.setSubject(claims.sub);
  token.setAudience(claims.aud);
  if (claims.with_exp) {
    token.setExpiration(At(now + claims.exp_in));
  }
  if (!claims.jti.empty()) {
    token.setId(claims.jti);
  }
  Poco::JWT::Signer signer(ec);
  signer.addAlgorithm(claims.algorithm);
  return signer.sign(token, claims.algorithm);
}

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto service = TokenService::Create({"broker-a", std::chrono::seconds(300)},
                                        broker_key_.private_pem, clock_);
    ASSERT_TRUE(service) << service.error().message;
    service_ = std::move(*service);
    ASSERT_TRUE(service_->AddClient("RJ1", client_key_.public_pem));
    configured_ = ScopeSet::Parse({"system/*.rs", "system/Consent.crus"}).value();
  }

  TokenRequest Request(const Claims& claims, std::string scope = "system/Observation.rs") const {
    return TokenRequest{"client_credentials", std::string(kJwtBearerAssertionType),
                        Assertion(client_key_, claims, clock_.now), std::move(scope)};
  }
  TokenCaller Caller(std::string cn = "RJ1") const {
    return TokenCaller{std::move(cn), std::string(kCertHex), std::string(kTokenUrl), &configured_};
  }

  ManualClock clock_;
  KeyPem broker_key_ = NewEcKey();
  KeyPem client_key_ = NewEcKey();
  ScopeSet configured_;
  std::unique_ptr<TokenService> service_;
};

TEST_F(TokenServiceTest, IssuesACertificateBoundTokenThatNarrowsTheScopes) {
  auto issued = service_->Issue(Request({}, "system/Observation.rs system/Consent.r"), Caller());
  ASSERT_TRUE(issued) << issued.error().location << ": " << issued.error().message;
  EXPECT_EQ(issued->scope, "system/Observation.rs system/Consent.r");
  EXPECT_EQ(issued->expires_in, 300);
  // ES256 in JOSE form: the signature is r || s, 64 bytes, 86 base64url characters.
  EXPECT_EQ(issued->access_token.size() - issued->access_token.rfind('.') - 1, 86u);

  auto grant = service_->Verify("Bearer " + issued->access_token, "RJ1", kCertHex, configured_);
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_TRUE(grant->scopes.Allows(Interaction::kSearch, "Observation"));
  EXPECT_FALSE(grant->scopes.Allows(Interaction::kSearch, "Patient"));
  EXPECT_TRUE(grant->scopes.Allows(Interaction::kRead, "Consent"));
  EXPECT_FALSE(grant->scopes.Allows(Interaction::kCreate, "Consent"));
  // The scheme is case-insensitive.
  EXPECT_TRUE(service_->Verify("bearer " + issued->access_token, "RJ1", kCertHex, configured_));

  // Another certificate (even of the same CN), another client, a later time: refused.
  auto stolen =
      service_->Verify("Bearer " + issued->access_token, "RJ1", kOtherCertHex, configured_);
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.error().code, core::ErrorCode::kUnauthenticated);
  EXPECT_FALSE(service_->Verify("Bearer " + issued->access_token, "RGT", kCertHex, configured_));
  EXPECT_FALSE(service_->Verify(issued->access_token, "RJ1", kCertHex, configured_));
  // A configuration narrowed after issue narrows the token too.
  const ScopeSet narrowed = ScopeSet::Parse({"system/Consent.rs"}).value();
  auto now_narrower = service_->Verify("Bearer " + issued->access_token, "RJ1", kCertHex, narrowed);
  ASSERT_TRUE(now_narrower);
  EXPECT_FALSE(now_narrower->scopes.Allows(Interaction::kSearch, "Observation"));
  clock_.now += std::chrono::seconds(301);
  EXPECT_FALSE(service_->Verify("Bearer " + issued->access_token, "RJ1", kCertHex, configured_));
}

// A constrained scope whose value holds an encoded space is granted as that one scope: written
// raw into the token's space-separated `scope`, it came back as two scopes, the second one
// (here Patient) never requested (found by policy_inputs_fuzz).
TEST_F(TokenServiceTest, AConstraintValueWithASpaceStaysOneScope) {
  auto issued = service_->Issue(
      Request({}, "system/Observation.rs?category=lab%20system/Patient.rs"), Caller());
  ASSERT_TRUE(issued) << issued.error().location << ": " << issued.error().message;
  EXPECT_EQ(issued->scope, "system/Observation.rs?category=lab+system/Patient.rs");
  auto grant = service_->Verify("Bearer " + issued->access_token, "RJ1", kCertHex, configured_);
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_EQ(grant->scopes.scopes().size(), 1u);
  EXPECT_FALSE(grant->scopes.Allows(Interaction::kSearch, "Patient"));
  EXPECT_TRUE(grant->scopes.Allows(Interaction::kSearch, "Observation"));
  EXPECT_FALSE(grant->scopes.AllowsUnconstrained(Interaction::kSearch, "Observation"));
}

TEST_F(TokenServiceTest, AnAssertionCanBeUsedOnce) {
  Claims claims;
  claims.jti = "once";
  EXPECT_TRUE(service_->Issue(Request(claims), Caller()));
  auto again = service_->Issue(Request(claims), Caller());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().location, "invalid_client");
}

TEST_F(TokenServiceTest, RefusesBadAssertions) {
  struct Case {
    std::string name;
    Claims claims;
  };
  std::vector<Case> cases;
  cases.push_back({"other issuer", {}});
  cases.back().claims.iss = "RGT";
  cases.push_back({"other subject", {}});
  cases.back().claims.sub = "RGT";
  cases.push_back({"other audience", {}});
  cases.back().claims.aud = "https://elsewhere.example/token";
  cases.push_back({"expired", {}});
  cases.back().claims.exp_in = std::chrono::seconds(-1);
  cases.push_back({"too long-lived", {}});
  cases.back().claims.exp_in = std::chrono::seconds(3600);
  cases.push_back({"no exp", {}});
  cases.back().claims.with_exp = false;
  cases.push_back({"no jti", {}});
  cases.back().claims.jti = "";
  cases.push_back({"HS256 is not allowed", {}});
  cases.back().claims.algorithm = Poco::JWT::Signer::ALGO_HS256;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Claims claims = cases[i].claims;
    if (!claims.jti.empty()) {
      claims.jti = "bad" + std::to_string(i);
    }
    TokenRequest request;
    if (claims.algorithm == Poco::JWT::Signer::ALGO_HS256) {
      Poco::JWT::Token token;
      token.setIssuer("RJ1");
      token.setSubject("RJ1");
      token.setAudience(std::string(kTokenUrl));
      token.setExpiration(At(clock_.now + std::chrono::seconds(60)));
      token.setId(claims.jti);
      Poco::JWT::Signer hmac(client_key_.public_pem);  // the public key as an HMAC secret
      request =
          TokenRequest{"client_credentials", std::string(kJwtBearerAssertionType),
                       hmac.sign(token, Poco::JWT::Signer::ALGO_HS256), "system/Observation.rs"};
    } else {
      request = Request(claims);
    }
    auto issued = service_->Issue(request, Caller());
    ASSERT_FALSE(issued) << cases[i].name;
    EXPECT_EQ(issued.error().location, "invalid_client") << cases[i].name;
    EXPECT_EQ(issued.error().code, core::ErrorCode::kUnauthenticated) << cases[i].name;
  }

  // Signed by a key that is not the client's registered one.
  const KeyPem stranger = NewEcKey();
  TokenRequest forged{"client_credentials", std::string(kJwtBearerAssertionType),
                      Assertion(stranger, {}, clock_.now), "system/Observation.rs"};
  EXPECT_EQ(service_->Issue(forged, Caller()).error().location, "invalid_client");
  // An unsigned token (alg none).
  TokenRequest unsigned_token{"client_credentials", std::string(kJwtBearerAssertionType),
                              "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJSSjEifQ.",
                              "system/Observation.rs"};
  EXPECT_EQ(service_->Issue(unsigned_token, Caller()).error().location, "invalid_client");
  // A client with no registered key, even with a valid certificate.
  EXPECT_EQ(service_->Issue(Request({}), Caller("RGT")).error().location, "invalid_client");
}

TEST_F(TokenServiceTest, RefusesBadGrantsAndScopes) {
  TokenRequest request = Request({});
  request.grant_type = "authorization_code";
  EXPECT_EQ(service_->Issue(request, Caller()).error().location, "unsupported_grant_type");
  request = Request({});
  request.client_assertion_type = "urn:other";
  EXPECT_EQ(service_->Issue(request, Caller()).error().location, "invalid_request");

  Claims claims;
  claims.jti = "s1";
  EXPECT_EQ(service_->Issue(Request(claims, "system/*.cruds"), Caller()).error().location,
            "invalid_scope");  // wider than configured
  claims.jti = "s2";
  EXPECT_EQ(service_->Issue(Request(claims, "openid"), Caller()).error().location,
            "invalid_scope");  // not a resource scope
  claims.jti = "s3";
  EXPECT_EQ(service_->Issue(Request(claims, ""), Caller()).error().location, "invalid_scope");
  claims.jti = "s4";
  auto partly = service_->Issue(Request(claims, "system/Patient.rs system/Patient.u"), Caller());
  ASSERT_TRUE(partly);
  EXPECT_EQ(partly->scope, "system/Patient.rs");  // what is not covered is not granted
}

TEST(Covers, TypePermissionsAndConstraints) {
  const auto scope = [](std::string_view text) { return ParseScope(text).value(); };
  EXPECT_TRUE(Covers(scope("system/*.rs"), scope("system/Observation.rs")));
  EXPECT_TRUE(Covers(scope("system/*.rs"), scope("patient/Observation.s")));
  EXPECT_TRUE(Covers(scope("system/*.rs"), scope("system/Observation.rs?category=laboratory")));
  EXPECT_TRUE(Covers(scope("system/Observation.rs?category=laboratory"),
                     scope("system/Observation.r?category=laboratory")));
  EXPECT_TRUE(Covers(scope("system/*.read"), scope("system/*.rs")));
  EXPECT_FALSE(Covers(scope("system/Observation.rs"), scope("system/*.rs")));
  EXPECT_FALSE(Covers(scope("system/*.rs"), scope("system/Observation.rus")));
  EXPECT_FALSE(
      Covers(scope("system/Observation.rs?category=laboratory"), scope("system/Observation.rs")));
  EXPECT_FALSE(Covers(scope("system/Observation.rs?category=laboratory"),
                      scope("system/Observation.rs?category=vital-signs")));
  EXPECT_FALSE(Covers(scope("system/Patient.rs"), scope("system/Observation.rs")));
}

TEST(ThumbprintFromHex, IsBase64UrlWithoutPadding) {
  EXPECT_EQ(ThumbprintFromHex(kCertHex), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  EXPECT_EQ(ThumbprintFromHex("abc"), "");
  EXPECT_EQ(ThumbprintFromHex(std::string(64, 'g')), "");
}

TEST(TokenServiceCreate, RefusesKeysThatDoNotParse) {
  ManualClock clock;
  EXPECT_EQ(TokenService::Create({"broker-a"}, "not a key", clock).error().code,
            core::ErrorCode::kConfig);
  const KeyPem key = NewEcKey();
  auto service = TokenService::Create({"broker-a"}, key.private_pem, clock);
  ASSERT_TRUE(service);
  EXPECT_EQ((*service)
                ->AddClient("RJ1", "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
                .error()
                .code,
            core::ErrorCode::kConfig);
  EXPECT_FALSE((*service)->HasClient("RJ1"));
}

// OpenSSL's default would prompt on the terminal for the passphrase; the broker refuses instead.
TEST(TokenServiceCreate, RefusesAnEncryptedSigningKeyWithoutAskingForItsPassphrase) {
  ManualClock clock;
  Poco::Crypto::ECKey key("prime256v1");
  std::ostringstream public_pem;
  std::ostringstream encrypted_pem;
  key.save(&public_pem, &encrypted_pem, "secret");
  ASSERT_NE(encrypted_pem.str().find("ENCRYPTED"), std::string::npos);
  auto service = TokenService::Create({"broker-a"}, encrypted_pem.str(), clock);
  ASSERT_FALSE(service);
  EXPECT_EQ(service.error().code, core::ErrorCode::kConfig);
}

}  // namespace
}  // namespace tb::policy
