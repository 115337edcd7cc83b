// The shared store suites on PostgreSQL (a fresh schema per test). Label: pg. Skips unless
// BROKER_TEST_PG_URI is set or the CTest fixture (scripts/pg-test-server.sh) wrote its URI file.
#include "tests/broker/store/inbound_store_suite.h"

namespace tb::store::testing {
namespace {

INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, InboundStoreContractTest,
                               SqlStoreHarness<PostgresqlBackend>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, SqlStoreTest, PostgresqlBackend);

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

TEST(PostgresqlStore, UnreachableServerIsAStorageErrorWithoutThePassword) {
  // Port 1 on loopback: nothing listens there.
  const core::Result<std::unique_ptr<Database>> database = OpenDatabase(
      {.url = "postgresql://tb:s3cret-pw@127.0.0.1:1/trustbridge?connect_timeout=2"});
  ASSERT_FALSE(database);
  EXPECT_EQ(database.error().code, core::ErrorCode::kStorage);
  EXPECT_EQ(database.error().message.find("s3cret-pw"), std::string::npos)
      << database.error().message;
}

}  // namespace
}  // namespace tb::store::testing
