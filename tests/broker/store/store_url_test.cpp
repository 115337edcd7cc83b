#include "broker/store/store_url.h"

#include <gtest/gtest.h>

namespace tb::store {
namespace {

TEST(StoreUrl, SqlitePathIsPassedThrough) {
  const core::Result<StoreLocation> location = ParseStoreUrl("sqlite:var/trustbridge.db");
  ASSERT_TRUE(location) << location.error().message;
  EXPECT_EQ(location->engine, Engine::kSqlite);
  EXPECT_EQ(location->connector, "SQLite");
  EXPECT_EQ(location->connection_string, "var/trustbridge.db");
  EXPECT_EQ(location->display, "sqlite:var/trustbridge.db");
  EXPECT_FALSE(location->in_memory);
}

TEST(StoreUrl, SqliteAcceptsAbsoluteAndTripleSlashForms) {
  EXPECT_EQ(ParseStoreUrl("sqlite:/srv/tb.db")->connection_string, "/srv/tb.db");
  EXPECT_EQ(ParseStoreUrl("sqlite:///srv/tb.db")->connection_string, "/srv/tb.db");
}

TEST(StoreUrl, SqliteMemoryIsInMemory) {
  const core::Result<StoreLocation> location = ParseStoreUrl("sqlite::memory:");
  ASSERT_TRUE(location);
  EXPECT_TRUE(location->in_memory);
  EXPECT_EQ(location->connection_string, ":memory:");
}

TEST(StoreUrl, SqliteRefusesEmptyPathAndHostForm) {
  for (const char* url : {"sqlite:", "sqlite://relative.db", "sqlite:file:x.db?mode=ro"}) {
    const core::Result<StoreLocation> location = ParseStoreUrl(url);
    ASSERT_FALSE(location) << url;
    EXPECT_EQ(location.error().code, core::ErrorCode::kConfig);
    EXPECT_EQ(location.error().location, "store.url");
  }
}

TEST(StoreUrl, PostgresqlBecomesLibpqKeywords) {
  const core::Result<StoreLocation> location =
      ParseStoreUrl("postgresql://broker@db.example.nhs.uk:6432/trustbridge");
  ASSERT_TRUE(location) << location.error().message;
  EXPECT_EQ(location->engine, Engine::kPostgresql);
  EXPECT_EQ(location->connector, "PostgreSQL");
  EXPECT_EQ(location->connection_string,
            "host=db.example.nhs.uk port=6432 dbname=trustbridge user=broker");
  EXPECT_EQ(location->display, "postgresql://broker@db.example.nhs.uk:6432/trustbridge");
}

TEST(StoreUrl, PostgresSchemeDefaultPortAndIpv6) {
  const core::Result<StoreLocation> location = ParseStoreUrl("postgres://u@[::1]/db");
  ASSERT_TRUE(location) << location.error().message;
  EXPECT_EQ(location->connection_string, "host=::1 port=5432 dbname=db user=u");
  EXPECT_EQ(location->display, "postgres://u@[::1]:5432/db");
}

TEST(StoreUrl, PasswordIsDecodedEscapedAndHiddenFromDisplay) {
  const core::Result<StoreLocation> location =
      ParseStoreUrl("postgresql://u:p%40ss'w\\rd@h:5432/db");
  ASSERT_TRUE(location) << location.error().message;
  EXPECT_EQ(location->connection_string,
            "host=h port=5432 dbname=db user=u password=p@ss\\'w\\\\rd");
  EXPECT_EQ(location->display, "postgresql://u:***@h:5432/db");
}

TEST(StoreUrl, ParametersArePassedToLibpq) {
  const core::Result<StoreLocation> location = ParseStoreUrl(
      "postgresql://u@h:1/db?sslmode=verify-full&application_name=tb&options=-csearch_path%3Dx");
  ASSERT_TRUE(location) << location.error().message;
  EXPECT_EQ(location->connection_string,
            "host=h port=1 dbname=db user=u sslmode=verify-full application_name=tb "
            "options=-csearch_path=x");
  EXPECT_EQ(location->display.find("sslmode"), std::string::npos);
}

TEST(StoreUrl, ErrorsNameTheProblemAndNeverThePassword) {
  const struct {
    const char* url;
    const char* expect;
  } cases[] = {
      {"", "empty"},
      {"mysql://u@h/db", "unknown scheme"},
      {"postgresql://h:5432/db", "needs a user"},
      {"postgresql://u:hunter2@h:5432", "database name"},
      {"postgresql://u:hunter2@:5432/db", "needs a host"},
      {"postgresql://u:hunter2@h:99999/db", "port"},
      {"postgresql://u:hunter2@h:x/db", "port"},
      {"postgresql://u:hunter2@h:0/db", "port"},
      {"postgresql://u:hunter2@h:-1/db", "port"},
      {"postgresql://u:hunter2@h:5432/db?password=x", "not allowed"},
      {"postgresql://u:hunter2@h:5432/db?sslmode", "key=value"},
      {"postgresql://u:hunter2@h:5432/db?a=1&a=2", "twice"},
      {"postgresql://u:hunter2@h:5432/db?options=-c%20x", "whitespace"},
      {"postgresql://u:hun%20ter2@h:5432/db", "password contains whitespace"},
      {"postgresql://u:hunter2%zz@h:5432/db", "malformed"},
      {"postgresql://u:hunter2@[::1/db", "']'"},
  };
  for (const auto& c : cases) {
    const core::Result<StoreLocation> location = ParseStoreUrl(c.url);
    ASSERT_FALSE(location) << c.url;
    EXPECT_EQ(location.error().code, core::ErrorCode::kConfig) << c.url;
    EXPECT_NE(location.error().message.find(c.expect), std::string::npos)
        << c.url << " -> " << location.error().message;
    EXPECT_EQ(location.error().message.find("hunter2"), std::string::npos) << c.url;
    EXPECT_EQ(location.error().message.find("hun ter2"), std::string::npos) << c.url;
  }
}

}  // namespace
}  // namespace tb::store
