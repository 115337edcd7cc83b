#pragma once

#include <string>
#include <string_view>

#include "broker/core/record_locator.h"
#include "broker/store/database.h"
#include "broker/store/sqlite_statement_cache.h"

namespace tb::store {

// Store-internal: the one definition of an announcement's upsert into record_locator, as
// "INSERT INTO record_locator (nhs_number, ods, source, first_seen, last_seen) <rows> ON CONFLICT
// ... DO UPDATE" where `rows` yields those five columns ("VALUES (?, ?, ?, ?, ?)" for Announce; a
// SELECT in SqlInboundStore's batch, which writes the announcements of the messages it stores).
std::string LocatorUpsertSql(std::string_view rows);

// core::RecordLocator on SQLite or PostgreSQL (table record_locator, migration 002). Announce is
// one upsert (INSERT ... ON CONFLICT DO UPDATE, the same statement on both engines), so two
// nodes announcing the same pair at once both succeed.
// Ownership: holds `database` by reference; destroy this first. Thread-safety: any thread.
class SqlRecordLocator final : public core::RecordLocator {
 public:
  explicit SqlRecordLocator(Database& database);
  SqlRecordLocator(const SqlRecordLocator&) = delete;
  SqlRecordLocator& operator=(const SqlRecordLocator&) = delete;

  core::Status Announce(const std::string& nhs_number, const std::string& ods,
                        const std::string& source, std::int64_t at_ms) override;
  core::Status Forget(const std::string& nhs_number, const std::string& ods) override;
  core::Result<std::vector<core::LocatorEntry>> Lookup(const std::string& nhs_number) override;

 private:
  Database& database_;
  // SQLite: Lookup runs for every ingested message that names a patient (routing), and
  // Poco::Data compiles its SELECT again on every call. So it is prepared once per read
  // connection.
  SqliteStatementCache lookup_statements_;
};

}  // namespace tb::store
