#include "adapters/net/tls_context.h"

#include <cstdio>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "broker/core/pem_passphrase.h"

namespace tb::net {
namespace {

namespace ssl = boost::asio::ssl;
using core::ErrorCode;
using core::MakeError;

// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Session id context: required for session resumption when client certificates are verified.
constexpr unsigned char kSessionIdContext[] = "trustbridge";

std::string OpenSslReason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown reason";
  }
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown reason";
}

core::Error ConfigError(const std::string& what, const std::filesystem::path& path) {
  return MakeError(ErrorCode::kConfig, what + " (" + path.string() + "): " + OpenSslReason(),
                   "tls");
}

core::Status LoadCrl(SSL_CTX* ctx, const std::filesystem::path& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    return MakeError(ErrorCode::kConfig, "cannot open CRL file (" + path.string() + ")", "tls.crl");
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  while (X509_CRL* crl = PEM_read_X509_CRL(file, nullptr, nullptr, nullptr)) {
    const int added = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    if (added != 1) {
      std::fclose(file);
      return ConfigError("cannot add CRL", path);
    }
    ++loaded;
  }
  std::fclose(file);
  ERR_clear_error();  // PEM_read at end of file leaves a "no start line" error behind
  if (loaded == 0) {
    return MakeError(ErrorCode::kConfig, "no CRL found in file (" + path.string() + ")", "tls.crl");
  }
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  return core::Ok();
}

core::Status Configure(ssl::context& context, const TlsSettings& settings, bool server) {
  SSL_CTX* ctx = context.native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return MakeError(ErrorCode::kConfig, "cannot restrict TLS versions/ciphers", "tls");
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);

  const bool has_cert = !settings.cert.empty();
  if (has_cert != !settings.key.empty()) {
    return MakeError(ErrorCode::kConfig, "tls.cert and tls.key must be set together", "tls");
  }
  if (server && !has_cert) {
    return MakeError(ErrorCode::kConfig, "a listener needs tls.cert and tls.key", "tls.cert");
  }
  if (has_cert) {
    if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert.c_str()) != 1) {
      return ConfigError("cannot load certificate chain", settings.cert);
    }
    SSL_CTX_set_default_passwd_cb(ctx, core::NoPemPassphrase);  // encrypted: refused, no prompt
    if (SSL_CTX_use_PrivateKey_file(ctx, settings.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      // Say which file; never anything about its content.
      return ConfigError("cannot load private key", settings.key);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return MakeError(ErrorCode::kConfig, "tls.key does not match tls.cert", "tls.key");
    }
  }
  if (settings.ca.empty()) {
    return MakeError(ErrorCode::kConfig, "tls.ca is required to verify peers", "tls.ca");
  }
  if (SSL_CTX_load_verify_locations(ctx, settings.ca.c_str(), nullptr) != 1) {
    return ConfigError("cannot load CA bundle", settings.ca);
  }
  if (!settings.crl.empty()) {
    if (auto status = LoadCrl(ctx, settings.crl); !status) {
      return status;
    }
  }
  if (server) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return core::Ok();
}

core::Result<std::shared_ptr<ssl::context>> Make(const TlsSettings& settings, bool server) {
  auto context =
      std::make_shared<ssl::context>(server ? ssl::context::tls_server : ssl::context::tls_client);
  if (auto status = Configure(*context, settings, server); !status) {
    return std::move(status).error();
  }
  return context;
}

}  // namespace

core::Result<std::shared_ptr<ssl::context>> MakeServerContext(const TlsSettings& settings) {
  return Make(settings, true);
}

core::Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsSettings& settings) {
  return Make(settings, false);
}

}  // namespace tb::net
