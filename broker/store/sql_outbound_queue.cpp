#include "broker/store/sql_outbound_queue.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Data/LOB.h>
#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>

#include "broker/core/clock.h"
#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

constexpr std::string_view kUnfinished = "('queued', 'in_flight', 'dead')";

// "An unfinished row older than o is in partition (destination, nhs_number)" (SQL columns).
std::string OlderUnfinishedIn(std::string_view destination, std::string_view nhs_number) {
  const std::string d(destination);
  const std::string n(nhs_number);
  const std::string unfinished(kUnfinished);
  return "(EXISTS (SELECT 1 FROM outbound_message p WHERE p.destination = " + d +
         " AND p.nhs_number = " + n + " AND p.status IN " + unfinished +
         " AND p.id < o.id) OR EXISTS (SELECT 1 FROM outbound_message_party x"
         " JOIN outbound_message q ON q.id = x.outbound_message_id WHERE x.destination = " +
         d + " AND x.nhs_number = " + n + " AND x.outbound_message_id < o.id AND q.status IN " +
         unfinished + "))";
}

constexpr std::string_view kLeaseSql =
    "UPDATE outbound_message SET status = 'in_flight', lease_owner = ?, lease_until = ?,"
    " next_attempt_at = ? WHERE id = ?";
// The item and its message; the payload (and its key) only when the first parameter is 1: an
// operator's list shows none, and should neither read nor open every listed payload.
constexpr std::string_view kItemSql =
    "SELECT o.id, o.inbound_message_id, o.destination, o.format, o.nhs_number, o.status,"
    " o.attempts, o.next_attempt_at, o.created_at, o.last_error, o.replayed_at, m.sender,"
    " m.protocol, m.message_type, m.control_id,"
    " CASE WHEN ? = 1 THEN m.payload ELSE substr(m.payload, 1, 0) END,"
    " CASE WHEN ? = 1 THEN m.payload_key_id END, m.dedupe_key"
    " FROM outbound_message o JOIN inbound_message m ON m.id = o.inbound_message_id"
    " WHERE o.id = ?";
// A claimed item whose payload cannot be opened (tampered with, or its key no longer configured)
// is dead at once, so that it does not fail every claim.
constexpr std::string_view kUnreadableSql =
    "UPDATE outbound_message SET status = 'dead', attempts = attempts + 1, last_error = ?,"
    " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?";
constexpr std::string_view kStatusSql = "SELECT status FROM outbound_message WHERE id = ?";
constexpr std::string_view kLeaseStateSql =
    "SELECT status, lease_owner FROM outbound_message WHERE id = ?";
constexpr std::string_view kDeliveredSql =
    "UPDATE outbound_message SET status = 'delivered', delivered_at = ?, lease_owner = NULL,"
    " lease_until = NULL WHERE id = ?";
constexpr std::string_view kFailedSql =
    "UPDATE outbound_message SET status = ?, attempts = attempts + 1, last_error = ?,"
    " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?";
constexpr std::string_view kReplaySql =
    "UPDATE outbound_message SET status = 'queued', attempts = 0, next_attempt_at = ?,"
    " replayed_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?";
constexpr std::string_view kDiscardSql =
    "UPDATE outbound_message SET status = 'discarded', lease_owner = NULL, lease_until = NULL"
    " WHERE id = ?";
constexpr std::string_view kDeadIdsSql =
    "SELECT id FROM outbound_message WHERE status = 'dead' AND id > ? ORDER BY id LIMIT ?";
// The later unfinished rows in any partition of row ? (its own and its other patients'), each
// once. All four parameters are the row's id.
const std::string& HeldSql() {
  static const std::string sql =
      "WITH parts (destination, nhs_number) AS (SELECT destination, nhs_number"
      " FROM outbound_message WHERE id = ? AND nhs_number IS NOT NULL"
      " UNION SELECT destination, nhs_number FROM outbound_message_party"
      " WHERE outbound_message_id = ?)"
      " SELECT COUNT(*) FROM (SELECT p.id FROM parts JOIN outbound_message p"
      " ON p.destination = parts.destination AND p.nhs_number = parts.nhs_number"
      " WHERE p.id > ? AND p.status IN " +
      std::string(kUnfinished) +
      " UNION SELECT p.id FROM parts JOIN outbound_message_party x"
      " ON x.destination = parts.destination AND x.nhs_number = parts.nhs_number"
      " JOIN outbound_message p ON p.id = x.outbound_message_id WHERE p.id > ? AND p.status IN " +
      std::string(kUnfinished) + ") AS held";
  return sql;
}
constexpr std::string_view kCountsSql =
    "SELECT status, COUNT(*) FROM outbound_message GROUP BY status";

// Inbound messages that no queue item still needs, oldest first.
constexpr std::string_view kFinishedSql =
    " FROM inbound_message m WHERE m.received_at < ? AND NOT EXISTS (SELECT 1 FROM"
    " outbound_message o WHERE o.inbound_message_id = m.id"
    " AND o.status IN ('queued', 'in_flight', 'dead'))";
// substr(payload, 1, 0): an empty BLOB/BYTEA on both engines (the column is NOT NULL).
constexpr std::string_view kErasePayloadSql =
    "UPDATE inbound_message SET payload = substr(payload, 1, 0), payload_key_id = NULL"
    " WHERE id = ?";
constexpr std::string_view kDeletePartiesSql =
    "DELETE FROM outbound_message_party WHERE outbound_message_id IN"
    " (SELECT id FROM outbound_message WHERE inbound_message_id = ?)";
constexpr std::string_view kDeleteItemsSql =
    "DELETE FROM outbound_message WHERE inbound_message_id = ?";
constexpr std::string_view kDeleteMessageSql = "DELETE FROM inbound_message WHERE id = ?";

core::Error NotFound(std::int64_t id, std::string_view why) {
  return core::MakeError(core::ErrorCode::kNotFound,
                         "outbound item " + std::to_string(id) + " " + std::string(why),
                         "OutboundItem.id");
}

// Item `id`; with `with_payload`, its payload opened with `keys` (errors at location
// "OutboundItem.payload" when it cannot be), else without it.
core::Result<core::OutboundItem> LoadItem(Database::Impl& db, Poco::Data::Session& session,
                                          const std::vector<PayloadKey>& keys, std::int64_t id,
                                          bool with_payload = true) {
  Poco::Int64 key = id;
  Poco::Int64 payload_wanted = with_payload ? 1 : 0;
  Poco::Int64 row_id = 0;
  Poco::Int64 inbound_id = 0;
  std::string destination;
  std::string format;
  Poco::Nullable<std::string> nhs_number;
  std::string status;
  Poco::Int64 attempts = 0;
  Poco::Int64 next_attempt_at = 0;
  Poco::Int64 created_at = 0;
  Poco::Nullable<std::string> last_error;
  Poco::Nullable<Poco::Int64> replayed_at;
  core::OutboundItem item;
  Poco::Data::BLOB payload;
  Poco::Nullable<std::string> key_id;
  std::string dedupe_key;
  Poco::Data::Statement select(session);
  select << db.Sql(kItemSql), use(payload_wanted), use(payload_wanted), use(key), into(row_id),
      into(inbound_id), into(destination), into(format), into(nhs_number), into(status),
      into(attempts), into(next_attempt_at), into(created_at), into(last_error), into(replayed_at),
      into(item.sender), into(item.protocol), into(item.message_type), into(item.control_id),
      into(payload), into(key_id), into(dedupe_key);
  if (select.execute() != 1) {
    return NotFound(id, "does not exist");
  }
  item.id = row_id;
  item.inbound_message_id = inbound_id;
  item.destination = std::move(destination);
  item.format = std::move(format);
  item.nhs_number = nhs_number.isNull() ? std::string() : nhs_number.value();
  if (!core::ParseOutboundStatus(status, item.status)) {
    return core::MakeError(core::ErrorCode::kStorage, "outbound item has an unknown status",
                           "OutboundItem.status");
  }
  item.attempts = static_cast<std::int32_t>(attempts);
  item.next_attempt_at_ms = next_attempt_at;
  item.created_at_ms = created_at;
  item.last_error = last_error.isNull() ? std::string() : last_error.value();
  item.replayed_at_ms = replayed_at.isNull() ? 0 : replayed_at.value();
  const std::string_view stored(reinterpret_cast<const char*>(payload.rawContent()),
                                payload.size());
  if (key_id.isNull()) {
    item.payload.assign(stored);
    return item;
  }
  const auto found = std::find_if(keys.begin(), keys.end(), [&](const PayloadKey& candidate) {
    return candidate.id == key_id.value();
  });
  if (found == keys.end()) {
    return core::MakeError(core::ErrorCode::kStorage,
                           "outbound item " + std::to_string(id) + ": payload key '" +
                               key_id.value() + "' is not configured",
                           "OutboundItem.payload");
  }
  core::Result<std::string> plaintext = OpenPayload(*found, stored, dedupe_key);
  if (!plaintext) {
    core::Error error = std::move(plaintext).error();
    error.message = "outbound item " + std::to_string(id) + ": " + error.message;
    error.location = "OutboundItem.payload";
    return error;
  }
  item.payload = std::move(*plaintext);
  return item;
}

// The status of row `id`, locked for this transaction where the engine has row locks.
core::Result<core::OutboundStatus> LockStatus(Database::Impl& db, Poco::Data::Session& session,
                                              std::int64_t id) {
  Poco::Int64 key = id;
  std::string status;
  std::string sql(kStatusSql);
  if (db.capabilities().supports_concurrent_writers) {
    sql += " FOR UPDATE";
  }
  Poco::Data::Statement select(session);
  select << db.Sql(sql), use(key), into(status);
  if (select.execute() != 1) {
    return NotFound(id, "does not exist");
  }
  core::OutboundStatus parsed = core::OutboundStatus::kQueued;
  if (!core::ParseOutboundStatus(status, parsed)) {
    return core::MakeError(core::ErrorCode::kStorage, "outbound item has an unknown status",
                           "OutboundItem.status");
  }
  return parsed;
}

bool IsOpen(core::OutboundStatus status) {
  return status == core::OutboundStatus::kQueued || status == core::OutboundStatus::kInFlight;
}

// Inside a mark's transaction: item `id` may be marked. Without `owner`, when it is queued or in
// flight (kNotFound otherwise); with `owner`, only while it is in flight leased to `owner`
// (kConflict otherwise: the lease was lost to another worker, or the item was finished). The row
// stays locked (PostgreSQL FOR UPDATE; SQLite's writer lock) until the mark commits, so a claim
// cannot take the lease between this check and the update.
core::Status CheckMarkable(Database::Impl& db, Poco::Data::Session& session, std::int64_t id,
                           const std::string* owner) {
  Poco::Int64 key = id;
  std::string status_text;
  Poco::Nullable<std::string> lease_owner;
  std::string sql(kLeaseStateSql);
  if (db.capabilities().supports_concurrent_writers) {
    sql += " FOR UPDATE";
  }
  Poco::Data::Statement select(session);
  select << db.Sql(sql), use(key), into(status_text), into(lease_owner);
  if (select.execute() != 1) {
    return NotFound(id, "does not exist");
  }
  core::OutboundStatus status = core::OutboundStatus::kQueued;
  if (!core::ParseOutboundStatus(status_text, status)) {
    return core::MakeError(core::ErrorCode::kStorage, "outbound item has an unknown status",
                           "OutboundItem.status");
  }
  if (owner == nullptr) {
    return IsOpen(status) ? core::Ok() : core::Status(NotFound(id, "is not queued or in flight"));
  }
  if (status != core::OutboundStatus::kInFlight || lease_owner.isNull() ||
      lease_owner.value() != *owner) {
    return core::MakeError(core::ErrorCode::kConflict,
                           "outbound item " + std::to_string(id) + " is not leased to " + *owner +
                               " (" + status_text + ")",
                           "OutboundItem.lease_owner");
  }
  return core::Ok();
}

}  // namespace

SqlOutboundQueue::SqlOutboundQueue(Database& database, const core::Clock& clock,
                                   std::vector<PayloadKey> payload_keys)
    : database_(database),
      clock_(clock),
      payload_keys_(std::move(payload_keys)),
      claim_sql_(OutboundClaimSql(database.impl().engine(),
                                  database.impl().capabilities().supports_skip_locked)) {}

const core::Clock& SqlOutboundQueue::DefaultClock() {
  static const core::SystemClock clock;
  return clock;
}

std::int64_t SqlOutboundQueue::NowMs() const { return core::ToUnixMs(clock_.Now()); }

core::Result<std::vector<core::OutboundItem>> SqlOutboundQueue::ClaimNext(
    const std::string& owner, std::size_t max, std::chrono::milliseconds lease) {
  std::vector<core::OutboundItem> items;
  if (max == 0) {
    return items;
  }
  if (owner.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "claim owner is empty", "owner");
  }
  Database::Impl& db = database_.impl();
  const std::int64_t now_ms = NowMs();
  BROKER_RETURN_IF_ERROR(db.Write("outbound claim", [&](Poco::Data::Session& session) {
    Poco::Int64 now = now_ms;
    std::string who = owner;
    Poco::Int64 limit = static_cast<Poco::Int64>(max);
    std::vector<Poco::Int64> ids;
    Poco::Data::Statement select(session);
    select << db.Sql(claim_sql_), use(now), use(who), use(limit), into(ids);
    select.execute();

    Poco::Int64 until = now_ms + lease.count();
    Poco::Int64 id = 0;
    Poco::Data::Statement update(session);
    update << db.Sql(kLeaseSql), use(who), use(until), use(until), use(id);
    for (const Poco::Int64 claimed : ids) {
      id = claimed;
      update.execute();
      core::Result<core::OutboundItem> item = LoadItem(db, session, payload_keys_, claimed);
      if (!item && item.error().location == "OutboundItem.payload") {
        // The message cannot be sent as received: dead (holding its patients' later messages,
        // as any dead letter does) for an operator, and the claim goes on without it.
        std::string why = item.error().message;
        Poco::Int64 at = now_ms;
        Poco::Data::Statement dead(session);  // (`now` is the claim time in this scope)
        dead << db.Sql(kUnreadableSql), use(why), use(at), use(id);
        dead.execute();
        db.logger().Error("queue.payload_unreadable",
                          {{"item", std::to_string(claimed)}, {"error", why}});
        continue;
      }
      if (!item) {
        return core::Status(std::move(item).error());
      }
      items.push_back(std::move(*item));
    }
    return core::Ok();
  }));
  return items;
}

core::Status SqlOutboundQueue::MarkDelivered(std::int64_t id) { return Delivered(nullptr, id); }

core::Status SqlOutboundQueue::MarkDeliveredAs(const std::string& owner, std::int64_t id) {
  return Delivered(&owner, id);
}

core::Status SqlOutboundQueue::MarkFailed(std::int64_t id, const std::string& error, bool permanent,
                                          std::int64_t next_attempt_at_ms) {
  return Failed(nullptr, id, error, permanent, next_attempt_at_ms);
}

core::Status SqlOutboundQueue::MarkFailedAs(const std::string& owner, std::int64_t id,
                                            const std::string& error, bool permanent,
                                            std::int64_t next_attempt_at_ms) {
  return Failed(&owner, id, error, permanent, next_attempt_at_ms);
}

core::Status SqlOutboundQueue::Delivered(const std::string* owner, std::int64_t id) {
  Database::Impl& db = database_.impl();
  const std::int64_t now_ms = NowMs();
  return db.Write("outbound delivered", [&](Poco::Data::Session& session) -> core::Status {
    BROKER_RETURN_IF_ERROR(CheckMarkable(db, session, id, owner));
    Poco::Int64 at = now_ms;
    Poco::Int64 key = id;
    session << db.Sql(kDeliveredSql), use(at), use(key), now;
    return core::Ok();
  });
}

core::Status SqlOutboundQueue::Failed(const std::string* owner, std::int64_t id,
                                      const std::string& error, bool permanent,
                                      std::int64_t next_attempt_at_ms) {
  Database::Impl& db = database_.impl();
  return db.Write("outbound failed", [&](Poco::Data::Session& session) -> core::Status {
    BROKER_RETURN_IF_ERROR(CheckMarkable(db, session, id, owner));
    std::string new_status(permanent ? "dead" : "queued");
    std::string text = error;
    Poco::Int64 next = next_attempt_at_ms;
    Poco::Int64 key = id;
    session << db.Sql(kFailedSql), use(new_status), use(text), use(next), use(key), now;
    return core::Ok();
  });
}

core::Result<core::OutboundItem> SqlOutboundQueue::Get(std::int64_t id) {
  std::optional<core::OutboundItem> found;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("outbound get", [&](Poco::Data::Session& session) {
    core::Result<core::OutboundItem> item = LoadItem(db, session, payload_keys_, id);
    if (!item) {
      return core::Status(std::move(item).error());
    }
    found = std::move(*item);
    return core::Ok();
  }));
  return std::move(*found);
}

core::Result<std::vector<core::OutboundItem>> SqlOutboundQueue::ListDead(std::int64_t after_id,
                                                                         std::size_t limit) {
  std::vector<core::OutboundItem> items;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("outbound list dead", [&](Poco::Data::Session& session) {
    std::vector<Poco::Int64> ids;
    Poco::Int64 after = after_id;
    Poco::Int64 most = static_cast<Poco::Int64>(
        std::min<std::size_t>(limit, std::numeric_limits<Poco::Int64>::max()));
    session << db.Sql(kDeadIdsSql), use(after), use(most), into(ids), now;
    for (const Poco::Int64 id : ids) {
      core::Result<core::OutboundItem> item =
          LoadItem(db, session, payload_keys_, id, /*with_payload=*/false);
      if (!item) {
        return core::Status(std::move(item).error());
      }
      items.push_back(std::move(*item));
    }
    return core::Ok();
  }));
  return items;
}

core::Status SqlOutboundQueue::Replay(std::int64_t id) {
  Database::Impl& db = database_.impl();
  const std::int64_t now_ms = NowMs();
  return db.Write("outbound replay", [&](Poco::Data::Session& session) -> core::Status {
    core::Result<core::OutboundStatus> status = LockStatus(db, session, id);
    if (!status) {
      return std::move(status).error();
    }
    if (*status != core::OutboundStatus::kDead) {
      return NotFound(id, "is not a dead letter");
    }
    Poco::Int64 next = now_ms;
    Poco::Int64 replayed = now_ms;
    Poco::Int64 key = id;
    session << db.Sql(kReplaySql), use(next), use(replayed), use(key), now;
    return core::Ok();
  });
}

core::Status SqlOutboundQueue::Discard(std::int64_t id) {
  Database::Impl& db = database_.impl();
  return db.Write("outbound discard", [&](Poco::Data::Session& session) -> core::Status {
    core::Result<core::OutboundStatus> status = LockStatus(db, session, id);
    if (!status) {
      return std::move(status).error();
    }
    if (*status != core::OutboundStatus::kDead && *status != core::OutboundStatus::kQueued) {
      return core::MakeError(core::ErrorCode::kConflict,
                             "outbound item " + std::to_string(id) + " is " +
                                 std::string(core::ToString(*status)) +
                                 ": only a dead or queued item can be discarded",
                             "OutboundItem.status");
    }
    Poco::Int64 key = id;
    session << db.Sql(kDiscardSql), use(key), now;
    return core::Ok();
  });
}

core::Result<std::int64_t> SqlOutboundQueue::CountHeldBehind(std::int64_t id) {
  std::int64_t held = 0;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("outbound held", [&](Poco::Data::Session& session) {
    Poco::Int64 key = id;
    Poco::Int64 exists = 0;
    session << db.Sql("SELECT COUNT(*) FROM outbound_message WHERE id = ?"), use(key), into(exists),
        now;
    if (exists == 0) {
      return core::Status(NotFound(id, "does not exist"));
    }
    Poco::Int64 count = 0;
    session << db.Sql(HeldSql()), use(key), use(key), use(key), use(key), into(count), now;
    held = count;
    return core::Ok();
  }));
  return held;
}

core::Result<core::QueueCounts> SqlOutboundQueue::Counts() {
  core::QueueCounts counts;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("outbound counts", [&](Poco::Data::Session& session) {
    std::vector<std::string> statuses;
    std::vector<Poco::Int64> numbers;
    session << std::string(kCountsSql), into(statuses), into(numbers), now;
    for (std::size_t i = 0; i < statuses.size() && i < numbers.size(); ++i) {
      core::OutboundStatus status = core::OutboundStatus::kQueued;
      if (!core::ParseOutboundStatus(statuses[i], status)) {
        continue;
      }
      switch (status) {
        case core::OutboundStatus::kQueued:
          counts.queued = numbers[i];
          break;
        case core::OutboundStatus::kInFlight:
          counts.in_flight = numbers[i];
          break;
        case core::OutboundStatus::kDelivered:
          counts.delivered = numbers[i];
          break;
        case core::OutboundStatus::kDead:
          counts.dead = numbers[i];
          break;
        case core::OutboundStatus::kDiscarded:
          counts.discarded = numbers[i];
          break;
      }
    }
    return core::Ok();
  }));
  return counts;
}

core::Result<core::PurgeResult> SqlOutboundQueue::Purge(const core::PurgePolicy& policy) {
  if (policy.key_retention < policy.payload_retention) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "key retention must not be shorter than payload retention",
                           "PurgePolicy.key_retention");
  }
  core::PurgeResult result;
  Database::Impl& db = database_.impl();
  const std::int64_t now_ms = NowMs();
  BROKER_RETURN_IF_ERROR(db.Write("outbound purge", [&](Poco::Data::Session& session) {
    Poco::Int64 limit = static_cast<Poco::Int64>(policy.max_rows);
    Poco::Int64 id = 0;

    std::vector<Poco::Int64> erase;
    Poco::Int64 payload_before = now_ms - policy.payload_retention.count();
    session << db.Sql("SELECT m.id" + std::string(kFinishedSql) +
                      " AND length(m.payload) > 0 ORDER BY m.id LIMIT ?"),
        use(payload_before), use(limit), into(erase), now;
    Poco::Data::Statement clear(session);
    clear << db.Sql(kErasePayloadSql), use(id);
    for (const Poco::Int64 each : erase) {
      id = each;
      clear.execute();
    }

    std::vector<Poco::Int64> remove;
    Poco::Int64 key_before = now_ms - policy.key_retention.count();
    session << db.Sql("SELECT m.id" + std::string(kFinishedSql) + " ORDER BY m.id LIMIT ?"),
        use(key_before), use(limit), into(remove), now;
    Poco::Data::Statement parties(session);
    parties << db.Sql(kDeletePartiesSql), use(id);
    Poco::Data::Statement items(session);
    items << db.Sql(kDeleteItemsSql), use(id);
    Poco::Data::Statement message(session);
    message << db.Sql(kDeleteMessageSql), use(id);
    for (const Poco::Int64 each : remove) {
      id = each;
      parties.execute();
      items.execute();
      message.execute();
    }
    result.payloads_erased = static_cast<std::int64_t>(erase.size());
    result.messages_deleted = static_cast<std::int64_t>(remove.size());
    return core::Ok();
  }));
  return result;
}

std::string OutboundClaimSql(Engine engine, bool skip_locked) {
  // SQLite is told the index: without statistics (the store never runs ANALYZE) it walks the
  // table in id order to save the sort, i.e. every delivered row the retention keeps (30 ms a
  // claim at 300,000 rows), while the due index holds only queued and in-flight rows.
  std::string sql = "SELECT o.id FROM outbound_message o";
  if (engine == Engine::kSqlite) {
    sql += " INDEXED BY outbound_message_due";
  }
  sql +=
      " WHERE o.status IN ('queued', 'in_flight')"
      " AND (o.next_attempt_at <= ? OR (o.status = 'in_flight' AND o.lease_owner = ?))"
      " AND (o.nhs_number IS NULL OR NOT " +
      OlderUnfinishedIn("o.destination", "o.nhs_number") +
      ") AND NOT EXISTS (SELECT 1 FROM outbound_message_party y"
      " WHERE y.outbound_message_id = o.id AND " +
      OlderUnfinishedIn("y.destination", "y.nhs_number") + ") ORDER BY o.id LIMIT ?";
  if (skip_locked) {
    sql += " FOR UPDATE OF o SKIP LOCKED";
  }
  return sql;
}

std::int64_t PartitionLockKey(std::string_view destination, std::string_view nhs_number) {
  std::uint64_t hash = 14695981039346656037ULL;
  const auto add = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  };
  for (const char c : destination) {
    add(static_cast<unsigned char>(c));
  }
  add(0x1f);
  for (const char c : nhs_number) {
    add(static_cast<unsigned char>(c));
  }
  return static_cast<std::int64_t>(hash);
}

}  // namespace tb::store
