#pragma once

// Store-internal: one SQL statement prepared once per SQLite connection, for the per-request
// reads that Poco::Data would otherwise compile again on every call (the record locator's
// lookup for every ingested message, the consent read for every FHIR read).

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tb::store {

class SqliteStatementCache {
 public:
  // `sql` must outlive the cache (a constant).
  explicit SqliteStatementCache(std::string_view sql) : sql_(sql) {}
  ~SqliteStatementCache();

  SqliteStatementCache(const SqliteStatementCache&) = delete;
  SqliteStatementCache& operator=(const SqliteStatementCache&) = delete;

  // Runs `use` with the statement prepared for `connection` (preparing it the first time),
  // under the cache's lock, and resets the statement and its bindings on every way out: a
  // statement left mid-step would hold a read transaction open and keep WAL checkpoints from
  // completing. Inside a core::NoWaitReads scope it fails (kStorage) rather than wait for the
  // lock. Errors say `what`.
  core::Status Use(sqlite3* connection, std::string_view what,
                   const std::function<core::Status(sqlite3_stmt*)>& use);

  // Use for a SELECT with one text parameter: binds `key`, calls `row` for every row returned.
  core::Status SelectByText(sqlite3* connection, std::string_view what, std::string_view key,
                            const std::function<void(sqlite3_stmt*)>& row);

 private:
  std::string_view sql_;
  // The lock is held for the whole use (a few microseconds), so forgetting the statements
  // never finalises one that another thread is stepping.
  std::mutex mutex_;
  std::map<sqlite3*, sqlite3_stmt*> statements_;  // guarded by mutex_
};

// Column `column` of the current row as text ("" for NULL).
std::string SqliteColumnText(sqlite3_stmt* statement, int column);

// Binds `text` to parameter `index` without copying: it must stay alive until the step.
int SqliteBindText(sqlite3_stmt* statement, int index, std::string_view text);

}  // namespace tb::store
