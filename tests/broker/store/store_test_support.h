#pragma once

// Backends and helpers for the shared store suites (inbound_store_suite.h). Store-internal: uses
// database_impl.h to look at tables directly.

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>

#include <Poco/Data/Statement.h>
#include <gtest/gtest.h>

#include "broker/core/inbound_store.h"
#include "broker/store/database_impl.h"
#include "broker/store/sql_inbound_store.h"
#include "broker/store/store.h"
#include "tests/support/in_memory_inbound_store.h"
#include "tests/support/in_memory_record_locator.h"
#include "tests/support/temp_dir.h"

namespace tb::store::testing {

// 64 lowercase hex digits derived from `text`: not SHA-256, but the store only compares them.
inline std::string FakeSha256(const std::string& text) {
  std::string hex;
  std::size_t seed = std::hash<std::string>{}(text);
  static constexpr char kDigits[] = "0123456789abcdef";
  while (hex.size() < 64) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int shift = 60; shift >= 0 && hex.size() < 64; shift -= 4) {
      hex.push_back(kDigits[(seed >> shift) & 0xF]);
    }
  }
  return hex;
}

// "prefix<a>" or "prefix<a>-<b>". Built by appending: GCC 12 at -O3 reports a false -Wrestrict
// on "literal" + std::to_string(...).
inline std::string Id(std::string prefix, long a, long b = -1) {
  prefix += std::to_string(a);
  if (b >= 0) {
    prefix += '-';
    prefix += std::to_string(b);
  }
  return prefix;
}

// An HL7 v2 message of about `size` bytes whose MSH-10 is `control_id`.
inline core::InboundMessage MakeMessage(const std::string& control_id, std::size_t size = 200,
                                        const std::string& body_seed = "") {
  core::InboundMessage message;
  message.sender = "RJ1";
  message.protocol = "hl7v2";
  message.message_type = "ADT^A01";
  message.control_id = control_id;
  message.dedupe_key = "RJ1|EPIC|RJ1|" + control_id;
  message.nhs_number = "9434765919";
  message.received_at_ms = 1'763'900'000'123;
  message.payload = "MSH|^~\\&|EPIC|RJ1|TB|X26|20251123100000||ADT^A01|" + control_id +
                    "|P|2.4\rPID|1||9434765919^^^NHS^NH\r" + body_seed;
  while (message.payload.size() < size) {
    message.payload += "NTE|1||padding\r";
  }
  message.content_sha256 = FakeSha256(message.payload);
  return message;
}

// Runs `sql` returning one value of type T (Poco::Int64, std::string) on a read session.
template <typename T>
core::Result<T> QueryOne(Database& database, const std::string& sql) {
  T value{};
  BROKER_RETURN_IF_ERROR(database.impl().Read("test query", [&](Poco::Data::Session& session) {
    using Poco::Data::Keywords::into;
    using Poco::Data::Keywords::now;
    session << sql, into(value), now;
    return core::Ok();
  }));
  return value;
}

inline core::Status Execute(Database& database, const std::string& sql) {
  return database.impl().Write("test statement", [&](Poco::Data::Session& session) {
    using Poco::Data::Keywords::now;
    session << sql, now;
    return core::Ok();
  });
}

// ---- backends: a fresh, empty database per test ---------------------------------------------

class SqliteBackend {
 public:
  static constexpr const char* kName = "sqlite";
  // Taken in a second connection while a test wants writers locked out: SQLite's BEGIN IMMEDIATE
  // (done by Write()) already holds the write lock, so nothing more is needed.
  static constexpr const char* kLockWritesSql = "";

  // The URL of a fresh database, or empty (then skip_reason() says why).
  std::string FreshUrl() { return "sqlite:" + (dir_ / "store.db").string(); }
  std::string skip_reason() const { return {}; }

 private:
  tb::testing::TempDir dir_;
};

// Uses the server named by BROKER_TEST_PG_URI, else the one scripts/pg-test-server.sh started
// for CTest (TB_PG_TEST_URI_FILE). Each test gets its own schema, selected through the URL's
// `options=-csearch_path=...`, so tests can run in parallel against one database.
class PostgresqlBackend {
 public:
  static constexpr const char* kName = "postgresql";
  static constexpr const char* kLockWritesSql = "LOCK TABLE inbound_message IN EXCLUSIVE MODE";

  PostgresqlBackend() = default;
  PostgresqlBackend(const PostgresqlBackend&) = delete;
  PostgresqlBackend& operator=(const PostgresqlBackend&) = delete;
  ~PostgresqlBackend() {
    if (admin_ && !schema_.empty()) {
      (void)admin_->Write("drop test schema", [&](Poco::Data::Session& session) {
        using Poco::Data::Keywords::now;
        session << "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE", now;
        return core::Ok();
      });
    }
  }

  static std::optional<std::string> BaseUri() {
    if (const char* env = std::getenv("BROKER_TEST_PG_URI"); env != nullptr && *env != '\0') {
      return std::string(env);
    }
#ifdef TB_PG_TEST_URI_FILE
    std::ifstream file(TB_PG_TEST_URI_FILE);
    std::string uri;
    if (file && std::getline(file, uri) && !uri.empty()) {
      return uri;
    }
#endif
    return std::nullopt;
  }

  std::string FreshUrl() {
    const std::optional<std::string> base = BaseUri();
    if (!base) {
      skip_reason_ =
          "no PostgreSQL: set BROKER_TEST_PG_URI=postgresql://user@host:port/db or run via ctest "
          "(scripts/pg-test-server.sh start writes the URI file)";
      return {};
    }
    core::Result<StoreLocation> location = ParseStoreUrl(*base);
    if (!location) {
      skip_reason_ = "BROKER_TEST_PG_URI is not a usable store URL: " + location.error().message;
      return {};
    }
    StoreSettings settings;
    settings.url = *base;
    settings.max_sessions = 1;
    core::Result<std::unique_ptr<Database::Impl>> admin =
        Database::Impl::Open(std::move(*location), settings);
    if (!admin) {
      ADD_FAILURE() << "cannot connect to the test PostgreSQL: " << admin.error().message;
      return {};
    }
    admin_ = std::move(*admin);
    static std::atomic<int> counter{0};
    std::random_device random;
    schema_ = Id("tbtest_", getpid());  // unquoted identifier: letters, digits and '_' only
    schema_ += '_';
    schema_ += std::to_string(counter++);
    schema_ += '_';
    schema_ += std::to_string(random() % 1000000);
    const core::Status created = admin_->Write("create test schema", [&](Poco::Data::Session& s) {
      using Poco::Data::Keywords::now;
      s << "CREATE SCHEMA " + schema_, now;  // generated name, not input
      return core::Ok();
    });
    if (!created) {
      ADD_FAILURE() << created.error().message;
      return {};
    }
    return *base + (base->find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           schema_;
  }
  std::string skip_reason() const { return skip_reason_; }

 private:
  std::unique_ptr<Database::Impl> admin_;
  std::string schema_;
  std::string skip_reason_;
};

// ---- stores for the contract suite -----------------------------------------------------------

// SqlInboundStore on a fresh database of `Backend`.
template <typename Backend>
class SqlStoreHarness {
 public:
  static constexpr const char* kName = Backend::kName;

  core::InboundStore* Open() {
    const std::string url = backend_.FreshUrl();
    if (url.empty()) {
      return nullptr;
    }
    StoreSettings settings;
    settings.url = url;
    core::Result<std::unique_ptr<Database>> database = OpenDatabase(settings);
    if (!database) {
      ADD_FAILURE() << database.error().message;
      return nullptr;
    }
    database_ = std::move(*database);
    store_ = std::make_unique<SqlInboundStore>(*database_, InboundStoreSettings{});
    locator_ = MakeRecordLocator(*database_);
    return store_.get();
  }
  std::string skip_reason() const { return backend_.skip_reason(); }
  SqlInboundStore* sql_store() { return store_.get(); }
  // The record locator that the store's announcements go to (the same database).
  core::RecordLocator* locator() { return locator_.get(); }

 private:
  Backend backend_;  // destroyed last
  std::unique_ptr<Database> database_;
  std::unique_ptr<SqlInboundStore> store_;
  std::unique_ptr<core::RecordLocator> locator_;
};

class FakeStoreHarness {
 public:
  static constexpr const char* kName = "in_memory";
  core::InboundStore* Open() { return &store_; }
  std::string skip_reason() const { return {}; }
  SqlInboundStore* sql_store() { return nullptr; }
  core::RecordLocator* locator() { return &locator_; }

 private:
  tb::testing::InMemoryRecordLocator locator_;  // before store_, which writes to it
  tb::testing::InMemoryInboundStore store_{nullptr, &locator_};
};

// A fresh database per test on `Backend` and one repository made from it by `make` (e.g.
// MakeRecordLocator); skipped when the backend is unavailable (no PostgreSQL), failed when it
// cannot be prepared. The repository is dropped before the database.
template <typename Backend, typename Repository, std::unique_ptr<Repository> (*make)(Database&)>
class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = backend_.FreshUrl();
    if (url.empty()) {
      if (HasFailure()) {
        FAIL() << "could not prepare a " << Backend::kName << " database";
      }
      GTEST_SKIP() << backend_.skip_reason();
    }
    url_ = url;
    auto database = OpenDatabase({.url = url});
    ASSERT_TRUE(database) << database.error().message;
    database_ = std::move(*database);
    repository_ = make(*database_);
  }
  void TearDown() override {
    repository_.reset();
    database_.reset();
  }

  Backend backend_;
  std::string url_;  // of database_, for tests that open it again with other settings
  std::unique_ptr<Database> database_;
  std::unique_ptr<Repository> repository_;
};

}  // namespace tb::store::testing
