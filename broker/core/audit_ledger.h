#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace tb::core {

// One row of the tamper-evident audit ledger (tb::ledger builds them; docs/ledger.md).
//   hash = lowercase hex SHA-256 of (prev_hash || canonical), prev_hash of seq 1 = 64 x '0'.
// `canonical` is the canonical JSON of the whole entry and repeats seq, recorded_ms, kind and
// nhs_number, so the columns below (kept for queries) cannot be changed without detection.
struct LedgerRecord {
  std::int64_t seq = 0;          // 1, 2, 3, ... without gaps
  std::int64_t recorded_ms = 0;  // UTC milliseconds since the epoch
  std::string kind;              // "inbound", "delivery", "query", "response", "refusal"
  std::string nhs_number;        // empty when the hop names no patient
  std::string canonical;
  std::string prev_hash;
  std::string hash;
};

// A signed statement "the chain had `count` records and its head hash was `head_hash`".
struct LedgerCheckpoint {
  std::int64_t count = 0;
  std::string head_hash;
  std::int64_t time_ms = 0;
  std::string key_id;     // hex SHA-256 of the signer's public key (DER SubjectPublicKeyInfo)
  std::string signature;  // base64 of the DER ECDSA signature (see docs/ledger.md)
};

// Storage of the ledger. Implementations: tb::store (SQLite, PostgreSQL; MakeLedgerStore) and
// tb::ledger's InMemoryLedgerStore. The store keeps rows as given: chaining, hashing and
// signing are tb::ledger's job. It never updates or deletes.
// Thread-safety: any thread. Methods block (storage I/O): call them off the I/O threads.
// Errors: kStorage; kConflict from Append when a seq (or a checkpoint's count) already exists,
// in which case nothing of the call was written.
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // Writes `records` and, if not null, `checkpoint` in one transaction.
  virtual Status Append(const std::vector<LedgerRecord>& records,
                        const LedgerCheckpoint* checkpoint) = 0;
  // The record with the highest seq, or nullopt for an empty ledger.
  virtual Result<std::optional<LedgerRecord>> Last() = 0;
  // Up to `limit` records with seq >= from_seq, by seq.
  virtual Result<std::vector<LedgerRecord>> ReadRange(std::int64_t from_seq, std::size_t limit) = 0;
  // Every record whose nhs_number column is `nhs_number`, by seq.
  virtual Result<std::vector<LedgerRecord>> ReadByNhsNumber(const std::string& nhs_number) = 0;
  // Adds one checkpoint (kConflict when one with that count exists).
  virtual Status WriteCheckpoint(const LedgerCheckpoint& checkpoint) = 0;
  // Every checkpoint, by count.
  virtual Result<std::vector<LedgerCheckpoint>> ReadCheckpoints() = 0;
};

}  // namespace tb::core
