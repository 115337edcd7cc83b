#include "broker/store/store.h"

#include <utility>

#include "broker/store/database_impl.h"
#include "broker/store/migrations.h"
#include "broker/store/sql_consent_store.h"
#include "broker/store/sql_inbound_store.h"
#include "broker/store/sql_ledger_store.h"
#include "broker/store/sql_outbound_queue.h"
#include "broker/store/sql_record_locator.h"
#include "broker/store/store_url.h"

namespace tb::store {

core::Result<std::unique_ptr<Database>> OpenDatabase(const StoreSettings& settings) {
  core::Result<StoreLocation> location = ParseStoreUrl(settings.url);
  if (!location) {
    return std::move(location).error();
  }
  const Engine engine = location->engine;
  core::Result<std::unique_ptr<Database::Impl>> impl =
      Database::Impl::Open(std::move(*location), settings);
  if (!impl) {
    return std::move(impl).error();
  }
  auto database = std::make_unique<Database>(std::move(*impl));
  BROKER_RETURN_IF_ERROR(ApplyMigrations(*database, EmbeddedMigrations(engine)));
  return database;
}

std::unique_ptr<core::InboundStore> MakeInboundStore(Database& database,
                                                     const InboundStoreSettings& settings) {
  return std::make_unique<SqlInboundStore>(database, settings);
}

std::unique_ptr<core::InboundStore> MakeInboundStore(Database& database,
                                                     const InboundStoreSettings& settings,
                                                     const PayloadKey& payload_key) {
  return std::make_unique<SqlInboundStore>(database, settings, payload_key);
}

std::unique_ptr<core::RecordLocator> MakeRecordLocator(Database& database) {
  return std::make_unique<SqlRecordLocator>(database);
}

std::unique_ptr<core::ConsentRecords> MakeConsentStore(Database& database) {
  return std::make_unique<SqlConsentStore>(database);
}

std::unique_ptr<core::LedgerStore> MakeLedgerStore(Database& database) {
  return std::make_unique<SqlLedgerStore>(database);
}

std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database) {
  return std::make_unique<SqlOutboundQueue>(database);
}

std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database,
                                                       const core::Clock& clock) {
  return std::make_unique<SqlOutboundQueue>(database, clock);
}

std::unique_ptr<core::OutboundQueue> MakeOutboundQueue(Database& database, const core::Clock& clock,
                                                       std::vector<PayloadKey> payload_keys) {
  return std::make_unique<SqlOutboundQueue>(database, clock, std::move(payload_keys));
}

}  // namespace tb::store
