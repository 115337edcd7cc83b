#include "broker/store/store_url.h"

#include <array>
#include <optional>
#include <utility>
#include <vector>

#include "broker/core/http_types.h"
#include "broker/core/whole_number.h"

namespace tb::store {
namespace {

constexpr std::string_view kLocation = "store.url";

core::Error ConfigError(std::string message) {
  return core::MakeError(core::ErrorCode::kConfig, "store.url: " + std::move(message),
                         std::string(kLocation));
}

bool HasWhitespaceOrControl(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

// One libpq `key=value` pair. Poco's PostgreSQL connector splits its connection string on spaces
// and does not understand quotes, so values are passed unquoted with libpq's backslash escapes
// for `\` and `'`, and values with whitespace are refused by the caller.
void AppendPair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) {
    out.push_back(' ');
  }
  out.append(key);
  out.push_back('=');
  for (const char c : value) {
    if (c == '\\' || c == '\'') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
}

core::Result<StoreLocation> ParseSqlite(std::string_view rest) {
  StoreLocation location;
  location.engine = Engine::kSqlite;
  location.connector = "SQLite";
  if (rest == ":memory:") {
    location.connection_string = ":memory:";
    location.display = "sqlite::memory:";
    location.in_memory = true;
    return location;
  }
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    if (!rest.starts_with('/')) {
      return ConfigError(
          "sqlite:// needs an absolute path (sqlite:///var/db.sqlite); "
          "for a relative path write sqlite:PATH");
    }
  }
  if (rest.empty()) {
    return ConfigError("sqlite: needs a file path (sqlite:PATH)");
  }
  if (rest.find('\0') != std::string_view::npos) {
    return ConfigError("the sqlite path contains a NUL character");
  }
  if (rest.starts_with("file:")) {
    return ConfigError("SQLite URI file names (file:...) are not supported; give a plain path");
  }
  location.connection_string = std::string(rest);
  location.display = "sqlite:" + std::string(rest);
  return location;
}

core::Result<StoreLocation> ParsePostgresql(std::string_view scheme, std::string_view rest) {
  StoreLocation location;
  location.engine = Engine::kPostgresql;
  location.connector = "PostgreSQL";

  std::string_view query;
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return ConfigError(
        "the PostgreSQL URL needs a database name "
        "(postgresql://user@host:port/db)");
  }
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view db_encoded = rest.substr(slash + 1);

  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return ConfigError("the PostgreSQL URL needs a user (postgresql://user@host:port/db)");
  }
  const std::string_view userinfo = authority.substr(0, at);
  const std::string_view hostport = authority.substr(at + 1);

  std::string_view user_encoded = userinfo;
  std::optional<std::string_view> password_encoded;
  if (const std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
    user_encoded = userinfo.substr(0, colon);
    password_encoded = userinfo.substr(colon + 1);
  }
  const std::optional<std::string> user = core::PercentDecode(user_encoded);
  if (!user) {
    return ConfigError("the user name has a malformed %-escape");
  }
  if (user->empty()) {
    return ConfigError("the PostgreSQL URL needs a user (postgresql://user@host:port/db)");
  }
  if (HasWhitespaceOrControl(*user)) {
    return ConfigError("the user name contains whitespace, which the connector cannot pass");
  }
  std::string password;
  if (password_encoded) {
    std::optional<std::string> decoded = core::PercentDecode(*password_encoded);
    if (!decoded) {
      return ConfigError("the password has a malformed %-escape");
    }
    if (HasWhitespaceOrControl(*decoded)) {
      return ConfigError("the password contains whitespace, which the connector cannot pass");
    }
    password = std::move(*decoded);
  }

  std::string host;
  std::string_view port_text;
  if (hostport.starts_with('[')) {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return ConfigError("the IPv6 host is missing its closing ']'");
    }
    host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        return ConfigError("unexpected text after the IPv6 host");
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        return ConfigError("the port after ':' is empty");
      }
    }
  } else {
    const std::size_t colon = hostport.find(':');
    host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) {
        return ConfigError("the port after ':' is empty");
      }
    }
  }
  if (host.empty()) {
    return ConfigError("the PostgreSQL URL needs a host (postgresql://user@host:port/db)");
  }
  if (HasWhitespaceOrControl(host) || host.find_first_of("/?#@") != std::string::npos) {
    return ConfigError("the host name is malformed");
  }
  unsigned port = 5432;
  if (!port_text.empty()) {
    const std::optional<unsigned> parsed = core::ParseWholeNumber<unsigned>(port_text);
    if (!parsed || *parsed == 0 || *parsed > 65535) {
      return ConfigError("the port must be a number from 1 to 65535");
    }
    port = *parsed;
  }

  const std::optional<std::string> db = core::PercentDecode(db_encoded);
  if (!db) {
    return ConfigError("the database name has a malformed %-escape");
  }
  if (db->empty()) {
    return ConfigError(
        "the PostgreSQL URL needs a database name "
        "(postgresql://user@host:port/db)");
  }
  if (HasWhitespaceOrControl(*db) || db->find('/') != std::string::npos) {
    return ConfigError("the database name contains whitespace or '/'");
  }

  std::string connection;
  AppendPair(connection, "host", host);
  AppendPair(connection, "port", std::to_string(port));
  AppendPair(connection, "dbname", *db);
  AppendPair(connection, "user", *user);
  if (!password.empty()) {
    AppendPair(connection, "password", password);
  }

  std::vector<std::string> seen;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return ConfigError("each URL parameter must be key=value");
    }
    const std::string_view key = pair.substr(0, eq);
    for (const char c : key) {
      if (!((c >= 'a' && c <= 'z') || c == '_')) {
        return ConfigError("URL parameter names are lowercase letters and '_'");
      }
    }
    static constexpr std::array<std::string_view, 6> kInUrl = {"host",   "hostaddr", "port",
                                                               "dbname", "user",     "password"};
    for (const std::string_view reserved : kInUrl) {
      if (key == reserved) {
        return ConfigError("the URL parameter '" + std::string(key) +
                           "' is not allowed; put it in the URL itself");
      }
    }
    for (const std::string& earlier : seen) {
      if (earlier == key) {
        return ConfigError("the URL parameter '" + std::string(key) + "' is given twice");
      }
    }
    seen.emplace_back(key);
    const std::optional<std::string> value = core::PercentDecode(pair.substr(eq + 1));
    if (!value) {
      return ConfigError("the URL parameter '" + std::string(key) + "' has a malformed %-escape");
    }
    if (value->empty() || HasWhitespaceOrControl(*value)) {
      return ConfigError("the URL parameter '" + std::string(key) +
                         "' is empty or contains whitespace, which the connector cannot pass");
    }
    AppendPair(connection, key, *value);
  }

  location.connection_string = std::move(connection);
  const bool v6 = host.find(':') != std::string::npos;
  location.display = std::string(scheme) + "://" + *user + (password_encoded ? ":***" : "") + "@" +
                     (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + *db;
  return location;
}

}  // namespace

std::string_view ToString(Engine engine) {
  switch (engine) {
    case Engine::kSqlite:
      return "sqlite";
    case Engine::kPostgresql:
      return "postgresql";
  }
  return "unknown";
}

core::Result<StoreLocation> ParseStoreUrl(std::string_view url) {
  if (url.empty()) {
    return ConfigError("is empty; use sqlite:PATH or postgresql://user@host:port/db");
  }
  if (url.starts_with("sqlite:")) {
    return ParseSqlite(url.substr(7));
  }
  for (const std::string_view scheme :
       {std::string_view("postgresql"), std::string_view("postgres")}) {
    if (url.starts_with(scheme) && url.substr(scheme.size()).starts_with("://")) {
      return ParsePostgresql(scheme, url.substr(scheme.size() + 3));
    }
  }
  return ConfigError("unknown scheme; use sqlite:PATH or postgresql://user@host:port/db");
}

}  // namespace tb::store
