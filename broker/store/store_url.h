#pragma once

#include <string>
#include <string_view>

#include "broker/core/result.h"

namespace tb::store {

enum class Engine { kSqlite, kPostgresql };

std::string_view ToString(Engine engine);  // "sqlite" | "postgresql"

// A parsed `store.url`.
struct StoreLocation {
  Engine engine = Engine::kSqlite;
  // The Poco::Data connector name ("SQLite", "PostgreSQL") and connection string: for SQLite the
  // file path (":memory:"), for PostgreSQL libpq `key=value` pairs. May hold the password: never
  // log it or put it in an error.
  std::string connector;
  std::string connection_string;
  // The URL with the password replaced by "***" and parameters left out: safe to log.
  std::string display;
  bool in_memory = false;  // `sqlite::memory:`: one connection, gone when closed
};

// Parses `store.url`:
//   sqlite:PATH           PATH as given (relative paths are resolved by the caller); also
//                         sqlite:///abs/path. `sqlite::memory:` is a private in-memory database.
//   postgresql://user[:password]@host[:port]/db[?key=value&...]   (also postgres://)
//                         user, password, db and values are percent-decoded; host may be [v6];
//                         the port defaults to 5432; parameters are passed to libpq as they are
//                         (sslmode, application_name, options=-csearch_path%3Dx, ...).
// Errors: kConfig with location "store.url"; the message names the problem and never contains
// the password. Pure; thread-safe.
core::Result<StoreLocation> ParseStoreUrl(std::string_view url);

}  // namespace tb::store
