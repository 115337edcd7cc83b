#include "broker/store/sql_ledger_store.h"

#include <sqlite3.h>
#include <utility>

#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>

#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

constexpr std::string_view kInsertRecordSql =
    "INSERT INTO ledger_record (seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING RETURNING seq";
constexpr std::string_view kInsertCheckpointSql =
    "INSERT INTO ledger_checkpoint (record_count, head_hash, created_at, key_id, signature)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_count) DO NOTHING RETURNING record_count";
constexpr std::string_view kColumns =
    "SELECT seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash FROM ledger_record ";
constexpr std::string_view kLastWhere = "ORDER BY seq DESC LIMIT 1";
constexpr std::string_view kRangeWhere = "WHERE seq >= ? ORDER BY seq LIMIT ?";
constexpr std::string_view kPatientWhere = "WHERE nhs_number = ? ORDER BY seq";
constexpr std::string_view kCheckpointsSql =
    "SELECT record_count, head_hash, created_at, key_id, signature FROM ledger_checkpoint"
    " ORDER BY record_count";

core::Error Conflict(std::string_view what) {
  return core::MakeError(core::ErrorCode::kConflict, std::string(what) + " exists");
}

core::Status InsertCheckpointPoco(Database::Impl& db, Poco::Data::Session& session,
                                  const core::LedgerCheckpoint& checkpoint) {
  Poco::Int64 count = checkpoint.count;
  std::string head = checkpoint.head_hash;
  Poco::Int64 time = checkpoint.time_ms;
  std::string key_id = checkpoint.key_id;
  std::string signature = checkpoint.signature;
  Poco::Int64 returned = 0;
  Poco::Data::Statement insert(session);
  insert << db.Sql(kInsertCheckpointSql), use(count), use(head), use(time), use(key_id),
      use(signature), into(returned);
  if (insert.execute() != 1) {
    return Conflict("ledger checkpoint");
  }
  return core::Ok();
}

core::Status AppendPoco(Database::Impl& db, Poco::Data::Session& session,
                        const std::vector<core::LedgerRecord>& records) {
  Poco::Int64 seq = 0;
  Poco::Int64 recorded = 0;
  std::string kind;
  Poco::Nullable<std::string> nhs_number;
  std::string canonical;
  std::string prev_hash;
  std::string hash;
  Poco::Int64 returned = 0;
  Poco::Data::Statement insert(session);
  insert << db.Sql(kInsertRecordSql), use(seq), use(recorded), use(kind), use(nhs_number),
      use(canonical), use(prev_hash), use(hash), into(returned);
  for (const core::LedgerRecord& record : records) {
    seq = record.seq;
    recorded = record.recorded_ms;
    kind = record.kind;
    if (record.nhs_number.empty()) {
      nhs_number.clear();
    } else {
      nhs_number = record.nhs_number;
    }
    canonical = record.canonical;
    prev_hash = record.prev_hash;
    hash = record.hash;
    if (insert.execute() != 1) {
      return Conflict("ledger seq");
    }
  }
  return core::Ok();
}

core::Status AppendSqlite(Database::Impl& db, Poco::Data::Session& session,
                          const std::vector<core::LedgerRecord>& records) {
  constexpr std::string_view kWhat = "ledger append";
  core::Result<sqlite3_stmt*> prepared = db.CachedSqliteStatement(session, kInsertRecordSql);
  if (!prepared) {
    return std::move(prepared).error();
  }
  sqlite3_stmt* const insert = *prepared;
  const auto text = [insert](int index, const std::string& value) {
    return sqlite3_bind_text(insert, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_STATIC);
  };
  core::Status status = core::Ok();
  for (const core::LedgerRecord& record : records) {
    int rc = sqlite3_bind_int64(insert, 1, record.seq);
    rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(insert, 2, record.recorded_ms);
    rc = rc != SQLITE_OK ? rc : text(3, record.kind);
    rc = rc != SQLITE_OK ? rc
                         : (record.nhs_number.empty() ? sqlite3_bind_null(insert, 4)
                                                      : text(4, record.nhs_number));
    rc = rc != SQLITE_OK ? rc : text(5, record.canonical);
    rc = rc != SQLITE_OK ? rc : text(6, record.prev_hash);
    rc = rc != SQLITE_OK ? rc : text(7, record.hash);
    if (rc != SQLITE_OK) {
      status = SqliteError(kWhat, rc);
      break;
    }
    rc = sqlite3_step(insert);
    if (rc == SQLITE_DONE) {
      status = Conflict("ledger seq");  // no row returned: the seq exists
      break;
    }
    if (rc == SQLITE_ROW) {
      rc = sqlite3_step(insert);  // RETURNING: run to completion
    }
    sqlite3_reset(insert);
    if (rc != SQLITE_DONE) {
      status = SqliteError(kWhat, rc);
      break;
    }
  }
  sqlite3_reset(insert);
  sqlite3_clear_bindings(insert);  // the bound buffers belong to the caller
  return status;
}

}  // namespace

core::Status SqlLedgerStore::Append(const std::vector<core::LedgerRecord>& records,
                                    const core::LedgerCheckpoint* checkpoint) {
  Database::Impl& db = database_.impl();
  const bool sqlite = db.engine() == Engine::kSqlite;
  return db.Write("ledger append", [&](Poco::Data::Session& session) -> core::Status {
    BROKER_RETURN_IF_ERROR(sqlite ? AppendSqlite(db, session, records)
                                  : AppendPoco(db, session, records));
    if (checkpoint != nullptr) {
      BROKER_RETURN_IF_ERROR(InsertCheckpointPoco(db, session, *checkpoint));
    }
    return core::Ok();
  });
}

core::Result<std::vector<core::LedgerRecord>> SqlLedgerStore::Select(std::string_view what,
                                                                     const std::string& sql,
                                                                     const std::string* text_arg) {
  std::vector<core::LedgerRecord> records;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read(what, [&](Poco::Data::Session& session) {
    std::string text = text_arg != nullptr ? *text_arg : std::string();
    Poco::Int64 seq = 0;
    Poco::Int64 recorded = 0;
    std::string kind;
    Poco::Nullable<std::string> nhs_number;
    std::string canonical;
    std::string prev_hash;
    std::string hash;
    Poco::Data::Statement select(session);
    select << db.Sql(sql);
    if (text_arg != nullptr) {
      select, use(text);
    }
    select, into(seq), into(recorded), into(kind), into(nhs_number), into(canonical),
        into(prev_hash), into(hash), range(0, 1);
    while (!select.done()) {
      if (select.execute() == 0) {
        break;
      }
      records.push_back(core::LedgerRecord{seq, recorded, kind,
                                           nhs_number.isNull() ? std::string() : nhs_number.value(),
                                           canonical, prev_hash, hash});
    }
    return core::Ok();
  }));
  return records;
}

core::Result<std::optional<core::LedgerRecord>> SqlLedgerStore::Last() {
  core::Result<std::vector<core::LedgerRecord>> last =
      Select("ledger last", std::string(kColumns) + std::string(kLastWhere), nullptr);
  if (!last) {
    return std::move(last).error();
  }
  if (last->empty()) {
    return std::optional<core::LedgerRecord>();
  }
  return std::optional<core::LedgerRecord>(std::move(last->front()));
}

core::Result<std::vector<core::LedgerRecord>> SqlLedgerStore::ReadRange(std::int64_t from_seq,
                                                                        std::size_t limit) {
  std::vector<core::LedgerRecord> records;
  Database::Impl& db = database_.impl();
  const std::string sql = std::string(kColumns) + std::string(kRangeWhere);
  BROKER_RETURN_IF_ERROR(db.Read("ledger read", [&](Poco::Data::Session& session) {
    Poco::Int64 from = from_seq;
    Poco::Int64 max = static_cast<Poco::Int64>(limit);
    Poco::Int64 seq = 0;
    Poco::Int64 recorded = 0;
    std::string kind;
    Poco::Nullable<std::string> nhs_number;
    std::string canonical;
    std::string prev_hash;
    std::string hash;
    Poco::Data::Statement select(session);
    select << db.Sql(sql), use(from), use(max), into(seq), into(recorded), into(kind),
        into(nhs_number), into(canonical), into(prev_hash), into(hash), range(0, 1);
    while (!select.done()) {
      if (select.execute() == 0) {
        break;
      }
      records.push_back(core::LedgerRecord{seq, recorded, kind,
                                           nhs_number.isNull() ? std::string() : nhs_number.value(),
                                           canonical, prev_hash, hash});
    }
    return core::Ok();
  }));
  return records;
}

core::Result<std::vector<core::LedgerRecord>> SqlLedgerStore::ReadByNhsNumber(
    const std::string& nhs_number) {
  return Select("ledger journey", std::string(kColumns) + std::string(kPatientWhere), &nhs_number);
}

core::Status SqlLedgerStore::WriteCheckpoint(const core::LedgerCheckpoint& checkpoint) {
  Database::Impl& db = database_.impl();
  return db.Write("ledger checkpoint", [&](Poco::Data::Session& session) {
    return InsertCheckpointPoco(db, session, checkpoint);
  });
}

core::Result<std::vector<core::LedgerCheckpoint>> SqlLedgerStore::ReadCheckpoints() {
  std::vector<core::LedgerCheckpoint> checkpoints;
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("ledger checkpoints", [&](Poco::Data::Session& session) {
    Poco::Int64 count = 0;
    std::string head;
    Poco::Int64 time = 0;
    std::string key_id;
    std::string signature;
    Poco::Data::Statement select(session);
    select << db.Sql(kCheckpointsSql), into(count), into(head), into(time), into(key_id),
        into(signature), range(0, 1);
    while (!select.done()) {
      if (select.execute() == 0) {
        break;
      }
      checkpoints.push_back(core::LedgerCheckpoint{count, head, time, key_id, signature});
    }
    return core::Ok();
  }));
  return checkpoints;
}

}  // namespace tb::store
