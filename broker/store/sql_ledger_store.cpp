#include "broker/store/sql_ledger_store.h"

#include <algorithm>
#include <array>
#include <deque>
#include <sqlite3.h>
#include <utility>
#include <variant>

#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>

#include "broker/store/database_impl.h"
#include "broker/store/sql_ledger_append.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

// SQLite: a plain single-row INSERT, a clash on seq is SQLITE_CONSTRAINT_PRIMARYKEY. RETURNING (and
// an upsert) make SQLite open a statement journal for every INSERT, which soon spills to a temp
// file: two extra pwrite()s per page touched, 5x the commit's I/O (docs/ledger.md, Benchmark).
constexpr std::string_view kInsertRecordSqliteSql =
    "INSERT INTO ledger_record (seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash,"
    " requester_ods, source_ods, destination_ods, target, outcome)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view kInsertCheckpointSql =
    "INSERT INTO ledger_checkpoint (record_count, head_hash, created_at, key_id, signature)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_count) DO NOTHING RETURNING record_count";
constexpr std::string_view kColumns =
    "SELECT seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash, requester_ods,"
    " source_ods, destination_ods, target, outcome FROM ledger_record ";
constexpr std::string_view kLastWhere = "ORDER BY seq DESC LIMIT 1";
constexpr std::string_view kHeadSql =
    "SELECT seq, hash FROM ledger_record ORDER BY seq DESC LIMIT 1";
// PostgreSQL: every ledger append of every node takes this transaction-scoped advisory lock
// first, so the head read and the inserts of one batch are never interleaved with another's: one
// chain per database (docs/ledger.md, "Several nodes"). The key is arbitrary but fixed: the ASCII
// of "tbledger". Advisory locks are per database, so other databases on the server are not
// affected. The function goes in FROM because it returns void.
constexpr std::string_view kLockSql =
    "SELECT COUNT(*) FROM pg_advisory_xact_lock(CAST(? AS BIGINT))";
constexpr Poco::Int64 kLedgerLockKey = 0x74626c6564676572;
constexpr std::string_view kRangeWhere = "WHERE seq >= ? ORDER BY seq LIMIT ?";
constexpr std::string_view kCheckpointsSql =
    "SELECT record_count, head_hash, created_at, key_id, signature FROM ledger_checkpoint"
    " ORDER BY record_count";

// NULL for an empty string: the search columns and nhs_number are NULL when the hop has none, so
// the partial indexes stay small.
Poco::Nullable<std::string> OrNull(const std::string& text) {
  return text.empty() ? Poco::Nullable<std::string>() : Poco::Nullable<std::string>(text);
}

std::string OrEmpty(const Poco::Nullable<std::string>& text) {
  return text.isNull() ? std::string() : text.value();
}

// One row of kColumns, bound with into() in column order.
struct RowBuffer {
  Poco::Int64 seq = 0;
  Poco::Int64 recorded = 0;
  std::string kind;
  Poco::Nullable<std::string> nhs_number;
  std::string canonical;
  std::string prev_hash;
  std::string hash;
  Poco::Nullable<std::string> requester;
  Poco::Nullable<std::string> source;
  Poco::Nullable<std::string> destination;
  Poco::Nullable<std::string> target;
  Poco::Int64 outcome = 0;

  void Bind(Poco::Data::Statement& select) {
    select, into(seq), into(recorded), into(kind), into(nhs_number), into(canonical),
        into(prev_hash), into(hash), into(requester), into(source), into(destination), into(target),
        into(outcome), range(0, 1);
  }
  core::LedgerRecord Record() const {
    return core::LedgerRecord{
        seq,
        recorded,
        kind,
        OrEmpty(nhs_number),
        canonical,
        prev_hash,
        hash,
        core::LedgerIndex{OrEmpty(requester), OrEmpty(source), OrEmpty(destination),
                          OrEmpty(target), static_cast<int>(outcome)}};
  }
};

// Runs a prepared select (parameters bound) row by row into `records`.
void Collect(Poco::Data::Statement& select, RowBuffer& row,
             std::vector<core::LedgerRecord>& records) {
  row.Bind(select);
  while (!select.done()) {
    if (select.execute() == 0) {
      break;
    }
    records.push_back(row.Record());
  }
}

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

// PostgreSQL: one multi-row INSERT per chunk of records, so a batch costs a round trip per
// kRowsPerInsert rows, not one per row (Poco executes a statement per call; a row per call made
// the append round-trip bound: 1.4k records/s at 64 appenders, docs/ledger.md). A seq that
// exists returns no row for it, so fewer rows back than sent is the clash.
constexpr std::size_t kRowsPerInsert = 256;  // 12 parameters a row: 3,072 of PostgreSQL's 65,535

std::string MultiRowInsertSql(std::size_t rows) {
  std::string sql =
      "INSERT INTO ledger_record (seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash,"
      " requester_ods, source_ods, destination_ods, target, outcome) VALUES ";
  for (std::size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "" : ", ";
    sql += "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  }
  sql += " ON CONFLICT (seq) DO NOTHING RETURNING seq";
  return sql;
}

core::Status AppendPoco(Database::Impl& db, Poco::Data::Session& session,
                        const std::vector<core::LedgerRecord>& records) {
  for (std::size_t first = 0; first < records.size(); first += kRowsPerInsert) {
    const std::size_t rows = std::min(kRowsPerInsert, records.size() - first);
    // use() binds by reference: the values live in deques that never move an element.
    std::deque<Poco::Int64> numbers;
    std::deque<std::string> texts;
    std::deque<Poco::Nullable<std::string>> optional_texts;
    std::vector<Poco::Int64> returned;
    Poco::Data::Statement insert(session);
    insert << db.Sql(MultiRowInsertSql(rows));
    for (std::size_t i = first; i < first + rows; ++i) {
      const core::LedgerRecord& record = records[i];
      insert, use(numbers.emplace_back(record.seq)), use(numbers.emplace_back(record.recorded_ms)),
          use(texts.emplace_back(record.kind)),
          use(optional_texts.emplace_back(OrNull(record.nhs_number))),
          use(texts.emplace_back(record.canonical)), use(texts.emplace_back(record.prev_hash)),
          use(texts.emplace_back(record.hash)),
          use(optional_texts.emplace_back(OrNull(record.index.requester_ods))),
          use(optional_texts.emplace_back(OrNull(record.index.source_ods))),
          use(optional_texts.emplace_back(OrNull(record.index.destination_ods))),
          use(optional_texts.emplace_back(OrNull(record.index.target))),
          use(numbers.emplace_back(record.index.outcome));
    }
    insert, into(returned);
    insert.execute();
    if (returned.size() != rows) {
      return Conflict("ledger seq");
    }
  }
  return core::Ok();
}

core::Status AppendSqlite(Database::Impl& db, Poco::Data::Session& session,
                          const std::vector<core::LedgerRecord>& records) {
  constexpr std::string_view kWhat = "ledger append";
  core::Result<sqlite3_stmt*> prepared = db.CachedSqliteStatement(session, kInsertRecordSqliteSql);
  if (!prepared) {
    return std::move(prepared).error();
  }
  sqlite3_stmt* const insert = *prepared;
  const auto text = [insert](int index, const std::string& value) {
    return sqlite3_bind_text(insert, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_STATIC);
  };
  const auto text_or_null = [insert, &text](int index, const std::string& value) {
    return value.empty() ? sqlite3_bind_null(insert, index) : text(index, value);
  };
  core::Status status = core::Ok();
  for (const core::LedgerRecord& record : records) {
    int rc = sqlite3_bind_int64(insert, 1, record.seq);
    rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(insert, 2, record.recorded_ms);
    rc = rc != SQLITE_OK ? rc : text(3, record.kind);
    rc = rc != SQLITE_OK ? rc : text_or_null(4, record.nhs_number);
    rc = rc != SQLITE_OK ? rc : text(5, record.canonical);
    rc = rc != SQLITE_OK ? rc : text(6, record.prev_hash);
    rc = rc != SQLITE_OK ? rc : text(7, record.hash);
    rc = rc != SQLITE_OK ? rc : text_or_null(8, record.index.requester_ods);
    rc = rc != SQLITE_OK ? rc : text_or_null(9, record.index.source_ods);
    rc = rc != SQLITE_OK ? rc : text_or_null(10, record.index.destination_ods);
    rc = rc != SQLITE_OK ? rc : text_or_null(11, record.index.target);
    rc = rc != SQLITE_OK ? rc : sqlite3_bind_int(insert, 12, record.index.outcome);
    if (rc != SQLITE_OK) {
      status = SqliteError(kWhat, rc);
      break;
    }
    rc = sqlite3_step(insert);
    sqlite3_reset(insert);
    if (rc != SQLITE_DONE &&
        sqlite3_extended_errcode(sqlite3_db_handle(insert)) == SQLITE_CONSTRAINT_PRIMARYKEY) {
      status = Conflict("ledger seq");
      break;
    }
    if (rc != SQLITE_DONE) {
      status = SqliteError(kWhat, rc);
      break;
    }
  }
  sqlite3_reset(insert);
  sqlite3_clear_bindings(insert);  // the bound buffers belong to the caller
  return status;
}

// The head (seq, hash) inside the writer's transaction; seq 0 and "" for an empty ledger.
core::Status ReadHeadSqlite(Database::Impl& db, Poco::Data::Session& session, std::int64_t& seq,
                            std::string& hash) {
  core::Result<sqlite3_stmt*> prepared = db.CachedSqliteStatement(session, kHeadSql);
  if (!prepared) {
    return std::move(prepared).error();
  }
  sqlite3_stmt* const select = *prepared;
  const int rc = sqlite3_step(select);
  if (rc == SQLITE_ROW) {
    seq = sqlite3_column_int64(select, 0);
    const unsigned char* text = sqlite3_column_text(select, 1);
    hash.assign(text == nullptr ? "" : reinterpret_cast<const char*>(text),
                static_cast<std::size_t>(sqlite3_column_bytes(select, 1)));
  }
  sqlite3_reset(select);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return SqliteError("ledger head", rc);
  }
  return core::Ok();
}

core::Status LockAndReadHeadPoco(Database::Impl& db, Poco::Data::Session& session,
                                 std::int64_t& seq, std::string& hash) {
  Poco::Int64 key = kLedgerLockKey;
  Poco::Int64 locked = 0;
  session << db.Sql(kLockSql), use(key), into(locked), now;
  Poco::Int64 head_seq = 0;
  std::string head_hash;
  Poco::Data::Statement select(session);
  select << db.Sql(kHeadSql), into(head_seq), into(head_hash);
  if (select.execute() == 1) {
    seq = head_seq;
    hash = std::move(head_hash);
  }
  return core::Ok();
}

}  // namespace

core::Result<core::LedgerBatch> AppendLedgerAtHead(Database::Impl& db, Poco::Data::Session& session,
                                                   const core::LedgerChainer& chain) {
  const bool sqlite = db.engine() == Engine::kSqlite;
  // SQLite: Write() runs BEGIN IMMEDIATE, which already excludes every other writer of the file
  // (any process) until commit.
  std::int64_t head_seq = 0;
  std::string head_hash;
  BROKER_RETURN_IF_ERROR(sqlite ? ReadHeadSqlite(db, session, head_seq, head_hash)
                                : LockAndReadHeadPoco(db, session, head_seq, head_hash));
  core::Result<core::LedgerBatch> batch = chain(head_seq, head_hash);
  if (!batch) {
    return std::move(batch).error();
  }
  BROKER_RETURN_IF_ERROR(sqlite ? AppendSqlite(db, session, batch->records)
                                : AppendPoco(db, session, batch->records));
  if (batch->checkpoint) {
    BROKER_RETURN_IF_ERROR(InsertCheckpointPoco(db, session, *batch->checkpoint));
  }
  return batch;
}

core::Result<core::LedgerBatch> SqlLedgerStore::AppendAtHead(const core::LedgerChainer& chain) {
  Database::Impl& db = database_.impl();
  core::LedgerBatch written;
  core::Status status =
      db.Write("ledger append", [&](Poco::Data::Session& session) -> core::Status {
        core::Result<core::LedgerBatch> batch = AppendLedgerAtHead(db, session, chain);
        if (!batch) {
          return std::move(batch).error();
        }
        written = std::move(*batch);
        return core::Ok();
      });
  if (!status) {
    return std::move(status).error();
  }
  return written;
}

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
    RowBuffer row;
    Poco::Data::Statement select(session);
    select << db.Sql(sql);
    if (text_arg != nullptr) {
      select, use(text);
    }
    Collect(select, row, records);
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
    RowBuffer row;
    Poco::Data::Statement select(session);
    select << db.Sql(sql), use(from), use(max);
    Collect(select, row, records);
    return core::Ok();
  }));
  return records;
}

LedgerSearchStatement BuildLedgerSearch(const core::LedgerQuery& query) {
  LedgerSearchStatement statement;
  auto& params = statement.params;
  const auto text = [&params](const std::string& value) {
    params.emplace_back(value);
    return "?";
  };
  const auto number = [&params](std::int64_t value) {
    params.emplace_back(value);
    return "?";
  };
  // "WHERE <first> AND <every criterion but the agent>" (its parameters added in that order).
  const auto where = [&](const std::string& first) {
    std::string out;
    const auto clause = [&out](const std::string& condition) {
      out += out.empty() ? "WHERE " : " AND ";
      out += condition;
    };
    if (!first.empty()) {
      clause(first);
    }
    if (!query.nhs_number.empty()) {
      clause(std::string("nhs_number = ") + text(query.nhs_number));
    }
    if (!query.target.empty()) {
      clause(std::string("target = ") + text(query.target));
    }
    if (!query.kinds.empty()) {
      std::string in = "kind IN (";
      for (std::size_t i = 0; i < query.kinds.size(); ++i) {
        in += i == 0 ? "" : ", ";
        in += text(query.kinds[i]);
      }
      clause(in + ")");
    }
    if (query.outcome) {
      clause(std::string("outcome = ") + number(*query.outcome));
      if (*query.outcome != 0) {
        clause("outcome <> 0");  // what lets the partial index ledger_record_failure serve it
      }
    }
    if (query.from_ms) {
      clause(std::string("recorded_at >= ") + number(*query.from_ms));
    }
    if (query.to_ms) {
      clause(std::string("recorded_at <= ") + number(*query.to_ms));
    }
    if (query.after_seq > 0) {
      clause(std::string(query.newest_first ? "seq < " : "seq > ") + number(query.after_seq));
    }
    return out;
  };
  const auto order_and_limit = [&] {
    return std::string(query.newest_first ? " ORDER BY seq DESC LIMIT " : " ORDER BY seq LIMIT ") +
           number(static_cast<std::int64_t>(query.limit));
  };
  std::string& sql = statement.sql;
  sql = kColumns;
  if (query.agent.empty()) {
    sql += where("");
    sql += order_and_limit();
    return statement;
  }
  // The agent is the requester, the source or the destination: one branch per index, each
  // walking its index in seq order only as far as the page needs, then the page of their union.
  // (One WHERE with an OR of the three made both engines collect and sort every row naming the
  // agent, for every page: a busy requester's share of the whole ledger.) The destination term
  // is the destination index's condition (migration 008).
  static constexpr std::array<std::string_view, 3> kAgentTerms = {
      "requester_ods = ", "source_ods = ",
      "destination_ods IS DISTINCT FROM source_ods AND destination_ods IS DISTINCT FROM"
      " requester_ods AND destination_ods = "};
  sql += "WHERE seq IN (";
  for (std::size_t i = 0; i < kAgentTerms.size(); ++i) {
    sql += i == 0 ? "" : " UNION ALL ";
    sql += "SELECT seq FROM (SELECT seq FROM ledger_record ";
    sql += where(std::string(kAgentTerms[i]) + text(query.agent));
    sql += order_and_limit();
    sql += ") AS by_agent_" + std::to_string(i);
  }
  sql += ")";
  sql += order_and_limit();
  return statement;
}

core::Result<std::vector<core::LedgerRecord>> SqlLedgerStore::Search(
    const core::LedgerQuery& query) {
  std::vector<core::LedgerRecord> records;
  if (query.limit == 0) {
    return records;
  }
  // Bound by reference (use()): `search` stays unchanged while the statement runs.
  LedgerSearchStatement search = BuildLedgerSearch(query);
  Database::Impl& db = database_.impl();
  BROKER_RETURN_IF_ERROR(db.Read("ledger search", [&](Poco::Data::Session& session) {
    RowBuffer row;
    Poco::Data::Statement select(session);
    select << db.Sql(search.sql);
    for (auto& param : search.params) {
      std::visit([&select](auto& value) { select, use(value); }, param);
    }
    Collect(select, row, records);
    return core::Ok();
  }));
  return records;
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
