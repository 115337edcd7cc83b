#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "broker/core/inbound_store.h"
#include "broker/store/database.h"
#include "broker/store/settings.h"

namespace tb::store {

// core::InboundStore on SQLite or PostgreSQL, with group commit: Accept() hands the message to
// one committer thread and blocks; the committer writes everything that is waiting in one
// transaction (one fsync for many messages) and then releases every caller of that batch.
//
// - A caller returns only after its batch committed, or with kStorage when the batch failed; a
//   failed batch is rolled back whole, so none of its messages is stored.
// - Inside a batch messages are written in dedupe_key order (on PostgreSQL this keeps two nodes
//   from deadlocking on each other's keys); the same key twice in one batch is kStored for the
//   first caller and kDuplicate/kConflict for the next, as if they had come one after another.
// - A stored message's routes become outbound_message rows (core::OutboundQueue) in the same
//   transaction; a kDuplicate or kConflict message enqueues nothing.
// - Each caller has at most one message waiting, so the queue is bounded by the number of calling
//   threads (the blocking pool).
//
// Ownership: holds `database` by reference; destroy this first. Thread-safety: Accept() and
// Count() from any number of threads; Shutdown() from one thread (also run by the destructor).
class SqlInboundStore final : public core::InboundStore {
 public:
  struct Stats {
    std::uint64_t batches = 0;         // committed batches
    std::uint64_t messages = 0;        // messages in committed batches
    std::uint64_t failed_batches = 0;  // rolled back
  };

  SqlInboundStore(Database& database, InboundStoreSettings settings);
  ~SqlInboundStore() override;
  SqlInboundStore(const SqlInboundStore&) = delete;
  SqlInboundStore& operator=(const SqlInboundStore&) = delete;

  core::Result<core::AcceptResult> Accept(const core::InboundMessage& message) override;
  core::Result<std::int64_t> Count() override;

  // Stops accepting (later Accept() calls return kStorage), commits everything already waiting,
  // then joins the committer thread. Idempotent.
  void Shutdown();

  Stats stats() const;

  // Messages waiting for the next batch (queue depth), for metrics and tests.
  std::size_t waiting() const;

  // Called after a batch's rows are written and before its commit; returning an error rolls the
  // batch back. Lets tests fail a batch half-way. Set before the first Accept().
  void SetBeforeCommitHookForTest(std::function<core::Status(std::size_t batch_size)> hook);

 private:
  struct Pending;

  void RunCommitter();
  // Writes and commits `batch`, setting every result; false when the batch was rolled back.
  bool CommitBatch(const std::vector<Pending*>& batch);

  Database& database_;
  const InboundStoreSettings settings_;
  std::function<core::Status(std::size_t)> before_commit_for_test_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // committer waits for messages or shutdown
  std::deque<Pending*> queue_;    // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  Stats stats_;                   // guarded by mutex_
  std::thread committer_;
};

}  // namespace tb::store
