#pragma once

// Store-internal (broker/store sources and tests only): checkpoints an SQLite database's WAL from
// a thread of its own, so that the writer's commits do not wait for it.
//
// SQLite's writer checkpoints after the commit that takes the WAL past wal_autocheckpoint pages:
// that commit's callers wait for every page to be copied back into the database file and for the
// file's fsync (2-4 ms on a busy disk), and every writer commit behind it waits too
// (docs/hl7v2-ingest.md, Performance). Here the writer's commit hook only wakes this thread each
// time the WAL has grown by `background_pages`; the thread runs a PASSIVE checkpoint on its own
// connection, which copies what every reader has finished with, concurrently with the writer.
// A passive checkpoint cannot restart the WAL while the writer keeps appending, so the writer
// still checkpoints itself once the WAL reaches `writer_pages` (then only the pages written since
// the thread's last pass are left to copy), after which SQLite starts the WAL from the top again.
// Durability is SQLite's: a checkpoint copies only committed frames and syncs as the
// connection's synchronous setting says (FULL for durable databases).

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "broker/core/log.h"
#include "broker/core/result.h"

struct sqlite3;

namespace tb::store {

// SQLite's own autocheckpoint is every 1,000 pages; the longer cycle copies a page that many
// commits rewrite (index edges, the file header) back fewer times, and the WAL file grows to
// ~32 MiB before it starts from the top again.
struct WalCheckpointSettings {
  int background_pages = 2000;  // wake the thread each time the WAL grew by this much
  int writer_pages = 8000;      // the writer checkpoints itself from here on (backstop)
  bool durable = true;          // the checkpointer's PRAGMA synchronous: FULL, else OFF
  // Its connection's busy timeout (StoreSettings::lock_timeout): opening it reads the schema,
  // which waits while another node opening the same file holds a lock (migrations).
  int busy_timeout_ms = 5000;
};

class SqliteWalCheckpointer {
 public:
  // Opens the thread's own connection to the database at `path` (already in WAL mode) and starts
  // the thread. Errors: kStorage when the connection cannot be opened.
  static core::Result<std::unique_ptr<SqliteWalCheckpointer>> Start(
      const std::string& path, const WalCheckpointSettings& settings, const core::Logger& log);
  // Stops the thread (a running pass finishes first) and closes its connection. Detach() first.
  ~SqliteWalCheckpointer();
  SqliteWalCheckpointer(const SqliteWalCheckpointer&) = delete;
  SqliteWalCheckpointer& operator=(const SqliteWalCheckpointer&) = delete;

  // Installs the commit hook on the writer connection (replacing its wal_autocheckpoint). Call on
  // the writer's thread or under its lock, before its next commit.
  void Attach(sqlite3* writer);
  // Gives the writer back SQLite's own autocheckpoint at writer_pages.
  void Detach(sqlite3* writer);

  // Passes the thread has run (for tests).
  std::size_t passes() const;

 private:
  SqliteWalCheckpointer(sqlite3* connection, const WalCheckpointSettings& settings,
                        const core::Logger& log);
  static int OnCommit(void* self, sqlite3* writer, const char* schema, int wal_pages);
  void Run();

  sqlite3* const connection_;
  const WalCheckpointSettings settings_;
  const core::Logger& log_;
  int next_wake_pages_;  // the writer's thread only (OnCommit runs under its lock)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;    // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::size_t passes_ = 0;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tb::store
