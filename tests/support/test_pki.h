#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace tb::testing {

// The development PKI that certs/make-dev-pki.sh makes (see certs/README.md), for tests that need
// real certificates: a dev CA with its CRL, one certificate per default name (kBrokerA, kBrokerB,
// kRj1, kRgt, kRxh: CN = the name, SAN localhost + 127.0.0.1, serverAuth + clientAuth), plus the
// bad ones: kRevoked (listed in Crl()), kExpired, and kWrongCa (CN "RJ1", signed by OtherCaCert()).
//
// Get() makes it once per test process, on first use, in a fresh folder under the temp dir, and
// removes that folder when the process exits. Get() is thread-safe; the object is immutable.
// If the script fails the process aborts with the script's output: tests cannot run without it.
class TestPki {
 public:
  static constexpr std::string_view kBrokerA = "broker-a";
  static constexpr std::string_view kBrokerB = "broker-b";
  static constexpr std::string_view kRj1 = "RJ1";
  static constexpr std::string_view kRgt = "RGT";
  static constexpr std::string_view kRxh = "RXH";
  static constexpr std::string_view kRevoked = "revoked";
  static constexpr std::string_view kExpired = "expired";
  static constexpr std::string_view kWrongCa = "wrong-ca";

  static const TestPki& Get();

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::filesystem::path& Dir() const { return dir_; }
  std::filesystem::path CaCert() const { return dir_ / "ca.crt"; }
  std::filesystem::path CaKey() const { return dir_ / "ca.key"; }
  std::filesystem::path Crl() const { return dir_ / "ca.crl"; }
  std::filesystem::path OtherCaCert() const { return dir_ / "other-ca.crt"; }

  // NAME.crt / NAME.key for one of the names above. Throws std::out_of_range (which fails the
  // calling test) if the script made no such file, so a typo in a name is caught at once.
  std::filesystem::path Cert(std::string_view name) const;
  std::filesystem::path Key(std::string_view name) const;

  // NAME's private key as PEM encrypted under `passphrase` (AES-256), for tests that an encrypted
  // key is refused rather than prompted for. Throws std::runtime_error if OpenSSL fails.
  std::string EncryptedKeyPem(std::string_view name, std::string_view passphrase) const;

  // A broker config's "tls" object for NAME: {"cert", "key", "ca"[, "crl"]} with these paths.
  std::string TlsConfigJson(std::string_view name, bool with_crl = true) const;

 private:
  TestPki();
  ~TestPki();

  std::filesystem::path Existing(std::string_view name, std::string_view extension) const;

  std::filesystem::path dir_;
  pid_t owner_pid_;  // only the process that made the folder removes it (not forked children)
};

}  // namespace tb::testing
