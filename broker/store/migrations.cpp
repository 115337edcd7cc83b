#include "broker/store/migrations.h"

#include <cctype>
#include <optional>

#include <Poco/Data/Statement.h>

#include "broker/store/database.h"
#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

// Created by code rather than by a migration: it must exist before any migration can be counted.
constexpr std::string_view kCreateVersionTableSqlite =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at INTEGER NOT NULL)";  // UTC ms
constexpr std::string_view kCreateVersionTablePostgresql =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version BIGINT PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL)";  // UTC ms

// The database's clock, so that migration timestamps need no injected Clock.
constexpr std::string_view kInsertVersionSqlite =
    "INSERT INTO schema_version (version, description, applied_at)"
    " VALUES (?, ?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))";
constexpr std::string_view kInsertVersionPostgresql =
    "INSERT INTO schema_version (version, description, applied_at)"
    " VALUES (?, ?, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT))";

bool IsDollarTagChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

bool OnlyCommentsAndSpace(std::string_view statement) {
  std::size_t i = 0;
  while (i < statement.size()) {
    const char c = statement[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (statement.substr(i, 2) == "--") {
      const std::size_t end = statement.find('\n', i);
      i = end == std::string_view::npos ? statement.size() : end + 1;
    } else if (statement.substr(i, 2) == "/*") {
      const std::size_t end = statement.find("*/", i + 2);
      i = end == std::string_view::npos ? statement.size() : end + 2;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::string> SplitSqlStatements(std::string_view script) {
  std::vector<std::string> statements;
  std::size_t start = 0;
  std::size_t i = 0;
  const auto flush = [&](std::size_t end) {
    const std::string_view statement = script.substr(start, end - start);
    if (!OnlyCommentsAndSpace(statement)) {
      statements.emplace_back(statement);
    }
  };
  while (i < script.size()) {
    const char c = script[i];
    if (c == '\'' || c == '"') {  // string or quoted identifier; doubled quote escapes itself
      std::size_t j = i + 1;
      while (j < script.size()) {
        if (script[j] == c) {
          if (j + 1 < script.size() && script[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      i = j + 1;
    } else if (script.substr(i, 2) == "--") {
      const std::size_t end = script.find('\n', i);
      i = end == std::string_view::npos ? script.size() : end + 1;
    } else if (script.substr(i, 2) == "/*") {
      const std::size_t end = script.find("*/", i + 2);
      i = end == std::string_view::npos ? script.size() : end + 2;
    } else if (c == '$') {
      // $tag$ ... $tag$ (tag may be empty). A '$' not starting a tag ($1) is ordinary text.
      std::size_t j = i + 1;
      while (j < script.size() && IsDollarTagChar(script[j])) {
        ++j;
      }
      const bool tag_starts_with_digit =
          j > i + 1 && std::isdigit(static_cast<unsigned char>(script[i + 1])) != 0;
      if (j < script.size() && script[j] == '$' && !tag_starts_with_digit) {
        const std::string_view tag = script.substr(i, j - i + 1);
        const std::size_t end = script.find(tag, j + 1);
        i = end == std::string_view::npos ? script.size() : end + tag.size();
      } else {
        i = j;
      }
    } else if (c == ';') {
      flush(i);
      start = i + 1;
      ++i;
    } else {
      ++i;
    }
  }
  flush(script.size());
  return statements;
}

core::Status ApplyMigrations(Database& database, std::span<const Migration> migrations) {
  Database::Impl& db = database.impl();
  const bool postgresql = db.engine() == Engine::kPostgresql;
  const std::int64_t newest = migrations.empty() ? 0 : migrations.back().version;

  // One transaction per migration; the version is re-read under the lock each time, so nodes
  // starting together never apply a migration twice.
  for (;;) {
    std::optional<std::int64_t> applied;
    BROKER_RETURN_IF_ERROR(
        db.Write("schema migration", [&](Poco::Data::Session& s) -> core::Status {
          if (postgresql) {
            // Per database and schema: test runs that use one schema each do not wait on each
            // other.
            // A migration may build an index over a large table for longer than the pool's
            // statement timeout, or wait for another node's transactions on that table longer
            // than its lock timeout: both are lifted for this transaction only (SET LOCAL).
            s << "SET LOCAL statement_timeout = 0", now;
            s << "SET LOCAL lock_timeout = 0", now;
            s << "SELECT pg_advisory_xact_lock(hashtext('trustbridge.schema.' || "
                 "current_schema()))",
                now;
          }
          s << std::string(postgresql ? kCreateVersionTablePostgresql : kCreateVersionTableSqlite),
              now;
          Poco::Int64 current = 0;
          s << "SELECT COALESCE(MAX(version), 0) FROM schema_version", into(current), now;
          if (current > newest) {
            return core::MakeError(
                core::ErrorCode::kConfig,
                "store: the database schema is at version " + std::to_string(current) +
                    ", newer than this binary supports (" + std::to_string(newest) +
                    "); run a trustbridge release that knows it, or point store.url elsewhere",
                "store.url");
          }
          if (current == newest) {
            return core::Ok();
          }
          const Migration& next = migrations[static_cast<std::size_t>(current)];  // versions 1..N
          if (postgresql) {
            for (const std::string& statement : SplitSqlStatements(next.sql)) {
              s << statement, now;
            }
          } else {
            s << std::string(next.sql), now;  // SQLite runs a whole script (triggers keep their ;)
          }
          Poco::Int64 version = next.version;
          std::string description(next.description);
          s << db.Sql(postgresql ? kInsertVersionPostgresql : kInsertVersionSqlite), use(version),
              use(description), now;
          applied = next.version;
          return core::Ok();
        }));
    if (!applied) {
      return core::Ok();
    }
    const Migration& done = migrations[static_cast<std::size_t>(*applied - 1)];
    db.logger().Info("store.migrated", {{"version", std::to_string(done.version)},
                                        {"description", std::string(done.description)}});
  }
}

}  // namespace tb::store
