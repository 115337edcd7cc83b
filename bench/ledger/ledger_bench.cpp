// Durable Append() throughput of tb::ledger::Ledger on SQLite (WAL, synchronous=FULL): each
// Append returns only after the group-commit transaction holding its record is committed, so
// items_per_second is durable ledger records per second. Each record is a full hop (Provenance
// + AuditEvent built, canonicalised and hashed in the calling thread); a checkpoint is signed
// every 1000 records with a throwaway key made at start.

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include <benchmark/benchmark.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/ledger/entry.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/ledger/verify.h"
#include "broker/store/store.h"

namespace tb::ledger {
namespace {

// A fresh P-256 key for this run only, as PEM: the private key and the public key.
struct ThrowawayKey {
  std::string private_pem;
  std::string public_pem;
};
ThrowawayKey MakeThrowawayKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ThrowawayKey out;
  const auto write = [key](std::string& pem, bool private_key) {
    BIO* bio = BIO_new(BIO_s_mem());
    const int written =
        bio == nullptr ? 0
        : private_key  ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PUBKEY(bio, key);
    if (written == 1) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL's
      pem.assign(data, static_cast<std::size_t>(size));
    }
    BIO_free(bio);
  };
  if (key != nullptr) {
    write(out.private_pem, true);
    write(out.public_pem, false);
  }
  EVP_PKEY_free(key);
  return out;
}

struct Shared {
  std::filesystem::path dir;
  core::SystemClock clock;
  std::unique_ptr<CheckpointSigner> signer;
  std::unique_ptr<CheckpointVerifier> verifier;
  std::unique_ptr<store::Database> database;
  std::unique_ptr<core::LedgerStore> store;
  std::unique_ptr<Ledger> ledger;
};
Shared* g_shared = nullptr;
std::atomic<int> g_next{0};

HopRecord MakeHop(int n) {
  HopRecord hop;
  hop.kind = n % 2 == 0 ? HopKind::kQuery : HopKind::kResponse;
  hop.time_ms = 1'763'900'000'000 + n;
  hop.request_id = "req-" + std::to_string(n);
  hop.broker_ods = "X26";
  hop.requester_ods = "RJ1";
  hop.requester_address = "10.1.2.3";
  hop.purpose_of_use = "TREAT";
  hop.source_ods = "RGT";
  hop.destination_ods = "RXH";
  hop.nhs_number = "9434765919";
  hop.source_digest = core::Sha256Hex(hop.request_id);
  hop.scope = "patient/*.read";
  hop.consent_decision = "permit";
  hop.query = "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919";
  return hop;
}

// Where the ledger is stored. PostgreSQL: the server named by BROKER_BENCH_PG_URI (skipped
// without it); the bench appends to the ledger already there, so use a throwaway database
// (scripts/pg-test-server.sh).
enum class Backend { kInMemory, kSqlite, kPostgresql };

void Setup(benchmark::State& state, Backend backend) {
  g_shared = new Shared;
  const char* base = std::getenv("TB_BENCH_DIR");
  std::random_device random;
  g_shared->dir = std::filesystem::path(
                      base != nullptr ? base : std::filesystem::temp_directory_path().string()) /
                  ("tb-ledger-bench-" + std::to_string(random()));
  std::filesystem::create_directories(g_shared->dir);
  const ThrowawayKey key = MakeThrowawayKey();
  auto signer = CheckpointSigner::FromPem(key.private_pem);
  auto verifier = CheckpointVerifier::FromPem(key.public_pem);
  if (!signer || !verifier) {
    state.SkipWithError("cannot make a throwaway key");
    return;
  }
  g_shared->signer = std::move(*signer);
  g_shared->verifier = std::move(*verifier);
  if (backend == Backend::kInMemory) {
    g_shared->store = std::make_unique<InMemoryLedgerStore>();
  } else {
    const char* pg_url = std::getenv("BROKER_BENCH_PG_URI");
    if (backend == Backend::kPostgresql && (pg_url == nullptr || *pg_url == '\0')) {
      state.SkipWithError("set BROKER_BENCH_PG_URI=postgresql://user@host:port/db");
      return;
    }
    auto database =
        store::OpenDatabase({.url = backend == Backend::kPostgresql
                                        ? std::string(pg_url)
                                        : "sqlite:" + (g_shared->dir / "bench.db").string()});
    if (!database) {
      state.SkipWithError(database.error().message.c_str());
      return;
    }
    g_shared->database = std::move(*database);
    g_shared->store = store::MakeLedgerStore(*g_shared->database);
  }
  auto ledger = Ledger::Open(*g_shared->store, g_shared->clock, g_shared->signer.get(),
                             {.checkpoint_every = 1000, .max_batch = 1024});
  if (!ledger) {
    state.SkipWithError(ledger.error().message.c_str());
    return;
  }
  g_shared->ledger = std::move(*ledger);
}

void Teardown(benchmark::State& state) {
  if (g_shared->ledger) {
    const Ledger::Stats stats = g_shared->ledger->stats();
    state.counters["records_per_commit"] =
        stats.batches == 0
            ? 0.0
            : static_cast<double>(stats.records) / static_cast<double>(stats.batches);
    state.counters["checkpoints"] = static_cast<double>(stats.checkpoints);
  }
  g_shared->ledger.reset();
  g_shared->store.reset();
  g_shared->database.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_shared->dir, ec);
  delete g_shared;
  g_shared = nullptr;
}

void RunAppend(benchmark::State& state, Backend backend) {
  if (state.thread_index() == 0) {
    Setup(state, backend);
  }
  std::uint64_t errors = 0;
  for (auto _ : state) {
    if (g_shared->ledger == nullptr) {  // Setup failed: every thread must say so, not just one
      state.SkipWithError("no ledger");
      break;
    }
    if (!g_shared->ledger->Append(MakeHop(g_next.fetch_add(1)))) {
      ++errors;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
  if (state.thread_index() == 0) {
    Teardown(state);
  }
}

void BM_SqliteDurableAppend(benchmark::State& state) { RunAppend(state, Backend::kSqlite); }
// The same on PostgreSQL (synchronous_commit=on), one node.
void BM_PgDurableAppend(benchmark::State& state) { RunAppend(state, Backend::kPostgresql); }

// The same through AppendAsync: each thread keeps up to state.range(0) records in flight and
// counts them as done when their callback reports them durable, so a few threads feed group
// commit as many threads blocking in Append would.
void BM_SqliteDurableAppendAsync(benchmark::State& state) {
  if (state.thread_index() == 0) {
    Setup(state, Backend::kSqlite);
  }
  const auto window = static_cast<int>(state.range(0));
  std::mutex mutex;
  std::condition_variable reported;
  int in_flight = 0;
  std::uint64_t errors = 0;
  const auto wait_until = [&](auto condition) {
    std::unique_lock lock(mutex);
    reported.wait(lock, condition);
  };
  for (auto _ : state) {
    if (g_shared->ledger == nullptr) {  // Setup failed: every thread must say so, not just one
      state.SkipWithError("no ledger");
      break;
    }
    wait_until([&] { return in_flight < window; });
    {
      std::lock_guard lock(mutex);
      ++in_flight;
    }
    g_shared->ledger->AppendAsync(MakeHop(g_next.fetch_add(1)),
                                  [&](core::Result<AppendReceipt> receipt) {
                                    std::lock_guard lock(mutex);
                                    --in_flight;
                                    errors += receipt ? 0 : 1;
                                    reported.notify_one();
                                  });
  }
  wait_until([&] { return in_flight == 0; });  // the last records are durable too
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
  if (state.thread_index() == 0) {
    Teardown(state);
  }
}
// The same without storage: the ceiling set by building, chaining and hashing.
void BM_InMemoryAppend(benchmark::State& state) { RunAppend(state, Backend::kInMemory); }

// The storage alone: 512 prebuilt v2 records (~400 B entry, search columns set) per transaction
// through SqlLedgerStore.
void BM_SqliteStoreAppend512(benchmark::State& state) {
  Setup(state, Backend::kSqlite);
  std::int64_t seq = 0;
  const HopRecord hop = MakeHop(1);
  const std::string facts = HopFactsJson(hop);
  const core::LedgerIndex index = IndexOf(hop);
  for (auto _ : state) {
    std::vector<core::LedgerRecord> batch(512);
    for (core::LedgerRecord& record : batch) {
      ++seq;
      record = {seq,
                1,
                "query",
                hop.nhs_number,
                EntryJson(seq, 1, "query", hop.nhs_number, facts),
                std::string(64, '0'),
                std::string(64, '1'),
                index};
    }
    if (!g_shared->store->Append(batch, nullptr)) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * 512);
  Teardown(state);
}
BENCHMARK(BM_SqliteStoreAppend512)->UseRealTime();

// The caller-side CPU cost of one hop: validated, its facts written as canonical JSON, its search
// columns taken (what Append does before it queues), and the entry the committer wraps around it.
void BM_BuildHopRecords(benchmark::State& state) {
  int n = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const HopRecord hop = MakeHop(++n);
    if (!ValidateHop(hop)) {
      state.SkipWithError("invalid hop");
      break;
    }
    const std::string entry = EntryJson(n, hop.time_ms, "query", hop.nhs_number, HopFactsJson(hop));
    benchmark::DoNotOptimize(IndexOf(hop));
    bytes = entry.size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["entry_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_BuildHopRecords);

// `audit verify`'s walk: VerifyLedger over state.range(0) records (and their checkpoints) on
// SQLite, each record's hash, link, entry and columns checked; items_per_second is records
// verified per second.
void BM_VerifySqlite(benchmark::State& state) {
  Setup(state, Backend::kSqlite);
  const std::int64_t records = state.range(0);
  {
    std::mutex mutex;
    std::condition_variable reported;
    std::int64_t done = 0;
    for (std::int64_t i = 0; i < records && g_shared->ledger != nullptr; ++i) {
      g_shared->ledger->AppendAsync(MakeHop(static_cast<int>(i)), [&](core::Result<AppendReceipt>) {
        std::lock_guard lock(mutex);
        ++done;
        reported.notify_one();
      });
    }
    std::unique_lock lock(mutex);
    reported.wait(lock, [&] { return done == records || g_shared->ledger == nullptr; });
  }
  for (auto _ : state) {
    auto report = VerifyLedger(*g_shared->store, *g_shared->verifier);
    if (!report || !report->ok() || report->records != records) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * records);
  Teardown(state);
}
BENCHMARK(BM_VerifySqlite)->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(BM_InMemoryAppend)->Threads(1)->Threads(16)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_SqliteDurableAppendAsync)->Arg(64)->Arg(256)->Threads(2)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_SqliteDurableAppend)
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->Threads(128)
    ->Threads(256)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace
}  // namespace tb::ledger

// BM_PgDurableAppend only with a server to run it on (registered here, not with BENCHMARK, so a
// run without BROKER_BENCH_PG_URI neither lists nor skips it).
int main(int argc, char** argv) {
  if (const char* uri = std::getenv("BROKER_BENCH_PG_URI"); uri != nullptr && *uri != '\0') {
    benchmark::RegisterBenchmark("BM_PgDurableAppend", tb::ledger::BM_PgDurableAppend)
        ->Threads(16)
        ->Threads(64)
        ->Threads(256)
        ->UseRealTime()
        ->MinTime(3.0);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
