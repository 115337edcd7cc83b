#include "tests/support/test_pki.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/wait.h>

namespace tb::testing {
namespace {

// Test setup failed: nothing useful can run, so say why and stop the process.
[[noreturn]] void Fatal(const std::string& why) {
  std::fprintf(stderr, "tb::testing::TestPki: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

// Quotes `text` as one word for /bin/sh.
std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += "'";
  return quoted;
}

}  // namespace

const TestPki& TestPki::Get() {
  static const TestPki pki;  // thread-safe once-only initialisation; destroyed at exit
  return pki;
}

TestPki::TestPki() : owner_pid_(getpid()) {
  std::string pattern = (std::filesystem::temp_directory_path() / "tb-pki-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    Fatal("mkdtemp(" + pattern + ") failed: " + std::strerror(errno));
  }
  dir_ = pattern;

  const std::filesystem::path script =
      std::filesystem::path(TB_SOURCE_DIR) / "certs" / "make-dev-pki.sh";
  // --quiet: the script prints only on failure, and then to stderr, which the test log keeps.
  const std::string command = ShellQuote(script.string()) + " --quiet " + ShellQuote(dir_.string());
  const int status = std::system(command.c_str());
  if (status == -1) {
    Fatal("could not run " + script.string() + ": " + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status)
                                ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                : "was killed by a signal";
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    Fatal(script.string() + " " + how + " making the test PKI in " + dir_.string() +
          " (see its output above; it needs bash and the openssl CLI)");
  }
}

TestPki::~TestPki() {
  if (getpid() != owner_pid_) {
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::filesystem::path TestPki::Cert(std::string_view name) const { return Existing(name, ".crt"); }

std::filesystem::path TestPki::Key(std::string_view name) const { return Existing(name, ".key"); }

std::filesystem::path TestPki::Existing(std::string_view name, std::string_view extension) const {
  std::filesystem::path path = dir_ / (std::string(name) + std::string(extension));
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw std::out_of_range("TestPki has no " + path.filename().string() +
                            " (names: broker-a, broker-b, RJ1, RGT, RXH, revoked, expired, "
                            "wrong-ca)");
  }
  return path;
}

std::string TestPki::EncryptedKeyPem(std::string_view name, std::string_view passphrase) const {
  const std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(Key(name).c_str(), "r"),
                                                     &BIO_free);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  const std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  std::string secret(passphrase);
  if (!key || !out ||
      PEM_write_bio_PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(),
                               reinterpret_cast<unsigned char*>(secret.data()),
                               static_cast<int>(secret.size()), nullptr, nullptr) != 1) {
    throw std::runtime_error("TestPki cannot encrypt the key of " + std::string(name));
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string TestPki::TlsConfigJson(std::string_view name, bool with_crl) const {
  std::string json = R"({ "cert": ")" + Cert(name).string() + R"(", "key": ")" +
                     Key(name).string() + R"(", "ca": ")" + CaCert().string() + '"';
  if (with_crl) {
    json += R"(, "crl": ")" + Crl().string() + '"';
  }
  return json + " }";
}

}  // namespace tb::testing
