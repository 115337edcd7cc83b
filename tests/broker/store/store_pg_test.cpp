// The shared store suites on PostgreSQL (a fresh schema per test). Label: pg. Skips unless
// BROKER_TEST_PG_URI is set or the CTest fixture (scripts/pg-test-server.sh) wrote its URI file.
#include <random>

#include "tests/broker/store/consent_store_suite.h"
#include "tests/broker/store/inbound_store_suite.h"
#include "tests/broker/store/ledger_store_suite.h"
#include "tests/broker/store/outbound_queue_suite.h"
#include "tests/broker/store/record_locator_suite.h"

namespace tb::store::testing {
namespace {

INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, InboundStoreContractTest,
                               SqlStoreHarness<PostgresqlBackend>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, SqlStoreTest, PostgresqlBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, RecordLocatorTest, PostgresqlBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, ConsentStoreTest, PostgresqlBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, LedgerStoreTest, PostgresqlBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, OutboundQueueTest, SqlQueueHarness<PostgresqlBackend>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, PayloadEncryptionTest, PostgresqlBackend);

TEST(PostgresqlStore, CapabilitiesAllowSharedWorkAcrossNodes) {
  PostgresqlBackend backend;
  const std::string url = backend.FreshUrl();
  if (url.empty()) {
    GTEST_SKIP() << backend.skip_reason();
  }
  core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = url});
  ASSERT_TRUE(database) << database.error().message;
  const Capabilities& capabilities = (*database)->capabilities();
  EXPECT_TRUE(capabilities.supports_concurrent_writers);
  EXPECT_TRUE(capabilities.supports_skip_locked);
  EXPECT_TRUE(capabilities.supports_multiple_nodes);
}

// A migration may run longer than the pool's statement timeout (an index built over a large
// ledger): it runs without it, else a node could never start on such a database. The pool's
// timeout still bounds everything else.
TEST(PostgresqlStore, AMigrationIsNotCutShortByThePoolsStatementTimeout) {
  PostgresqlBackend backend;
  const std::string url = backend.FreshUrl();
  if (url.empty()) {
    GTEST_SKIP() << backend.skip_reason();
  }
  core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = url, .statement_timeout = std::chrono::milliseconds(100)});
  ASSERT_TRUE(database) << database.error().message;
  Database& db = **database;
  const std::span<const Migration> embedded = EmbeddedMigrations(db.engine());
  std::vector<Migration> extended(embedded.begin(), embedded.end());
  const std::int64_t n = extended.back().version;
  extended.push_back({n + 1, "slow_index_build", "SELECT pg_sleep(0.3);"});
  const core::Status migrated = ApplyMigrations(db, extended);
  ASSERT_TRUE(migrated) << migrated.error().message;
  EXPECT_EQ(db.SchemaVersion().value_or(-1), n + 1);
  const core::Status slow = db.impl().Write("slow", [](Poco::Data::Session& session) {
    session << "SELECT pg_sleep(0.3)", Poco::Data::Keywords::now;
    return core::Ok();
  });
  EXPECT_FALSE(slow) << "the pool's statement timeout no longer applies";
}

TEST(PostgresqlStore, UnreachableServerIsAStorageErrorWithoutThePassword) {
  // Port 1 on loopback: nothing listens there.
  const core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = "postgresql://tb:s3cret-pw@127.0.0.1:1/trustbridge?connect_timeout=2"});
  ASSERT_FALSE(database);
  EXPECT_EQ(database.error().code, core::ErrorCode::kStorage);
  EXPECT_EQ(database.error().message.find("s3cret-pw"), std::string::npos)
      << database.error().message;
}

TEST(PostgresqlStore, RecoversAfterTheServerDropsItsConnections) {
  PostgresqlBackend backend;
  const std::string url = backend.FreshUrl();
  if (url.empty()) {
    GTEST_SKIP() << backend.skip_reason();
  }
  std::random_device random;
  const std::string application = Id("tb_drop_test_", static_cast<long>(random() % 1000000));
  core::Result<std::unique_ptr<Database>> database =
      OpenDatabase({.url = url + "&application_name=" + application});
  ASSERT_TRUE(database) << database.error().message;
  core::Result<std::unique_ptr<Database>> admin = OpenDatabase({.url = url});
  ASSERT_TRUE(admin) << admin.error().message;
  SqlInboundStore store(**database, {});
  ASSERT_TRUE(store.Accept(MakeMessage("D1")));

  // As if the server restarted or a proxy cut idle connections.
  const core::Result<Poco::Int64> terminated =
      QueryOne<Poco::Int64>(**admin,
                            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE application_name = '" +
                                application + "'");
  ASSERT_TRUE(terminated) << terminated.error().message;
  EXPECT_GE(*terminated, 1);

  // The broken session may fail one batch (kStorage: the sender retries); then the pool
  // replaces it.
  bool stored = false;
  for (int attempt = 0; attempt < 3 && !stored; ++attempt) {
    const core::Result<core::AcceptResult> result = store.Accept(MakeMessage("D2"));
    if (result) {
      stored = result->outcome == core::AcceptOutcome::kStored;
    } else {
      EXPECT_EQ(result.error().code, core::ErrorCode::kStorage);
    }
  }
  EXPECT_TRUE(stored);
  EXPECT_EQ(store.Count().value_or(-1), 2);
}

}  // namespace
}  // namespace tb::store::testing
