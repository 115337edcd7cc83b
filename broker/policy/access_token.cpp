#include "broker/policy/access_token.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <Poco/Base64Encoder.h>
#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/EVPPKey.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/SharedPtr.h>
#include <Poco/Timestamp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "broker/core/pem_passphrase.h"

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using Clock = std::chrono::system_clock;

// One loaded key: exactly one of the two is set.
struct Key {
  Poco::SharedPtr<Poco::Crypto::ECKey> ec;
  Poco::SharedPtr<Poco::Crypto::RSAKey> rsa;
};

core::Result<Key> KeyFrom(const Poco::Crypto::EVPPKey& evp) {
  Key key;
  if (evp.type() == EVP_PKEY_EC) {
    key.ec = new Poco::Crypto::ECKey(evp);
  } else if (evp.type() == EVP_PKEY_RSA) {
    key.rsa = new Poco::Crypto::RSAKey(evp);
  } else {
    return MakeError(ErrorCode::kConfig, "the key is neither EC nor RSA");
  }
  return key;
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Read here rather than by Poco's EVPPKey(std::istream*), which leaks the key it allocated when
// the text does not parse; Poco copies the parsed key (EVPPKey(EVP_PKEY*)).
PkeyPtr ReadPemKey(std::string_view pem, bool private_key) {
  if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return nullptr;
  }
  const std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return nullptr;
  }
  PkeyPtr key(private_key
                  ? PEM_read_bio_PrivateKey(bio.get(), nullptr, core::NoPemPassphrase, nullptr)
                  : PEM_read_bio_PUBKEY(bio.get(), nullptr, core::NoPemPassphrase, nullptr));
  ERR_clear_error();  // a failed read leaves its reasons queued on this thread
  return key;
}

// A PEM private key (private_key) or a PEM public key or certificate.
core::Result<Key> LoadKey(std::string_view pem, bool private_key) {
  const auto unreadable = [private_key] {
    return MakeError(ErrorCode::kConfig,
                     private_key ? "not a PEM private key" : "not a PEM public key or certificate");
  };
  try {
    if (!private_key && pem.find("BEGIN CERTIFICATE") != std::string_view::npos) {
      std::istringstream stream{std::string(pem)};
      const Poco::Crypto::X509Certificate certificate(stream);
      EVP_PKEY* public_key = X509_get0_pubkey(certificate.certificate());
      if (public_key == nullptr) {
        return MakeError(ErrorCode::kConfig, "the certificate has no usable public key");
      }
      return KeyFrom(Poco::Crypto::EVPPKey(public_key));
    }
    const PkeyPtr key = ReadPemKey(pem, private_key);
    if (!key) {
      return unreadable();
    }
    return KeyFrom(Poco::Crypto::EVPPKey(key.get()));
  } catch (const Poco::Exception&) {
    return unreadable();
  }
}

// A signer for `key` allowing the algorithms SMART Backend Services names for its type.
void SetUp(Poco::JWT::Signer& signer, const Key& key) {
  if (key.ec) {
    signer.setECKey(key.ec);
    signer.setAlgorithms({Poco::JWT::Signer::ALGO_ES256, Poco::JWT::Signer::ALGO_ES384});
  } else {
    signer.setRSAKey(key.rsa);
    signer.setAlgorithms({Poco::JWT::Signer::ALGO_RS256, Poco::JWT::Signer::ALGO_RS384});
  }
}

core::Error OAuthError(std::string_view code, std::string message) {
  const ErrorCode kind =
      code == "invalid_client" ? ErrorCode::kUnauthenticated : ErrorCode::kInvalidValue;
  return MakeError(kind, std::move(message), std::string(code));
}

core::Error Unauthenticated(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message), "Authorization");
}

Poco::Timestamp ToPoco(Clock::time_point time) {
  return Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count()));
}

Clock::time_point FromPoco(const Poco::Timestamp& time) {
  return Clock::time_point(std::chrono::microseconds(time.epochMicroseconds()));
}

std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char byte : random) {
    out += kHex[byte >> 4U];
    out += kHex[byte & 0x0FU];
  }
  return out;
}

bool SameToken(const ScopeToken& a, const ScopeToken& b) {
  return a.system == b.system && a.code == b.code;
}

bool SameConstraints(const std::vector<ScopeConstraint>& a, const std::vector<ScopeConstraint>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return x.param == y.param && x.any_of.size() == y.any_of.size() &&
                  std::equal(x.any_of.begin(), x.any_of.end(), y.any_of.begin(), SameToken);
         });
}

// The scopes of `granted` that some scope of `configured` covers.
std::vector<Scope> CoveredScopes(const std::vector<Scope>& granted, const ScopeSet& configured) {
  std::vector<Scope> kept;
  for (const Scope& scope : granted) {
    const bool covered = std::any_of(configured.scopes().begin(), configured.scopes().end(),
                                     [&](const Scope& wide) { return Covers(wide, scope); });
    if (covered) {
      kept.push_back(scope);
    }
  }
  return kept;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

struct TokenService::Keys {
  Key signing;
  std::string algorithm;
  std::map<std::string, Key, std::less<>> clients;
};

bool Covers(const Scope& wide, const Scope& narrow) {
  const bool type = wide.resource_type == "*" || wide.resource_type == narrow.resource_type;
  const bool permissions = (narrow.permissions & static_cast<Permissions>(~wide.permissions)) == 0;
  const bool constraints =
      wide.constraints.empty() || SameConstraints(wide.constraints, narrow.constraints);
  return type && permissions && constraints;
}

std::string ThumbprintFromHex(std::string_view sha256_hex) {
  if (sha256_hex.size() != 64) {
    return {};
  }
  std::string bytes;
  for (std::size_t i = 0; i < sha256_hex.size(); i += 2) {
    const int high = HexValue(sha256_hex[i]);
    const int low = HexValue(sha256_hex[i + 1]);
    if (high < 0 || low < 0) {
      return {};
    }
    bytes += static_cast<char>((high << 4) | low);
  }
  std::ostringstream out;
  Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  encoder << bytes;
  encoder.close();
  return out.str();
}

TokenService::TokenService(Settings settings, const core::Clock& clock)
    : settings_(std::move(settings)), clock_(clock), keys_(std::make_unique<Keys>()) {}

TokenService::~TokenService() = default;

core::Result<std::unique_ptr<TokenService>> TokenService::Create(Settings settings,
                                                                 std::string_view signing_key_pem,
                                                                 const core::Clock& clock) {
  auto key = LoadKey(signing_key_pem, true);
  if (!key) {
    return MakeError(ErrorCode::kConfig, "token signing key: " + key.error().message);
  }
  std::unique_ptr<TokenService> service(new TokenService(std::move(settings), clock));
  service->keys_->algorithm =
      key->ec ? Poco::JWT::Signer::ALGO_ES256 : Poco::JWT::Signer::ALGO_RS256;
  service->keys_->signing = std::move(*key);
  return service;
}

core::Status TokenService::AddClient(const std::string& client_id,
                                     std::string_view public_key_pem) {
  auto key = LoadKey(public_key_pem, false);
  if (!key) {
    return key.error();
  }
  keys_->clients[client_id] = std::move(*key);
  return {};
}

bool TokenService::HasClient(std::string_view client_id) const {
  return keys_->clients.find(client_id) != keys_->clients.end();
}

bool TokenService::RememberAssertion(const std::string& key, Clock::time_point expires,
                                     Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = it->second <= now ? seen_.erase(it) : std::next(it);
  }
  if (seen_.count(key) > 0 || seen_.size() >= settings_.max_remembered_assertions) {
    return false;  // a replay, or too many live assertions to tell (fail closed)
  }
  seen_.emplace(key, expires);
  return true;
}

core::Result<IssuedToken> TokenService::Issue(const TokenRequest& request,
                                              const TokenCaller& caller) const {
  if (request.grant_type != "client_credentials") {
    return OAuthError("unsupported_grant_type", "grant_type must be client_credentials");
  }
  if (request.client_assertion_type != kJwtBearerAssertionType) {
    return OAuthError("invalid_request",
                      "client_assertion_type must be " + std::string(kJwtBearerAssertionType));
  }
  if (request.client_assertion.empty() || request.client_assertion.size() > 8192) {
    return OAuthError("invalid_request", "client_assertion is missing or too long");
  }
  const auto client = keys_->clients.find(caller.cert_cn);
  if (client == keys_->clients.end()) {
    return OAuthError("invalid_client", "no key is registered for this client");
  }
  const Clock::time_point now = clock_.Now();
  Poco::JWT::Token assertion;
  try {
    Poco::JWT::Signer signer;
    SetUp(signer, client->second);
    if (!signer.tryVerify(request.client_assertion, assertion)) {
      return OAuthError("invalid_client", "the client assertion's signature does not verify");
    }
  } catch (const Poco::Exception&) {
    return OAuthError("invalid_client",
                      "the client assertion is not a JWT signed with an "
                      "allowed algorithm (ES256, ES384, RS256, RS384)");
  }
  try {
    if (assertion.getIssuer() != caller.cert_cn || assertion.getSubject() != caller.cert_cn) {
      return OAuthError("invalid_client",
                        "the assertion's iss and sub must be the client_id (certificate CN)");
    }
    const std::vector<std::string> audience = assertion.getAudience();
    if (std::find(audience.begin(), audience.end(), caller.token_url) == audience.end()) {
      return OAuthError("invalid_client", "the assertion's aud must be the token endpoint URL");
    }
    if (!assertion.payload().has("exp")) {
      return OAuthError("invalid_client", "the assertion has no exp");
    }
    const Clock::time_point expires = FromPoco(assertion.getExpiration());
    if (expires <= now || expires > now + settings_.max_assertion_lifetime) {
      return OAuthError("invalid_client",
                        "the assertion's exp must be in the future and at most 5 minutes ahead");
    }
    const std::string jti = assertion.getId();
    if (jti.empty() || jti.size() > 255) {
      return OAuthError("invalid_client", "the assertion needs a jti of at most 255 characters");
    }
    if (!RememberAssertion(caller.cert_cn + "\n" + jti, expires, now)) {
      return OAuthError("invalid_client", "this assertion (jti) was already used");
    }
  } catch (const Poco::Exception&) {
    return OAuthError("invalid_client", "the assertion's claims have the wrong types");
  }

  // Scopes: each requested scope must parse; the ones the configuration covers are granted.
  auto requested = ScopeSet::ParseSpaceSeparated(request.scope);
  if (!requested || requested->empty()) {
    return OAuthError("invalid_scope",
                      requested ? std::string("no scope was requested")
                                : "a requested scope is malformed: " + requested.error().message);
  }
  static const ScopeSet kNone;
  const std::vector<Scope> granted =
      CoveredScopes(requested->scopes(), caller.configured != nullptr ? *caller.configured : kNone);
  if (granted.empty()) {
    return OAuthError("invalid_scope", "none of the requested scopes is granted to this client");
  }
  std::string scope_text;
  for (const Scope& scope : granted) {
    scope_text += (scope_text.empty() ? "" : " ") + ToString(scope);
  }

  const std::string thumbprint = ThumbprintFromHex(caller.cert_sha256_hex);
  const std::string id = RandomHex(16);
  if (thumbprint.empty() || id.empty()) {
    return MakeError(ErrorCode::kInternal, "cannot bind a token to this connection");
  }
  Poco::JWT::Token token;
  token.setType("JWT");
  token.setIssuer(settings_.issuer);
  token.setSubject(caller.cert_cn);
  token.setAudience(settings_.issuer);
  token.setIssuedAt(ToPoco(now));
  token.setExpiration(ToPoco(now + settings_.lifetime));
  token.setId(id);
  token.payload().set("scope", scope_text);
  Poco::JSON::Object::Ptr confirmation = new Poco::JSON::Object;
  confirmation->set("x5t#S256", thumbprint);
  token.payload().set("cnf", confirmation);
  IssuedToken issued;
  try {
    Poco::JWT::Signer signer;
    SetUp(signer, keys_->signing);
    issued.access_token = signer.sign(token, keys_->algorithm);
  } catch (const Poco::Exception&) {
    return MakeError(ErrorCode::kInternal, "the access token could not be signed");
  }
  issued.scope = std::move(scope_text);
  issued.expires_in = settings_.lifetime.count();
  return issued;
}

core::Result<BearerGrant> TokenService::Verify(std::string_view authorization,
                                               std::string_view cert_cn,
                                               std::string_view cert_sha256_hex,
                                               const ScopeSet& configured) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                  [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b); })) {
    return Unauthenticated("Authorization must be 'Bearer <access token>'");
  }
  const std::string jwt(authorization.substr(kScheme.size()));
  Poco::JWT::Token token;
  try {
    Poco::JWT::Signer signer;
    SetUp(signer, keys_->signing);
    signer.setAlgorithms({keys_->algorithm});
    if (!signer.tryVerify(jwt, token)) {
      return Unauthenticated("the access token's signature does not verify");
    }
  } catch (const Poco::Exception&) {
    return Unauthenticated("the access token is not one this broker issued");
  }
  try {
    if (token.getIssuer() != settings_.issuer) {
      return Unauthenticated("the access token is not one this broker issued");
    }
    if (!token.payload().has("exp") || FromPoco(token.getExpiration()) <= clock_.Now()) {
      return Unauthenticated("the access token has expired");
    }
    if (token.getSubject() != cert_cn) {
      return Unauthenticated("the access token was issued to another client");
    }
    // RFC 8705: the token is bound to the certificate it was issued over.
    const Poco::JSON::Object::Ptr confirmation = token.payload().getObject("cnf");
    const std::string thumbprint = ThumbprintFromHex(cert_sha256_hex);
    if (confirmation.isNull() || thumbprint.empty() ||
        confirmation->optValue<std::string>("x5t#S256", "") != thumbprint) {
      return Unauthenticated("the access token is bound to another certificate");
    }
    auto scopes = ScopeSet::ParseSpaceSeparated(token.payload().optValue<std::string>("scope", ""));
    if (!scopes) {
      return Unauthenticated("the access token's scope is malformed");
    }
    // Only what the configuration still grants (it may have narrowed since the token was issued).
    return BearerGrant{std::string(cert_cn), ScopeSet(CoveredScopes(scopes->scopes(), configured))};
  } catch (const Poco::Exception&) {
    return Unauthenticated("the access token's claims have the wrong types");
  }
}

}  // namespace tb::policy
