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
    if (db.engine() == Engine::kSqlite) {
      db.recent_locator_rows().Drop(nhs_number, ods);  // the row changes otherwise than it knows
    }
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
    if (db.engine() == Engine::kSqlite) {
      db.recent_locator_rows().Drop(nhs_number, ods);
    }
    std::string nhs = nhs_number;
    std::string code = ods;
    Poco::Data::Statement remove(session);
    remove << db.Sql(kDeleteSql), use(nhs), use(code);
    remove.execute();
    return core::Ok();
  });
}

SqlRecordLocator::SqlRecordLocator(Database& database)
    : database_(database), lookup_statements_(kLookupSql) {}

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
      return lookup_statements_.SelectByText(
          Poco::Data::SQLite::Utility::dbHandle(session), kWhat, nhs_number,
          [&](sqlite3_stmt* select) {
            entries.push_back(core::LocatorEntry{
                nhs_number, SqliteColumnText(select, 0), SqliteColumnText(select, 1),
                sqlite3_column_int64(select, 2), sqlite3_column_int64(select, 3)});
          });
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
