#pragma once

// Store-internal (broker/store sources and tests only): fsyncs an SQLite database's WAL on a
// thread of its own, outside the write lock, and answers each commit's callers only after it.
//
// With synchronous=FULL, SQLite fsyncs the WAL inside COMMIT, under the one write lock, so the
// next transaction's row writes wait for the disk (docs/hl7v2-ingest.md: COMMIT was 50-70% of
// the durable ingest's serial section). Database::Impl::Write commits under DeferWalSyncs (the
// frames are written, not synced), numbers the commit (Committed) and waits for, or hands a
// callback to, this thread, which calls fdatasync on the WAL file and then releases every commit
// numbered before the call: one fsync covers all the commits that reached the WAL while the
// previous one ran, and the writer goes on meanwhile.
//
// Guarantees: a commit's callers are released only after an fdatasync that began after the
// commit's frames were written (OK), or with kStorage when it failed. After a crash, SQLite's
// recovery keeps the WAL's longest valid prefix of commits (frame checksums and salts), which
// includes every commit released OK. Other connections may read a commit before it is synced (a
// delivery worker may deliver a message whose sender has not been answered yet): after a machine
// crash that message is gone from the store, the sender resends it, and it is delivered again,
// as a message in flight at a crash may be.
//
// A failed fdatasync is fail-stop, as in PostgreSQL since 2018 ("fsyncgate"): Linux may have
// dropped the dirty pages, so what the store holds on disk is unknown. Every waiting and later
// commit is answered kStorage (the store refuses writes) until the broker restarts and SQLite
// recovers from what is on disk.
//
// Thread-safety: all methods from any thread.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "broker/core/log.h"
#include "broker/core/result.h"

namespace tb::store {

class SqliteWalSyncer {
 public:
  using Done = std::function<void(core::Status)>;
  // The call that makes the WAL durable: fdatasync on a descriptor of the WAL file; returns 0 or
  // an errno. Replaceable for tests (to fail or hold it).
  using SyncCall = std::function<int(int fd)>;

  // `wal_path` is the database path + "-wal"; it is opened on the first sync (a commit has
  // created it by then). Starts the thread.
  SqliteWalSyncer(std::string wal_path, const core::Logger& log);
  // Stop().
  ~SqliteWalSyncer();
  SqliteWalSyncer(const SqliteWalSyncer&) = delete;
  SqliteWalSyncer& operator=(const SqliteWalSyncer&) = delete;

  // Called under the write lock right after a commit (its frames written): the commit's number.
  std::uint64_t Committed();
  // The last number Committed() gave (0 before any).
  std::uint64_t last_committed() const;
  // Runs `done` once commit `number` is on disk (OK) or cannot be (kStorage): on this class's
  // thread, or at once on the caller's when that is already known. Callbacks run in commit order,
  // those of one number in the order given.
  void AfterSync(std::uint64_t number, Done done);
  // Blocks until AfterSync would have run. From a callback of this class's thread (which would
  // wait for itself): kInternal at once.
  core::Status WaitFor(std::uint64_t number);
  // kStorage once an fdatasync has failed (then every later write must be refused).
  core::Status health() const;
  // Syncs what is waiting, runs its callbacks and joins the thread. Later AfterSync calls run
  // their callback at once with kStorage. Idempotent.
  void Stop();

  void SetSyncCallForTest(SyncCall call);
  // fdatasync calls made (for tests).
  std::uint64_t syncs() const;

 private:
  void Run();
  // Opens the WAL (first call) and syncs it. Returns 0 or an errno.
  int SyncOnce();

  const std::string wal_path_;
  const core::Logger& log_;
  int fd_ = -1;  // the thread's only

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  SyncCall sync_call_;                        // guarded by mutex_
  std::uint64_t committed_ = 0;               // guarded by mutex_
  std::uint64_t synced_ = 0;                  // guarded by mutex_
  std::multimap<std::uint64_t, Done> after_;  // guarded by mutex_; by number, then arrival
  std::optional<core::Error> failed_;         // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  bool stopped_ = false;                      // guarded by mutex_: the thread has ended
  std::uint64_t syncs_ = 0;                   // guarded by mutex_
  std::thread thread_;
};

}  // namespace tb::store
