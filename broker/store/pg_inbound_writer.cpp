#include "broker/store/pg_inbound_writer.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <Poco/Data/SessionImpl.h>
#include <Poco/Data/Statement.h>

#include "broker/store/sql_outbound_queue.h"
#include "broker/store/sql_record_locator.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/now

constexpr std::string_view kWhat = "inbound accept";

// One statement per message: the insert, and when it stored a row (the RETURNING), one
// outbound_message row per route from the arrays $11/$12 (migration 005), for each of those one
// outbound_message_party row per other patient in the array $17 (migration 009), and the message's
// record locator announcements: holder $14, source $15 and time $16 for each NHS number in the
// array $13 (the message's patients; none when $13 is null; LocatorUpsertSql, the statement of
// SqlRecordLocator::Announce). ON CONFLICT DO NOTHING decides "new" or "known key" as on the
// SQLite path, and on PostgreSQL waits for another node's transaction that inserts the same key
// instead of failing the batch. The enqueue and the announcement ride in the same statement
// because a pipeline cannot branch on the id it has not read yet.
const std::string kInsertName = "tb_inbound_insert";
const std::string kInsertSql =
    "WITH stored AS ("
    " INSERT INTO inbound_message (received_at, sender, protocol, message_type, control_id,"
    " dedupe_key, content_sha256, nhs_number, payload, payload_key_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id),"
    " queued AS ("
    " INSERT INTO outbound_message (inbound_message_id, destination, format, nhs_number, status,"
    " attempts, next_attempt_at, created_at)"
    " SELECT stored.id, route.destination, route.format, $8, 'queued', 0, $1, $1"
    " FROM stored CROSS JOIN unnest(CAST($11 AS TEXT[]), CAST($12 AS TEXT[]))"
    " WITH ORDINALITY AS route(destination, format, n) ORDER BY route.n"
    " RETURNING id, destination),"
    " parties AS ("
    " INSERT INTO outbound_message_party (outbound_message_id, destination, nhs_number)"
    " SELECT queued.id, queued.destination, other.nhs_number"
    " FROM queued CROSS JOIN unnest(CAST($17 AS TEXT[])) AS other(nhs_number)),"
    " announced AS (" +
    LocatorUpsertSql(
        "SELECT patient.nhs_number, CAST($14 AS TEXT), CAST($15 AS TEXT), CAST($16 AS BIGINT),"
        " CAST($16 AS BIGINT) FROM stored CROSS JOIN unnest(CAST($13 AS TEXT[]))"
        " AS patient(nhs_number)") +
    ") SELECT id FROM stored";
// Sent after every insert: it costs no round trip in the pipeline, and for a known key it is the
// row to compare with (a new statement, so it also sees a row another node just committed).
const std::string kFindName = "tb_inbound_find";
const std::string kFindSql = "SELECT id, content_sha256 FROM inbound_message WHERE dedupe_key = $1";
// The enqueue order rule of LockEnqueuePartitions (sql_outbound_queue.h), the same statement:
// transaction-scoped advisory locks on the batch's (destination, NHS number) partitions, taken in
// ascending order before any id is.
const std::string kLockName = "tb_inbound_lock";
const std::string kLockSql =
    "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest(CAST($1 AS BIGINT[]))"
    " AS t(k) ORDER BY k) AS locked";

// The session settings that Database gives its pooled connections and this one must share.
constexpr std::array<std::string_view, 4> kCopiedSettings = {
    "client_min_messages", "synchronous_commit", "lock_timeout", "statement_timeout"};
// Extra time the client waits beyond the server's statement_timeout before calling the server
// hung (the connection is then dropped).
constexpr std::chrono::milliseconds kReplyMargin{5000};

std::optional<std::string> PartitionLockArray(const std::vector<InboundRow>& rows) {
  std::vector<std::int64_t> keys;
  for (const InboundRow& row : rows) {
    if (const auto& announce = row.message->announce) {
      // The batch's record_locator rows, locked in the same ascending order: two nodes' batches
      // upserting the same (patient, holder) pairs in different orders would deadlock.
      keys.push_back(PartitionLockKey("record_locator|" + announce->ods, announce->nhs_number));
      for (const std::string& other : row.message->other_nhs_numbers) {
        keys.push_back(PartitionLockKey("record_locator|" + announce->ods, other));
      }
    }
    if (row.message->nhs_number.empty()) {
      continue;  // a partition of its own: nothing to order against
    }
    for (const core::OutboundRoute& route : row.message->routes) {
      keys.push_back(PartitionLockKey(route.destination, row.message->nhs_number));
      for (const std::string& other : row.message->other_nhs_numbers) {
        keys.push_back(PartitionLockKey(route.destination, other));
      }
    }
  }
  if (keys.empty()) {
    return std::nullopt;
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string array = "{";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    array += i == 0 ? "" : ",";
    array += std::to_string(keys[i]);
  }
  array += '}';
  return array;
}

}  // namespace

core::Status PgInboundWriter::Connect(Poco::Data::Session& pooled) {
  connection_.Close();
  // The pool's own conninfo (store.url as libpq key=value pairs, with connect_timeout) and the
  // settings Database applied to the pooled session, read back from it: one source of truth.
  const std::string conninfo = pooled.impl()->connectionString();
  std::vector<std::string> names;
  std::vector<std::string> values;
  pooled << "SELECT name, setting FROM pg_settings WHERE name IN ('client_min_messages',"
            " 'synchronous_commit', 'lock_timeout', 'statement_timeout')",
      into(names), into(values), now;
  if (names.size() != kCopiedSettings.size()) {
    return core::MakeError(core::ErrorCode::kStorage,
                           "inbound accept failed: cannot read the session settings");
  }
  core::Result<PgConnection> opened = PgConnection::Open(conninfo, "opening the inbound writer");
  if (!opened) {
    return std::move(opened).error();
  }
  PgConnection connection = std::move(*opened);
  std::chrono::milliseconds statement_timeout{0};
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::array<PgParam, 2> params = {PgParam::Text(names[i]), PgParam::Text(values[i])};
    core::Result<PgRows> set = connection.Exec("configuring the inbound writer",
                                               "SELECT set_config($1, $2, false)", params);
    if (!set) {
      return std::move(set).error();
    }
    if (names[i] == "statement_timeout") {
      statement_timeout = std::chrono::milliseconds(std::atoll(values[i].c_str()));  // in ms
    }
  }
  connection.set_reply_timeout(statement_timeout.count() > 0 ? statement_timeout + kReplyMargin
                                                             : std::chrono::milliseconds{0});
  BROKER_RETURN_IF_ERROR(
      connection.Prepare("preparing the inbound insert", kInsertName, kInsertSql));
  BROKER_RETURN_IF_ERROR(connection.Prepare("preparing the inbound lookup", kFindName, kFindSql));
  BROKER_RETURN_IF_ERROR(connection.Prepare("preparing the partition locks", kLockName, kLockSql));
  connection_ = std::move(connection);
  return core::Ok();
}

core::Status PgInboundWriter::WriteBatch(const std::vector<InboundRow>& rows,
                                         std::vector<core::AcceptResult>& results,
                                         const std::function<core::Status()>& before_commit) {
  bool ran = false;
  const core::Status status = db_.Read(kWhat, [&](Poco::Data::Session& pooled) -> core::Status {
    ran = true;
    if (!connection_.usable()) {
      BROKER_RETURN_IF_ERROR(Connect(pooled));
    }
    return Write(rows, results, before_commit);
  });
  if (!ran) {
    connection_.Close();  // the database is closed (or has no free session): let go of ours too
  }
  return status;
}

core::Status PgInboundWriter::Write(const std::vector<InboundRow>& rows,
                                    std::vector<core::AcceptResult>& results,
                                    const std::function<core::Status()>& before_commit) {
  PgPipeline pipeline(connection_);
  pipeline.AddSql("BEGIN");
  std::size_t first_insert = 1;
  if (db_.capabilities().supports_multiple_nodes) {
    if (const std::optional<std::string> keys = PartitionLockArray(rows)) {
      const std::array<PgParam, 1> params = {PgParam::Text(*keys)};
      pipeline.Add(kLockName, params);
      ++first_insert;
    }
  }
  std::vector<std::string_view> destinations;
  std::vector<std::string_view> formats;
  std::vector<std::string_view> patients;
  std::vector<std::string_view> others;
  for (const InboundRow& row : rows) {
    const core::InboundMessage& message = *row.message;
    destinations.clear();
    formats.clear();
    for (const core::OutboundRoute& route : message.routes) {
      destinations.emplace_back(route.destination);
      formats.emplace_back(route.format);
    }
    const std::string received_at = std::to_string(message.received_at_ms);
    const std::string destination_array = PgTextArray(destinations);
    const std::string format_array = PgTextArray(formats);
    const std::optional<core::LocatorAnnouncement>& announce = message.announce;
    const std::string announced_at = announce ? std::to_string(announce->at_ms) : std::string();
    std::string announced_numbers;
    if (announce) {
      patients.assign(1, announce->nhs_number);
      patients.insert(patients.end(), message.other_nhs_numbers.begin(),
                      message.other_nhs_numbers.end());
      announced_numbers = PgTextArray(patients);
    }
    others.assign(message.other_nhs_numbers.begin(), message.other_nhs_numbers.end());
    const std::string other_patients = PgTextArray(others);
    const std::array<PgParam, 17> insert = {
        PgParam::Text(received_at),
        PgParam::Text(message.sender),
        PgParam::Text(message.protocol),
        PgParam::Text(message.message_type),
        PgParam::Text(message.control_id),
        PgParam::Text(message.dedupe_key),
        PgParam::Text(message.content_sha256),
        PgParam::TextOrNull(message.nhs_number),
        PgParam::Bytes(row.payload),
        row.key_id == nullptr ? PgParam::Null() : PgParam::Text(*row.key_id),
        PgParam::Text(destination_array),
        PgParam::Text(format_array),
        announce ? PgParam::Text(announced_numbers) : PgParam::Null(),
        announce ? PgParam::Text(announce->ods) : PgParam::Null(),
        announce ? PgParam::Text(announce->source) : PgParam::Null(),
        announce ? PgParam::Text(announced_at) : PgParam::Null(),
        PgParam::Text(other_patients),
    };
    pipeline.Add(kInsertName, insert);
    const std::array<PgParam, 1> find = {PgParam::Text(message.dedupe_key)};
    pipeline.Add(kFindName, find);
  }
  if (!before_commit) {
    pipeline.AddSql("COMMIT");
  }

  const auto roll_back = [this] {
    if (connection_.usable() && !connection_.Exec(kWhat, "ROLLBACK")) {
      connection_.Poison();
    }
  };
  core::Result<std::vector<PgRows>> replies = pipeline.Run(kWhat);
  if (!replies) {
    roll_back();  // a failed statement left the transaction aborted
    return std::move(replies).error();
  }
  if (replies->size() != pipeline.size()) {  // one result per statement, always
    connection_.Poison();
    return core::MakeError(core::ErrorCode::kStorage,
                           "inbound accept failed: the server's replies do not match the batch");
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const PgRows& inserted = (*replies)[first_insert + 2 * i];
    const PgRows& found = (*replies)[first_insert + 2 * i + 1];
    if (inserted.size() == 1) {
      results[i] = {core::AcceptOutcome::kStored, inserted.Int64(0, 0).value_or(0)};
      continue;
    }
    const std::optional<std::int64_t> existing =
        found.size() == 1 ? found.Int64(0, 0) : std::nullopt;
    if (!existing) {
      // A key the insert found taken has no row: deleted (purged) in between. With COMMIT in
      // the pipeline the rest of the batch is committed already; kStorage makes the callers
      // retry, and the retries are answered kDuplicate (or stored anew), as after a lost reply.
      if (before_commit) {
        roll_back();
      }
      return core::MakeError(core::ErrorCode::kStorage,
                             "inbound accept failed: a conflicting dedupe key was not found");
    }
    results[i] = {found.Text(0, 1) == rows[i].message->content_sha256
                      ? core::AcceptOutcome::kDuplicate
                      : core::AcceptOutcome::kConflict,
                  *existing};
  }
  if (before_commit) {
    if (core::Status hooked = before_commit(); !hooked) {
      roll_back();
      return hooked;
    }
    core::Result<PgRows> committed = connection_.Exec(kWhat, "COMMIT");
    if (!committed) {
      roll_back();
      return std::move(committed).error();
    }
  }
  return core::Ok();
}

}  // namespace tb::store
