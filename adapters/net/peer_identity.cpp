#include "adapters/net/peer_identity.h"

#include <array>
#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace tb::net {
namespace {

std::string NameToString(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) {
    return {};
  }
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(length > 0 ? length : 0));
  BIO_free(bio);
  return text;
}

std::string CommonName(const X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return {};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    return {};
  }
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return cn;
}

void ReadAltNames(X509* cert, core::PeerIdentity& identity) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    return;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
    if (entry->type != GEN_DNS && entry->type != GEN_URI) {
      continue;
    }
    const ASN1_IA5STRING* text = entry->type == GEN_DNS ? entry->d.dNSName
                                                        : entry->d.uniformResourceIdentifier;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                      static_cast<std::size_t>(ASN1_STRING_length(text)));
    (entry->type == GEN_DNS ? identity.dns_names : identity.uris).push_back(std::move(value));
  }
  GENERAL_NAMES_free(names);
}

std::string Fingerprint(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &length) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0f];
  }
  return hex;
}

}  // namespace

core::PeerIdentity ExtractPeerIdentity(ssl_st* ssl) {
  core::PeerIdentity identity;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) {
    return identity;
  }
  identity.subject = NameToString(X509_get_subject_name(cert));
  identity.issuer = NameToString(X509_get_issuer_name(cert));
  identity.subject_cn = CommonName(X509_get_subject_name(cert));
  ReadAltNames(cert, identity);
  identity.fingerprint_sha256 = Fingerprint(cert);
  X509_free(cert);
  return identity;
}

}  // namespace tb::net
