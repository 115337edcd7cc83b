#pragma once

// The consent store contract (core::ConsentRecords) on every engine (instantiated in
// store_sqlite_test.cpp and store_pg_test.cpp). Include after inbound_store_suite.h.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/store/store.h"
#include "tests/broker/store/store_test_support.h"

namespace tb::store::testing {

template <typename Backend>
class ConsentStoreTest : public RepositoryTest<Backend, core::ConsentRecords, &MakeConsentStore> {
 protected:
  static core::ConsentRecord Record(std::string id, std::string nhs, std::string status,
                                    std::int64_t version, std::int64_t at) {
    return core::ConsentRecord{
        id,
        std::move(nhs),
        status,
        version,
        R"({"resourceType":"Consent","id":")" + id + R"(","status":")" + status + "\"}",
        at,
        at};
  }
};

TYPED_TEST_SUITE_P(ConsentStoreTest);

TYPED_TEST_P(ConsentStoreTest, PutThenGetByIdAndByPatient) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c-b", "9449305552", "active", 1, 2000)));
  ASSERT_TRUE(store.Put(this->Record("c-a", "9449305552", "active", 1, 3000)));
  ASSERT_TRUE(store.Put(this->Record("c-x", "9000000009", "active", 1, 1000)));

  auto one = store.GetById("c-b");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->id, "c-b");
  EXPECT_EQ(one->nhs_number, "9449305552");
  EXPECT_EQ(one->status, "active");
  EXPECT_EQ(one->version, 1);
  EXPECT_EQ(one->json, R"({"resourceType":"Consent","id":"c-b","status":"active"})");
  EXPECT_EQ(one->created_at_ms, 2000);
  EXPECT_EQ(one->updated_at_ms, 2000);

  auto patient = store.GetByNhsNumber("9449305552");
  ASSERT_TRUE(patient) << patient.error().message;
  ASSERT_EQ(patient->size(), 2u);
  EXPECT_EQ((*patient)[0].id, "c-b");  // oldest first, not by id
  EXPECT_EQ((*patient)[1].id, "c-a");
}

TYPED_TEST_P(ConsentStoreTest, PutOfTheSameIdReplacesAndKeepsCreatedAt) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "active", 1, 1000)));
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "inactive", 2, 5000)));
  auto one = store.GetById("c1");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->status, "inactive");
  EXPECT_EQ(one->version, 2);
  EXPECT_EQ(one->created_at_ms, 1000);
  EXPECT_EQ(one->updated_at_ms, 5000);
  EXPECT_NE(one->json.find("inactive"), std::string::npos);
  EXPECT_EQ(store.GetByNhsNumber("9449305552")->size(), 1u);
}

// Put is compare-and-set on the version: two writers that both read version 1 both ask for
// version 2; the second must be refused (kConflict), not silently replace the first one's change
// (a withdrawal lost, two different _history/2 in the ledger).
TYPED_TEST_P(ConsentStoreTest, ASecondWriterOfTheSameVersionConflictsAndTheFirstStays) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "active", 1, 1000)));
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "inactive", 2, 2000)));
  auto second = store.Put(this->Record("c1", "9449305552", "rejected", 2, 3000));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kConflict);
  auto one = store.GetById("c1");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->status, "inactive");
  EXPECT_EQ(one->version, 2);
  EXPECT_EQ(one->updated_at_ms, 2000);
  // A version that skips one, or an update of an id never created, changes nothing either.
  EXPECT_EQ(store.Put(this->Record("c1", "9449305552", "active", 4, 4000)).error().code,
            core::ErrorCode::kConflict);
  EXPECT_EQ(store.Put(this->Record("c2", "9449305552", "active", 2, 4000)).error().code,
            core::ErrorCode::kConflict);
  EXPECT_FALSE(store.GetById("c2"));
  EXPECT_EQ(store.GetById("c1")->version, 2);
}

// A create never replaces: an id that exists (a collision, or a client retrying a create) is
// kConflict and the stored consent, possibly another patient's, stays as it was.
TYPED_TEST_P(ConsentStoreTest, ACreateOfAnExistingIdConflicts) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "active", 1, 1000)));
  auto again = store.Put(this->Record("c1", "9000000009", "inactive", 1, 2000));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::ErrorCode::kConflict);
  auto one = store.GetById("c1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->nhs_number, "9449305552");
  EXPECT_EQ(one->status, "active");
  EXPECT_TRUE(store.GetByNhsNumber("9000000009")->empty());
}

// The patient of a stored consent never changes: an update naming another one is kConflict.
TYPED_TEST_P(ConsentStoreTest, AnUpdateCannotMoveAConsentToAnotherPatient) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "active", 1, 1000)));
  auto moved = store.Put(this->Record("c1", "9000000009", "active", 2, 2000));
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(store.GetByNhsNumber("9449305552")->size(), 1u);
  EXPECT_TRUE(store.GetByNhsNumber("9000000009")->empty());
  EXPECT_EQ(store.GetById("c1")->version, 1);
}

// Many writers that all read version 1: exactly one gets version 2 stored.
TYPED_TEST_P(ConsentStoreTest, ConcurrentUpdatesOfOneVersionHaveOneWinner) {
  core::ConsentRecords& store = *this->repository_;
  ASSERT_TRUE(store.Put(this->Record("c1", "9449305552", "active", 1, 1000)));
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  std::atomic<int> conflicts{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, &store, &stored, &conflicts, i] {
      auto put = store.Put(this->Record("c1", "9449305552", "s" + std::to_string(i), 2, 2000 + i));
      if (put) {
        ++stored;
      } else if (put.error().code == core::ErrorCode::kConflict) {
        ++conflicts;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
  auto one = store.GetById("c1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->version, 2);
}

TYPED_TEST_P(ConsentStoreTest, UnknownIdIsNotFoundAndUnknownPatientIsEmpty) {
  core::ConsentRecords& store = *this->repository_;
  auto missing = store.GetById("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  auto malformed = store.GetById("../etc");
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, core::ErrorCode::kNotFound);
  auto patient = store.GetByNhsNumber("9449305552");
  ASSERT_TRUE(patient);
  EXPECT_TRUE(patient->empty());
}

TYPED_TEST_P(ConsentStoreTest, InvalidConsentRecordsAreRefused) {
  core::ConsentRecords& store = *this->repository_;
  EXPECT_EQ(store.Put(this->Record("", "9449305552", "active", 1, 1)).error().code,
            core::ErrorCode::kInvalidValue);
  EXPECT_EQ(store.Put(this->Record("a b", "9449305552", "active", 1, 1)).error().code,
            core::ErrorCode::kInvalidValue);
  EXPECT_EQ(
      store.Put(this->Record(std::string(65, 'a'), "9449305552", "active", 1, 1)).error().code,
      core::ErrorCode::kInvalidValue);
  EXPECT_EQ(store.Put(this->Record("c1", "9449305553", "active", 1, 1)).error().code,
            core::ErrorCode::kInvalidValue);
  EXPECT_EQ(store.Put(this->Record("c1", "9449305552", "", 1, 1)).error().code,
            core::ErrorCode::kInvalidValue);
  core::ConsentRecord empty_json = this->Record("c1", "9449305552", "active", 1, 1);
  empty_json.json.clear();
  EXPECT_EQ(store.Put(empty_json).error().code, core::ErrorCode::kInvalidValue);
  EXPECT_FALSE(store.GetByNhsNumber("12345").has_value());
  EXPECT_FALSE(store.GetById("c1").has_value());
}

TYPED_TEST_P(ConsentStoreTest, ConcurrentPutsOfDifferentConsentsAllLand) {
  core::ConsentRecords& store = *this->repository_;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, &store, &failures, i] {
      if (!store.Put(this->Record("c" + std::to_string(i), "9449305552", "active", 1, 100 + i))) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store.GetByNhsNumber("9449305552")->size(), 8u);
}

REGISTER_TYPED_TEST_SUITE_P(
    ConsentStoreTest, PutThenGetByIdAndByPatient, PutOfTheSameIdReplacesAndKeepsCreatedAt,
    UnknownIdIsNotFoundAndUnknownPatientIsEmpty, InvalidConsentRecordsAreRefused,
    ConcurrentPutsOfDifferentConsentsAllLand,
    ASecondWriterOfTheSameVersionConflictsAndTheFirstStays, ACreateOfAnExistingIdConflicts,
    AnUpdateCannotMoveAConsentToAnotherPatient, ConcurrentUpdatesOfOneVersionHaveOneWinner);

}  // namespace tb::store::testing
