#include "broker/ledger/ledger.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/core/nhs_number.h"
#include "broker/ledger/entry.h"

namespace tb::ledger {

struct Ledger::Pending {
  core::LedgerDraft draft;
  std::optional<core::Result<AppendReceipt>> result;
  // A condition variable, not a semaphore: libstdc++'s semaphore spins with sched_yield before
  // it sleeps, which with dozens of waiting callers on two cores starves the committer.
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  // The committed batch this caller belongs to and its place in it: callers wake each other in a
  // binary tree (RunCommitter), so the committer pays for one wake-up per batch, not one per
  // record.
  std::shared_ptr<const std::vector<Pending*>> batch;
  std::size_t place = 0;
  // AppendAsync's callback; empty for Append. Such a record has no caller thread waiting: it is
  // heap-allocated and whoever releases it reports, passes the wake-up on and deletes it.
  AppendCallback on_done;

  void Wait() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [this] { return done; });
  }
  // The caller may destroy *this as soon as it sees `done`: notify under the lock, then leave.
  void Release() {
    if (on_done) {
      on_done(std::move(*result));
      WakeChildren();
      delete this;
      return;
    }
    std::lock_guard lock(mutex);
    done = true;
    cv.notify_one();
  }
  // Called by a woken caller before it returns: wakes its two children in the batch's tree.
  void WakeChildren() const {
    if (!batch) {
      return;
    }
    for (std::size_t child = 2 * place + 1; child <= 2 * place + 2 && child < batch->size();
         ++child) {
      (*batch)[child]->Release();  // not yet released, so still alive
    }
  }
};

namespace {

constexpr int kConflictRetries = 3;

}  // namespace

core::Result<rapidjson::Document> ParseEntry(const core::LedgerRecord& record) {
  core::Result<StoredEntry> entry = ReadStoredEntry(record);
  if (!entry) {
    return std::move(entry).error();
  }
  rapidjson::Document doc = std::move(entry->doc);
  if (entry->hop) {  // v2: render the resources from the hashed facts
    auto& allocator = doc.GetAllocator();
    rapidjson::Document provenance = BuildProvenance(*entry->hop, entry->recorded_ms);
    rapidjson::Document audit_event = BuildAuditEvent(*entry->hop, entry->recorded_ms);
    doc.AddMember("provenance", rapidjson::Value(provenance, allocator), allocator);
    doc.AddMember("audit_event", rapidjson::Value(audit_event, allocator), allocator);
  }
  return doc;
}

core::Result<std::unique_ptr<Ledger>> Ledger::Open(core::LedgerStore& store,
                                                   const core::Clock& clock,
                                                   const CheckpointSigner* signer,
                                                   LedgerSettings settings) {
  core::Result<std::optional<core::LedgerRecord>> last = store.Last();
  if (!last) {
    return std::move(last).error();
  }
  std::int64_t seq = 0;
  std::string hash(kGenesisHash);
  if (last->has_value()) {
    seq = (*last)->seq;
    hash = (*last)->hash;
  }
  if (settings.max_batch == 0) {
    settings.max_batch = 1;
  }
  return std::unique_ptr<Ledger>(new Ledger(store, clock, signer, settings, seq, std::move(hash)));
}

Ledger::Ledger(core::LedgerStore& store, const core::Clock& clock, const CheckpointSigner* signer,
               LedgerSettings settings, std::int64_t head_seq, std::string head_hash)
    : store_(store),
      clock_(clock),
      signer_(signer),
      settings_(settings),
      head_seq_(head_seq),
      head_hash_(std::move(head_hash)) {
  committer_ = std::thread([this] { RunCommitter(); });
}

Ledger::~Ledger() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (committer_.joinable()) {
    committer_.join();
  }
}

core::LedgerDraft Ledger::DraftOf(const HopRecord& hop) {
  core::LedgerDraft draft;
  draft.kind = std::string(ToString(hop.kind));
  draft.nhs_number = hop.nhs_number;
  draft.facts = HopFactsJson(hop);
  draft.index = IndexOf(hop);
  return draft;
}

core::Result<core::LedgerDraft> Ledger::Draft(const HopRecord& hop) {
  BROKER_RETURN_IF_ERROR(ValidateHop(hop));
  return DraftOf(hop);
}

core::Result<core::LedgerBatch> Ledger::ChainDrafts(const std::vector<core::LedgerDraft>& drafts,
                                                    std::int64_t head_seq,
                                                    const std::string& head_hash) {
  std::vector<const core::LedgerDraft*> linked;
  linked.reserve(drafts.size());
  for (const core::LedgerDraft& draft : drafts) {
    linked.push_back(&draft);
  }
  return Chain(linked, head_seq, head_hash, core::ToUnixMs(clock_.Now()));
}

void Ledger::Committed(const core::LedgerBatch& batch) {
  if (batch.records.empty()) {
    return;
  }
  AdvanceHead(batch.records.back());
  std::lock_guard lock(mutex_);
  ++stats_.batches;
  stats_.records += batch.records.size();
  stats_.checkpoints += batch.checkpoint ? 1 : 0;
}

void Ledger::AdvanceHead(const core::LedgerRecord& last) {
  // Two writers of this process (the committer and ChainDrafts' store) append in turn; the
  // head is whichever wrote the higher seq.
  std::lock_guard lock(head_mutex_);
  if (last.seq > head_seq_) {
    head_seq_ = last.seq;
    head_hash_ = last.hash;
  }
}

void Ledger::AppendAsync(const HopRecord& hop, AppendCallback done) {
  if (core::Status valid = ValidateHop(hop); !valid) {
    done(std::move(valid).error());
    return;
  }
  auto pending = std::make_unique<Pending>();
  pending->draft = DraftOf(hop);
  pending->on_done = std::move(done);
  if (!EnqueueAsync({&pending, 1})) {
    pending->on_done(core::MakeError(core::ErrorCode::kStorage, "ledger append failed: shut down"));
  }
}

bool Ledger::EnqueueAsync(std::span<std::unique_ptr<Pending>> records) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return false;
    }
    for (auto& record : records) {
      queue_.push_back(record.release());  // Pending::Release deletes it
    }
    wake = ShouldWakeLocked();
  }
  if (wake) {
    work_.notify_one();
  }
  return true;
}

void Ledger::AppendAllAsync(const std::vector<HopRecord>& hops, AllAppendedCallback done) {
  if (hops.empty()) {
    done(core::Ok());
    return;
  }
  for (const HopRecord& hop : hops) {
    if (core::Status valid = ValidateHop(hop); !valid) {
      done(std::move(valid).error());
      return;
    }
  }
  // What the records share: the last one reported calls `done` with the first failure, if any.
  struct Group {
    explicit Group(std::size_t records, AllAppendedCallback callback)
        : remaining(records), done(std::move(callback)) {}
    std::atomic<std::size_t> remaining;
    std::mutex mutex;
    core::Status status = core::Ok();
    AllAppendedCallback done;
  };
  auto group = std::make_shared<Group>(hops.size(), std::move(done));
  std::vector<std::unique_ptr<Pending>> pending;
  pending.reserve(hops.size());
  for (const HopRecord& hop : hops) {
    auto record = std::make_unique<Pending>();
    record->draft = DraftOf(hop);
    record->on_done = [group](core::Result<AppendReceipt> recorded) {
      if (!recorded) {
        std::lock_guard lock(group->mutex);
        if (group->status) {
          group->status = std::move(recorded).error();
        }
      }
      if (group->remaining.fetch_sub(1) == 1) {
        core::Status status = core::Ok();
        {
          std::lock_guard lock(group->mutex);
          status = group->status;
        }
        group->done(std::move(status));
      }
    };
    pending.push_back(std::move(record));
  }
  if (!EnqueueAsync(pending)) {
    group->done(core::MakeError(core::ErrorCode::kStorage, "ledger append failed: shut down"));
  }
}

bool Ledger::ShouldWakeLocked() {
  // Only when the committer's wait is over: waking it for every record while it waits for a
  // batch to fill costs two context switches each and changes nothing (it would sleep again).
  if (wake_at_ == 0 || queue_.size() < wake_at_) {
    return false;
  }
  wake_at_ = 0;  // one notification per wait
  return true;
}

core::Result<AppendReceipt> Ledger::Append(const HopRecord& hop) {
  BROKER_RETURN_IF_ERROR(ValidateHop(hop));
  Pending pending;
  pending.draft = DraftOf(hop);
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return core::MakeError(core::ErrorCode::kStorage, "ledger append failed: shut down");
    }
    queue_.push_back(&pending);
    wake = ShouldWakeLocked();
  }
  if (wake) {
    work_.notify_one();
  }
  pending.Wait();
  pending.WakeChildren();
  return std::move(*pending.result);
}

void Ledger::RunCommitter() {
  try {
    std::size_t last_batch_size = 1;
    std::chrono::steady_clock::duration last_commit{};
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_at_ = 1;  // appenders notify once the first record is queued
      work_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      wake_at_ = 0;
      if (queue_.empty()) {
        return;
      }
      // The callers released by the last commit come straight back with their next record;
      // waiting a fraction of a commit for them keeps batches (records per fsync) large.
      const std::size_t expected = std::min(last_batch_size, settings_.max_batch);
      if (queue_.size() < expected && !stopping_) {
        wake_at_ = expected;  // appenders notify when the batch is full, else the timeout ends it
        work_.wait_for(lock, last_commit / 4,
                       [&] { return queue_.size() >= expected || stopping_; });
        wake_at_ = 0;
      }
      auto batch = std::make_shared<std::vector<Pending*>>();
      while (!queue_.empty() && batch->size() < settings_.max_batch) {
        batch->push_back(queue_.front());
        queue_.pop_front();
      }
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      CommitBatch(*batch);
      last_commit = std::chrono::steady_clock::now() - started;
      last_batch_size = batch->size();
      for (std::size_t i = 0; i < batch->size(); ++i) {
        (*batch)[i]->batch = batch;
        (*batch)[i]->place = i;
      }
      // Only the root: each woken caller wakes two more (Pending::WakeChildren). The others may be
      // gone as soon as the root is released, so nothing of the batch is touched after this.
      Pending* root = batch->front();
      batch.reset();
      root->Release();
      lock.lock();
    }
  } catch (const std::exception& error) {
    logger_.Error("ledger.committer_crashed", {{"what", error.what()}});
    std::abort();
  }
}

core::Result<core::LedgerBatch> Ledger::Chain(const std::vector<const core::LedgerDraft*>& batch,
                                              std::int64_t head_seq, const std::string& head_hash,
                                              std::int64_t recorded_ms) const {
  core::LedgerBatch out;
  out.records.reserve(batch.size());
  std::string prev = head_hash.empty() ? std::string(kGenesisHash) : head_hash;
  std::int64_t seq = head_seq;
  std::string material;
  for (const core::LedgerDraft* draft : batch) {
    core::LedgerRecord record;
    record.seq = ++seq;
    record.recorded_ms = recorded_ms;
    record.kind = draft->kind;
    record.nhs_number = draft->nhs_number;
    record.canonical =
        EntryJson(record.seq, recorded_ms, draft->kind, draft->nhs_number, draft->facts);
    record.index = draft->index;
    record.prev_hash = std::move(prev);
    material.clear();
    material.append(record.prev_hash).append(record.canonical);
    record.hash = core::Sha256Hex(material);
    prev = record.hash;
    out.records.push_back(std::move(record));
  }
  const std::int64_t every = settings_.checkpoint_every;
  if (signer_ != nullptr && every > 0 && seq / every > head_seq / every) {
    core::Result<core::LedgerCheckpoint> signed_checkpoint =
        signer_->Sign(seq, out.records.back().hash, recorded_ms);
    if (signed_checkpoint) {
      out.checkpoint = std::move(*signed_checkpoint);
    } else {
      logger_.Warn("ledger.checkpoint_failed", {{"error", signed_checkpoint.error().message}});
    }
  }
  return out;
}

void Ledger::CommitBatch(const std::vector<Pending*>& batch) {
  std::vector<const core::LedgerDraft*> drafts;
  drafts.reserve(batch.size());
  for (const Pending* pending : batch) {
    drafts.push_back(&pending->draft);
  }
  core::Result<core::LedgerBatch> written = core::MakeError(core::ErrorCode::kStorage, "not run");
  for (int attempt = 0; attempt <= kConflictRetries; ++attempt) {
    const std::int64_t recorded_ms = core::ToUnixMs(clock_.Now());
    // The store reads the head inside its write transaction (under its lock): whatever another
    // process or node appended meanwhile, this batch links behind it.
    written = store_.AppendAtHead([&](std::int64_t head_seq, const std::string& head_hash) {
      return Chain(drafts, head_seq, head_hash, recorded_ms);
    });
    if (written || written.error().code != core::ErrorCode::kConflict) {
      break;
    }
    logger_.Info("ledger.append_conflict", {{"attempt", std::to_string(attempt + 1)}});
  }
  if (!written) {
    logger_.Warn("ledger.batch_failed",
                 {{"records", std::to_string(batch.size())}, {"error", written.error().message}});
    for (Pending* pending : batch) {
      pending->result = written.error();
    }
    return;
  }
  const std::vector<core::LedgerRecord>& records = written->records;
  AdvanceHead(records.back());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->result = AppendReceipt{records[i].seq, records[i].hash};
  }
  std::lock_guard lock(mutex_);
  ++stats_.batches;
  stats_.records += batch.size();
  stats_.checkpoints += written->checkpoint ? 1 : 0;
}

core::Result<core::LedgerCheckpoint> Ledger::Checkpoint() {
  if (signer_ == nullptr) {
    return core::MakeError(core::ErrorCode::kConfig, "the ledger has no signing key");
  }
  std::int64_t head_seq = 0;
  std::string head_hash;
  {
    std::lock_guard lock(head_mutex_);
    head_seq = head_seq_;
    head_hash = head_hash_;
  }
  if (head_seq == 0) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "the ledger is empty");
  }
  core::Result<core::LedgerCheckpoint> checkpoint =
      signer_->Sign(head_seq, head_hash, core::ToUnixMs(clock_.Now()));
  if (!checkpoint) {
    return checkpoint;
  }
  core::Status written = store_.WriteCheckpoint(*checkpoint);
  if (written) {
    std::lock_guard lock(mutex_);
    ++stats_.checkpoints;
    return checkpoint;
  }
  if (written.error().code != core::ErrorCode::kConflict) {
    return std::move(written).error();
  }
  core::Result<std::vector<core::LedgerCheckpoint>> stored = store_.ReadCheckpoints();
  if (!stored) {
    return std::move(stored).error();
  }
  for (core::LedgerCheckpoint& existing : *stored) {
    if (existing.count == head_seq) {
      return std::move(existing);
    }
  }
  return core::MakeError(core::ErrorCode::kStorage, "checkpoint conflict without a checkpoint");
}

core::Result<std::vector<core::LedgerRecord>> Ledger::Journey(const std::string& nhs_number,
                                                              std::int64_t after_seq,
                                                              std::size_t limit) {
  if (!core::IsValidNhsNumber(nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number", "nhs_number");
  }
  core::LedgerQuery query;
  query.nhs_number = nhs_number;
  query.after_seq = after_seq;
  query.newest_first = false;
  query.limit = limit;
  return store_.Search(query);
}

core::Result<std::vector<core::LedgerRecord>> Ledger::Search(const core::LedgerQuery& query) {
  if (!query.nhs_number.empty() && !core::IsValidNhsNumber(query.nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number", "nhs_number");
  }
  return store_.Search(query);
}

Ledger::Stats Ledger::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tb::ledger
