#include "broker/store/sqlite_statement_cache.h"

#include <sqlite3.h>

#include "broker/core/no_wait_reads.h"
#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

// The pool closes idle connections and opens new ones; a statement kept for a closed connection
// would keep it alive (sqlite3_close_v2 waits for its statements). More distinct connections
// than a pool holds (store.max_sessions, default 8, plus the writer of an in-memory database)
// means some were closed: then all are forgotten and live connections simply prepare again.
constexpr std::size_t kMaxCachedConnections = 16;

}  // namespace

SqliteStatementCache::~SqliteStatementCache() {
  for (const auto& [connection, statement] : statements_) {
    sqlite3_finalize(statement);
  }
}

core::Status SqliteStatementCache::Use(sqlite3* connection, std::string_view what,
                                       const std::function<core::Status(sqlite3_stmt*)>& use) {
  // Inside a core::NoWaitReads scope the read fails rather than wait for another thread's use
  // (which may be sleeping in SQLite's busy handler).
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!core::NoWaitReads::Active()) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return core::MakeError(core::ErrorCode::kStorage,
                           std::string(what) + " not run: the statement is in use");
  }
  auto it = statements_.find(connection);
  if (it == statements_.end()) {
    if (statements_.size() >= kMaxCachedConnections) {
      for (const auto& [old_connection, statement] : statements_) {
        sqlite3_finalize(statement);
      }
      statements_.clear();
    }
    sqlite3_stmt* prepared = nullptr;
    const int rc = sqlite3_prepare_v3(connection, sql_.data(), static_cast<int>(sql_.size()),
                                      SQLITE_PREPARE_PERSISTENT, &prepared, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(prepared);
      return SqliteError(what, rc);
    }
    it = statements_.emplace(connection, prepared).first;
  }
  sqlite3_stmt* const statement = it->second;
  struct ResetOnExit {
    sqlite3_stmt* statement;
    ~ResetOnExit() {
      sqlite3_reset(statement);
      sqlite3_clear_bindings(statement);
    }
  } reset{statement};
  return use(statement);
}

core::Status SqliteStatementCache::SelectByText(sqlite3* connection, std::string_view what,
                                                std::string_view key,
                                                const std::function<void(sqlite3_stmt*)>& row) {
  return Use(connection, what, [&](sqlite3_stmt* select) -> core::Status {
    int rc = SqliteBindText(select, 1, key);
    if (rc != SQLITE_OK) {
      return SqliteError(what, rc);
    }
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      row(select);
    }
    return rc == SQLITE_DONE ? core::Ok() : SqliteError(what, rc);
  });
}

std::string SqliteColumnText(sqlite3_stmt* statement, int column) {
  const unsigned char* value = sqlite3_column_text(statement, column);
  return value == nullptr
             ? std::string()
             : std::string(reinterpret_cast<const char*>(value),
                           static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
}

int SqliteBindText(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                           SQLITE_STATIC);
}

}  // namespace tb::store
