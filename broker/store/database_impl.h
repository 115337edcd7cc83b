#pragma once

// Store-internal: included only by broker/store sources and its own tests. This is the one place
// where Poco::Data sessions meet our Result/Error world (STYLE.md sections 2 and 4).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Exception.h>

#include "broker/core/log.h"
#include "broker/core/result.h"
#include "broker/store/database.h"

struct sqlite3_stmt;

namespace tb::store {

class SqliteWalCheckpointer;
class SqliteWalSyncer;

// kStorage for a Poco exception: `what` plus the exception's category (SQLite's error name,
// PostgreSQL's SQLSTATE). Never the exception text, which may quote SQL or bound values (PHI).
core::Error StorageError(std::string_view what, const Poco::Exception& error);

// kStorage for an SQLite result code: `what` plus SQLite's fixed text for the code.
core::Error SqliteError(std::string_view what, int result_code);

// Runs statements on one Poco session. Body functions may throw Poco exceptions: Write() and
// Read() catch them and return kStorage.
using SessionBody = std::function<core::Status(Poco::Data::Session&)>;

// SQLite only: the record_locator rows that this process's writer connection wrote lately, so that
// a stored message repeating a recent announcement (same patient, holder and source) need not
// rewrite its row: one random-keyed table page fewer in the message's commit
// (docs/hl7v2-ingest.md, Performance). SQLite is written by this process alone, and every write
// to record_locator goes through the writer connection, so the rows are kept true: a transaction
// that upserts rows reports them once it has committed (Write's `committed`), and any other write
// to a pair (Announce from the admin API, Forget) drops the pair first. A pair not held here is
// simply upserted. The cost: last_seen may lag the newest message of a pair by up to kRefreshMs.
// Not thread-safe on its own: used only inside Database::Impl::Write(), under the writer lock.
class RecentLocatorRows {
 public:
  static constexpr std::int64_t kRefreshMs = 60'000;
  static constexpr std::size_t kMaxPairs = 1 << 18;  // then forgotten all at once

  // True when the pair's row was written with this source and a last_seen at most kRefreshMs
  // before `at_ms` (never after it: a clock that went back rewrites the row, as before).
  bool Fresh(std::string_view nhs_number, std::string_view ods, std::string_view source,
             std::int64_t at_ms) const;
  // After the commit that upserted the row with (source, at_ms) as last_seen.
  void Written(std::string_view nhs_number, std::string_view ods, std::string_view source,
               std::int64_t at_ms);
  // Before any other write to the pair's row.
  void Drop(std::string_view nhs_number, std::string_view ods);
  void Clear() { rows_.clear(); }

 private:
  struct Row {
    std::string source;
    std::int64_t last_seen_ms = 0;
  };
  static std::string Key(std::string_view nhs_number, std::string_view ods);
  std::unordered_map<std::string, Row> rows_;  // "<nhs_number>|<ods>"
};

class Database::Impl {
 public:
  // Opens the connections for `location` and applies the per-connection settings. Does not
  // migrate (see migrations.h). Errors: kStorage when the database cannot be opened.
  static core::Result<std::unique_ptr<Impl>> Open(StoreLocation location,
                                                  const StoreSettings& settings);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Engine engine() const { return location_.engine; }
  const Capabilities& capabilities() const { return capabilities_; }
  const std::string& display_url() const { return location_.display; }
  const core::Logger& logger() const { return logger_; }

  // `sql` written with `?` placeholders, in the engine's form (`$1`, `$2`, ... on PostgreSQL).
  std::string Sql(std::string_view sql) const;

  // Runs `body` in a write transaction: commits when it returns OK, rolls back when it returns an
  // error or throws. SQLite: on the single writer connection, held for the whole call (writes are
  // serialised in-process) and started with BEGIN IMMEDIATE so the file lock is taken up front;
  // PostgreSQL: on a pooled session. `what` names the operation in errors ("inbound accept").
  core::Status Write(std::string_view what, const SessionBody& body);
  // The same, and `committed` runs once the transaction has committed, before the writer is
  // released (SQLite: no other write can come between), so in-process knowledge of what was
  // written (RecentLocatorRows) changes exactly with the database. Not run when it rolled back.
  core::Status Write(std::string_view what, const SessionBody& body,
                     const std::function<void()>& committed);
  // Every Write returns only once its commit is on disk (durability full). This one returns as
  // soon as the transaction has committed or failed, with its status (an error: nothing was
  // written), and runs `durable` exactly once: with OK once the commit is on disk, else with the
  // commit's error or kStorage when the disk failed to sync it. With a WAL syncer (SQLite file,
  // sync outside the write lock) on its thread, after the callbacks of every earlier commit, so
  // callers are answered in commit order; else at once on this thread. The committer of a group
  // commit uses it to start its next batch while this one's fsync runs. `durable` must not
  // write to this database (on the syncer's thread that Write would wait for itself: kInternal).
  core::Status WriteThenWhenDurable(std::string_view what, const SessionBody& body,
                                    const std::function<void()>& committed,
                                    std::function<void(core::Status)> durable);

  // Runs `body` on a read session, statements in autocommit mode. Inside a core::NoWaitReads
  // scope it runs only if it can without waiting (SQLite; an idle pooled session at once; no
  // busy handler, so a lock another connection holds fails the read), else it fails at once;
  // a failure there, of either kind, marks the scope blocked.
  core::Status Read(std::string_view what, const SessionBody& body);

  // SQLite only, inside Write(): the writer connection's prepared statement for `sql`, prepared
  // on first use and kept until Close(), and reset ready for binding. For hot paths: Poco::Data
  // prepares a statement again on every execute(), which is most of the cost of a small insert.
  // Errors: kStorage.
  core::Result<sqlite3_stmt*> CachedSqliteStatement(Poco::Data::Session& writer,
                                                    std::string_view sql);

  // SQLite only, inside Write(): the writer's RecentLocatorRows.
  RecentLocatorRows& recent_locator_rows() { return recent_locator_rows_; }

  // SQLite file with the WAL synced outside the write lock: the syncer (else null). For tests.
  SqliteWalSyncer* wal_syncer_for_test() { return syncer_.get(); }

  // Waits for running operations, closes all connections; later calls return kStorage.
  void Close();

 private:
  Impl(StoreLocation location, const StoreSettings& settings);
  core::Status OpenConnections();
  // Write's body: returns the commit's status and sets `number` to the commit's number at the WAL
  // syncer, or after a failure the last commit's (0 without a syncer).
  core::Status Commit(std::string_view what, const SessionBody& body,
                      const std::function<void()>& committed, std::uint64_t& number);
  core::Status WithPooledSession(std::string_view what,
                                 const std::function<core::Status(Poco::Data::Session&)>& use);
  // Read() inside a core::NoWaitReads scope; lifecycle_ is held shared.
  core::Status ReadWithoutWaiting(std::string_view what, const SessionBody& run);

  StoreLocation location_;
  StoreSettings settings_;
  Capabilities capabilities_;
  core::Logger logger_{"tb.store"};

  // Shared by every operation, exclusive for Close(): connections are never closed under a user.
  std::shared_mutex lifecycle_;
  bool closed_ = false;  // guarded by lifecycle_

  // SQLite: the one connection that writes (and, for :memory:, also reads).
  std::mutex writer_mutex_;
  std::optional<Poco::Data::Session> writer_;
  std::map<std::string, sqlite3_stmt*, std::less<>> sqlite_statements_;  // writer's; finalised
                                                                         // by Close()
  RecentLocatorRows recent_locator_rows_;                                // guarded by writer_mutex_
  // SQLite file with durability full: its WAL writes are buffered (BufferWalWritesOf) until
  // Close(). Set by OpenConnections, cleared under lifecycle_.
  bool wal_buffered_ = false;
  // SQLite file: checkpoints the writer's WAL on a thread of its own. Reset by Close().
  std::unique_ptr<SqliteWalCheckpointer> checkpointer_;
  // SQLite file, durability full, sync_outside_write_lock: fsyncs the WAL after the writer's
  // commits, outside writer_mutex_. Reset by Close().
  std::unique_ptr<SqliteWalSyncer> syncer_;

  // SQLite file: read-only connections; PostgreSQL: every connection. Poco's pool throws when all
  // sessions are in use, so `slots_` makes callers wait (up to settings_.session_wait) instead.
  std::unique_ptr<Poco::Data::SessionPool> pool_;
  std::counting_semaphore<> slots_;
};

}  // namespace tb::store
