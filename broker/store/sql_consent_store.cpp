#include "broker/store/sql_consent_store.h"

#include <sqlite3.h>

#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Statement.h>

#include "broker/core/nhs_number.h"
#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

constexpr std::size_t kMaxIdLength = 64;

// Create: a plain insert. An id that exists returns no row, which is the clash (kConflict): a
// create never replaces another consent.
constexpr std::string_view kInsertSql =
    "INSERT INTO consent (id, nhs_number, status, version, resource, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING version";
// Update: only from the version the caller read (version - 1), and only for the same patient.
// Two writers that read the same version both ask for this row; the first one moves it on, so the
// second matches no row (kConflict) instead of silently replacing the first one's change.
constexpr std::string_view kUpdateSql =
    "UPDATE consent SET status = ?, version = ?, resource = ?, updated_at = ? "
    "WHERE id = ? AND version = ? AND nhs_number = ? RETURNING version";
constexpr std::string_view kByPatientSql =
    "SELECT id, nhs_number, status, version, resource, created_at, updated_at FROM consent "
    "WHERE nhs_number = ? ORDER BY created_at, id";
constexpr std::string_view kByIdSql =
    "SELECT id, nhs_number, status, version, resource, created_at, updated_at FROM consent "
    "WHERE id = ?";

// A FHIR id: [A-Za-z0-9.-]{1,64}.
bool IsValidId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdLength) {
    return false;
  }
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

core::Status Check(const core::ConsentRecord& record) {
  if (!IsValidId(record.id)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid consent id",
                           "ConsentRecord.id");
  }
  if (!core::IsValidNhsNumber(record.nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                           "ConsentRecord.nhs_number");
  }
  if (record.status.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "empty status", "ConsentRecord.status");
  }
  if (record.json.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "empty resource", "ConsentRecord.json");
  }
  return core::Ok();
}

// The columns of one row, bound with into() and copied out after each fetch.
struct Row {
  std::string id;
  std::string nhs_number;
  std::string status;
  Poco::Int64 version = 0;
  std::string resource;
  Poco::Int64 created_at = 0;
  Poco::Int64 updated_at = 0;

  core::ConsentRecord ToRecord() const {
    return core::ConsentRecord{id, nhs_number, status, version, resource, created_at, updated_at};
  }
};

}  // namespace

core::Status SqlConsentStore::Put(const core::ConsentRecord& record) {
  BROKER_RETURN_IF_ERROR(Check(record));
  if (record.version < 1) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "version must be 1 or more",
                           "ConsentRecord.version");
  }
  Database::Impl& db = database_.impl();
  return db.Write("consent put", [&](Poco::Data::Session& session) -> core::Status {
    std::string id = record.id;
    std::string nhs = record.nhs_number;
    std::string status = record.status;
    Poco::Int64 version = record.version;
    std::string resource = record.json;
    Poco::Int64 created = record.created_at_ms;
    Poco::Int64 updated = record.updated_at_ms;
    Poco::Int64 returned = 0;
    Poco::Data::Statement write(session);
    if (record.version == 1) {
      write << db.Sql(kInsertSql), use(id), use(nhs), use(status), use(version), use(resource),
          use(created), use(updated), into(returned);
      if (write.execute() != 1) {
        return core::MakeError(core::ErrorCode::kConflict, "a consent with this id exists",
                               "ConsentRecord.id");
      }
      return core::Ok();
    }
    Poco::Int64 previous = record.version - 1;
    write << db.Sql(kUpdateSql), use(status), use(version), use(resource), use(updated), use(id),
        use(previous), use(nhs), into(returned);
    if (write.execute() != 1) {
      return core::MakeError(core::ErrorCode::kConflict,
                             "the consent is not at version " + std::to_string(previous) +
                                 " of this patient (changed meanwhile, or absent)",
                             "ConsentRecord.version");
    }
    return core::Ok();
  });
}

SqlConsentStore::SqlConsentStore(Database& database)
    : database_(database), by_patient_statements_(kByPatientSql) {}

core::Result<std::vector<core::ConsentRecord>> SqlConsentStore::GetByNhsNumber(
    const std::string& nhs_number) {
  if (!core::IsValidNhsNumber(nhs_number)) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                           "ConsentRecord.nhs_number");
  }
  std::vector<core::ConsentRecord> records;
  Database::Impl& db = database_.impl();
  if (db.engine() == Engine::kSqlite) {
    BROKER_RETURN_IF_ERROR(SqliteByPatient(nhs_number, records));
    return records;
  }
  BROKER_RETURN_IF_ERROR(db.Read("consent by patient", [&](Poco::Data::Session& session) {
    std::string nhs = nhs_number;
    Row row;
    Poco::Data::Statement select(session);
    select << db.Sql(kByPatientSql), use(nhs), into(row.id), into(row.nhs_number), into(row.status),
        into(row.version), into(row.resource), into(row.created_at), into(row.updated_at),
        range(0, 1);
    while (!select.done()) {
      if (select.execute() == 0) {
        break;
      }
      records.push_back(row.ToRecord());
    }
    return core::Ok();
  }));
  return records;
}

core::Status SqlConsentStore::SqliteByPatient(const std::string& nhs_number,
                                              std::vector<core::ConsentRecord>& records) {
  constexpr std::string_view kWhat = "consent by patient";
  return database_.impl().Read(kWhat, [&](Poco::Data::Session& session) -> core::Status {
    return by_patient_statements_.SelectByText(
        Poco::Data::SQLite::Utility::dbHandle(session), kWhat, nhs_number,
        [&](sqlite3_stmt* select) {
          records.push_back(core::ConsentRecord{
              SqliteColumnText(select, 0), SqliteColumnText(select, 1), SqliteColumnText(select, 2),
              sqlite3_column_int64(select, 3), SqliteColumnText(select, 4),
              sqlite3_column_int64(select, 5), sqlite3_column_int64(select, 6)});
        });
  });
}

core::Result<core::ConsentRecord> SqlConsentStore::GetById(const std::string& id) {
  if (!IsValidId(id)) {
    return core::MakeError(core::ErrorCode::kNotFound, "no such consent", "ConsentRecord.id");
  }
  std::optional<core::ConsentRecord> found;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("consent by id", [&](Poco::Data::Session& session) {
    std::string key = id;
    Row row;
    Poco::Data::Statement select(session);
    select << db.Sql(kByIdSql), use(key), into(row.id), into(row.nhs_number), into(row.status),
        into(row.version), into(row.resource), into(row.created_at), into(row.updated_at),
        range(0, 1);
    if (select.execute() > 0) {
      found = row.ToRecord();
    }
    return core::Ok();
  }));
  if (!found) {
    return core::MakeError(core::ErrorCode::kNotFound, "no such consent", "ConsentRecord.id");
  }
  return std::move(*found);
}

}  // namespace tb::store
