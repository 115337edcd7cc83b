#pragma once

#include <map>
#include <mutex>

#include "broker/core/consent_records.h"
#include "broker/store/database.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tb::store {

// core::ConsentRecords on SQLite or PostgreSQL (table consent, migration 003). Put is one upsert
// (INSERT ... ON CONFLICT (id) DO UPDATE), the same statement on both engines.
// Ownership: holds `database` by reference; destroy this first. Thread-safety: any thread.
class SqlConsentStore final : public core::ConsentRecords {
 public:
  explicit SqlConsentStore(Database& database) : database_(database) {}
  ~SqlConsentStore() override;
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
  // is prepared once per read connection (keyed by that connection), used under by_patient_mutex_,
  // all forgotten when more connections than a pool holds have been seen (closed ones must not be
  // kept alive), and finalised by the destructor. As SqlRecordLocator::Lookup does.
  std::mutex by_patient_mutex_;
  std::map<sqlite3*, sqlite3_stmt*> by_patient_statements_;  // guarded by by_patient_mutex_
};

}  // namespace tb::store
