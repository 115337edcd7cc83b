#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "broker/store/store_url.h"

namespace tb::store {

class Database;

// One schema file, schema/<engine>/NNN_description.sql, embedded at build time.
struct Migration {
  std::int64_t version;          // NNN
  std::string_view description;  // "inbound_message"
  std::string_view sql;          // the file's text
};

// The migrations compiled into this binary for `engine`, in version order 1, 2, ... (the build
// checks the numbering). Both engines have the same versions and descriptions.
std::span<const Migration> EmbeddedMigrations(Engine engine);

// Brings the schema to the newest embedded version: each missing migration runs in its own write
// transaction together with its `schema_version` row, so a crash leaves the database at the last
// complete version and the next start resumes. On PostgreSQL an advisory lock makes nodes that
// start together apply each migration once.
// Errors: kConfig when the database is newer than this binary; kStorage when a migration fails
// (nothing of that migration remains).
core::Status ApplyMigrations(Database& database, std::span<const Migration> migrations);

// Splits a PostgreSQL script into statements at `;`, outside quotes, comments and dollar-quoted
// bodies ($$ ... $$, $tag$ ... $tag$). Statements that are only whitespace or comments are
// dropped. (PostgreSQL prepares one statement at a time; SQLite scripts run whole.)
std::vector<std::string> SplitSqlStatements(std::string_view script);

}  // namespace tb::store
