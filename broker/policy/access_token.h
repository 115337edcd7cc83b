#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/core/clock.h"
#include "broker/core/result.h"
#include "broker/policy/scope.h"

// OAuth 2.0 for SMART Backend Services (issue 6 item 7; docs/policy.md "Access tokens"):
// the client_credentials grant with a private_key_jwt client assertion, issuing short-lived
// access tokens bound to the client's TLS certificate (RFC 8705: the token's cnf.x5t#S256 is the
// SHA-256 thumbprint of the certificate it was issued over) and checked against the presenting
// certificate on every request. A token can only narrow what the certificate's participant is
// configured for; identity still comes from the certificate.
//
// Errors of Issue carry the OAuth error code in Error::location ("invalid_request",
// "invalid_client", "invalid_grant", "unsupported_grant_type", "invalid_scope") and a description
// in the message that never echoes the assertion or a claim value. Verify fails with
// kUnauthenticated.
//
// Thread-safety: after setup (Create, AddClient), Issue and Verify may be called from any thread.
namespace tb::policy {

inline constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// The form fields of the token request.
struct TokenRequest {
  std::string grant_type;
  std::string client_assertion_type;
  std::string client_assertion;
  std::string scope;  // space-separated SMART scopes
};

// Who asks for a token, from the TLS connection and the config.
struct TokenCaller {
  std::string cert_cn;                   // the client_id: the assertion's iss and sub must equal it
  std::string cert_sha256_hex;           // thumbprint of the presented certificate (DER), hex
  std::string token_url;                 // what the assertion's aud must be
  const ScopeSet* configured = nullptr;  // the participant's scopes (required)
};

struct IssuedToken {
  std::string access_token;
  std::string scope;  // the granted scopes, canonical, space-separated
  std::int64_t expires_in = 0;
};

// What a verified bearer token grants: the scopes it carries that the participant's
// configuration still covers.
struct BearerGrant {
  std::string client_id;
  ScopeSet scopes;
};

// True when every access `narrow` grants is granted by `wide`: the same or a wildcard type, a
// superset of permissions, and either no constraints in `wide` or exactly the same ones.
bool Covers(const Scope& wide, const Scope& narrow);

// "ab12..." (hex SHA-256) -> base64url without padding, as in cnf.x5t#S256. Empty when the input
// is not 64 hex digits.
std::string ThumbprintFromHex(std::string_view sha256_hex);

class TokenService {
 public:
  struct Settings {
    std::string issuer;  // the broker id: iss of issued tokens
    std::chrono::seconds lifetime{300};
    std::chrono::seconds max_assertion_lifetime{300};  // exp of an assertion at most this far
    std::size_t max_remembered_assertions = 100000;    // jti replay cache bound
  };

  // `signing_key_pem`: the broker's private key, PEM (EC P-256 signs ES256, RSA signs RS256).
  // kConfig when it does not parse.
  static core::Result<std::unique_ptr<TokenService>> Create(Settings settings,
                                                            std::string_view signing_key_pem,
                                                            const core::Clock& clock);
  ~TokenService();
  TokenService(const TokenService&) = delete;
  TokenService& operator=(const TokenService&) = delete;

  // Registers the key that verifies `client_id`'s assertions: a PEM public key or certificate
  // (EC: ES256/ES384, RSA: RS256/RS384). kConfig when it does not parse.
  core::Status AddClient(const std::string& client_id, std::string_view public_key_pem);
  bool HasClient(std::string_view client_id) const;

  // The token endpoint: checks the grant, the assertion (signature with the client's registered
  // key, iss = sub = the certificate's CN, aud = the token URL, exp in the future and at most
  // max_assertion_lifetime ahead, a jti not seen before) and grants the requested scopes the
  // configuration covers (none covered: invalid_scope).
  core::Result<IssuedToken> Issue(const TokenRequest& request, const TokenCaller& caller) const;

  // The check on every request that carries `Authorization: Bearer <token>`: our signature,
  // not expired, issued to `cert_cn`, and bound to the certificate presented now.
  core::Result<BearerGrant> Verify(std::string_view authorization, std::string_view cert_cn,
                                   std::string_view cert_sha256_hex,
                                   const ScopeSet& configured) const;

  std::chrono::seconds lifetime() const { return settings_.lifetime; }

 private:
  struct Keys;
  TokenService(Settings settings, const core::Clock& clock);
  // Remembers (client, jti) until `expires`; false when it was already there.
  bool RememberAssertion(const std::string& key, std::chrono::system_clock::time_point expires,
                         std::chrono::system_clock::time_point now) const;

  Settings settings_;
  const core::Clock& clock_;
  std::unique_ptr<Keys> keys_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::chrono::system_clock::time_point> seen_;  // guarded
};

}  // namespace tb::policy
