#pragma once

#include "broker/core/clock.h"
#include "broker/core/outbound_queue.h"
#include "broker/store/database.h"
#include "broker/store/sql_inbound_store.h"

namespace tb::store {

// core::OutboundQueue on SQLite or PostgreSQL (table outbound_message, migration 005). Rows are
// created by SqlInboundStore in the transaction that stores their inbound message.
//
// ClaimNext() selects the due partition heads and leases them in one write transaction. SQLite
// serialises writers, so two claimers never see the same head; on PostgreSQL (capability
// supports_skip_locked) the heads are selected FOR UPDATE SKIP LOCKED, so concurrent claimers on
// several nodes take different heads without waiting for each other. Payloads are read by a join
// with inbound_message.
//
// Sealed payloads (SqlInboundStore with a payload key) are opened with the key of the row's
// payload_key_id from `payload_keys`; a missing key or a payload that fails to open is kStorage
// for the ClaimNext()/ListDead() that met it.
//
// Ownership: holds `database` and `clock` by reference; destroy this first. Thread-safety: any
// thread.
class SqlOutboundQueue final : public core::OutboundQueue {
 public:
  explicit SqlOutboundQueue(Database& database, const core::Clock& clock = DefaultClock(),
                            std::vector<PayloadKey> payload_keys = {});

  core::Result<std::vector<core::OutboundItem>> ClaimNext(const std::string& owner, std::size_t max,
                                                          std::chrono::milliseconds lease) override;
  core::Status MarkDelivered(std::int64_t id) override;
  core::Status MarkFailed(std::int64_t id, const std::string& error, bool permanent,
                          std::int64_t next_attempt_at_ms) override;
  core::Result<std::vector<core::OutboundItem>> ListDead() override;
  core::Status Replay(std::int64_t id) override;
  core::Status Discard(std::int64_t id) override;
  core::Result<std::int64_t> CountHeldBehind(std::int64_t id) override;
  core::Result<core::QueueCounts> Counts() override;
  core::Result<core::PurgeResult> Purge(const core::PurgePolicy& policy) override;

  static const core::Clock& DefaultClock();

 private:
  std::int64_t NowMs() const;

  Database& database_;
  const core::Clock& clock_;
  const std::vector<PayloadKey> payload_keys_;
};

}  // namespace tb::store
