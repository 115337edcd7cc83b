#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/inbound_store.h"
#include "broker/core/outbound_queue.h"
#include "broker/store/database.h"
#include "broker/store/sql_inbound_store.h"

namespace tb::store {

// core::OutboundQueue on SQLite or PostgreSQL (table outbound_message, migration 005, and
// outbound_message_party for a message's other patients, migration 009). Rows are created by
// SqlInboundStore in the transaction that stores their inbound message.
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
  core::Status MarkDeliveredAs(const std::string& owner, std::int64_t id) override;
  core::Status MarkFailedAs(const std::string& owner, std::int64_t id, const std::string& error,
                            bool permanent, std::int64_t next_attempt_at_ms) override;
  core::Result<core::OutboundItem> Get(std::int64_t id) override;
  core::Result<std::vector<core::OutboundItem>> ListDead(std::int64_t after_id,
                                                         std::size_t limit) override;
  core::Status Replay(std::int64_t id) override;
  core::Status Discard(std::int64_t id) override;
  core::Result<std::int64_t> CountHeldBehind(std::int64_t id) override;
  core::Result<core::QueueCounts> Counts() override;
  core::Result<core::PurgeResult> Purge(const core::PurgePolicy& policy) override;

  static const core::Clock& DefaultClock();

 private:
  std::int64_t NowMs() const;
  // The marks; `owner` null: no lease check (operator and tests), else MarkDeliveredAs rules.
  core::Status Delivered(const std::string* owner, std::int64_t id);
  core::Status Failed(const std::string* owner, std::int64_t id, const std::string& error,
                      bool permanent, std::int64_t next_attempt_at_ms);

  Database& database_;
  const core::Clock& clock_;
  const std::vector<PayloadKey> payload_keys_;
  const std::string claim_sql_;  // OutboundClaimSql for this database
};

// ClaimNext's SELECT (exposed for its query-plan test): the due partition heads, oldest first,
// at most ? (the third parameter). A row is due when queued and its retry time (first parameter)
// has come, or in flight with an expired lease, or in flight leased to the claiming owner (second
// parameter: a restarted worker). It is a head when no older unfinished row (queued, in flight or
// dead) is in any partition it is in: its own (destination, nhs_number) and, for a message about
// several patients, each other patient's (outbound_message_party, migration 009); an older row is
// in partition (d, n) when its own key is (d, n) or it names n as another patient for d. With
// `skip_locked` (PostgreSQL), rows another claimer holds are passed over.
std::string OutboundClaimSql(Engine engine, bool skip_locked);

// Enqueue order across nodes (PostgreSQL). Ids come from one sequence but are taken before commit,
// so a node could commit a patient's later message while another node's earlier one (lower id) is
// still uncommitted and invisible: a claimer would then take the later one as the partition head.
// So PgInboundWriter takes, inside a batch's transaction and before its inserts, a
// transaction-scoped advisory lock per (destination, NHS number) partition the batch enqueues into
// (each patient of a message: the routing key and the others), in ascending key order (so two
// batches never deadlock on them). Another node's batch for one of those partitions then waits
// for this commit, and takes its ids after it: within a partition, id order is commit order and no
// row is visible before an older one.
//
// The advisory lock key of a partition: 64-bit FNV-1a of "destination\x1fnhs_number".
std::int64_t PartitionLockKey(std::string_view destination, std::string_view nhs_number);

}  // namespace tb::store
