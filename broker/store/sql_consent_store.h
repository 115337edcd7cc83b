#pragma once

#include "broker/core/consent_records.h"
#include "broker/store/database.h"

namespace tb::store {

// core::ConsentRecords on SQLite or PostgreSQL (table consent, migration 003). Put is one upsert
// (INSERT ... ON CONFLICT (id) DO UPDATE), the same statement on both engines.
// Ownership: holds `database` by reference; destroy this first. Thread-safety: any thread.
class SqlConsentStore final : public core::ConsentRecords {
 public:
  explicit SqlConsentStore(Database& database) : database_(database) {}

  core::Status Put(const core::ConsentRecord& record) override;
  core::Result<std::vector<core::ConsentRecord>> GetByNhsNumber(
      const std::string& nhs_number) override;
  core::Result<core::ConsentRecord> GetById(const std::string& id) override;

 private:
  Database& database_;
};

}  // namespace tb::store
