#include "broker/core/digest.h"

#include <array>
#include <cstdlib>
#include <memory>

#include <openssl/evp.h>

namespace tb::core {
namespace {

// SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up again (a locked
// method-store query) on every digest, and this runs for every message and audit record.
const EVP_MD* Sha256() {
  static const EVP_MD* const kFetched = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return kFetched;
}

struct ContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  // One context per thread, re-initialised for each digest, instead of one allocated per call.
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextFree> context(EVP_MD_CTX_new());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // These fail only on allocation failure; carrying on with a wrong digest would break dedupe
  // and the ledger, so that is fatal.
  if (!context || EVP_DigestInit_ex2(context.get(), Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0F]);
  }
  return hex;
}

}  // namespace tb::core
