// The shared store suites on SQLite (a fresh file per test), plus SQLite-only checks. Label:
// integration (touches disk).
#include <chrono>
#include <future>
#include <sqlite3.h>
#include <thread>

#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Statement.h>

#include "broker/core/no_wait_reads.h"
#include "broker/store/sql_ledger_store.h"
#include "tests/broker/store/consent_store_suite.h"
#include "tests/broker/store/inbound_store_suite.h"
#include "tests/broker/store/ledger_store_suite.h"
#include "tests/broker/store/outbound_queue_suite.h"
#include "tests/broker/store/record_locator_suite.h"

namespace tb::store::testing {
namespace {

using SqliteHarnesses = ::testing::Types<SqlStoreHarness<SqliteBackend>, FakeStoreHarness>;
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, InboundStoreContractTest, SqliteHarnesses);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, SqlStoreTest, SqliteBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, RecordLocatorTest, SqliteBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, ConsentStoreTest, SqliteBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, LedgerStoreTest, SqliteBackend);
using SqliteQueueHarnesses = ::testing::Types<SqlQueueHarness<SqliteBackend>, MemoryQueueHarness>;
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, OutboundQueueTest, SqliteQueueHarnesses);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, PayloadEncryptionTest, SqliteBackend);

TEST(SqliteStore, WriterConnectionIsDurableWalWithForeignKeys) {
  tb::testing::TempDir dir;
  StoreSettings settings;
  settings.url = "sqlite:" + (dir / "store.db").string();
  settings.lock_timeout = std::chrono::milliseconds(1234);
  core::Result<std::unique_ptr<Database>> database = OpenDatabase(settings);
  ASSERT_TRUE(database) << database.error().message;
  std::string journal_mode;
  int synchronous = -1;
  int foreign_keys = -1;
  int busy_timeout = -1;
  ASSERT_TRUE((*database)->impl().Write("pragmas", [&](Poco::Data::Session& session) {
    using namespace Poco::Data::Keywords;
    session << "PRAGMA journal_mode", into(journal_mode), now;
    session << "PRAGMA synchronous", into(synchronous), now;
    session << "PRAGMA foreign_keys", into(foreign_keys), now;
    session << "PRAGMA busy_timeout", into(busy_timeout), now;
    return core::Ok();
  }));
  EXPECT_EQ(journal_mode, "wal");
  EXPECT_EQ(synchronous, 2);  // FULL
  EXPECT_EQ(foreign_keys, 1);
  EXPECT_EQ(busy_timeout, 1234);
}

// Each test runs in its own process (gtest_discover_tests), so the store is SQLite's first user
// here, as in the broker: memory statistics off, no process-wide mutex per sqlite3_malloc.
TEST(SqliteStore, MemoryStatisticsAreOffSoMallocTakesNoGlobalMutex) {
  tb::testing::TempDir dir;
  core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = "sqlite:" + (dir / "store.db").string()});
  ASSERT_TRUE(database) << database.error().message;
  ASSERT_TRUE((*database)->impl().Write("a write", [](Poco::Data::Session& session) {
    using namespace Poco::Data::Keywords;
    session << "CREATE TABLE t (v TEXT)", now;
    session << "INSERT INTO t VALUES ('some text')", now;
    return core::Ok();
  }));
  EXPECT_EQ(sqlite3_memory_used(), 0);  // counted only while statistics are on
}

TEST(SqliteStore, CapabilitiesSayOneWriterAndOneNode) {
  tb::testing::TempDir dir;
  core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = "sqlite:" + (dir / "store.db").string()});
  ASSERT_TRUE(database) << database.error().message;
  const Capabilities& capabilities = (*database)->capabilities();
  EXPECT_FALSE(capabilities.supports_concurrent_writers);
  EXPECT_FALSE(capabilities.supports_skip_locked);
  EXPECT_FALSE(capabilities.supports_multiple_nodes);
}

TEST(SqliteStore, InMemoryDatabaseWorksForTests) {
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = "sqlite::memory:"});
  ASSERT_TRUE(database) << database.error().message;
  std::unique_ptr<core::InboundStore> store = MakeInboundStore(**database);
  ASSERT_TRUE(store->Accept(MakeMessage("MEM1")));
  EXPECT_EQ(store->Accept(MakeMessage("MEM1"))->outcome, core::AcceptOutcome::kDuplicate);
  EXPECT_EQ(store->Count().value_or(-1), 1);
}

// Migration 008: a query hop (the trust is its source and destination) and a response hop (the
// requester is its destination) add no destination index entry; a delivery does. Counted in
// the index's own B-tree (dbstat), which the agent search reads (LedgerStoreTest's
// AnAgentIsFoundWhereverItIsNamedAndOnce checks it still finds them).
TEST(SqliteStore, TheDestinationIndexHoldsOnlyDestinationsNamedNowhereElseInTheRow) {
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = "sqlite::memory:"});
  ASSERT_TRUE(database) << database.error().message;
  std::unique_ptr<core::LedgerStore> ledger = MakeLedgerStore(**database);
  std::vector<core::LedgerRecord> rows;
  for (const core::LedgerIndex& index :
       {core::LedgerIndex{"RJ1", "T01", "T01", "", 0}, core::LedgerIndex{"RJ1", "", "RJ1", "", 0},
        core::LedgerIndex{"", "RGT", "RXH", "", 0}}) {
    const auto seq = static_cast<std::int64_t>(rows.size()) + 1;
    rows.push_back(core::LedgerRecord{seq, 1000, "query", "9449305552", "{}", std::string(64, '0'),
                                      std::string(64, 'a'), index});
  }
  ASSERT_TRUE(ledger->Append(rows, nullptr));
  int entries = -1;
  ASSERT_TRUE((*database)->impl().Write("index entries", [&](Poco::Data::Session& session) {
    using namespace Poco::Data::Keywords;
    session << "SELECT sum(ncell) FROM dbstat WHERE name = 'ledger_record_destination'",
        into(entries), now;
    return core::Ok();
  }));
  EXPECT_EQ(entries, 1);  // RXH
}

// Each ledger search criterion walks an index in seq order, so a page reads about as many rows
// as it shows, however large the ledger: SQLite's plan never scans the table and never sorts
// the matching rows (what an OR over the three agent indexes did, and `outcome = 4` without the
// partial index's condition).
// SQLite's EXPLAIN QUERY PLAN of `sql`, one line per step (sqlite3 directly: Poco would want the
// parameters bound).
std::vector<std::string> QueryPlan(Database& database, const std::string& sql) {
  std::vector<std::string> plan;
  EXPECT_TRUE(database.impl().Write("plan", [&](Poco::Data::Session& session) {
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(Poco::Data::SQLite::Utility::dbHandle(session), explain.c_str(), -1,
                           &statement, nullptr) != SQLITE_OK) {
      sqlite3_finalize(statement);
      return core::Status(core::MakeError(core::ErrorCode::kStorage, "cannot prepare"));
    }
    while (sqlite3_step(statement) == SQLITE_ROW) {
      plan.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(statement, 3)));
    }
    sqlite3_finalize(statement);
    return core::Ok();
  })) << sql;
  EXPECT_FALSE(plan.empty()) << sql;
  return plan;
}

TEST(SqliteStore, EveryLedgerSearchWalksAnIndexInSeqOrder) {
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = "sqlite::memory:"});
  ASSERT_TRUE(database) << database.error().message;
  std::vector<core::LedgerQuery> queries(6);
  queries[0].agent = "RJ1";
  queries[1].agent = "RJ1";
  queries[1].kinds = {"query", "response"};
  queries[1].after_seq = 900;
  queries[2].agent = "RJ1";
  queries[2].newest_first = false;
  queries[3].outcome = 4;
  queries[4].nhs_number = "9449305552";
  queries[4].agent = "RXH";
  queries[5].target = "Bundle/b1";
  for (const core::LedgerQuery& query : queries) {
    const std::string sql = BuildLedgerSearch(query).sql;
    for (const std::string& step : QueryPlan(**database, sql)) {
      EXPECT_EQ(step.find("SCAN ledger_record"), std::string::npos) << step << "\n" << sql;
      EXPECT_EQ(step.find("TEMP B-TREE"), std::string::npos) << step << "\n" << sql;
    }
  }
}

// A claim reads the queued and in-flight rows (the due index), never the table: the delivered
// rows that retention keeps for weeks would make every worker's poll read them all.
TEST(SqliteStore, TheQueueClaimReadsOnlyUnfinishedRows) {
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = "sqlite::memory:"});
  ASSERT_TRUE(database) << database.error().message;
  const std::string sql = OutboundClaimSql(Engine::kSqlite, false);
  const std::vector<std::string> plan = QueryPlan(**database, sql);
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan.front(), "SCAN o USING INDEX outbound_message_due") << sql;
  for (const std::string& step : plan) {
    EXPECT_EQ(step.find("SCAN outbound_message"), std::string::npos) << step << "\n" << sql;
    EXPECT_TRUE(step == "SCAN o USING INDEX outbound_message_due" ||
                step.find("SCAN") == std::string::npos)
        << step << "\n"
        << sql;
  }
}

// A store in a file with its record locator, for the tests of the locator writes that the
// inbound store's batch transaction makes.
class SqliteStoreAndLocator : public ::testing::Test {
 protected:
  void SetUp() override {
    core::Result<std::unique_ptr<Database>> opened =
        OpenDatabase({.url = "sqlite:" + (dir_ / "store.db").string()});
    ASSERT_TRUE(opened) << opened.error().message;
    database_ = std::move(*opened);
    locator_ = MakeRecordLocator(*database_);
    store_ = std::make_unique<SqlInboundStore>(*database_, InboundStoreSettings{});
  }

  tb::testing::TempDir dir_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<core::RecordLocator> locator_;
  std::unique_ptr<SqlInboundStore> store_;
};

// SQLite skips rewriting a locator row that a message of the last minute wrote with the same
// source (RecentLocatorRows); every other write to the pair is seen.
TEST_F(SqliteStoreAndLocator,
       AnAnnouncementRepeatedWithinAMinuteRewritesNoRowAndOtherWritesAreSeen) {
  core::RecordLocator* locator = locator_.get();
  SqlInboundStore& store = *store_;
  constexpr std::int64_t kT0 = 1'763'900'000'000;
  int next = 0;
  const auto store_announcing = [&](const std::string& source, std::int64_t at_ms) {
    core::InboundMessage message = MakeMessage("L" + std::to_string(++next));
    message.announce = core::LocatorAnnouncement{message.nhs_number, "RJ1", source, at_ms};
    const core::Result<core::AcceptResult> stored = store.Accept(message);
    ASSERT_TRUE(stored) << stored.error().message;
    ASSERT_EQ(stored->outcome, core::AcceptOutcome::kStored);
  };
  const auto row = [&]() -> core::LocatorEntry {
    core::Result<std::vector<core::LocatorEntry>> entries = locator->Lookup("9434765919");
    EXPECT_TRUE(entries && entries->size() == 1U);
    return entries && !entries->empty() ? entries->front() : core::LocatorEntry{};
  };

  store_announcing("hl7v2:ADT^A01", kT0);
  EXPECT_EQ(row().last_seen_ms, kT0);
  store_announcing("hl7v2:ADT^A01", kT0 + 30'000);
  EXPECT_EQ(row().last_seen_ms, kT0) << "a repeat within the minute is not rewritten";
  store_announcing("hl7v2:ADT^A01", kT0 + 61'000);
  EXPECT_EQ(row().last_seen_ms, kT0 + 61'000) << "older than a minute: refreshed";
  store_announcing("hl7v2:ADT^A08", kT0 + 62'000);
  EXPECT_EQ(row().source, "hl7v2:ADT^A08") << "another source is always written";
  store_announcing("hl7v2:ADT^A08", kT0 + 1'000);
  EXPECT_EQ(row().last_seen_ms, kT0 + 1'000) << "a clock that went back is written, as before";

  // The admin API's writes go through the same writer and make the next message write again.
  ASSERT_TRUE(locator->Forget("9434765919", "RJ1"));
  store_announcing("hl7v2:ADT^A08", kT0 + 2'000);
  EXPECT_EQ(row().last_seen_ms, kT0 + 2'000) << "a forgotten pair is learnt again";
  ASSERT_TRUE(locator->Announce("9434765919", "RJ1", "admin", kT0 + 2'500));
  store_announcing("hl7v2:ADT^A08", kT0 + 3'000);
  EXPECT_EQ(row().source, "hl7v2:ADT^A08") << "an admin announcement is overwritten as before";
  EXPECT_EQ(row().last_seen_ms, kT0 + 3'000);
  EXPECT_EQ(row().first_seen_ms, kT0 + 2'000);
}

// On SQLite routing by the locator's holders runs in the batch transaction (the ingest then
// needs no blocking thread): the holders as that transaction sees them, the routes queued with
// the message, nothing for a duplicate.
TEST_F(SqliteStoreAndLocator, RouteByHoldersReadsTheLocatorInTheBatchAndQueuesTheRoutes) {
  core::RecordLocator* locator = locator_.get();
  SqlInboundStore& store = *store_;
  ASSERT_TRUE(store.RoutesByHoldersInCommit());
  ASSERT_TRUE(locator->Announce("9434765919", "RGT", "admin", 1));
  ASSERT_TRUE(locator->Announce("9434765919", "RAJ", "admin", 1));
  std::vector<std::vector<std::string>> seen;
  const auto routed = [&seen](const std::string& control_id) {
    core::InboundMessage message = MakeMessage(control_id);
    message.route_by_holders = [&seen](const std::vector<std::string>& holders) {
      seen.push_back(holders);
      std::vector<core::OutboundRoute> routes;
      for (const std::string& ods : holders) {
        routes.push_back({ods, "hl7v2"});
      }
      return routes;
    };
    return message;
  };
  ASSERT_EQ(store.Accept(routed("R1"))->outcome, core::AcceptOutcome::kStored);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], (std::vector<std::string>{"RAJ", "RGT"}));
  EXPECT_EQ(QueryOne<Poco::Int64>(*database_, "SELECT COUNT(*) FROM outbound_message").value_or(-1),
            2);
  ASSERT_EQ(store.Accept(routed("R1"))->outcome, core::AcceptOutcome::kDuplicate);
  EXPECT_EQ(seen.size(), 1U) << "a duplicate is not routed again";
  EXPECT_EQ(QueryOne<Poco::Int64>(*database_, "SELECT COUNT(*) FROM outbound_message").value_or(-1),
            2);

  // A message about two patients goes to the holders of either, each once.
  ASSERT_TRUE(locator->Announce("9449305552", "RXH", "admin", 1));
  ASSERT_TRUE(locator->Announce("9449305552", "RGT", "admin", 1));
  core::InboundMessage two = routed("R2");
  two.other_nhs_numbers = {"9449305552"};
  ASSERT_EQ(store.Accept(two)->outcome, core::AcceptOutcome::kStored);
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1], (std::vector<std::string>{"RAJ", "RGT", "RXH"}));
}

// A read that must not wait (core::NoWaitReads, on an I/O thread) does not wait for a session:
// with the only one in use it fails at once instead of waiting up to session_wait, marks its
// scope, and leaves the session's busy timeout as it was for the reads that may wait.
TEST(SqliteStore, AReadThatMustNotWaitFailsAtOnceWhenNoSessionIsIdle) {
  tb::testing::TempDir dir;
  StoreSettings settings;
  settings.url = "sqlite:" + (dir / "store.db").string();
  settings.max_sessions = 1;
  settings.session_wait = std::chrono::seconds(60);
  settings.lock_timeout = std::chrono::milliseconds(4321);
  core::Result<std::unique_ptr<Database>> opened = OpenDatabase(settings);
  ASSERT_TRUE(opened) << opened.error().message;
  Database::Impl& db = (*opened)->impl();
  const auto busy_timeout = [&db](int& value) {
    return db.Read("busy timeout", [&value](Poco::Data::Session& session) {
      using namespace Poco::Data::Keywords;
      session << "PRAGMA busy_timeout", into(value), now;
      return core::Ok();
    });
  };
  int value = -1;
  ASSERT_TRUE(busy_timeout(value));  // opens the pool's only session, which then stays idle
  {
    core::NoWaitReads attempt;
    ASSERT_TRUE(busy_timeout(value));
    EXPECT_EQ(value, 0);  // no busy handler while it must not wait
    EXPECT_FALSE(attempt.blocked());
  }
  int restored = -1;
  ASSERT_TRUE(busy_timeout(restored));
  EXPECT_EQ(restored, 4321);

  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    (void)db.Read("hold the only session", [&](Poco::Data::Session&) {
      holding.set_value();
      release.get_future().wait();
      return core::Ok();
    });
  });
  holding.get_future().wait();
  const auto started = std::chrono::steady_clock::now();
  {
    core::NoWaitReads attempt;
    const core::Status status = busy_timeout(value);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, core::ErrorCode::kStorage);
    EXPECT_TRUE(attempt.blocked());
  }
  // Waiting would have taken session_wait (60 s); failing at once takes microseconds.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  release.set_value();
  holder.join();
  core::NoWaitReads attempt;
  EXPECT_TRUE(busy_timeout(value));  // idle again
  EXPECT_FALSE(attempt.blocked());
}

TEST(SqliteStore, UnopenablePathIsAStorageError) {
  tb::testing::TempDir dir;
  const core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = "sqlite:" + (dir / "missing-folder" / "store.db").string()});
  ASSERT_FALSE(database);
  EXPECT_EQ(database.error().code, core::ErrorCode::kStorage);
}

TEST(SqliteStore, BadUrlIsAConfigError) {
  const core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = "mysql://x"});
  ASSERT_FALSE(database);
  EXPECT_EQ(database.error().code, core::ErrorCode::kConfig);
}

}  // namespace
}  // namespace tb::store::testing
