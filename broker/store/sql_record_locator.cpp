#include "broker/store/sql_record_locator.h"

#include <sqlite3.h>

#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Statement.h>

#include "broker/core/nhs_number.h"
#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

constexpr std::string_view kDeleteSql =
    "DELETE FROM record_locator WHERE nhs_number = ? AND ods = ?";
constexpr std::string_view kLookupSql =
    "SELECT ods, source, first_seen, last_seen FROM record_locator WHERE nhs_number = ? "
    "ORDER BY ods";

// More distinct read connections than the pool holds (store.max_sessions, default 8, plus the
// writer of an in-memory database) means some were closed: then the cache starts again.
constexpr std::size_t kMaxCachedConnections = 16;

core::Status Check(const std::string& nhs_number, const std::string& ods) {
  if (!core::IsValidNhsNumber(nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                           "LocatorEntry.nhs_number");
  }
  if (ods.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "empty ODS code", "LocatorEntry.ods");
  }
  return core::Ok();
}

}  // namespace

std::string LocatorUpsertSql(std::string_view rows) {
  std::string sql = "INSERT INTO record_locator (nhs_number, ods, source, first_seen, last_seen) ";
  sql += rows;
  sql +=
      " ON CONFLICT (nhs_number, ods) DO UPDATE SET source = excluded.source,"
      " last_seen = excluded.last_seen";
  return sql;
}

core::Status SqlRecordLocator::Announce(const std::string& nhs_number, const std::string& ods,
                                        const std::string& source, std::int64_t at_ms) {
  BROKER_RETURN_IF_ERROR(Check(nhs_number, ods));
  Database::Impl& db = database_.impl();
  return db.Write("locator announce", [&](Poco::Data::Session& session) {
    std::string nhs = nhs_number;
    std::string code = ods;
    std::string from = source;
    Poco::Int64 first = at_ms;
    Poco::Int64 last = at_ms;
    Poco::Data::Statement upsert(session);
    upsert << db.Sql(LocatorUpsertSql("VALUES (?, ?, ?, ?, ?)")), use(nhs), use(code), use(from),
        use(first), use(last);
    upsert.execute();
    return core::Ok();
  });
}

core::Status SqlRecordLocator::Forget(const std::string& nhs_number, const std::string& ods) {
  Database::Impl& db = database_.impl();
  return db.Write("locator forget", [&](Poco::Data::Session& session) {
    std::string nhs = nhs_number;
    std::string code = ods;
    Poco::Data::Statement remove(session);
    remove << db.Sql(kDeleteSql), use(nhs), use(code);
    remove.execute();
    return core::Ok();
  });
}

SqlRecordLocator::~SqlRecordLocator() {
  for (const auto& [connection, statement] : lookup_statements_) {
    sqlite3_finalize(statement);
  }
}

core::Result<std::vector<core::LocatorEntry>> SqlRecordLocator::Lookup(
    const std::string& nhs_number) {
  std::vector<core::LocatorEntry> entries;
  if (!core::IsValidNhsNumber(nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                           "LocatorEntry.nhs_number");
  }
  Database::Impl& db = database_.impl();
  if (db.engine() == Engine::kSqlite) {
    constexpr std::string_view kWhat = "locator lookup";
    BROKER_RETURN_IF_ERROR(db.Read(kWhat, [&](Poco::Data::Session& session) -> core::Status {
      sqlite3* const connection = Poco::Data::SQLite::Utility::dbHandle(session);
      // Held for the whole lookup (a few microseconds): so that forgetting the statements below
      // never finalises one that another thread is stepping.
      std::lock_guard lock(lookup_mutex_);
      auto it = lookup_statements_.find(connection);
      if (it == lookup_statements_.end()) {
        if (lookup_statements_.size() >= kMaxCachedConnections) {
          // The pool closes idle connections and opens new ones; a statement kept for a closed
          // connection would keep it alive (sqlite3_close_v2 waits for its statements). Forget
          // them all: live connections simply prepare again.
          for (const auto& [old_connection, statement] : lookup_statements_) {
            sqlite3_finalize(statement);
          }
          lookup_statements_.clear();
        }
        sqlite3_stmt* prepared = nullptr;
        const int rc =
            sqlite3_prepare_v3(connection, kLookupSql.data(), static_cast<int>(kLookupSql.size()),
                               SQLITE_PREPARE_PERSISTENT, &prepared, nullptr);
        if (rc != SQLITE_OK) {
          sqlite3_finalize(prepared);
          return SqliteError(kWhat, rc);
        }
        it = lookup_statements_.emplace(connection, prepared).first;
      }
      sqlite3_stmt* const select = it->second;
      // Reset on every way out: a statement left mid-step would hold a read transaction open
      // (and keep WAL checkpoints from completing).
      struct ResetOnExit {
        sqlite3_stmt* statement;
        ~ResetOnExit() {
          sqlite3_reset(statement);
          sqlite3_clear_bindings(statement);
        }
      } reset{select};
      int rc = sqlite3_bind_text(select, 1, nhs_number.data(), static_cast<int>(nhs_number.size()),
                                 SQLITE_STATIC);
      if (rc != SQLITE_OK) {
        return SqliteError(kWhat, rc);
      }
      const auto text = [select](int column) {
        const unsigned char* value = sqlite3_column_text(select, column);
        return value == nullptr
                   ? std::string()
                   : std::string(reinterpret_cast<const char*>(value),
                                 static_cast<std::size_t>(sqlite3_column_bytes(select, column)));
      };
      while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
        entries.push_back(core::LocatorEntry{nhs_number, text(0), text(1),
                                             sqlite3_column_int64(select, 2),
                                             sqlite3_column_int64(select, 3)});
      }
      return rc == SQLITE_DONE ? core::Ok() : SqliteError(kWhat, rc);
    }));
    return entries;
  }
  BROKER_RETURN_IF_ERROR(db.Read("locator lookup", [&](Poco::Data::Session& session) {
    std::string nhs = nhs_number;
    std::string ods;
    std::string source;
    Poco::Int64 first = 0;
    Poco::Int64 last = 0;
    Poco::Data::Statement select(session);
    select << db.Sql(kLookupSql), use(nhs), into(ods), into(source), into(first), into(last),
        range(0, 1);
    while (!select.done()) {
      if (select.execute() == 0) {
        break;
      }
      entries.push_back(core::LocatorEntry{nhs_number, ods, source, first, last});
    }
    return core::Ok();
  }));
  return entries;
}

}  // namespace tb::store
