#include "broker/store/migrations.h"

#include <gtest/gtest.h>

namespace tb::store {
namespace {

TEST(Migrations, BothEnginesHaveTheSameNumberedMigrations) {
  const std::span<const Migration> sqlite = EmbeddedMigrations(Engine::kSqlite);
  const std::span<const Migration> postgresql = EmbeddedMigrations(Engine::kPostgresql);
  ASSERT_FALSE(sqlite.empty());
  ASSERT_EQ(sqlite.size(), postgresql.size());
  for (std::size_t i = 0; i < sqlite.size(); ++i) {
    EXPECT_EQ(sqlite[i].version, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(postgresql[i].version, sqlite[i].version);
    EXPECT_EQ(postgresql[i].description, sqlite[i].description);
    EXPECT_FALSE(sqlite[i].sql.empty());
    EXPECT_FALSE(postgresql[i].sql.empty());
  }
  EXPECT_EQ(sqlite[0].description, "inbound_message");
  EXPECT_NE(sqlite[0].sql.find("CREATE TABLE inbound_message"), std::string_view::npos);
}

TEST(Migrations, SplitsStatementsAtSemicolonsOutsideQuotesAndComments) {
  const std::vector<std::string> statements = SplitSqlStatements(
      "-- leading comment; not a statement\n"
      "CREATE TABLE a (x TEXT DEFAULT 'a;b', \"we;ird\" INT);\n"
      "/* block ; comment */ INSERT INTO a VALUES ('it''s;', 1);\n"
      "CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN RAISE 'x;y'; END; $body$"
      " LANGUAGE plpgsql;\n"
      "SELECT $1::int;\n"
      "-- trailing comment only\n");
  ASSERT_EQ(statements.size(), 4U);
  EXPECT_NE(statements[0].find("'a;b'"), std::string::npos);
  EXPECT_NE(statements[1].find("'it''s;'"), std::string::npos);
  EXPECT_NE(statements[2].find("END; $body$ LANGUAGE plpgsql"), std::string::npos);
  EXPECT_NE(statements[3].find("SELECT $1::int"), std::string::npos);
}

TEST(Migrations, SplitOfEmptyScriptIsEmpty) {
  EXPECT_TRUE(SplitSqlStatements("").empty());
  EXPECT_TRUE(SplitSqlStatements("  -- nothing\n ; ;").empty());
}

}  // namespace
}  // namespace tb::store
