#pragma once

// The shared typed suites of tb::store (STYLE.md section 10): every engine passes the same tests.
// Instantiated per engine in store_sqlite_test.cpp (label integration) and store_pg_test.cpp
// (label pg). Include once per test executable.
//
//   InboundStoreContractTest<Harness>  the core::InboundStore contract; also run against the
//                                      in-memory fake so that it cannot drift from the real thing
//   SqlStoreTest<Backend>              Database, migrations, group commit and failure handling

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker/store/migrations.h"
#include "tests/broker/store/store_test_support.h"
#include "tests/support/wait_for.h"

namespace tb::store::testing {

using core::AcceptOutcome;
using core::ErrorCode;

// ---- the InboundStore contract ---------------------------------------------------------------

template <typename Harness>
class InboundStoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.Open();
    if (store_ == nullptr) {
      if (HasFailure()) {
        FAIL() << "could not open the " << Harness::kName << " store";
      }
      GTEST_SKIP() << harness_.skip_reason();
    }
  }

  Harness harness_;
  core::InboundStore* store_ = nullptr;
};

TYPED_TEST_SUITE_P(InboundStoreContractTest);

TYPED_TEST_P(InboundStoreContractTest, StoresThenReportsDuplicateAndConflict) {
  core::InboundStore& store = *this->store_;
  const core::InboundMessage original = MakeMessage("MSG0001");

  const core::Result<core::AcceptResult> first = store.Accept(original);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->outcome, AcceptOutcome::kStored);
  EXPECT_GT(first->message_id, 0);

  const core::Result<core::AcceptResult> again = store.Accept(original);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, AcceptOutcome::kDuplicate);
  EXPECT_EQ(again->message_id, first->message_id);

  core::InboundMessage reused = MakeMessage("MSG0001", 200, "OBX|1|TX|||different\r");
  ASSERT_NE(reused.content_sha256, original.content_sha256);
  const core::Result<core::AcceptResult> conflict = store.Accept(reused);
  ASSERT_TRUE(conflict) << conflict.error().message;
  EXPECT_EQ(conflict->outcome, AcceptOutcome::kConflict);
  EXPECT_EQ(conflict->message_id, first->message_id);

  const core::Result<core::AcceptResult> other = store.Accept(MakeMessage("MSG0002"));
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->outcome, AcceptOutcome::kStored);
  EXPECT_NE(other->message_id, first->message_id);

  const core::Result<std::int64_t> count = store.Count();
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, 2);
}

TYPED_TEST_P(InboundStoreContractTest, RefusesInvalidMessagesNamingTheField) {
  core::InboundStore& store = *this->store_;
  const auto expect_invalid = [&store](core::InboundMessage message, const std::string& field) {
    const core::Result<core::AcceptResult> result = store.Accept(message);
    ASSERT_FALSE(result) << field;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidValue);
    EXPECT_EQ(result.error().location, "InboundMessage." + field);
  };
  core::InboundMessage message = MakeMessage("BAD1");
  message.sender.clear();
  expect_invalid(message, "sender");
  message = MakeMessage("BAD2");
  message.protocol = "smtp";
  expect_invalid(message, "protocol");
  message = MakeMessage("BAD3");
  message.dedupe_key.clear();
  expect_invalid(message, "dedupe_key");
  message = MakeMessage("BAD4");
  message.content_sha256 = "ABC";
  expect_invalid(message, "content_sha256");
  message = MakeMessage("BAD5");
  message.payload.clear();
  expect_invalid(message, "payload");

  const core::Result<std::int64_t> count = store.Count();
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 0);
}

TYPED_TEST_P(InboundStoreContractTest, ConcurrentSendersStoreEachMessageExactlyOnce) {
  core::InboundStore& store = *this->store_;
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::atomic<int> stored{0};
  std::atomic<int> duplicates{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const core::Result<core::AcceptResult> result =
            store.Accept(MakeMessage(Id("T", t, i), 1024));
        if (!result) {
          ++errors;
        } else if (result->outcome == AcceptOutcome::kStored) {
          ++stored;
        }
      }
      // A redelivery of this sender's first message (a lost ACK).
      const core::Result<core::AcceptResult> again = store.Accept(MakeMessage(Id("T", t, 0), 1024));
      if (again && again->outcome == AcceptOutcome::kDuplicate) {
        ++duplicates;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(stored.load(), kThreads * kPerThread);
  EXPECT_EQ(duplicates.load(), kThreads);
  const core::Result<std::int64_t> count = store.Count();
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, kThreads * kPerThread);

  if (SqlInboundStore* sql = this->harness_.sql_store(); sql != nullptr) {
    const SqlInboundStore::Stats stats = sql->stats();
    EXPECT_EQ(stats.messages, static_cast<std::uint64_t>(kThreads * (kPerThread + 1)));
    EXPECT_LT(stats.batches, stats.messages) << "expected several messages per commit";
    EXPECT_EQ(stats.failed_batches, 0U);
    // Accounted before the callers are released, so already counted here.
    EXPECT_GT(stats.commit.count(), 0) << "the committer's commit time should be accounted";
  }
}

TYPED_TEST_P(InboundStoreContractTest, ConcurrentRedeliveriesOfOneMessageStoreItOnce) {
  core::InboundStore& store = *this->store_;
  const core::InboundMessage message = MakeMessage("SAME");
  std::vector<std::future<core::Result<core::AcceptResult>>> results;
  for (int i = 0; i < 16; ++i) {
    results.push_back(std::async(std::launch::async, [&] { return store.Accept(message); }));
  }
  int stored = 0;
  int duplicates = 0;
  std::vector<std::int64_t> ids;
  for (auto& future : results) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_TRUE(result) << result.error().message;
    stored += result->outcome == AcceptOutcome::kStored ? 1 : 0;
    duplicates += result->outcome == AcceptOutcome::kDuplicate ? 1 : 0;
    ids.push_back(result->message_id);
  }
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(duplicates, 15);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), ids.front()), 16);
  EXPECT_EQ(store.Count().value_or(-1), 1);
}

// A message with its record locator announcement (what Hl7Ingest sets for a store that writes
// announcements).
inline core::InboundMessage WithAnnouncement(core::InboundMessage message, std::string ods,
                                             std::string source, std::int64_t at_ms) {
  message.announce =
      core::LocatorAnnouncement{message.nhs_number, std::move(ods), std::move(source), at_ms};
  return message;
}

TYPED_TEST_P(InboundStoreContractTest, AStoredMessageAnnouncesADuplicateOrConflictDoesNot) {
  core::InboundStore& store = *this->store_;
  core::RecordLocator& locator = *this->harness_.locator();
  ASSERT_TRUE(store.WritesLocatorAnnouncements());
  const core::InboundMessage original =
      WithAnnouncement(MakeMessage("ANN1"), "RJ1", "hl7v2:ADT^A01", 1000);
  const std::string& nhs = original.nhs_number;

  const core::Result<core::AcceptResult> stored = store.Accept(original);
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_EQ(stored->outcome, AcceptOutcome::kStored);
  core::Result<std::vector<core::LocatorEntry>> entries = locator.Lookup(nhs);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 1U);
  EXPECT_EQ((*entries)[0].ods, "RJ1");
  EXPECT_EQ((*entries)[0].source, "hl7v2:ADT^A01");
  EXPECT_EQ((*entries)[0].first_seen_ms, 1000);
  EXPECT_EQ((*entries)[0].last_seen_ms, 1000);

  // The resend (later, another source) and a reused control id announce nothing.
  core::InboundMessage resend = WithAnnouncement(MakeMessage("ANN1"), "RJ1", "hl7v2:ADT^A08", 2000);
  ASSERT_EQ(store.Accept(resend).value_or(core::AcceptResult{}).outcome, AcceptOutcome::kDuplicate);
  core::InboundMessage reused = WithAnnouncement(MakeMessage("ANN1", 200, "OBX|1|TX|||different\r"),
                                                 "RGT", "hl7v2:ADT^A01", 3000);
  ASSERT_EQ(store.Accept(reused).value_or(core::AcceptResult{}).outcome, AcceptOutcome::kConflict);
  entries = locator.Lookup(nhs);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 1U);
  EXPECT_EQ((*entries)[0].source, "hl7v2:ADT^A01");
  EXPECT_EQ((*entries)[0].last_seen_ms, 1000);

  // The next message of the patient refreshes the same entry (Announce's upsert).
  ASSERT_EQ(store.Accept(WithAnnouncement(MakeMessage("ANN2"), "RJ1", "hl7v2:ADT^A08", 4000))
                .value_or(core::AcceptResult{})
                .outcome,
            AcceptOutcome::kStored);
  entries = locator.Lookup(nhs);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 1U);
  EXPECT_EQ((*entries)[0].source, "hl7v2:ADT^A08");
  EXPECT_EQ((*entries)[0].first_seen_ms, 1000);
  EXPECT_EQ((*entries)[0].last_seen_ms, 4000);

  // A message without an announcement leaves the locator alone.
  core::InboundMessage other = MakeMessage("ANN3");
  other.nhs_number = "9449305552";
  ASSERT_EQ(store.Accept(other).value_or(core::AcceptResult{}).outcome, AcceptOutcome::kStored);
  EXPECT_TRUE(locator.Lookup("9449305552").value_or(std::vector<core::LocatorEntry>{1}).empty());
}

// A message about two patients (ADT^A17, A24, A37; a FHIR merge's linked record): its sender holds
// both, learnt in the same transaction.
TYPED_TEST_P(InboundStoreContractTest, AStoredMessageAnnouncesEveryPatientItCarries) {
  core::InboundStore& store = *this->store_;
  core::RecordLocator& locator = *this->harness_.locator();
  core::InboundMessage message =
      WithAnnouncement(MakeMessage("TWO1"), "RJ1", "hl7v2:ADT^A24", 1000);
  message.other_nhs_numbers = {"9449305552", "9434765870"};
  const core::Result<core::AcceptResult> stored = store.Accept(message);
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_EQ(stored->outcome, AcceptOutcome::kStored);
  for (const std::string& nhs :
       {message.nhs_number, std::string("9449305552"), std::string("9434765870")}) {
    const core::Result<std::vector<core::LocatorEntry>> entries = locator.Lookup(nhs);
    ASSERT_TRUE(entries) << entries.error().message;
    ASSERT_EQ(entries->size(), 1U) << nhs;
    EXPECT_EQ((*entries)[0].ods, "RJ1");
    EXPECT_EQ((*entries)[0].source, "hl7v2:ADT^A24");
    EXPECT_EQ((*entries)[0].last_seen_ms, 1000);
  }
}

TYPED_TEST_P(InboundStoreContractTest, AnInvalidAnnouncementIsRefusedAndNothingIsStored) {
  core::InboundStore& store = *this->store_;
  core::InboundMessage bad_nhs = WithAnnouncement(MakeMessage("BAD1"), "RJ1", "hl7v2:ADT^A01", 1);
  bad_nhs.announce->nhs_number = "9434765918";  // wrong check digit
  core::InboundMessage no_ods = WithAnnouncement(MakeMessage("BAD2"), "", "hl7v2:ADT^A01", 1);
  core::InboundMessage no_source = WithAnnouncement(MakeMessage("BAD3"), "RJ1", "", 1);
  core::InboundMessage bad_other = MakeMessage("BAD4");
  bad_other.other_nhs_numbers = {"9449305552", "9434765918"};
  core::InboundMessage repeated_other = MakeMessage("BAD5");
  repeated_other.other_nhs_numbers = {repeated_other.nhs_number};
  core::InboundMessage other_without_key = MakeMessage("BAD6");
  other_without_key.nhs_number.clear();
  other_without_key.other_nhs_numbers = {"9449305552"};
  const std::pair<const core::InboundMessage*, const char*> cases[] = {
      {&bad_nhs, "InboundMessage.announce.nhs_number"},
      {&no_ods, "InboundMessage.announce.ods"},
      {&no_source, "InboundMessage.announce.source"},
      {&bad_other, "InboundMessage.other_nhs_numbers[1]"},
      {&repeated_other, "InboundMessage.other_nhs_numbers[0]"},
      {&other_without_key, "InboundMessage.other_nhs_numbers[0]"}};
  for (const auto& [message, location] : cases) {
    const core::Result<core::AcceptResult> result = store.Accept(*message);
    ASSERT_FALSE(result) << location;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidValue);
    EXPECT_EQ(result.error().location, location);
  }
  EXPECT_EQ(store.Count().value_or(-1), 0);
}

REGISTER_TYPED_TEST_SUITE_P(InboundStoreContractTest, StoresThenReportsDuplicateAndConflict,
                            RefusesInvalidMessagesNamingTheField,
                            ConcurrentSendersStoreEachMessageExactlyOnce,
                            ConcurrentRedeliveriesOfOneMessageStoreItOnce,
                            AStoredMessageAnnouncesADuplicateOrConflictDoesNot,
                            AStoredMessageAnnouncesEveryPatientItCarries,
                            AnInvalidAnnouncementIsRefusedAndNothingIsStored);

// ---- Database, migrations and group commit on each engine -------------------------------------

template <typename Backend>
class SqlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = backend_.FreshUrl();
    if (url_.empty()) {
      if (HasFailure()) {
        FAIL() << "could not prepare a " << Backend::kName << " database";
      }
      GTEST_SKIP() << backend_.skip_reason();
    }
  }

  core::Result<std::unique_ptr<Database>> Open(StoreSettings settings = {}) {
    settings.url = url_;
    return OpenDatabase(settings);
  }

  static std::int64_t NewestVersion(const Database& database) {
    return EmbeddedMigrations(database.engine()).back().version;
  }

  Backend backend_;
  std::string url_;
};

TYPED_TEST_SUITE_P(SqlStoreTest);

TYPED_TEST_P(SqlStoreTest, MigrationsApplyOnceAndReopeningKeepsData) {
  std::int64_t newest = 0;
  {
    core::Result<std::unique_ptr<Database>> database = this->Open();
    ASSERT_TRUE(database) << database.error().message;
    newest = this->NewestVersion(**database);
    EXPECT_EQ((*database)->SchemaVersion().value_or(-1), newest);
    EXPECT_EQ(QueryOne<Poco::Int64>(**database, "SELECT COUNT(*) FROM schema_version").value_or(-1),
              newest);
    SqlInboundStore store(**database, {});
    ASSERT_TRUE(store.Accept(MakeMessage("KEEP1")));
  }
  core::Result<std::unique_ptr<Database>> reopened = this->Open();
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ((*reopened)->SchemaVersion().value_or(-1), newest);
  EXPECT_EQ(QueryOne<Poco::Int64>(**reopened, "SELECT COUNT(*) FROM schema_version").value_or(-1),
            newest);
  SqlInboundStore store(**reopened, {});
  EXPECT_EQ(store.Count().value_or(-1), 1);
  EXPECT_EQ(store.Accept(MakeMessage("KEEP1"))->outcome, AcceptOutcome::kDuplicate);
}

TYPED_TEST_P(SqlStoreTest, UpgradingDropsTheInboundIndexesNothingReads) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  Database& db = **database;
  const bool postgresql = db.engine() == Engine::kPostgresql;
  const auto exists = [&](const std::string& index) {
    return QueryOne<Poco::Int64>(
               db, postgresql
                       ? "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema()"
                         " AND indexname = '" +
                             index + "'"
                       : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
                         " AND name = '" +
                             index + "'")
        .value_or(-1);
  };
  // A fresh database never has them...
  EXPECT_EQ(exists("inbound_message_patient"), 0);
  EXPECT_EQ(exists("inbound_message_sender_control"), 0);
  EXPECT_EQ(exists("inbound_message_received_at"), 1) << "retention still needs this one";
  // ...and a database at version 6, holding a message, loses them when it is upgraded.
  SqlInboundStore store(db, {});
  ASSERT_TRUE(store.Accept(MakeMessage("OLD1")));
  ASSERT_TRUE(Execute(db,
                      "CREATE INDEX inbound_message_patient ON inbound_message (nhs_number, id)"
                      " WHERE nhs_number IS NOT NULL"));
  ASSERT_TRUE(Execute(db,
                      "CREATE INDEX inbound_message_sender_control"
                      " ON inbound_message (sender, control_id)"));
  ASSERT_TRUE(Execute(db, "DELETE FROM schema_version WHERE version >= 7"));
  // What later migrations did that cannot run twice (ADD COLUMN), undone for the replay.
  ASSERT_TRUE(Execute(db, "ALTER TABLE outbound_message DROP COLUMN replayed_at"));
  ASSERT_EQ(exists("inbound_message_patient"), 1);
  ASSERT_TRUE(ApplyMigrations(db, EmbeddedMigrations(db.engine())));
  EXPECT_EQ(db.SchemaVersion().value_or(-1), this->NewestVersion(db));
  EXPECT_EQ(exists("inbound_message_patient"), 0);
  EXPECT_EQ(exists("inbound_message_sender_control"), 0);
  EXPECT_EQ(store.Count().value_or(-1), 1);
  EXPECT_EQ(store.Accept(MakeMessage("OLD1"))->outcome, AcceptOutcome::kDuplicate);
}

TYPED_TEST_P(SqlStoreTest, RefusesADatabaseNewerThanThisBinary) {
  {
    core::Result<std::unique_ptr<Database>> database = this->Open();
    ASSERT_TRUE(database) << database.error().message;
    ASSERT_TRUE(Execute(**database,
                        "INSERT INTO schema_version (version, description, applied_at)"
                        " VALUES (999, 'from_a_newer_release', 0)"));
  }
  const core::Result<std::unique_ptr<Database>> again = this->Open();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConfig);
  EXPECT_NE(again.error().message.find("999"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("newer"), std::string::npos) << again.error().message;
}

TYPED_TEST_P(SqlStoreTest, AFailedMigrationIsRolledBackAndEarlierOnesStay) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  Database& db = **database;
  const std::span<const Migration> embedded = EmbeddedMigrations(db.engine());
  std::vector<Migration> extended(embedded.begin(), embedded.end());
  const std::int64_t n = this->NewestVersion(db);
  extended.push_back({n + 1, "extra_ok", "CREATE TABLE extra_ok (x INTEGER);"});
  extended.push_back(
      {n + 2, "extra_bad", "CREATE TABLE extra_bad (x INTEGER);\nTHIS IS NOT SQL;\n"});

  const core::Status status = ApplyMigrations(db, extended);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kStorage);
  EXPECT_EQ(db.SchemaVersion().value_or(-1), n + 1);
  EXPECT_TRUE(QueryOne<Poco::Int64>(db, "SELECT COUNT(*) FROM extra_ok"));
  EXPECT_FALSE(QueryOne<Poco::Int64>(db, "SELECT COUNT(*) FROM extra_bad"))
      << "the failed migration's first statement must be rolled back";

  // The binary's own list is now older than the database.
  const core::Status older = ApplyMigrations(db, embedded);
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code, ErrorCode::kConfig);
}

TYPED_TEST_P(SqlStoreTest, NodesOpeningTogetherMigrateOnce) {
  auto open = [this] { return this->Open(); };
  auto first = std::async(std::launch::async, open);
  auto second = std::async(std::launch::async, open);
  core::Result<std::unique_ptr<Database>> a = first.get();
  core::Result<std::unique_ptr<Database>> b = second.get();
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(QueryOne<Poco::Int64>(**a, "SELECT COUNT(*) FROM schema_version").value_or(-1),
            this->NewestVersion(**a));
}

TYPED_TEST_P(SqlStoreTest, KeepsPayloadBytesAndStoresNoNhsNumberAsNull) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  core::InboundMessage message = MakeMessage("BYTES");
  message.payload = std::string("\x00\x01\xff'\\\"\r\n", 8) + message.payload;
  message.content_sha256 = FakeSha256(message.payload);
  message.nhs_number.clear();
  const core::Result<core::AcceptResult> result = store.Accept(message);
  ASSERT_TRUE(result) << result.error().message;

  std::string payload;
  Poco::Int64 null_nhs = -1;
  Poco::Int64 received_at = 0;
  const std::string sql = (*database)->impl().Sql(
      "SELECT payload, received_at, CASE WHEN nhs_number IS NULL THEN 1 ELSE 0 END"
      " FROM inbound_message WHERE id = ?");
  ASSERT_TRUE((*database)->impl().Read("test read", [&](Poco::Data::Session& session) {
    using namespace Poco::Data::Keywords;
    Poco::Data::BLOB blob;
    Poco::Int64 id = result->message_id;
    session << sql, use(id), into(blob), into(received_at), into(null_nhs), now;
    payload.assign(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
    return core::Ok();
  }));
  EXPECT_EQ(payload, message.payload);
  EXPECT_EQ(received_at, message.received_at_ms);
  EXPECT_EQ(null_nhs, 1);
}

TYPED_TEST_P(SqlStoreTest, DuplicatesInsideOneBatchAreResolvedAsIfSequential) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  // Hold the first batch open until six more messages wait, so those six form one batch.
  std::atomic<bool> first_batch{true};
  std::atomic<bool> holding{false};
  store.SetBeforeCommitHookForTest([&](std::size_t) {
    if (first_batch.exchange(false)) {
      holding = true;
      EXPECT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == 6; }));
    }
    return core::Ok();
  });
  auto blocker =
      std::async(std::launch::async, [&] { return store.Accept(MakeMessage("BLOCKER")); });
  ASSERT_TRUE(tb::testing::WaitFor([&] { return holding.load(); }));

  const core::InboundMessage x = MakeMessage("K");
  const core::InboundMessage y = MakeMessage("K", 200, "OBX|1|TX|||other content\r");
  std::vector<std::future<core::Result<core::AcceptResult>>> same_key;
  for (int i = 0; i < 6; ++i) {
    const core::InboundMessage* message = i % 2 == 0 ? &x : &y;
    same_key.push_back(
        std::async(std::launch::async, [&store, message] { return store.Accept(*message); }));
  }
  ASSERT_TRUE(blocker.get());
  int stored = 0;
  int duplicates = 0;
  int conflicts = 0;
  for (auto& future : same_key) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_TRUE(result) << result.error().message;
    stored += result->outcome == AcceptOutcome::kStored ? 1 : 0;
    duplicates += result->outcome == AcceptOutcome::kDuplicate ? 1 : 0;
    conflicts += result->outcome == AcceptOutcome::kConflict ? 1 : 0;
  }
  // Whichever content came first is stored; two more of it are duplicates, three conflict.
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(duplicates, 2);
  EXPECT_EQ(conflicts, 3);
  EXPECT_EQ(store.Count().value_or(-1), 2);
  EXPECT_EQ(store.stats().batches, 2U) << "the six same-key messages should share one batch";
}

TYPED_TEST_P(SqlStoreTest, AFailedBatchStoresNothingAndEveryCallerGetsStorageError) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  std::atomic<bool> fail{true};
  std::atomic<bool> first_batch{true};
  std::atomic<bool> holding{false};
  // The hook runs after the batch's rows are written: failing it must undo all of them.
  store.SetBeforeCommitHookForTest([&](std::size_t) -> core::Status {
    if (first_batch.exchange(false)) {
      holding = true;
      EXPECT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == 7; }));
    }
    if (fail) {
      return core::MakeError(ErrorCode::kStorage, "injected: disk full");
    }
    return core::Ok();
  });

  std::vector<std::future<core::Result<core::AcceptResult>>> results;
  results.push_back(
      std::async(std::launch::async, [&] { return store.Accept(MakeMessage("F0")); }));
  ASSERT_TRUE(tb::testing::WaitFor([&] { return holding.load(); }));
  for (int i = 1; i < 8; ++i) {
    results.push_back(std::async(std::launch::async,
                                 [&store, i] { return store.Accept(MakeMessage(Id("F", i))); }));
  }
  for (auto& future : results) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kStorage);
  }
  EXPECT_EQ(store.stats().failed_batches, 2U);
  EXPECT_EQ(store.Count().value_or(-1), 0) << "a failed batch must leave no rows";

  // The keys were not used up: the same messages are now stored.
  fail = false;
  for (int i = 0; i < 8; ++i) {
    const core::Result<core::AcceptResult> result = store.Accept(MakeMessage(Id("F", i)));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, AcceptOutcome::kStored);
  }
  EXPECT_EQ(store.Count().value_or(-1), 8);
}

TYPED_TEST_P(SqlStoreTest, AFailedBatchAnnouncesNothing) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  std::unique_ptr<core::RecordLocator> locator = MakeRecordLocator(**database);
  SqlInboundStore store(**database, {});
  std::atomic<bool> fail{true};
  store.SetBeforeCommitHookForTest([&](std::size_t) -> core::Status {
    return fail ? core::MakeError(ErrorCode::kStorage, "injected: disk full") : core::Ok();
  });
  core::InboundMessage message = MakeMessage("A1");
  message.announce = core::LocatorAnnouncement{message.nhs_number, "RJ1", "hl7v2:ADT^A01", 7};

  const core::Result<core::AcceptResult> failed = store.Accept(message);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kStorage);
  EXPECT_EQ(store.Count().value_or(-1), 0);
  core::Result<std::vector<core::LocatorEntry>> entries = locator->Lookup(message.nhs_number);
  ASSERT_TRUE(entries) << entries.error().message;
  EXPECT_TRUE(entries->empty()) << "the announcement outlived its rolled-back message";

  fail = false;
  const core::Result<core::AcceptResult> stored = store.Accept(message);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->outcome, AcceptOutcome::kStored);
  entries = locator->Lookup(message.nhs_number);
  ASSERT_TRUE(entries) << entries.error().message;
  EXPECT_EQ(entries->size(), 1U);
}

TYPED_TEST_P(SqlStoreTest, ALockedDatabaseFailsTheBatchWithStorageError) {
  StoreSettings settings;
  settings.lock_timeout = std::chrono::milliseconds(200);
  core::Result<std::unique_ptr<Database>> database = this->Open(settings);
  ASSERT_TRUE(database) << database.error().message;
  core::Result<std::unique_ptr<Database>> other = this->Open();
  ASSERT_TRUE(other) << other.error().message;
  SqlInboundStore store(**database, {});

  // Another connection (another process, an operator's console) holds the write lock.
  std::promise<void> locked;
  std::promise<void> release;
  std::thread holder([&] {
    const core::Status held =
        (*other)->impl().Write("holding the write lock", [&](Poco::Data::Session& session) {
          if (*TypeParam::kLockWritesSql != '\0') {
            session << TypeParam::kLockWritesSql, Poco::Data::Keywords::now;
          }
          locked.set_value();
          release.get_future().wait();
          return core::Ok();
        });
    EXPECT_TRUE(held) << held.error().message;
  });
  locked.get_future().wait();

  std::vector<std::future<core::Result<core::AcceptResult>>> results;
  for (int i = 0; i < 4; ++i) {
    results.push_back(std::async(std::launch::async,
                                 [&store, i] { return store.Accept(MakeMessage(Id("L", i))); }));
  }
  for (auto& future : results) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kStorage);
    EXPECT_EQ(result.error().message.find("RJ1|"), std::string::npos) << "no values in errors";
  }
  release.set_value();
  holder.join();

  EXPECT_EQ(store.Count().value_or(-1), 0);
  const core::Result<core::AcceptResult> after = store.Accept(MakeMessage("L0"));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->outcome, AcceptOutcome::kStored);
}

TYPED_TEST_P(SqlStoreTest, AClosedDatabaseReturnsStorageError) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  ASSERT_TRUE(store.Accept(MakeMessage("C1")));
  (*database)->Close();

  const core::Result<core::AcceptResult> result = store.Accept(MakeMessage("C2"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kStorage);
  const core::Result<std::int64_t> count = store.Count();
  ASSERT_FALSE(count);
  EXPECT_EQ(count.error().code, ErrorCode::kStorage);
}

TYPED_TEST_P(SqlStoreTest, ShutdownCommitsWaitingMessagesThenRefusesNewOnes) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  // The first batch stays open until Shutdown() has been called, so three messages are still
  // waiting for the committer when it is.
  std::atomic<bool> first_batch{true};
  std::atomic<bool> holding{false};
  std::atomic<bool> shutting_down{false};
  store.SetBeforeCommitHookForTest([&](std::size_t) {
    if (first_batch.exchange(false)) {
      holding = true;
      EXPECT_TRUE(tb::testing::WaitFor([&] { return shutting_down.load(); }));
    }
    return core::Ok();
  });
  std::vector<std::future<core::Result<core::AcceptResult>>> results;
  results.push_back(
      std::async(std::launch::async, [&] { return store.Accept(MakeMessage("S0")); }));
  ASSERT_TRUE(tb::testing::WaitFor([&] { return holding.load(); }));
  for (int i = 1; i < 4; ++i) {
    results.push_back(std::async(std::launch::async,
                                 [&store, i] { return store.Accept(MakeMessage(Id("S", i))); }));
  }
  ASSERT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == 3; }));
  shutting_down = true;
  store.Shutdown();

  for (auto& future : results) {
    const core::Result<core::AcceptResult> result = future.get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, AcceptOutcome::kStored);
  }
  EXPECT_EQ(store.Count().value_or(-1), 4);
  const core::Result<core::AcceptResult> late = store.Accept(MakeMessage("S9"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kStorage);
}

// AcceptAsync: what Accept returns, reported by the committer after the commit, in arrival
// order within a batch; nobody is answered before its batch committed, and a failed batch
// answers every message with kStorage.
TYPED_TEST_P(SqlStoreTest, AcceptAsyncReportsEachMessageAfterItsBatchCommitted) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  std::atomic<int> batches{0};
  std::atomic<bool> release{false};
  std::atomic<bool> fail_second{true};
  // The first batch is held open until everything else waits, then the second one fails.
  store.SetBeforeCommitHookForTest([&](std::size_t) -> core::Status {
    const int batch = ++batches;
    if (batch == 1) {
      EXPECT_TRUE(tb::testing::WaitFor([&] { return release.load(); }));
    }
    if (batch == 2 && fail_second) {
      return core::MakeError(ErrorCode::kStorage, "injected: disk full");
    }
    return core::Ok();
  });
  std::mutex mutex;
  std::vector<std::pair<std::string, core::Result<core::AcceptResult>>> reports;
  const auto report = [&](std::string name) {
    return [&, name](core::Result<core::AcceptResult> result) {
      std::lock_guard lock(mutex);
      reports.emplace_back(name, std::move(result));
    };
  };
  const auto reported = [&] {
    std::lock_guard lock(mutex);
    return reports.size();
  };
  store.AcceptAsync(MakeMessage("A0"), report("A0"));
  ASSERT_TRUE(tb::testing::WaitFor([&] { return batches.load() == 1; }));
  for (int i = 1; i < 5; ++i) {
    store.AcceptAsync(MakeMessage(Id("A", i)), report(Id("A", i)));
  }
  ASSERT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == 4; }));
  EXPECT_EQ(reported(), 0U) << "reported before the commit";
  release = true;
  ASSERT_TRUE(tb::testing::WaitFor([&] { return reported() == 5; }));
  {
    std::lock_guard lock(mutex);
    ASSERT_TRUE(reports[0].second) << reports[0].second.error().message;
    EXPECT_EQ(reports[0].first, "A0");
    EXPECT_EQ(reports[0].second->outcome, AcceptOutcome::kStored);
    for (std::size_t i = 1; i < reports.size(); ++i) {
      EXPECT_EQ(reports[i].first, Id("A", static_cast<long>(i))) << "arrival order";
      ASSERT_FALSE(reports[i].second);
      EXPECT_EQ(reports[i].second.error().code, ErrorCode::kStorage);
    }
  }
  EXPECT_EQ(store.Count().value_or(-1), 1) << "a failed batch must leave no rows";

  // Resent: stored now; the first one again is a duplicate with its row id.
  fail_second = false;
  std::promise<core::Result<core::AcceptResult>> again;
  store.AcceptAsync(MakeMessage("A0"),
                    [&again](core::Result<core::AcceptResult> result) { again.set_value(result); });
  const core::Result<core::AcceptResult> duplicate = again.get_future().get();
  ASSERT_TRUE(duplicate) << duplicate.error().message;
  EXPECT_EQ(duplicate->outcome, AcceptOutcome::kDuplicate);
  std::lock_guard lock(mutex);
  EXPECT_EQ(duplicate->message_id, reports[0].second->message_id);
}

// PostAsyncReportsThrough: the AcceptAsync callbacks of one commit reach the poster as one task
// and run only when it runs; Accept's blocked callers are released directly; a task dropped unrun
// destroys its callbacks without calling them.
TYPED_TEST_P(SqlStoreTest, AcceptAsyncReportsOfOneCommitArePostedAsOneTask) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  std::mutex mutex;
  std::vector<std::function<void()>> tasks;
  std::vector<std::string> reports;
  store.PostAsyncReportsThrough([&](std::function<void()> task) {
    std::lock_guard lock(mutex);
    tasks.push_back(std::move(task));
  });
  const auto posted = [&] {
    std::lock_guard lock(mutex);
    return tasks.size();
  };
  std::atomic<int> batches{0};
  std::atomic<bool> release{false};
  store.SetBeforeCommitHookForTest([&](std::size_t) -> core::Status {
    if (++batches == 1) {
      EXPECT_TRUE(tb::testing::WaitFor([&] { return release.load(); }));
    }
    return core::Ok();
  });
  const auto report = [&](std::string name) {
    return [&, name](core::Result<core::AcceptResult> result) {
      EXPECT_TRUE(result) << name;
      std::lock_guard lock(mutex);
      reports.push_back(name);
    };
  };
  store.AcceptAsync(MakeMessage("P0"), report("P0"));
  ASSERT_TRUE(tb::testing::WaitFor([&] { return batches.load() == 1; }));
  for (int i = 1; i < 5; ++i) {
    store.AcceptAsync(MakeMessage(Id("P", i)), report(Id("P", i)));
  }
  ASSERT_TRUE(tb::testing::WaitFor([&] { return store.waiting() == 4; }));
  release = true;
  ASSERT_TRUE(tb::testing::WaitFor([&] { return posted() == 2; }));
  EXPECT_EQ(store.Count().value_or(-1), 5) << "both batches committed";
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(reports.empty()) << "a callback ran before its task";
  }
  std::vector<std::function<void()>> taken;
  {
    std::lock_guard lock(mutex);
    taken.swap(tasks);
  }
  for (const auto& task : taken) {
    task();
  }
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(reports,
              (std::vector<std::string>{"P0", Id("P", 1), Id("P", 2), Id("P", 3), Id("P", 4)}));
  }

  // A blocking Accept is not posted: it returns with nobody running tasks.
  const core::Result<core::AcceptResult> blocking = store.Accept(MakeMessage("S1"));
  ASSERT_TRUE(blocking) << blocking.error().message;
  EXPECT_EQ(blocking->outcome, AcceptOutcome::kStored);
  EXPECT_EQ(posted(), 0U);

  // A task dropped unrun: the callback is destroyed, never called.
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  store.AcceptAsync(MakeMessage("D1"),
                    [&, alive = std::move(alive)](core::Result<core::AcceptResult>) {
                      ADD_FAILURE() << "a dropped task's callback ran";
                    });
  ASSERT_TRUE(tb::testing::WaitFor([&] { return posted() == 1; }));
  EXPECT_FALSE(watch.expired());
  {
    std::lock_guard lock(mutex);
    tasks.clear();
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(store.Count().value_or(-1), 7) << "D1 was committed all the same";
}

TYPED_TEST_P(SqlStoreTest, AcceptAsyncAnswersAnInvalidMessageAndAShutDownStoreAtOnce) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  SqlInboundStore store(**database, {});
  const std::thread::id caller = std::this_thread::get_id();
  core::InboundMessage invalid = MakeMessage("I1");
  invalid.dedupe_key.clear();
  std::optional<core::Result<core::AcceptResult>> refused;
  store.AcceptAsync(invalid, [&](core::Result<core::AcceptResult> result) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    refused = std::move(result);
  });
  ASSERT_TRUE(refused.has_value()) << "answered in the calling thread";
  ASSERT_FALSE(*refused);
  EXPECT_EQ(refused->error().code, ErrorCode::kInvalidValue);

  store.Shutdown();
  std::optional<core::Result<core::AcceptResult>> late;
  store.AcceptAsync(MakeMessage("I2"), [&](core::Result<core::AcceptResult> result) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    late = std::move(result);
  });
  ASSERT_TRUE(late.has_value());
  ASSERT_FALSE(*late);
  EXPECT_EQ(late->error().code, ErrorCode::kStorage);
  EXPECT_EQ(store.Count().value_or(-1), 0);
}

// A LedgerChain that links drafts like tb::ledger does, in miniature: seq after the head read
// in the transaction, prev_hash = the head's hash, hash = "h<seq>".
class FakeLedgerChain final : public core::LedgerChain {
 public:
  core::Result<core::LedgerBatch> ChainDrafts(const std::vector<core::LedgerDraft>& drafts,
                                              std::int64_t head_seq,
                                              const std::string& head_hash) override {
    core::LedgerBatch batch;
    std::string prev = head_hash.empty() ? std::string(64, '0') : head_hash;
    for (const core::LedgerDraft& draft : drafts) {
      core::LedgerRecord record;
      record.seq = ++head_seq;
      record.recorded_ms = 1;
      record.kind = draft.kind;
      record.nhs_number = draft.nhs_number;
      record.canonical = draft.facts;
      record.prev_hash = prev;
      record.hash = "h" + std::to_string(record.seq);
      record.index = draft.index;
      prev = record.hash;
      batch.records.push_back(std::move(record));
    }
    return batch;
  }
  void Committed(const core::LedgerBatch& batch) override { committed += batch.records.size(); }
  std::atomic<std::size_t> committed{0};
};

// A message whose audit record names it; none for a duplicate.
inline core::InboundMessage Audited(const std::string& control_id) {
  core::InboundMessage message = MakeMessage(control_id);
  message.audit =
      [control_id](const core::AcceptResult& accepted) -> std::vector<core::LedgerDraft> {
    if (accepted.outcome == AcceptOutcome::kDuplicate) {
      return {};
    }
    core::LedgerDraft draft;
    draft.kind = accepted.outcome == AcceptOutcome::kStored ? "inbound" : "refusal";
    draft.nhs_number = "9434765919";
    draft.facts = "{\"control_id\":\"" + control_id +
                  "\",\"id\":" + std::to_string(accepted.message_id) + "}";
    return {draft};
  };
  return message;
}

// The message's audit record is written in the message's batch transaction (SQLite), behind
// whatever the ledger's own appends wrote; a failed batch writes neither.
TYPED_TEST_P(SqlStoreTest, AuditRecordsCommitWithTheirMessagesOrNotAtAll) {
  core::Result<std::unique_ptr<Database>> database = this->Open();
  ASSERT_TRUE(database) << database.error().message;
  std::unique_ptr<core::LedgerStore> ledger = MakeLedgerStore(**database);
  SqlInboundStore store(**database, {});
  FakeLedgerChain chain;
  if (!store.WriteLedgerHopsInto(&chain)) {
    EXPECT_EQ((*database)->engine(), Engine::kPostgresql) << "SQLite writes the hops";
    EXPECT_FALSE(store.WritesLedgerHops());
    GTEST_SKIP() << "PostgreSQL: the caller records hops";
  }
  EXPECT_TRUE(store.WritesLedgerHops());
  // The ledger's own path wrote seq 1 first: the batch chains behind it.
  ASSERT_TRUE(ledger->AppendAtHead([&](std::int64_t seq, const std::string& hash) {
    core::LedgerDraft draft;
    draft.kind = "query";
    draft.facts = "{}";
    return chain.ChainDrafts({draft}, seq, hash);
  }));

  const core::Result<core::AcceptResult> first = store.Accept(Audited("L1"));
  ASSERT_TRUE(first) << first.error().message;
  const core::Result<core::AcceptResult> again = store.Accept(Audited("L1"));  // duplicate
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, AcceptOutcome::kDuplicate);
  EXPECT_EQ(store.Accept(MakeMessage("L2")).value_or(core::AcceptResult{}).outcome,
            AcceptOutcome::kStored);  // no audit: no record

  store.SetBeforeCommitHookForTest(
      [](std::size_t) { return core::MakeError(ErrorCode::kStorage, "injected: disk full"); });
  const core::Result<core::AcceptResult> failed = store.Accept(Audited("L3"));
  ASSERT_FALSE(failed);
  store.SetBeforeCommitHookForTest({});

  const core::Result<std::vector<core::LedgerRecord>> records = ledger->ReadRange(1, 10);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 2U) << "one per stored audited message, none for the rest";
  EXPECT_EQ((*records)[1].seq, 2);
  EXPECT_EQ((*records)[1].prev_hash, "h1") << "chained behind the head read in the transaction";
  EXPECT_EQ((*records)[1].kind, "inbound");
  EXPECT_EQ((*records)[1].canonical,
            "{\"control_id\":\"L1\",\"id\":" + std::to_string(first->message_id) + "}");
  EXPECT_EQ(chain.committed.load(), 1U) << "Committed: the batch's records, after the commit";
  EXPECT_EQ(store.Count().value_or(-1), 2);
}

REGISTER_TYPED_TEST_SUITE_P(
    SqlStoreTest, MigrationsApplyOnceAndReopeningKeepsData, RefusesADatabaseNewerThanThisBinary,
    AFailedMigrationIsRolledBackAndEarlierOnesStay, NodesOpeningTogetherMigrateOnce,
    KeepsPayloadBytesAndStoresNoNhsNumberAsNull, DuplicatesInsideOneBatchAreResolvedAsIfSequential,
    AFailedBatchStoresNothingAndEveryCallerGetsStorageError, AFailedBatchAnnouncesNothing,
    ALockedDatabaseFailsTheBatchWithStorageError, AClosedDatabaseReturnsStorageError,
    ShutdownCommitsWaitingMessagesThenRefusesNewOnes,
    AcceptAsyncReportsEachMessageAfterItsBatchCommitted,
    AcceptAsyncReportsOfOneCommitArePostedAsOneTask,
    AcceptAsyncAnswersAnInvalidMessageAndAShutDownStoreAtOnce,
    AuditRecordsCommitWithTheirMessagesOrNotAtAll, UpgradingDropsTheInboundIndexesNothingReads);

}  // namespace tb::store::testing
