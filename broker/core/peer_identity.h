#pragma once

#include <string>
#include <vector>

namespace tb::core {

// Who is on the other end of a mutually authenticated TLS connection, extracted once after the
// handshake from the verified client certificate. Authorisation uses only this, never headers.
struct PeerIdentity {
  std::string subject_cn;               // participant mapping key (`cert_cn` in config)
  std::string subject;                  // full RFC 2253 subject, for audit
  std::string issuer;                   // RFC 2253 issuer
  std::vector<std::string> dns_names;   // subjectAltName DNS entries
  std::vector<std::string> uris;        // subjectAltName URI entries
  std::string fingerprint_sha256;       // hex SHA-256 of the DER certificate
  std::string remote_address;           // "127.0.0.1:53412"
};

}  // namespace tb::core
