#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/audit_ledger.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/result.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/records.h"

namespace tb::ledger {

struct LedgerSettings {
  // Sign and store a checkpoint whenever the record count crosses a multiple of this (at the end
  // of the group-commit batch that crosses it). 0: only on demand (Ledger::Checkpoint()).
  std::int64_t checkpoint_every = 1000;
  // Most records written in one transaction.
  std::size_t max_batch = 1024;
};

struct AppendReceipt {
  std::int64_t seq = 0;
  std::string hash;
};

// The genesis link: prev_hash of seq 1.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The append-only, hash-chained audit ledger over a core::LedgerStore (docs/ledger.md).
//
// Append() builds the hop's Provenance and AuditEvent in the calling thread, then hands the
// canonical JSON to one committer thread, which assigns seq, links and hashes, and writes every
// waiting record in one store transaction (group commit); Append returns once its record is
// durable. The head is read by the store inside the write transaction that appends the batch
// (core::LedgerStore::AppendAtHead), so several processes or nodes sharing a database append one
// chain.
//
// Ownership: holds `store`, `clock` and `signer` (may be null: no checkpoints) by reference; they
// must outlive the Ledger. The destructor commits what is waiting and joins the thread.
// Thread-safety: every method may be called from many threads; they block (storage I/O).
class Ledger final : public core::LedgerChain {
 public:
  // Reads the head of the chain. Errors: kStorage.
  static core::Result<std::unique_ptr<Ledger>> Open(core::LedgerStore& store,
                                                    const core::Clock& clock,
                                                    const CheckpointSigner* signer,
                                                    LedgerSettings settings = {});
  ~Ledger() override;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Records one hop. Errors: ValidateHop's; kStorage (nothing of the batch was written).
  core::Result<AppendReceipt> Append(const HopRecord& hop);

  // Records one hop without blocking: `done` gets what Append would return once the record is
  // durable (or its batch failed). It runs on the committer thread or on the thread of another
  // appender of the same batch, so it must be short, must not throw and must not call Append
  // (which would wait for the thread running it); post real work elsewhere. For an invalid hop,
  // or once the ledger is stopping, it runs at once in the calling thread. Records queued before
  // the destructor runs are committed and reported. Lets a few threads keep many records in
  // flight, which is what group commit needs (docs/ledger.md, Benchmark).
  using AppendCallback = std::function<void(core::Result<AppendReceipt>)>;
  void AppendAsync(const HopRecord& hop, AppendCallback done);

  // Records `hops` (one request's records) in this order, queued together: one lock and at most
  // one wake-up of the committer, which finds them all at once (with AppendAsync per record it
  // could wake for the first, find it alone and wait again for the rest). `done` runs once, as
  // AppendAsync's would, with Ok when every record is durable, else the first failure. An invalid
  // hop appends none of them (ValidateHop's error at once); so does an empty list (Ok at once).
  using AllAppendedCallback = std::function<void(core::Status)>;
  void AppendAllAsync(const std::vector<HopRecord>& hops, AllAppendedCallback done);

  // What Append would chain for `hop`, for a record written in another store's transaction
  // (core::InboundMessage::audit, chained there through ChainDrafts). Errors: ValidateHop's.
  static core::Result<core::LedgerDraft> Draft(const HopRecord& hop);

  // core::LedgerChain: the inbound store's batch transaction appends its messages' records on
  // the same chain (docs/ledger.md, "One commit per message"). ChainDrafts only computes (seq,
  // links, hashes, the checkpoint that falls due); Committed counts the batch in stats().
  core::Result<core::LedgerBatch> ChainDrafts(const std::vector<core::LedgerDraft>& drafts,
                                              std::int64_t head_seq,
                                              const std::string& head_hash) override;
  void Committed(const core::LedgerBatch& batch) override;

  // Signs the current head and stores the checkpoint (or returns the stored one for that count).
  // Errors: kConfig without a signer; kInvalidValue for an empty ledger; kStorage.
  core::Result<core::LedgerCheckpoint> Checkpoint();

  // The records about one patient, in seq (time) order: the data journey; those after seq
  // `after_seq`, at most `limit` of them (a page: JourneyApi).
  // Errors: kInvalidValue for an invalid NHS number; kStorage.
  static constexpr std::size_t kWholeJourney = std::numeric_limits<std::int64_t>::max();
  core::Result<std::vector<core::LedgerRecord>> Journey(const std::string& nhs_number,
                                                        std::int64_t after_seq = 0,
                                                        std::size_t limit = kWholeJourney);

  // The records matching `query` (core::LedgerStore::Search): FHIR Provenance/AuditEvent search.
  // Errors: kInvalidValue for an invalid NHS number; kStorage.
  core::Result<std::vector<core::LedgerRecord>> Search(const core::LedgerQuery& query);

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t records = 0;
    std::uint64_t checkpoints = 0;
  };
  Stats stats() const;

 private:
  struct Pending;
  Ledger(core::LedgerStore& store, const core::Clock& clock, const CheckpointSigner* signer,
         LedgerSettings settings, std::int64_t head_seq, std::string head_hash);
  void RunCommitter();
  // Called with mutex_ held after queueing a record: whether the committer must be notified.
  bool ShouldWakeLocked();
  // Queues `records` (AppendAsync's and AppendAllAsync's: each reports through its on_done) in
  // order under one lock and wakes the committer if it waits for them. False once the ledger is
  // stopping: nothing was queued and the records are still the caller's.
  bool EnqueueAsync(std::span<std::unique_ptr<Pending>> records);
  void CommitBatch(const std::vector<Pending*>& batch);
  // The records (and checkpoint, when a multiple of checkpoint_every is crossed) of `batch` linked
  // behind the head the store read inside its write transaction.
  core::Result<core::LedgerBatch> Chain(const std::vector<const core::LedgerDraft*>& batch,
                                        std::int64_t head_seq, const std::string& head_hash,
                                        std::int64_t recorded_ms) const;
  static core::LedgerDraft DraftOf(const HopRecord& hop);  // `hop` already validated

  core::LedgerStore& store_;
  const core::Clock& clock_;
  const CheckpointSigner* signer_;
  const LedgerSettings settings_;
  core::Logger logger_{"tb.ledger"};

  // The highest record this process wrote, by either path (for Checkpoint()).
  void AdvanceHead(const core::LedgerRecord& last);
  std::mutex head_mutex_;  // guards head_seq_, head_hash_
  std::int64_t head_seq_;
  std::string head_hash_;

  mutable std::mutex mutex_;  // guards queue_, stopping_, stats_
  std::condition_variable work_;
  std::deque<Pending*> queue_;
  // The queue length at which the waiting committer wants a notification; 0 while it runs.
  std::size_t wake_at_ = 0;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;
};

// A record's entry (entry.h) with its resources: {"audit_event":{...},"kind":"...",
// "nhs_number":"...","provenance":{...},"recorded_ms":N,"seq":N,"v":1|2}; a v2 entry also keeps
// its "hop" and gets the resources built from it. Errors: kInvalidValue.
core::Result<rapidjson::Document> ParseEntry(const core::LedgerRecord& record);

}  // namespace tb::ledger
