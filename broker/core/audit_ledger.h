#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace tb::core {

// Search keys of a ledger row (columns next to `canonical`, indexed; migration 006). They repeat
// values inside `canonical` (the hop's agents, target and outcome), so verify can check them.
struct LedgerIndex {
  std::string requester_ods;    // the participant that asked (empty: none)
  std::string source_ods;       // where the data came from
  std::string destination_ods;  // where it went
  std::string target;           // the produced resource's reference ("Bundle/abc")
  int outcome = 0;              // AuditEvent.outcome: 0, 4, 8, 12

  bool operator==(const LedgerIndex&) const = default;
};

// One row of the tamper-evident audit ledger (tb::ledger builds them; docs/ledger.md).
//   hash = lowercase hex SHA-256 of (prev_hash || canonical), prev_hash of seq 1 = 64 x '0'.
// `canonical` is the canonical JSON of the whole entry and repeats seq, recorded_ms, kind and
// nhs_number, so the columns below (kept for queries) cannot be changed without detection.
struct LedgerRecord {
  std::int64_t seq = 0;          // 1, 2, 3, ... without gaps
  std::int64_t recorded_ms = 0;  // UTC milliseconds since the epoch
  std::string kind;        // "inbound", "delivery", "query", "response", "refusal", "audit-access"
  std::string nhs_number;  // empty when the hop names no patient
  std::string canonical;
  std::string prev_hash;
  std::string hash;
  LedgerIndex index;
};

// A search of the ledger (GET /fhir/Provenance, /fhir/AuditEvent). Every set criterion must hold
// (AND); each is answered from an indexed column, never by reading `canonical`.
struct LedgerQuery {
  std::string nhs_number;               // the patient; empty: any
  std::string agent;                    // ODS code as requester, source or destination; empty: any
  std::string target;                   // LedgerIndex::target; empty: any
  std::vector<std::string> kinds;       // any of these kinds; empty: any
  std::optional<int> outcome;           // exactly this outcome code
  std::optional<std::int64_t> from_ms;  // recorded_ms >= from_ms
  std::optional<std::int64_t> to_ms;    // recorded_ms <= to_ms
  // Keyset paging: only seq < after_seq (newest first) or seq > after_seq (oldest first); 0: none.
  std::int64_t after_seq = 0;
  bool newest_first = true;
  std::size_t limit = 50;
};

// A signed statement "the chain had `count` records and its head hash was `head_hash`".
struct LedgerCheckpoint {
  std::int64_t count = 0;
  std::string head_hash;
  std::int64_t time_ms = 0;
  std::string key_id;     // hex SHA-256 of the signer's public key (DER SubjectPublicKeyInfo)
  std::string signature;  // base64 of the DER ECDSA signature (see docs/ledger.md)
};

// What the ledger appends in one transaction: records head+1, head+2, ... and maybe a checkpoint.
struct LedgerBatch {
  std::vector<LedgerRecord> records;
  std::optional<LedgerCheckpoint> checkpoint;
};

// Builds a batch on the chain's head: `head_seq` 0 and `head_hash` empty for an empty ledger.
using LedgerChainer =
    std::function<Result<LedgerBatch>(std::int64_t head_seq, const std::string& head_hash)>;

// One record of the ledger before its place in the chain is known: what tb::ledger makes of a hop
// (ledger::Ledger::Draft). `facts` is the hop's canonical facts JSON.
struct LedgerDraft {
  std::string kind;
  std::string nhs_number;
  std::string facts;
  LedgerIndex index;
};

// Lets another store's write transaction append to the ledger: the inbound store writes a
// message's audit record in the message's own batch transaction (one commit, not two), reading
// the head inside that transaction as LedgerStore::AppendAtHead does. Implemented by
// tb::ledger::Ledger. Thread-safety: any thread.
class LedgerChain {
 public:
  virtual ~LedgerChain() = default;
  // The records of `drafts`, in order, linked behind the head read in the caller's transaction,
  // with the checkpoint that the batch makes due. Writes nothing. Errors: kInternal.
  virtual Result<LedgerBatch> ChainDrafts(const std::vector<LedgerDraft>& drafts,
                                          std::int64_t head_seq, const std::string& head_hash) = 0;
  // Called once the transaction holding a ChainDrafts batch has committed.
  virtual void Committed(const LedgerBatch& batch) = 0;
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
  // One chain however many writers share the storage (broker processes, nodes on one
  // PostgreSQL): takes the storage's ledger write lock for one transaction, reads the head inside
  // it, calls `chain` once with it and writes what it returns, so no other append can come between
  // the head read and the commit. Returns the written batch. Errors: `chain`'s; kStorage;
  // kConflict (only if a writer that does not take the lock raced, e.g. Append).
  virtual Result<LedgerBatch> AppendAtHead(const LedgerChainer& chain) = 0;
  // The record with the highest seq, or nullopt for an empty ledger.
  virtual Result<std::optional<LedgerRecord>> Last() = 0;
  // Up to `limit` records with seq >= from_seq, by seq.
  virtual Result<std::vector<LedgerRecord>> ReadRange(std::int64_t from_seq, std::size_t limit) = 0;
  // The records matching `query`, in seq order (descending when query.newest_first), at most
  // query.limit of them.
  virtual Result<std::vector<LedgerRecord>> Search(const LedgerQuery& query) = 0;
  // Adds one checkpoint (kConflict when one with that count exists).
  virtual Status WriteCheckpoint(const LedgerCheckpoint& checkpoint) = 0;
  // Every checkpoint, by count.
  virtual Result<std::vector<LedgerCheckpoint>> ReadCheckpoints() = 0;
};

}  // namespace tb::core
