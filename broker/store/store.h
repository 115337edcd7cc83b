#pragma once

// The entry point of tb::store for broker/app (the composition root). No Poco types here: other
// folders talk to storage through the ports in broker/core (core::InboundStore, ...).

#include <memory>

#include "broker/core/audit_ledger.h"
#include "broker/core/clock.h"
#include "broker/core/consent_records.h"
#include "broker/core/inbound_store.h"
#include "broker/core/outbound_queue.h"
#include "broker/core/record_locator.h"
#include "broker/core/result.h"
#include "broker/store/database.h"
#include "broker/store/settings.h"
#include "broker/store/sql_inbound_store.h"

namespace tb::store {

// Parses settings.url, opens the database (SQLite: WAL, synchronous=FULL, busy_timeout,
// foreign_keys; PostgreSQL: a session pool, connecting once now) and applies the embedded schema
// migrations. Errors: kConfig for a bad URL or a database newer than this binary; kStorage when
// the database cannot be opened or migrated. The caller owns the result.
core::Result<std::unique_ptr<Database>> OpenDatabase(const StoreSettings& settings);

// The inbound message store on `database` (group commit; see sql_inbound_store.h). `database`
// must outlive the returned object; destroying it drains waiting messages and joins its thread.
std::unique_ptr<core::InboundStore> MakeInboundStore(Database& database,
                                                     const InboundStoreSettings& settings = {});
// The same, sealing every payload with `payload_key` (AES-256-GCM) before it is stored.
std::unique_ptr<core::InboundStore> MakeInboundStore(Database& database,
                                                     const InboundStoreSettings& settings,
                                                     const PayloadKey& payload_key);

// The record locator on `database` (see sql_record_locator.h); `database` must outlive it.
std::unique_ptr<core::RecordLocator> MakeRecordLocator(Database& database);

// Patients' consents on `database` (see sql_consent_store.h); `database` must outlive it.
std::unique_ptr<core::ConsentRecords> MakeConsentStore(Database& database);

// The audit ledger's storage on `database` (see sql_ledger_store.h); `database` must outlive it.
// tb::ledger::Ledger chains, hashes and signs on top of it.
std::unique_ptr<core::LedgerStore> MakeLedgerStore(Database& database);

// The outbound queue on `database` (see sql_outbound_queue.h): the items that MakeInboundStore's
// store writes for each route of a stored message. `database` and `clock` (used for leases and
// retry times) must outlive it; the default clock is the system clock.
std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database);
std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database,
                                                       const core::Clock& clock);
// The same, opening sealed payloads with `payload_keys` (the current key and older ones).
std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database, const core::Clock& clock,
                                                       std::vector<PayloadKey> payload_keys);

}  // namespace tb::store
