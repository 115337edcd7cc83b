#pragma once

// Store-internal (broker/store sources and tests only): the ledger append that
// SqlLedgerStore::AppendAtHead runs, for a write transaction that another store already holds
// (SqlInboundStore writes its batch's audit records in the batch's own transaction).

#include <Poco/Data/Session.h>

#include "broker/core/audit_ledger.h"
#include "broker/core/result.h"
#include "broker/store/database_impl.h"

namespace tb::store {

// Inside a Database::Impl::Write() body: reads the ledger head (SQLite: under the writer's
// BEGIN IMMEDIATE; PostgreSQL: after taking the ledger's advisory lock), calls `chain` once with
// it and writes the records and checkpoint it returns. Returns the written batch; the caller's
// commit makes it durable. Errors: `chain`'s; kStorage; kConflict (a seq already there).
core::Result<core::LedgerBatch> AppendLedgerAtHead(Database::Impl& db, Poco::Data::Session& session,
                                                   const core::LedgerChainer& chain);

}  // namespace tb::store
