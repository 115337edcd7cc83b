#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/core/inbound_store.h"
#include "broker/store/database.h"
#include "broker/store/settings.h"

namespace tb::store {

class PgInboundWriter;

// A key for payloads at rest (AES-256-GCM). `id` is stored with each sealed payload
// (inbound_message.payload_key_id), so keys can be rotated: new payloads use the current key,
// readers hold the current and the older keys.
struct PayloadKey {
  std::string id;                         // short name from config ("2026-11"); not secret
  std::array<unsigned char, 32> bytes{};  // the secret
};

// Builds a key from its id and 64 hex digits (e.g. read from a key file named by config).
// Errors: kConfig when the id is empty or the hex is not 32 bytes.
core::Result<PayloadKey> ParsePayloadKey(std::string_view id, std::string_view hex);

// AES-256-GCM with a random 96-bit nonce: returns nonce || ciphertext || 16-byte tag. `aad` is
// authenticated, not stored (the row's dedupe_key: a payload moved to another row fails to open).
// Errors: kInternal when OpenSSL fails.
core::Result<std::string> SealPayload(const PayloadKey& key, std::string_view plaintext,
                                      std::string_view aad);
// The inverse. Errors: kStorage when `sealed` is truncated, altered, or sealed under another key
// or aad (no detail: the caller names the row).
core::Result<std::string> OpenPayload(const PayloadKey& key, std::string_view sealed,
                                      std::string_view aad);

// core::InboundStore on SQLite or PostgreSQL, with group commit: Accept() hands the message to
// one committer thread and blocks; the committer writes everything that is waiting in one
// transaction (one fsync for many messages) and then releases every caller of that batch.
// AcceptAsync() hands it over the same way without blocking: the committer reports instead.
//
// - A caller returns (or is reported to) only after its batch committed, or with kStorage when
//   the batch failed; a failed batch is rolled back whole, so none of its messages is stored.
// - Inside a batch messages are written in dedupe_key order (on PostgreSQL this keeps two nodes
//   from deadlocking on each other's keys); the same key twice in one batch is kStored for the
//   first caller and kDuplicate/kConflict for the next, as if they had come one after another.
// - A stored message's routes become outbound_message rows (core::OutboundQueue) in the same
//   transaction; a kDuplicate or kConflict message enqueues nothing.
// - A stored message's InboundMessage::announce is upserted into record_locator (the statement of
//   SqlRecordLocator::Announce) in the same transaction: the ACK waits for one commit, not two,
//   and a message is never stored without its announcement or the other way round.
// - With a ledger (WriteLedgerHopsInto, SQLite), the messages' audit records
//   (InboundMessage::audit) are chained and written in the same transaction: a message is never
//   stored without its record, nor the other way round, and the ACK waits for one commit.
// - With a payload key, payloads are sealed (SealPayload, aad = dedupe_key) by the calling thread
//   before they join a batch; content_sha256 stays the digest of the plaintext.
// - SQLite writes through the C API with cached prepared statements; PostgreSQL writes a whole
//   batch in one round trip (libpq pipeline mode, PgInboundWriter) on a connection the committer
//   owns, opened with the pool's conninfo and settings.
// - Accept() blocks its caller, so those messages are bounded by the calling threads; AcceptAsync()
//   messages by whoever calls it (the MLLP ingest has at most one frame in flight per connection).
//
// Ownership: holds `database` by reference; destroy this first. Thread-safety: Accept() and
// Count() from any number of threads; Shutdown() from one thread (also run by the destructor).
class SqlInboundStore final : public core::InboundStore {
 public:
  struct Stats {
    // Counted as each batch's callers are answered (before they are).
    std::uint64_t batches = 0;         // committed (and on disk) batches
    std::uint64_t messages = 0;        // messages in committed batches
    std::uint64_t failed_batches = 0;  // rolled back, or their WAL sync failed
    // Where the committer thread's time went (the serial section of every durable message):
    // waiting for a first message, lingering for more (InboundStoreSettings::max_linger),
    // writing the batch's rows, committing (COMMIT: the WAL's write on SQLite, and its fsync
    // unless the WAL syncer does that outside the lock), and handing the answers back (on the
    // syncer's thread when there is one). Logged at Shutdown ("inbound.committer_time").
    std::chrono::nanoseconds idle{};
    std::chrono::nanoseconds linger{};
    std::chrono::nanoseconds write{};
    std::chrono::nanoseconds commit{};
    std::chrono::nanoseconds report{};
  };

  SqlInboundStore(Database& database, InboundStoreSettings settings,
                  std::optional<PayloadKey> payload_key = std::nullopt);
  ~SqlInboundStore() override;
  SqlInboundStore(const SqlInboundStore&) = delete;
  SqlInboundStore& operator=(const SqlInboundStore&) = delete;

  core::Result<core::AcceptResult> Accept(const core::InboundMessage& message) override;
  // Joins the next batch like Accept() and returns at once; the committer thread runs `done`
  // after the batch's commit (or failure), in arrival order within the batch. After Shutdown()
  // `done` runs at once in the calling thread with kStorage.
  void AcceptAsync(core::InboundMessage message, AcceptCallback done) override;
  core::Result<std::int64_t> Count() override;
  bool WritesLocatorAnnouncements() const override { return true; }
  // SQLite: from now on each batch's InboundMessage::audit drafts are chained into `chain` and
  // written (SqlLedgerStore's rows, same database) in the batch's transaction, after its
  // messages; a failure there fails the batch. PostgreSQL: false (the batch is one pipelined
  // round trip on the committer's own connection; hops are recorded by the caller).
  bool WriteLedgerHopsInto(core::LedgerChain* chain) override;
  bool WritesLedgerHops() const override;
  // SQLite: a stored message's route_by_holders runs in its batch transaction, on the holders
  // read through the writer connection (record_locator, same database). PostgreSQL: false (the
  // batch is one pipelined round trip; routing reads the locator before the store).
  bool RoutesByHoldersInCommit() const override { return !pg_writer_; }
  void PostAsyncReportsThrough(ReportPoster post) override;

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

  // Seals the payload (with a key) and queues `pending` for the committer. Errors: kStorage once
  // shut down; SealPayload's.
  core::Status Enqueue(Pending& pending);
  void RunCommitter();
  // Logs where the committer's time went (Stats), once, as it stops.
  void LogTimes(const Stats& stats) const;
  // Writes and commits `batch`. Its callers are answered (stats counted, results set, Report)
  // once it is on disk: on SQLite with a WAL syncer from the syncer's thread, after this has
  // returned and perhaps while the next batch is written; else before this returns, as they are
  // at once when it failed. `write_time` gets the time spent writing its rows before the commit
  // (SQLite; zero on PostgreSQL, whose pipeline does both in one round trip).
  void CommitBatch(std::vector<Pending*> batch, std::chrono::nanoseconds& write_time);
  // Releases the callers of a committed (or failed) batch: Accept's at once, AcceptAsync's
  // through report_poster_ as one task when one is set. Counts the batch out of
  // unreported_batches_.
  void Report(const std::vector<Pending*>& batch);

  Database& database_;
  const InboundStoreSettings settings_;
  const std::optional<PayloadKey> payload_key_;
  std::function<core::Status(std::size_t)> before_commit_for_test_;
  core::LedgerChain* ledger_chain_ = nullptr;  // guarded by mutex_
  ReportPoster report_poster_;                 // guarded by mutex_
  // PostgreSQL: the committer's own libpq connection, batches in pipeline mode. Null on SQLite.
  std::unique_ptr<PgInboundWriter> pg_writer_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // committer waits for messages or shutdown
  std::deque<Pending*> queue_;    // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  // Batches taken from queue_ whose callers are not answered yet; Shutdown() waits for none.
  std::size_t unreported_batches_ = 0;  // guarded by mutex_
  std::condition_variable reported_;    // unreported_batches_ went down
  Stats stats_;                         // guarded by mutex_
  std::thread committer_;
};

}  // namespace tb::store
