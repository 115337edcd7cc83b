#pragma once

#include <filesystem>

namespace tb::net {

// Paths to PEM files. Keys are read once at start; they never appear in logs or errors.
struct TlsSettings {
  std::filesystem::path cert;  // our certificate chain (leaf first)
  std::filesystem::path key;   // our private key
  std::filesystem::path ca;    // CA bundle that peer certificates must chain to
  std::filesystem::path crl;   // optional: CRL(s) of that CA; when set, leaf revocation is checked
};

}  // namespace tb::net
