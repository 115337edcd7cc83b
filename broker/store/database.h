#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/core/result.h"
#include "broker/store/settings.h"
#include "broker/store/store_url.h"

namespace tb::store {

// What the engine behind a Database can do. Callers branch on these, never on the engine name
// (STYLE.md section 10).
struct Capabilities {
  // Several connections may write at once. False on SQLite: writes are serialised through one
  // connection, so a long write transaction delays every other writer.
  bool supports_concurrent_writers = false;
  // `SELECT ... FOR UPDATE SKIP LOCKED` is available for leasing work items (queue, outbox).
  bool supports_skip_locked = false;
  // Several broker processes (nodes) may share this database. False for SQLite (one node).
  bool supports_multiple_nodes = false;
};

// An open database: a session pool for the engine, with the schema migrated to the version this
// binary knows. Created by OpenDatabase() (store.h).
//
// Ownership: repositories made from a Database (MakeInboundStore, ...) hold a reference to it and
// must be destroyed first. Thread-safety: all methods may be called from any thread; Close() may
// run while other threads use the database (they then get kStorage).
class Database {
 public:
  class Impl;  // store-internal (database_impl.h): Poco sessions, dialect, write serialisation

  explicit Database(std::unique_ptr<Impl> impl);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const Capabilities& capabilities() const;
  Engine engine() const;  // for logs and metrics only; branch on capabilities()
  // The store URL without the password, for logs.
  const std::string& display_url() const;

  // The highest migration recorded in `schema_version`. Errors: kStorage.
  core::Result<std::int64_t> SchemaVersion();

  // Waits for running operations, then closes every connection. Later operations return
  // kStorage. Idempotent; also done by the destructor.
  void Close();

  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb::store
