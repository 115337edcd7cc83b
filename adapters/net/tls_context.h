#pragma once

#include <memory>

#include "adapters/net/tls_settings.h"
#include "broker/core/result.h"

namespace boost::asio::ssl {
class context;
}

namespace tb::net {

// The one place TLS contexts are built (STYLE.md section 6):
//  - TLS 1.2 minimum, 1.3 preferred; TLS 1.2 limited to ECDHE + AEAD suites;
//  - our chain and key; peers verified against `ca`, and against `crl` when it is set;
//  - server contexts require a client certificate (mutual TLS), client contexts present one
//    when `cert`/`key` are set.
// Problems (missing file, key mismatch, bad PEM, an encrypted key: refused, never a passphrase
// prompt) come back as kConfig errors naming the setting, never the key material. The returned
// context is immutable after construction and may be shared by all threads.
core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(
    const TlsSettings& settings);
core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(
    const TlsSettings& settings);

}  // namespace tb::net
