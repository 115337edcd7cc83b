#pragma once

// The record locator contract on every engine (instantiated in store_sqlite_test.cpp and
// store_pg_test.cpp). Include after inbound_store_suite.h.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/core/no_wait_reads.h"
#include "broker/store/database_impl.h"
#include "broker/store/store.h"
#include "tests/broker/store/store_test_support.h"

namespace tb::store::testing {

template <typename Backend>
class RecordLocatorTest : public RepositoryTest<Backend, core::RecordLocator, &MakeRecordLocator> {
};

TYPED_TEST_SUITE_P(RecordLocatorTest);

TYPED_TEST_P(RecordLocatorTest, AnnouncesAreUpsertedAndListedByOds) {
  core::RecordLocator& locator = *this->repository_;
  ASSERT_TRUE(locator.Announce("9449305552", "RGT", "hl7v2:ADT^A01", 1000));
  ASSERT_TRUE(locator.Announce("9449305552", "RAJ", "admin", 2000));
  ASSERT_TRUE(locator.Announce("9449305552", "RGT", "hl7v2:ADT^A08", 3000));
  ASSERT_TRUE(locator.Announce("9000000009", "RXH", "admin", 4000));
  auto entries = locator.Lookup("9449305552");
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].ods, "RAJ");
  EXPECT_EQ((*entries)[1].ods, "RGT");
  EXPECT_EQ((*entries)[1].source, "hl7v2:ADT^A08");
  EXPECT_EQ((*entries)[1].first_seen_ms, 1000);
  EXPECT_EQ((*entries)[1].last_seen_ms, 3000);
  EXPECT_EQ((*entries)[1].nhs_number, "9449305552");
}

TYPED_TEST_P(RecordLocatorTest, UnknownPatientHasNoEntries) {
  auto entries = this->repository_->Lookup("9449305552");
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
}

TYPED_TEST_P(RecordLocatorTest, ForgetRemovesOneEntry) {
  core::RecordLocator& locator = *this->repository_;
  ASSERT_TRUE(locator.Announce("9449305552", "RGT", "admin", 1));
  ASSERT_TRUE(locator.Announce("9449305552", "RXH", "admin", 1));
  ASSERT_TRUE(locator.Forget("9449305552", "RGT"));
  ASSERT_TRUE(locator.Forget("9449305552", "NOPE"));  // absent: not an error
  auto entries = locator.Lookup("9449305552");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].ods, "RXH");
}

TYPED_TEST_P(RecordLocatorTest, InvalidLocatorInputIsRefused) {
  core::RecordLocator& locator = *this->repository_;
  EXPECT_EQ(locator.Announce("9449305553", "RGT", "admin", 1).error().code,
            core::ErrorCode::kInvalidValue);
  EXPECT_EQ(locator.Announce("9449305552", "", "admin", 1).error().code,
            core::ErrorCode::kInvalidValue);
  EXPECT_FALSE(locator.Lookup("12345").has_value());
}

TYPED_TEST_P(RecordLocatorTest, ConcurrentAnnouncesOfOnePairAllSucceed) {
  core::RecordLocator& locator = *this->repository_;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&locator, &failures, i] {
      if (!locator.Announce("9449305552", "RGT", "hl7v2:ADT^A01", 100 + i)) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(locator.Lookup("9449305552")->size(), 1u);
}

// Lookups reuse a prepared statement per read connection (SQLite): repeated and concurrent
// lookups see every write made between them, and a closed database is an error, not a crash.
TYPED_TEST_P(RecordLocatorTest, RepeatedConcurrentLookupsSeeEachWriteThenFailOnceClosed) {
  core::RecordLocator& locator = *this->repository_;
  const std::string ods[] = {"RGT", "RJ1", "RXH", "X26"};
  for (std::size_t round = 0; round < 4; ++round) {
    ASSERT_TRUE(locator.Announce("9449305552", ods[round], "hl7v2:ADT^A01",
                                 static_cast<std::int64_t>(round) + 1));
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int i = 0; i < 6; ++i) {
      threads.emplace_back([&] {
        for (int k = 0; k < 5; ++k) {
          const auto entries = locator.Lookup("9449305552");
          if (!entries || entries->size() != round + 1 || entries->back().ods != ods[round] ||
              entries->back().last_seen_ms != static_cast<std::int64_t>(round) + 1) {
            ++wrong;
          }
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    EXPECT_EQ(wrong.load(), 0) << "round " << round;
  }
  EXPECT_TRUE(locator.Lookup("9434765919").value_or(std::vector<core::LocatorEntry>(1)).empty());
  this->database_->Close();
  const auto closed = locator.Lookup("9449305552");
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, core::ErrorCode::kStorage);
}

// Inside a core::NoWaitReads scope (an I/O thread trying the lookup before handing it to the
// blocking pool) a lookup runs on SQLite once a read session is open and idle, and fails at
// once, marking the scope, on PostgreSQL, whose every read is a network round trip.
TYPED_TEST_P(RecordLocatorTest, ALookupThatMustNotWaitRunsOnlyWhereItNeedNot) {
  core::RecordLocator& locator = *this->repository_;
  ASSERT_TRUE(locator.Announce("9449305552", "RGT", "admin", 1));
  const bool sqlite = this->database_->impl().engine() == Engine::kSqlite;
  if (sqlite) {
    core::NoWaitReads attempt;
    EXPECT_FALSE(locator.Lookup("9449305552"));  // no session opened yet: opening one may wait
    EXPECT_TRUE(attempt.blocked());
  }
  ASSERT_TRUE(locator.Lookup("9449305552"));  // opens the pool's first session
  for (int round = 0; round < 3; ++round) {   // the session goes back to the pool each time
    core::NoWaitReads attempt;
    const auto entries = locator.Lookup("9449305552");
    if (sqlite) {
      ASSERT_TRUE(entries) << entries.error().message;
      ASSERT_EQ(entries->size(), 1u);
      EXPECT_EQ((*entries)[0].ods, "RGT");
      EXPECT_FALSE(attempt.blocked());
    } else {
      EXPECT_FALSE(entries);
      EXPECT_TRUE(attempt.blocked());
    }
  }
  const auto outside = locator.Lookup("9449305552");  // where it may wait: every engine
  ASSERT_TRUE(outside) << outside.error().message;
  EXPECT_EQ(outside->size(), 1u);
}

// More read connections at once than SqlRecordLocator keeps statements for (16): the cache
// starts again while other threads hold theirs, and every answer stays right.
TYPED_TEST_P(RecordLocatorTest, ManyConnectionsAtOnceAllGetRightAnswers) {
  auto database = OpenDatabase({.url = this->url_, .max_sessions = 24});
  ASSERT_TRUE(database) << database.error().message;
  std::unique_ptr<core::RecordLocator> locator = MakeRecordLocator(**database);
  ASSERT_TRUE(locator->Announce("9449305552", "RGT", "hl7v2:ADT^A01", 5));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        const auto entries = locator->Lookup("9449305552");
        if (!entries || entries->size() != 1 || (*entries)[0].ods != "RGT") {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

REGISTER_TYPED_TEST_SUITE_P(RecordLocatorTest, AnnouncesAreUpsertedAndListedByOds,
                            UnknownPatientHasNoEntries, ForgetRemovesOneEntry,
                            InvalidLocatorInputIsRefused, ConcurrentAnnouncesOfOnePairAllSucceed,
                            RepeatedConcurrentLookupsSeeEachWriteThenFailOnceClosed,
                            ManyConnectionsAtOnceAllGetRightAnswers,
                            ALookupThatMustNotWaitRunsOnlyWhereItNeedNot);

}  // namespace tb::store::testing
