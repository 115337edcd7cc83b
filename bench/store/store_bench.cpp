// Durable Accept() throughput of SqlInboundStore: each Accept returns only after its group-commit
// batch is committed (SQLite WAL synchronous=FULL / PostgreSQL synchronous_commit=on), so
// items_per_second is durable messages per second. Payloads are about 1 KB of HL7 v2.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "broker/store/sql_inbound_store.h"
#include "broker/store/store.h"

namespace tb::store {
namespace {

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

core::InboundMessage MakeMessage(std::uint64_t n) {
  core::InboundMessage message;
  message.sender = "RJ1";
  message.protocol = "hl7v2";
  message.message_type = "ADT^A01";
  message.control_id = std::to_string(n);
  message.control_id.insert(0, 1, 'B');  // not "B" + ...: GCC 12 -O3 -Wrestrict false positive
  message.dedupe_key = "RJ1|EPIC|RJ1|" + message.control_id;
  message.nhs_number = "9434765919";
  message.received_at_ms = 1'763'900'000'000 + static_cast<std::int64_t>(n);
  message.payload = "MSH|^~\\&|EPIC|RJ1|TB|X26|20251123100000||ADT^A01|" + message.control_id +
                    "|P|2.4\rEVN|A01|20251123100000\rPID|1||9434765919^^^NHS^NH||DOE^JANE\r";
  while (message.payload.size() < 1000) {
    message.payload += "OBX|1|TX|NOTE||lorem ipsum dolor sit amet consectetur\r";
  }
  message.content_sha256 = HexDigest(n);
  return message;
}

struct Shared {
  std::filesystem::path dir;
  std::unique_ptr<Database> database;
  std::unique_ptr<SqlInboundStore> store;
};
Shared* g_shared = nullptr;
std::atomic<std::uint64_t> g_next{0};
// Keys differ between runs, so runs against one PostgreSQL database do not collide.
const std::uint64_t g_run_prefix =
    static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) &
    0x7fff'ffff'0000'0000ULL;

std::string SqliteUrl(std::filesystem::path& dir) {
  const char* base = std::getenv("TB_BENCH_DIR");
  std::random_device random;
  dir = std::filesystem::path(base != nullptr ? base
                                              : std::filesystem::temp_directory_path().string()) /
        ("tb-store-bench-" + std::to_string(random()));
  std::filesystem::create_directories(dir);
  return "sqlite:" + (dir / "bench.db").string();
}

void Setup(benchmark::State& state, bool postgresql) {
  g_shared = new Shared;
  StoreSettings settings;
  if (postgresql) {
    const char* uri = std::getenv("BROKER_BENCH_PG_URI");
    if (uri == nullptr) {
      uri = std::getenv("BROKER_TEST_PG_URI");
    }
    if (uri == nullptr) {
      state.SkipWithError("set BROKER_BENCH_PG_URI to benchmark PostgreSQL");
      return;
    }
    settings.url = uri;
  } else {
    settings.url = SqliteUrl(g_shared->dir);
  }
  core::Result<std::unique_ptr<Database>> database = OpenDatabase(settings);
  if (!database) {
    state.SkipWithError(database.error().message.c_str());
    return;
  }
  g_shared->database = std::move(*database);
  g_shared->store = std::make_unique<SqlInboundStore>(*g_shared->database, InboundStoreSettings{});
}

void Teardown(benchmark::State& state) {
  if (g_shared->store) {
    const SqlInboundStore::Stats stats = g_shared->store->stats();
    state.counters["msgs_per_commit"] = stats.batches == 0 ? 0.0
                                                           : static_cast<double>(stats.messages) /
                                                                 static_cast<double>(stats.batches);
  }
  g_shared->store.reset();
  g_shared->database.reset();
  if (!g_shared->dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_shared->dir, ec);
  }
  delete g_shared;
  g_shared = nullptr;
}

void RunAccept(benchmark::State& state, bool postgresql) {
  if (state.thread_index() == 0) {
    Setup(state, postgresql);
  }
  // Threads start the loop together, after thread 0's setup.
  std::uint64_t errors = 0;
  for (auto _ : state) {
    if (g_shared->store == nullptr) {
      break;
    }
    // Building the message takes about 1 us, against 100 us or more per durable Accept.
    const core::InboundMessage message = MakeMessage(g_run_prefix + g_next.fetch_add(1));
    const core::Result<core::AcceptResult> result = g_shared->store->Accept(message);
    if (!result || result->outcome != core::AcceptOutcome::kStored) {
      ++errors;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
  if (state.thread_index() == 0) {
    Teardown(state);
  }
}

void BM_SqliteDurableAccept(benchmark::State& state) { RunAccept(state, false); }
void BM_PostgresqlDurableAccept(benchmark::State& state) { RunAccept(state, true); }

BENCHMARK(BM_SqliteDurableAccept)->Threads(1)->Threads(16)->UseRealTime()->MinTime(3.0);
// 64 callers: batches of up to 64 messages, as pg_batch_bench's largest batch.
BENCHMARK(BM_PostgresqlDurableAccept)
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace
}  // namespace tb::store

BENCHMARK_MAIN();
