#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "broker/core/audit_ledger.h"
#include "broker/core/result.h"

namespace tb::ledger {

// The bytes a checkpoint signature covers: the canonical JSON of
//   {"count":N,"head_hash":"...","key_id":"...","time_ms":T,"type":"trustbridge.ledger.checkpoint"}
// (key_id is signed too, so a signature cannot be re-attributed to another key).
std::string CheckpointSigningInput(const core::LedgerCheckpoint& checkpoint);

// Signs checkpoints with the broker's ECDSA P-256 private key (the TLS key; certs/README.md).
// Signatures are ECDSA with SHA-256, DER encoded, then base64. Thread-safety: Sign() may be
// called from many threads. Keys never appear in logs or errors.
class CheckpointSigner {
 public:
  // Errors: kConfig when the file cannot be read, is not a PEM private key, or is not P-256.
  static core::Result<std::unique_ptr<CheckpointSigner>> FromPemFile(
      const std::filesystem::path& key_file);
  static core::Result<std::unique_ptr<CheckpointSigner>> FromPem(std::string_view pem);
  ~CheckpointSigner();
  CheckpointSigner(const CheckpointSigner&) = delete;
  CheckpointSigner& operator=(const CheckpointSigner&) = delete;

  // Hex SHA-256 of the public key (DER SubjectPublicKeyInfo).
  const std::string& key_id() const { return key_id_; }

  // The signed checkpoint for (count, head_hash, time_ms). Errors: kInternal (OpenSSL failed).
  core::Result<core::LedgerCheckpoint> Sign(std::int64_t count, std::string head_hash,
                                            std::int64_t time_ms) const;

  struct Key;  // OpenSSL's EVP_PKEY, in checkpoint_signer.cpp

 private:
  explicit CheckpointSigner(std::unique_ptr<Key> key, std::string key_id);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

// Verifies checkpoint signatures with the broker's public key, read from its certificate (PEM
// X.509) or a PEM public key. Thread-safety: Verify() may be called from many threads.
class CheckpointVerifier {
 public:
  // Errors: kConfig when the file cannot be read or holds no P-256 certificate or public key.
  static core::Result<std::unique_ptr<CheckpointVerifier>> FromPemFile(
      const std::filesystem::path& file);
  static core::Result<std::unique_ptr<CheckpointVerifier>> FromPem(std::string_view pem);
  ~CheckpointVerifier();
  CheckpointVerifier(const CheckpointVerifier&) = delete;
  CheckpointVerifier& operator=(const CheckpointVerifier&) = delete;

  const std::string& key_id() const { return key_id_; }

  // OK when `checkpoint.signature` is a valid signature of CheckpointSigningInput(checkpoint) by
  // this key. Errors: kForbidden with a reason ("signed by another key", "bad signature",
  // "signature is not base64").
  core::Status Verify(const core::LedgerCheckpoint& checkpoint) const;

 private:
  explicit CheckpointVerifier(std::unique_ptr<CheckpointSigner::Key> key, std::string key_id);
  std::unique_ptr<CheckpointSigner::Key> key_;
  std::string key_id_;
};

// A checkpoint as JSON, for export to a peer and back: {"count","head_hash","time_ms",
// "time" (FHIR instant, informative), "key_id","signature"}. Parse errors: kInvalidValue.
std::string CheckpointToJson(const core::LedgerCheckpoint& checkpoint);
core::Result<core::LedgerCheckpoint> CheckpointFromJson(std::string_view json);

}  // namespace tb::ledger
