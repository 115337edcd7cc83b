#pragma once

// Store-internal (broker/store sources and tests only): gathers SQLite's writes to a database's
// WAL file into one pwrite per commit.
//
// SQLite appends each WAL frame with two write calls (the 24-byte frame header, then the page),
// so a commit of N pages costs 2N pwrite(2) calls, each touching one or two kernel page-cache
// pages: at ~9 messages and ~35 pages per commit that was the largest system cost of the durable
// MLLP ingest (docs/hl7v2-ingest.md, Performance). A registered database's WAL file handle keeps
// writes that continue the previous one in memory and writes them as one pwrite before anything
// that needs them on the file: xSync (every commit: synchronous = FULL), xRead (the checkpoint,
// the writer reading back a spilled page), xTruncate, xFileSize, xFileControl and xClose. A write
// that does not continue the buffered run writes the run out first.
//
// Why this keeps every guarantee: a commit is durable when its xSync of the WAL returns OK, and
// that sync writes the buffered frames first (a failed write fails the sync, so the commit fails
// and nothing of it is used: its frames are never published in the wal-index). Readers, in this
// process or another, read only frames published after that sync. Only databases opened with
// durability full are registered: without a sync at commit SQLite publishes frames that it has
// only written, which a buffer would hold back from other connections.
//
// Deferred commit syncs (DeferWalSyncs, used by Database::Impl::Write with a SqliteWalSyncer):
// while a scope is alive on a thread, a commit's xSync of a buffered WAL on that thread writes the
// frames out but skips the fsync, which the syncer thread then does outside the write lock; the
// callers are answered only after it. Two syncs stay real even then: the one after a new WAL
// header (written at offset 0 when SQLite starts the WAL from the top: the header must be on disk
// before frames that carry its salts, or recovery could pair the old header with stale frames;
// SQLite ticket ff5be73dee) and every sync inside a SyncWalForReal scope (a checkpoint run by the
// writer: frames are copied into the database only once they are on disk).

#include <cstdint>
#include <string>

#include "broker/core/result.h"

namespace tb::store {

// Installs the buffering VFS as SQLite's default, wrapping the one it replaces (once per
// process; later calls do nothing). Files of databases not registered below pass straight
// through. Errors: kStorage when SQLite refuses the registration.
core::Status InstallSqliteWalWriteBuffer();

// From now on, WAL files opened for the database at `path` (as given to sqlite3_open) are
// buffered. Call before opening the database's connections; InstallSqliteWalWriteBuffer first.
void BufferWalWritesOf(const std::string& path);
// Connections opened later for `path` write their WAL directly again (open ones keep buffering).
void StopBufferingWalWritesOf(const std::string& path);

// While alive, a buffered WAL's xSync on this thread writes the frames without fsync (above).
// Nests. Not for other threads: a checkpointer's syncs stay real.
class DeferWalSyncs {
 public:
  DeferWalSyncs();
  ~DeferWalSyncs();
  DeferWalSyncs(const DeferWalSyncs&) = delete;
  DeferWalSyncs& operator=(const DeferWalSyncs&) = delete;
};

// While alive, syncs on this thread are real again inside a DeferWalSyncs (the writer's own
// checkpoint, run from SQLite's commit hook inside its COMMIT).
class SyncWalForReal {
 public:
  SyncWalForReal();
  ~SyncWalForReal();
  SyncWalForReal(const SyncWalForReal&) = delete;
  SyncWalForReal& operator=(const SyncWalForReal&) = delete;

 private:
  int saved_;
};

// Buffered WAL syncs so far in this process: fsynced, and written without fsync (deferred).
// For tests.
struct WalSyncCounts {
  std::uint64_t real = 0;
  std::uint64_t deferred = 0;
};
WalSyncCounts WalSyncCountsForTest();

}  // namespace tb::store
