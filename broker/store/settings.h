#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace tb::store {

// How the group-commit thread of SqlInboundStore forms batches. A batch is what is waiting when
// the previous commit ends, capped by these limits.
struct InboundStoreSettings {
  std::size_t max_batch_messages = 512;
  std::size_t max_batch_bytes = 16 * 1024 * 1024;  // payload bytes; one larger message still goes
  // When fewer messages wait than the last batch held, wait up to a quarter of the last commit's
  // duration, and at most this, for the rest: the callers just released tend to come straight
  // back. Bounds the added latency; 0 turns the wait off.
  std::chrono::microseconds max_linger{1000};
};

// Whether a commit waits for the disk (`store.durability`). kOff exists to measure what the
// fsync costs (benchmarks only): a machine crash may then lose or tear recently acknowledged
// messages, which breaks the promise that an ACK means the message is safe.
enum class Durability {
  kFull,  // SQLite synchronous=FULL, PostgreSQL synchronous_commit=on (the default)
  kOff,   // SQLite synchronous=OFF, PostgreSQL synchronous_commit=off: for benchmarks only
};

// Built by broker/app from config (`store.url`, ...). Plain values; no Poco.
struct StoreSettings {
  // `sqlite:PATH` (PATH already resolved by the caller; `sqlite::memory:` for tests) or
  // `postgresql://user[:password]@host[:port]/db[?param=value&...]` (also `postgres://`).
  std::string url;
  // How long a statement waits for a lock held by another connection before failing with
  // kStorage: SQLite busy_timeout, PostgreSQL lock_timeout.
  std::chrono::milliseconds lock_timeout{5000};
  // PostgreSQL statement_timeout (0 = none): bounds how long a caller can block on a hung server.
  std::chrono::milliseconds statement_timeout{30000};
  // PostgreSQL connect_timeout, unless the URL sets connect_timeout itself.
  std::chrono::seconds connect_timeout{10};
  // Pooled sessions: SQLite readers (writes use one extra dedicated connection); PostgreSQL all.
  std::size_t max_sessions = 8;
  // How long an operation waits for a free pooled session before failing with kStorage.
  std::chrono::milliseconds session_wait{30000};
  Durability durability = Durability::kFull;
  // SQLite file with durability full (`store.sqlite_wal_sync`): false ("in_commit", the default)
  // lets SQLite fsync the WAL inside COMMIT, under the write lock; true ("background") fsyncs it
  // on a thread of its own after the lock is released, answering each commit's callers only
  // after it (sqlite_wal_syncer.h), so the next transaction overlaps the fsync. Both answer only
  // after the fsync. Background wins where the disk is slow and shared and many senders wait
  // (+15-18% durable MLLP ingest at 32-64 senders) and costs ~8% more CPU per message where the
  // disk is fast (docs/hl7v2-ingest.md).
  bool sync_outside_write_lock = false;
};

}  // namespace tb::store
