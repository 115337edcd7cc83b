#include "broker/ledger/checkpoint_signer.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "broker/core/digest.h"
#include "broker/core/pem_passphrase.h"
#include "broker/ledger/base64.h"
#include "broker/ledger/canonical_json.h"
#include "broker/ledger/records.h"

namespace tb::ledger {

struct CheckpointSigner::Key {
  explicit Key(EVP_PKEY* p) : pkey(p) {}
  ~Key() { EVP_PKEY_free(pkey); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  EVP_PKEY* pkey;
};

namespace {

constexpr std::string_view kCheckpointType = "trustbridge.ledger.checkpoint";

core::Result<std::string> ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return core::MakeError(core::ErrorCode::kConfig, "cannot read key file " + file.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

bool IsP256(EVP_PKEY* pkey) {
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
    return false;
  }
  char group[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &length) != 1) {
    return false;
  }
  return std::string_view(group, length) == "prime256v1";
}

// Hex SHA-256 of the DER SubjectPublicKeyInfo.
std::string KeyIdOf(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(pkey, &der);
  if (length <= 0) {
    return {};
  }
  std::string id = core::Sha256Hex(
      std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
  OPENSSL_free(der);
  return id;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

}  // namespace

std::string CheckpointSigningInput(const core::LedgerCheckpoint& checkpoint) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& alloc = doc.GetAllocator();
  doc.AddMember("count", checkpoint.count, alloc);
  doc.AddMember("head_hash", fhir::StringValue(checkpoint.head_hash, alloc), alloc);
  doc.AddMember("key_id", fhir::StringValue(checkpoint.key_id, alloc), alloc);
  doc.AddMember("time_ms", checkpoint.time_ms, alloc);
  doc.AddMember("type", fhir::StringValue(kCheckpointType, alloc), alloc);
  return CanonicalJson(doc).value_or(std::string());  // integers and strings only: never fails
}

// ---- signer ------------------------------------------------------------------------------------

CheckpointSigner::CheckpointSigner(std::unique_ptr<Key> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}
CheckpointSigner::~CheckpointSigner() = default;

core::Result<std::unique_ptr<CheckpointSigner>> CheckpointSigner::FromPemFile(
    const std::filesystem::path& key_file) {
  core::Result<std::string> pem = ReadFile(key_file);
  if (!pem) {
    return std::move(pem).error();
  }
  return FromPem(*pem);
}

core::Result<std::unique_ptr<CheckpointSigner>> CheckpointSigner::FromPem(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  EVP_PKEY* pkey =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, core::NoPemPassphrase, nullptr) : nullptr;
  if (pkey == nullptr) {
    return core::MakeError(core::ErrorCode::kConfig,
                           "checkpoint signing key is not a PEM private key (without passphrase)");
  }
  auto key = std::make_unique<Key>(pkey);
  if (!IsP256(pkey)) {
    return core::MakeError(core::ErrorCode::kConfig, "checkpoint signing key is not ECDSA P-256");
  }
  std::string key_id = KeyIdOf(pkey);
  return std::unique_ptr<CheckpointSigner>(new CheckpointSigner(std::move(key), std::move(key_id)));
}

core::Result<core::LedgerCheckpoint> CheckpointSigner::Sign(std::int64_t count,
                                                            std::string head_hash,
                                                            std::int64_t time_ms) const {
  core::LedgerCheckpoint checkpoint;
  checkpoint.count = count;
  checkpoint.head_hash = std::move(head_hash);
  checkpoint.time_ms = time_ms;
  checkpoint.key_id = key_id_;
  const std::string input = CheckpointSigningInput(checkpoint);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return core::MakeError(core::ErrorCode::kInternal, "checkpoint signing failed");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return core::MakeError(core::ErrorCode::kInternal, "checkpoint signing failed");
  }
  signature.resize(length);
  checkpoint.signature = Base64Encode(signature);
  return checkpoint;
}

// ---- verifier ----------------------------------------------------------------------------------

CheckpointVerifier::CheckpointVerifier(std::unique_ptr<CheckpointSigner::Key> key,
                                       std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}
CheckpointVerifier::~CheckpointVerifier() = default;

core::Result<std::unique_ptr<CheckpointVerifier>> CheckpointVerifier::FromPemFile(
    const std::filesystem::path& file) {
  core::Result<std::string> pem = ReadFile(file);
  if (!pem) {
    return std::move(pem).error();
  }
  return FromPem(*pem);
}

core::Result<std::unique_ptr<CheckpointVerifier>> CheckpointVerifier::FromPem(
    std::string_view pem) {
  EVP_PKEY* pkey = nullptr;
  if (BioPtr bio = MemBio(pem); bio) {
    if (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr); cert != nullptr) {
      pkey = X509_get_pubkey(cert);  // a new reference
      X509_free(cert);
    }
  }
  if (pkey == nullptr) {
    if (BioPtr bio = MemBio(pem); bio) {
      pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    }
  }
  if (pkey == nullptr) {
    return core::MakeError(core::ErrorCode::kConfig,
                           "checkpoint key is neither a PEM certificate nor a PEM public key");
  }
  auto key = std::make_unique<CheckpointSigner::Key>(pkey);
  if (!IsP256(pkey)) {
    return core::MakeError(core::ErrorCode::kConfig, "checkpoint key is not ECDSA P-256");
  }
  std::string key_id = KeyIdOf(pkey);
  return std::unique_ptr<CheckpointVerifier>(
      new CheckpointVerifier(std::move(key), std::move(key_id)));
}

core::Status CheckpointVerifier::Verify(const core::LedgerCheckpoint& checkpoint) const {
  if (checkpoint.key_id != key_id_) {
    return core::MakeError(core::ErrorCode::kForbidden, "checkpoint signed by another key");
  }
  std::optional<std::string> signature = Base64Decode(checkpoint.signature);
  if (!signature || signature->empty()) {
    return core::MakeError(core::ErrorCode::kForbidden, "checkpoint signature is not base64");
  }
  const std::string input = CheckpointSigningInput(checkpoint);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1) {
    return core::MakeError(core::ErrorCode::kInternal, "checkpoint verification failed");
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
      reinterpret_cast<const unsigned char*>(input.data()), input.size());
  if (ok != 1) {
    return core::MakeError(core::ErrorCode::kForbidden, "bad checkpoint signature");
  }
  return core::Ok();
}

// ---- JSON --------------------------------------------------------------------------------------

std::string CheckpointToJson(const core::LedgerCheckpoint& checkpoint) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& alloc = doc.GetAllocator();
  doc.AddMember("count", checkpoint.count, alloc);
  doc.AddMember("head_hash", fhir::StringValue(checkpoint.head_hash, alloc), alloc);
  doc.AddMember("time_ms", checkpoint.time_ms, alloc);
  doc.AddMember("time", fhir::StringValue(FormatInstant(checkpoint.time_ms), alloc), alloc);
  doc.AddMember("key_id", fhir::StringValue(checkpoint.key_id, alloc), alloc);
  doc.AddMember("signature", fhir::StringValue(checkpoint.signature, alloc), alloc);
  return fhir::ToJson(doc);
}

core::Result<core::LedgerCheckpoint> CheckpointFromJson(std::string_view json) {
  fhir::JsonLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_depth = 4;
  core::Result<rapidjson::Document> doc = fhir::ParseJson(json, limits);
  if (!doc) {
    return std::move(doc).error();
  }
  core::LedgerCheckpoint checkpoint;
  core::Result<std::int64_t> count = fhir::GetInt64(*doc, "count", "checkpoint");
  if (!count) {
    return std::move(count).error();
  }
  core::Result<std::int64_t> time_ms = fhir::GetInt64(*doc, "time_ms", "checkpoint");
  if (!time_ms) {
    return std::move(time_ms).error();
  }
  core::Result<std::string_view> head = fhir::GetString(*doc, "head_hash", "checkpoint");
  if (!head) {
    return std::move(head).error();
  }
  core::Result<std::string_view> key_id = fhir::GetString(*doc, "key_id", "checkpoint");
  if (!key_id) {
    return std::move(key_id).error();
  }
  core::Result<std::string_view> signature = fhir::GetString(*doc, "signature", "checkpoint");
  if (!signature) {
    return std::move(signature).error();
  }
  checkpoint.count = *count;
  checkpoint.time_ms = *time_ms;
  checkpoint.head_hash = std::string(*head);
  checkpoint.key_id = std::string(*key_id);
  checkpoint.signature = std::string(*signature);
  return checkpoint;
}

}  // namespace tb::ledger
