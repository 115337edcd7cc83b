#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "broker/core/audit_ledger.h"
#include "broker/store/database.h"

namespace tb::store {

// The ledger search's SELECT (the same text on both engines, '?' placeholders) and its
// parameters in placeholder order. The patient, agent, target and a failure outcome are each
// served by an index that yields seq order (migrations 006 and 008), so such a page reads about
// as many rows as it shows; an agent is one branch per agent index. (A date range alone is not:
// docs/ledger.md.) Built apart from Search so the tests can ask SQLite for its plan.
struct LedgerSearchStatement {
  std::string sql;
  std::vector<std::variant<std::string, std::int64_t>> params;
};
LedgerSearchStatement BuildLedgerSearch(const core::LedgerQuery& query);

// core::LedgerStore on SQLite or PostgreSQL (tables ledger_record and ledger_checkpoint,
// migration 004). Append is one transaction; each row is INSERT ... ON CONFLICT DO NOTHING
// RETURNING, so a seq or count that exists gives kConflict and rolls the whole call back. On
// SQLite the inserts go through the writer's cached prepared statements (the group-commit hot
// path); on PostgreSQL through Poco::Data. Nothing here updates or deletes a row.
// Ownership: holds `database` by reference; destroy this first. Thread-safety: any thread.
class SqlLedgerStore final : public core::LedgerStore {
 public:
  explicit SqlLedgerStore(Database& database) : database_(database) {}

  core::Status Append(const std::vector<core::LedgerRecord>& records,
                      const core::LedgerCheckpoint* checkpoint) override;
  // SQLite: BEGIN IMMEDIATE serialises writers of the file; PostgreSQL: the transaction first
  // takes pg_advisory_xact_lock(ledger key), so nodes sharing the database append one chain.
  core::Result<core::LedgerBatch> AppendAtHead(const core::LedgerChainer& chain) override;
  core::Result<std::optional<core::LedgerRecord>> Last() override;
  core::Result<std::vector<core::LedgerRecord>> ReadRange(std::int64_t from_seq,
                                                          std::size_t limit) override;
  // BuildLedgerSearch's SELECT, parameters bound, keyset by seq.
  core::Result<std::vector<core::LedgerRecord>> Search(const core::LedgerQuery& query) override;
  core::Status WriteCheckpoint(const core::LedgerCheckpoint& checkpoint) override;
  core::Result<std::vector<core::LedgerCheckpoint>> ReadCheckpoints() override;

 private:
  // Runs `sql` (kColumns ...) with one optional text parameter; rows in result order.
  core::Result<std::vector<core::LedgerRecord>> Select(std::string_view what,
                                                       const std::string& sql,
                                                       const std::string* text_arg);
  Database& database_;
};

}  // namespace tb::store
