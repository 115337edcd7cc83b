#pragma once

#include "broker/core/consent_records.h"
#include "broker/store/database.h"
#include "broker/store/sqlite_statement_cache.h"

namespace tb::store {

// core::ConsentRecords on SQLite or PostgreSQL (table consent, migration 003). Put is one
// statement, the same on both engines: version 1 an INSERT ... ON CONFLICT (id) DO NOTHING, a later
// version an UPDATE ... WHERE version = the previous one (and the same patient); either RETURNING
// the row, so no row back is the conflict (compare-and-set: concurrent writers of one consent
// cannot both win). Ownership: holds `database` by reference; destroy this first. Thread-safety:
// any thread.
class SqlConsentStore final : public core::ConsentRecords {
 public:
  explicit SqlConsentStore(Database& database);
  SqlConsentStore(const SqlConsentStore&) = delete;
  SqlConsentStore& operator=(const SqlConsentStore&) = delete;

  core::Status Put(const core::ConsentRecord& record) override;
  core::Result<std::vector<core::ConsentRecord>> GetByNhsNumber(
      const std::string& nhs_number) override;
  core::Result<core::ConsentRecord> GetById(const std::string& id) override;

 private:
  core::Status SqliteByPatient(const std::string& nhs_number,
                               std::vector<core::ConsentRecord>& records);

  Database& database_;
  // SQLite: GetByNhsNumber runs for every FHIR read (the consents are read fresh each time, so
  // a revocation applies at once), and Poco::Data compiles its SELECT again on every call. So it
  // is prepared once per read connection.
  SqliteStatementCache by_patient_statements_;
};

}  // namespace tb::store
