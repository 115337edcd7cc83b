// Batched inserts on PostgreSQL: Poco::Data (one round trip per statement) against libpq
// pipeline mode (one round trip per batch). One benchmark iteration is one durable transaction
// (synchronous_commit=on): real_time is the per-batch latency, items_per_second the messages (or
// ledger records) per second, rows_per_second every row written.
//
//   BM_InboundBatch/poco      the Poco::Data statements SqlInboundStore used on PostgreSQL before
//                             the pipeline: insert, enqueue per route, lookup only on a known key,
//                             each statement one round trip (inside Database::Impl::Write)
//   BM_InboundBatch/pipeline  PgInboundWriter, what SqlInboundStore uses now
//   BM_InboundBatch/*_nosync  the same with synchronous_commit=off: round trips and server CPU only
//   BM_LedgerLikeBatch/...    ledger_record rows of ~400 B in batches, one statement per row
//                             (SqlLedgerStore's statement before it went multi-row)
//
// Needs BROKER_BENCH_PG_URI=postgresql://user@host:port/db (skips otherwise); each run works in a
// schema of its own, dropped at the end. See bench/store/CMakeLists.txt for a throwaway server.

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include <Poco/Data/LOB.h>
#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>
#include <benchmark/benchmark.h>

#include "broker/store/database_impl.h"
#include "broker/store/pg_connection.h"
#include "broker/store/pg_inbound_writer.h"
#include "broker/store/sql_outbound_queue.h"
#include "broker/store/store.h"
#include "broker/store/store_url.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

std::string HexDigest(std::uint64_t seed) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  while (hex.size() < 64) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int shift = 60; shift >= 0 && hex.size() < 64; shift -= 4) {
      hex.push_back(kDigits[(seed >> shift) & 0xF]);
    }
  }
  return hex;
}

// As the ingest stores them: ~1 KB of HL7 v2, one route, a patient (so the partition lock runs).
core::InboundMessage MakeMessage(std::uint64_t n) {
  core::InboundMessage message;
  message.sender = "RJ1";
  message.protocol = "hl7v2";
  message.message_type = "ADT^A01";
  message.control_id = std::to_string(n);
  message.control_id.insert(0, 1, 'P');
  message.dedupe_key = "RJ1|EPIC|RJ1|" + message.control_id;
  // Ten patients: batches share partitions as real traffic does.
  message.nhs_number = "94347659" + std::to_string(10 + n % 10);
  message.received_at_ms = 1'763'900'000'000 + static_cast<std::int64_t>(n);
  message.payload = "MSH|^~\\&|EPIC|RJ1|TB|X26|20251123100000||ADT^A01|" + message.control_id +
                    "|P|2.4\rEVN|A01|20251123100000\rPID|1||" + message.nhs_number +
                    "^^^NHS^NH||DOE^JANE\r";
  while (message.payload.size() < 1000) {
    message.payload += "OBX|1|TX|NOTE||lorem ipsum dolor sit amet consectetur\r";
  }
  message.content_sha256 = HexDigest(n);
  message.routes.push_back({"RGT", "hl7v2"});
  return message;
}

// ~400 B of canonical JSON, as the ledger's v2 entries hash.
core::LedgerRecord MakeRecord(std::int64_t seq) {
  core::LedgerRecord record;
  record.seq = seq;
  record.recorded_ms = 1'763'900'000'000 + seq;
  record.kind = "delivery";
  record.nhs_number = "9434765919";
  record.canonical = R"({"v":2,"kind":"delivery","seq":)" + std::to_string(seq) +
                     R"(,"source":"RJ1","destination":"RGT","requester":"RJ1","outcome":0,)" +
                     R"("event":"ADT^A01","control_id":"P)" + std::to_string(seq) + R"(",)";
  while (record.canonical.size() < 390) {
    record.canonical += R"("pad":"xxxxxxxxxxxxxxxxxxxxxxxx",)";
  }
  record.canonical += R"("end":1})";
  record.prev_hash = HexDigest(static_cast<std::uint64_t>(seq) - 1);
  record.hash = HexDigest(static_cast<std::uint64_t>(seq));
  record.index.requester_ods = "RJ1";
  record.index.source_ods = "RJ1";
  record.index.destination_ods = "RGT";
  return record;
}

// A fresh schema on the server named by BROKER_BENCH_PG_URI, migrated; dropped by the destructor.
class BenchDatabase {
 public:
  // Null (and `error` set) when there is no server to use.
  static std::unique_ptr<BenchDatabase> Open(std::string& error,
                                             Durability durability = Durability::kFull) {
    const char* uri = std::getenv("BROKER_BENCH_PG_URI");
    if (uri == nullptr || *uri == '\0') {
      error = "set BROKER_BENCH_PG_URI=postgresql://user@host:port/db to benchmark PostgreSQL";
      return nullptr;
    }
    core::Result<StoreLocation> location = ParseStoreUrl(uri);
    if (!location || location->engine != Engine::kPostgresql) {
      error = "BROKER_BENCH_PG_URI is not a postgresql:// URL";
      return nullptr;
    }
    auto bench = std::make_unique<BenchDatabase>();
    StoreSettings admin_settings;
    admin_settings.max_sessions = 1;
    core::Result<std::unique_ptr<Database::Impl>> admin =
        Database::Impl::Open(std::move(*location), admin_settings);
    if (!admin) {
      error = admin.error().message;
      return nullptr;
    }
    bench->admin_ = std::move(*admin);
    std::random_device random;
    bench->schema_ =
        "tb_bench_" + std::to_string(getpid()) + "_" + std::to_string(random() % 100000);
    if (!bench->Admin("CREATE SCHEMA " + bench->schema_)) {
      error = "cannot create the bench schema";
      return nullptr;
    }
    const std::string base(uri);
    StoreSettings settings;
    settings.durability = durability;  // full: synchronous_commit=on
    settings.url = base + (base.find('?') == std::string::npos ? "?" : "&") +
                   "options=-csearch_path%3D" + bench->schema_;
    core::Result<std::unique_ptr<Database>> database = OpenDatabase(settings);
    if (!database) {
      error = database.error().message;
      return nullptr;
    }
    bench->database_ = std::move(*database);
    return bench;
  }

  BenchDatabase() = default;
  BenchDatabase(const BenchDatabase&) = delete;
  BenchDatabase& operator=(const BenchDatabase&) = delete;
  ~BenchDatabase() {
    database_.reset();
    if (admin_ && !schema_.empty()) {
      (void)Admin("DROP SCHEMA " + schema_ + " CASCADE");
    }
  }

  Database& database() { return *database_; }

 private:
  core::Status Admin(const std::string& sql) {
    return admin_->Write("bench schema", [&sql](Poco::Data::Session& session) {
      session << sql, now;  // generated name, not input
      return core::Ok();
    });
  }

  std::unique_ptr<Database::Impl> admin_;
  std::unique_ptr<Database> database_;
  std::string schema_;
};

// The enqueue order locks (PgInboundWriter's rule, sql_outbound_queue.h) as the Poco::Data path
// took them: one statement, the batch's partitions' advisory locks in ascending key order.
core::Status LockEnqueuePartitions(Database::Impl& db, Poco::Data::Session& session,
                                   const std::vector<core::InboundMessage>& batch) {
  std::vector<std::int64_t> keys;
  for (const core::InboundMessage& message : batch) {
    for (const core::OutboundRoute& route : message.routes) {
      if (!message.nhs_number.empty()) {
        keys.push_back(PartitionLockKey(route.destination, message.nhs_number));
      }
    }
  }
  if (keys.empty()) {
    return core::Ok();
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string array = "{";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    array += (i == 0 ? "" : ",") + std::to_string(keys[i]);
  }
  array += '}';
  Poco::Int64 locked = 0;
  session << db.Sql(
      "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(k)"
      " FROM unnest(CAST(? AS BIGINT[])) AS t(k) ORDER BY k) AS locked"),
      use(array), into(locked), now;
  return core::Ok();
}

// The Poco::Data batch as SqlInboundStore ran it on PostgreSQL before the pipeline
// (WriteBatchPoco in sql_inbound_store.cpp until the switch): each Statement prepared once per
// batch, then one execute (one round trip) per insert and per route.
core::Status WriteBatchPoco(Database::Impl& db, const std::vector<core::InboundMessage>& batch) {
  return db.Write("bench inbound", [&](Poco::Data::Session& session) -> core::Status {
    BROKER_RETURN_IF_ERROR(LockEnqueuePartitions(db, session, batch));
    Poco::Int64 received_at = 0;
    std::string sender;
    std::string protocol;
    std::string message_type;
    std::string control_id;
    std::string dedupe_key;
    std::string content_sha256;
    Poco::Nullable<std::string> nhs_number;
    Poco::Data::BLOB payload;
    Poco::Nullable<std::string> key_id;
    Poco::Int64 new_id = 0;
    Poco::Data::Statement insert(session);
    insert << db.Sql(
        "INSERT INTO inbound_message (received_at, sender, protocol, message_type,"
        " control_id, dedupe_key, content_sha256, nhs_number, payload, payload_key_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"),
        use(received_at), use(sender), use(protocol), use(message_type), use(control_id),
        use(dedupe_key), use(content_sha256), use(nhs_number), use(payload), use(key_id),
        into(new_id);
    Poco::Int64 queued_for = 0;
    std::string destination;
    std::string format;
    Poco::Data::Statement enqueue(session);
    enqueue << db.Sql(
        "INSERT INTO outbound_message (inbound_message_id, destination, format,"
        " nhs_number, status, attempts, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)"),
        use(queued_for), use(destination), use(format), use(nhs_number), use(received_at),
        use(received_at);
    for (const core::InboundMessage& message : batch) {
      received_at = message.received_at_ms;
      sender = message.sender;
      protocol = message.protocol;
      message_type = message.message_type;
      control_id = message.control_id;
      dedupe_key = message.dedupe_key;
      content_sha256 = message.content_sha256;
      nhs_number = message.nhs_number;
      payload.assignRaw(reinterpret_cast<const unsigned char*>(message.payload.data()),
                        message.payload.size());
      key_id.clear();
      if (insert.execute() != 1) {
        return core::MakeError(core::ErrorCode::kStorage, "bench keys must be new");
      }
      queued_for = new_id;
      for (const core::OutboundRoute& route : message.routes) {
        destination = route.destination;
        format = route.format;
        enqueue.execute();
      }
    }
    return core::Ok();
  });
}

std::uint64_t RunPrefix() {
  std::random_device random;
  return (static_cast<std::uint64_t>(random()) & 0xffffULL) << 40;
}

void Report(benchmark::State& state, std::size_t batch, std::size_t rows_per_item) {
  const auto items = static_cast<double>(state.iterations()) * static_cast<double>(batch);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["rows_per_second"] =
      benchmark::Counter(items * static_cast<double>(rows_per_item), benchmark::Counter::kIsRate);
  state.counters["batch"] = static_cast<double>(batch);
}

void BM_InboundBatch(benchmark::State& state, bool pipeline,
                     Durability durability = Durability::kFull) {
  std::string error;
  std::unique_ptr<BenchDatabase> bench = BenchDatabase::Open(error, durability);
  if (!bench) {
    state.SkipWithError(error.c_str());
    return;
  }
  const auto batch = static_cast<std::size_t>(state.range(0));
  Database::Impl& db = bench->database().impl();
  PgInboundWriter writer(db);
  std::uint64_t next = RunPrefix();
  std::vector<core::InboundMessage> messages(batch);
  std::vector<InboundRow> rows(batch);
  std::vector<core::AcceptResult> results(batch);
  for (auto _ : state) {
    state.PauseTiming();  // building ~64 KB of messages is not what is measured
    for (std::size_t i = 0; i < batch; ++i) {
      messages[i] = MakeMessage(next++);
      rows[i] = InboundRow{&messages[i], messages[i].payload, nullptr};
    }
    state.ResumeTiming();
    const core::Status status =
        pipeline ? writer.WriteBatch(rows, results, nullptr) : WriteBatchPoco(db, messages);
    if (!status) {
      state.SkipWithError(status.error().message.c_str());
      break;
    }
  }
  Report(state, batch, 2);  // an inbound_message and an outbound_message row per message
}

constexpr std::string_view kLedgerInsertSql =
    "INSERT INTO ledger_record (seq, recorded_at, kind, nhs_number, canonical, prev_hash, hash,"
    " requester_ods, source_ods, destination_ods, target, outcome)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING RETURNING seq";

Poco::Nullable<std::string> OrNull(const std::string& text) {
  return text.empty() ? Poco::Nullable<std::string>() : Poco::Nullable<std::string>(text);
}

// SqlLedgerStore's append before commit 3edb525 (now one multi-row INSERT per 256 records):
// one prepared Statement, one execute per record.
core::Status AppendPoco(Database::Impl& db, const std::vector<core::LedgerRecord>& records) {
  return db.Write("bench ledger", [&](Poco::Data::Session& session) -> core::Status {
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
    Poco::Int64 returned = 0;
    Poco::Data::Statement insert(session);
    insert << db.Sql(kLedgerInsertSql), use(seq), use(recorded), use(kind), use(nhs_number),
        use(canonical), use(prev_hash), use(hash), use(requester), use(source), use(destination),
        use(target), use(outcome), into(returned);
    for (const core::LedgerRecord& record : records) {
      seq = record.seq;
      recorded = record.recorded_ms;
      kind = record.kind;
      nhs_number = OrNull(record.nhs_number);
      canonical = record.canonical;
      prev_hash = record.prev_hash;
      hash = record.hash;
      requester = OrNull(record.index.requester_ods);
      source = OrNull(record.index.source_ods);
      destination = OrNull(record.index.destination_ods);
      target = OrNull(record.index.target);
      outcome = record.index.outcome;
      if (insert.execute() != 1) {
        return core::MakeError(core::ErrorCode::kStorage, "bench seqs must be new");
      }
    }
    return core::Ok();
  });
}

// The same rows in one pipeline: BEGIN, one prepared insert per record, COMMIT.
core::Status AppendPipeline(PgConnection& connection,
                            const std::vector<core::LedgerRecord>& records) {
  PgPipeline pipeline(connection);
  pipeline.AddSql("BEGIN");
  for (const core::LedgerRecord& record : records) {
    const std::string seq = std::to_string(record.seq);
    const std::string recorded = std::to_string(record.recorded_ms);
    const std::string outcome = std::to_string(record.index.outcome);
    const std::array<PgParam, 12> params = {
        PgParam::Text(seq),
        PgParam::Text(recorded),
        PgParam::Text(record.kind),
        PgParam::TextOrNull(record.nhs_number),
        PgParam::Text(record.canonical),
        PgParam::Text(record.prev_hash),
        PgParam::Text(record.hash),
        PgParam::TextOrNull(record.index.requester_ods),
        PgParam::TextOrNull(record.index.source_ods),
        PgParam::TextOrNull(record.index.destination_ods),
        PgParam::TextOrNull(record.index.target),
        PgParam::Text(outcome),
    };
    pipeline.Add("bench_ledger_insert", params);
  }
  pipeline.AddSql("COMMIT");
  core::Result<std::vector<PgRows>> replies = pipeline.Run("bench ledger");
  if (!replies) {
    (void)connection.Exec("bench ledger", "ROLLBACK");
    return std::move(replies).error();
  }
  for (std::size_t i = 1; i + 1 < replies->size(); ++i) {
    if ((*replies)[i].size() != 1) {
      return core::MakeError(core::ErrorCode::kStorage, "bench seqs must be new");
    }
  }
  return core::Ok();
}

// A libpq connection to the bench schema with the pool's conninfo and settings.
core::Result<PgConnection> OpenLikePool(Database::Impl& db) {
  std::string conninfo;
  std::string synchronous_commit;
  BROKER_RETURN_IF_ERROR(db.Read("bench conninfo", [&](Poco::Data::Session& session) {
    conninfo = session.impl()->connectionString();
    session << "SELECT current_setting('synchronous_commit')", into(synchronous_commit), now;
    return core::Ok();
  }));
  if (synchronous_commit != "on") {
    return core::MakeError(core::ErrorCode::kConfig, "the bench wants synchronous_commit=on");
  }
  core::Result<PgConnection> connection = PgConnection::Open(conninfo, "bench connect");
  if (!connection) {
    return connection;
  }
  const std::string sql(db.Sql(kLedgerInsertSql));
  BROKER_RETURN_IF_ERROR(connection->Prepare("bench prepare", "bench_ledger_insert", sql));
  return connection;
}

void BM_LedgerLikeBatch(benchmark::State& state, bool pipeline) {
  std::string error;
  std::unique_ptr<BenchDatabase> bench = BenchDatabase::Open(error);
  if (!bench) {
    state.SkipWithError(error.c_str());
    return;
  }
  Database::Impl& db = bench->database().impl();
  std::optional<PgConnection> connection;
  if (pipeline) {
    core::Result<PgConnection> opened = OpenLikePool(db);
    if (!opened) {
      state.SkipWithError(opened.error().message.c_str());
      return;
    }
    connection = std::move(*opened);
  }
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::int64_t seq = 1;
  std::vector<core::LedgerRecord> records(batch);
  for (auto _ : state) {
    state.PauseTiming();
    for (std::size_t i = 0; i < batch; ++i) {
      records[i] = MakeRecord(seq++);
    }
    state.ResumeTiming();
    const core::Status status =
        pipeline ? AppendPipeline(*connection, records) : AppendPoco(db, records);
    if (!status) {
      state.SkipWithError(status.error().message.c_str());
      break;
    }
  }
  Report(state, batch, 1);
}

BENCHMARK_CAPTURE(BM_InboundBatch, poco, false)
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_InboundBatch, pipeline, true)
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);
// synchronous_commit=off: no fsync wait, so what is left is round trips and server CPU (for the
// ADR's explanation only; the broker always commits durably).
BENCHMARK_CAPTURE(BM_InboundBatch, poco_nosync, false, Durability::kOff)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_InboundBatch, pipeline_nosync, true, Durability::kOff)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LedgerLikeBatch, poco, false)
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LedgerLikeBatch, pipeline, true)
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tb::store

BENCHMARK_MAIN();
