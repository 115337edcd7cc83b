#pragma once

// The core::OutboundQueue contract (migration 005, SqlOutboundQueue, the in-memory fake), and the
// harnesses that tests/broker/queue reuses to run the delivery worker on every engine.
// Instantiated in store_sqlite_test.cpp (SQLite + in-memory) and store_pg_test.cpp. Include after
// inbound_store_suite.h, or alone.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/core/clock.h"
#include "broker/core/outbound_queue.h"
#include "broker/store/sql_outbound_queue.h"
#include "tests/broker/store/store_test_support.h"
#include "tests/support/wait_for.h"

namespace tb::store::testing {

// A clock that moves only when told to. Starts well after MakeRouted()'s received_at.
class ManualClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  void Advance(std::chrono::milliseconds by) { now_ms_ += by.count(); }
  std::int64_t now_ms() const { return now_ms_.load(); }

 private:
  std::atomic<std::int64_t> now_ms_{1'800'000'000'000};
};

// MakeMessage() for patient `nhs_number` ("" for none), routed to `destinations` in `format`.
inline core::InboundMessage MakeRouted(const std::string& control_id, const std::string& nhs_number,
                                       const std::vector<std::string>& destinations,
                                       const std::string& format = "hl7v2") {
  core::InboundMessage message = MakeMessage(control_id);
  message.nhs_number = nhs_number;
  for (const std::string& destination : destinations) {
    message.routes.push_back({destination, format});
  }
  return message;
}

// ---- harnesses: an InboundStore and its OutboundQueue on a fresh database --------------------

template <typename Backend>
class SqlQueueHarness {
 public:
  static constexpr const char* kName = Backend::kName;
  static constexpr bool kDurable = true;

  // False when the engine is unavailable (skip_reason() says why) or opening failed (a failure
  // has been added).
  bool Open(const core::Clock& clock) {
    url_ = backend_.FreshUrl();
    return !url_.empty() && Reopen(clock);
  }
  // New store objects on the same database, as after a restart of the broker.
  bool Reopen(const core::Clock& clock) {
    Close();
    core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = url_});
    if (!database) {
      ADD_FAILURE() << database.error().message;
      return false;
    }
    database_ = std::move(*database);
    inbound_ = std::make_unique<SqlInboundStore>(*database_, InboundStoreSettings{});
    queue_ = std::make_unique<SqlOutboundQueue>(*database_, clock);
    return true;
  }
  void Close() {
    queue_.reset();
    inbound_.reset();
    database_.reset();
  }
  std::string skip_reason() const { return backend_.skip_reason(); }
  core::InboundStore& inbound() { return *inbound_; }
  core::OutboundQueue& queue() { return *queue_; }
  SqlInboundStore* sql_inbound() { return inbound_.get(); }
  // A second broker node on the same database (its own connections), or null where the engine
  // holds one node only (SQLite).
  std::unique_ptr<Database> OpenOtherNode() {
    if (!database_->capabilities().supports_multiple_nodes) {
      return nullptr;
    }
    core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = url_});
    EXPECT_TRUE(database) << database.error().message;
    return database ? std::move(*database) : nullptr;
  }

 private:
  Backend backend_;  // destroyed last
  std::string url_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<SqlInboundStore> inbound_;
  std::unique_ptr<SqlOutboundQueue> queue_;
};

class MemoryQueueHarness {
 public:
  static constexpr const char* kName = "in_memory";
  static constexpr bool kDurable = false;

  bool Open(const core::Clock& clock) {
    queue_ = std::make_unique<tb::testing::InMemoryOutboundQueue>(clock);
    inbound_ = std::make_unique<tb::testing::InMemoryInboundStore>(queue_.get());
    return true;
  }
  bool Reopen(const core::Clock&) { return false; }
  void Close() {}
  std::string skip_reason() const { return {}; }
  core::InboundStore& inbound() { return *inbound_; }
  core::OutboundQueue& queue() { return *queue_; }
  SqlInboundStore* sql_inbound() { return nullptr; }
  std::unique_ptr<Database> OpenOtherNode() { return nullptr; }

 private:
  std::unique_ptr<tb::testing::InMemoryOutboundQueue> queue_;
  std::unique_ptr<tb::testing::InMemoryInboundStore> inbound_;
};

// ---- the OutboundQueue contract ----------------------------------------------------------------

template <typename Harness>
class OutboundQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!harness_.Open(clock_)) {
      if (HasFailure()) {
        FAIL() << "could not open the " << Harness::kName << " queue";
      }
      GTEST_SKIP() << harness_.skip_reason();
    }
  }
  void TearDown() override { harness_.Close(); }

  std::int64_t Store(const core::InboundMessage& message) {
    const core::Result<core::AcceptResult> result = harness_.inbound().Accept(message);
    EXPECT_TRUE(result) << result.error().message;
    return result ? result->message_id : 0;
  }
  // Control ids of what `owner` can claim now (claims them, with a 1 s lease).
  std::vector<std::string> Claim(const std::string& owner = "w1", std::size_t max = 100) {
    core::Result<std::vector<core::OutboundItem>> items =
        harness_.queue().ClaimNext(owner, max, std::chrono::seconds(1));
    EXPECT_TRUE(items) << items.error().message;
    std::vector<std::string> ids;
    if (items) {
      for (const core::OutboundItem& item : *items) {
        ids.push_back(item.control_id + "@" + item.destination);
        claimed_[ids.back()] = item.id;
      }
    }
    return ids;
  }
  std::int64_t IdOf(const std::string& key) { return claimed_.at(key); }

  ManualClock clock_;
  Harness harness_;
  std::map<std::string, std::int64_t> claimed_;
};

TYPED_TEST_SUITE_P(OutboundQueueTest);

using Ids = std::vector<std::string>;

TYPED_TEST_P(OutboundQueueTest, StoredMessageGetsOneItemPerRouteWithWhatDeliveryNeeds) {
  core::InboundMessage message = MakeRouted("M1", "9434765919", {"RGT", "RAJ"});
  message.routes[1].format = "fhir";
  const std::int64_t inbound_id = this->Store(message);
  core::Result<core::QueueCounts> counts = this->harness_.queue().Counts();
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->queued, 2);

  core::Result<std::vector<core::OutboundItem>> items =
      this->harness_.queue().ClaimNext("w1", 10, std::chrono::seconds(30));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  const core::OutboundItem& first = (*items)[0];
  EXPECT_LT((*items)[0].id, (*items)[1].id);
  EXPECT_EQ(first.inbound_message_id, inbound_id);
  EXPECT_EQ(first.destination, "RGT");
  EXPECT_EQ(first.format, "hl7v2");
  EXPECT_EQ((*items)[1].destination, "RAJ");
  EXPECT_EQ((*items)[1].format, "fhir");
  EXPECT_EQ(first.nhs_number, "9434765919");
  EXPECT_EQ(first.status, core::OutboundStatus::kInFlight);
  EXPECT_EQ(first.attempts, 0);
  EXPECT_EQ(first.next_attempt_at_ms, this->clock_.now_ms() + 30'000);  // the lease
  EXPECT_EQ(first.created_at_ms, message.received_at_ms);
  EXPECT_EQ(first.sender, "RJ1");
  EXPECT_EQ(first.protocol, "hl7v2");
  EXPECT_EQ(first.message_type, "ADT^A01");
  EXPECT_EQ(first.control_id, "M1");
  EXPECT_EQ(first.payload, message.payload);
  counts = this->harness_.queue().Counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->queued, 0);
  EXPECT_EQ(counts->in_flight, 2);
}

TYPED_TEST_P(OutboundQueueTest, DuplicateAndConflictEnqueueNothing) {
  const core::InboundMessage message = MakeRouted("M1", "9434765919", {"RGT"});
  this->Store(message);
  EXPECT_EQ(this->harness_.inbound().Accept(message)->outcome, core::AcceptOutcome::kDuplicate);
  core::InboundMessage changed = MakeRouted("M1", "9434765919", {"RGT", "RAJ"});
  changed.payload += "NTE|2||changed\r";
  changed.content_sha256 = FakeSha256(changed.payload);
  EXPECT_EQ(this->harness_.inbound().Accept(changed)->outcome, core::AcceptOutcome::kConflict);
  EXPECT_EQ(this->harness_.queue().Counts()->queued, 1);
  EXPECT_EQ(this->Claim(), (Ids{"M1@RGT"}));
}

TYPED_TEST_P(OutboundQueueTest, InvalidRoutesAreRefusedAndStoreNothing) {
  core::InboundMessage message = MakeRouted("M1", "9434765919", {"RGT"}, "xml");
  core::Result<core::AcceptResult> result = this->harness_.inbound().Accept(message);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(result.error().location, "InboundMessage.routes[0].format");
  message = MakeRouted("M1", "9434765919", {"RGT", ""});
  result = this->harness_.inbound().Accept(message);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().location, "InboundMessage.routes[1].destination");
  message = MakeRouted("M1", "9434765919", {"RGT", "RGT"});
  EXPECT_FALSE(this->harness_.inbound().Accept(message));
  EXPECT_EQ(this->harness_.inbound().Count().value_or(-1), 0);
}

TYPED_TEST_P(OutboundQueueTest, OnlyTheOldestUnfinishedItemOfAPartitionIsClaimable) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT", "RAJ"}));
  this->Store(MakeRouted("B1", "9449305552", {"RGT"}));
  this->Store(MakeRouted("N1", "", {"RGT"}));
  this->Store(MakeRouted("N2", "", {"RGT"}));
  // A2@RGT waits behind A1@RGT; A2@RAJ is another partition; items without a patient never wait.
  EXPECT_EQ(this->Claim(), (Ids{"A1@RGT", "A2@RAJ", "B1@RGT", "N1@RGT", "N2@RGT"}));
  EXPECT_EQ(this->Claim("w2"), Ids{});
  ASSERT_TRUE(this->harness_.queue().MarkDelivered(this->IdOf("A1@RGT")));
  EXPECT_EQ(this->Claim("w2"), (Ids{"A2@RGT"}));
  EXPECT_EQ(this->harness_.queue().Counts()->delivered, 1);
}

// A message about two patients (ADT^A17 swaps their beds, A40 merges them) is ordered in both
// patients' partitions: it waits for the older items of either, and holds the later items of both.
TYPED_TEST_P(OutboundQueueTest, AMessageAboutTwoPatientsIsOrderedInBothPartitions) {
  const std::string a = "9434765919";
  const std::string b = "9449305552";
  core::InboundMessage both = MakeRouted("M", a, {"RGT"});
  both.other_nhs_numbers = {b};
  this->Store(MakeRouted("B1", b, {"RGT"}));
  this->Store(both);
  this->Store(MakeRouted("B2", b, {"RGT"}));
  this->Store(MakeRouted("A2", a, {"RGT"}));
  this->Store(MakeRouted("B3", b, {"RAJ"}));  // another destination: never held by these
  core::OutboundQueue& queue = this->harness_.queue();
  EXPECT_EQ(this->Claim(), (Ids{"B1@RGT", "B3@RAJ"}));
  ASSERT_TRUE(queue.MarkDelivered(this->IdOf("B3@RAJ")));
  const std::int64_t b1 = this->IdOf("B1@RGT");
  ASSERT_TRUE(queue.MarkFailed(b1, "AR 207", true, this->clock_.now_ms()));
  EXPECT_EQ(queue.CountHeldBehind(b1).value_or(-1), 2);  // M (as B's) and B2
  EXPECT_EQ(this->Claim(), Ids{});
  ASSERT_TRUE(queue.Discard(b1));
  EXPECT_EQ(this->Claim(), (Ids{"M@RGT"}));
  const std::int64_t m = this->IdOf("M@RGT");
  ASSERT_TRUE(queue.MarkFailed(m, "AR 207", true, this->clock_.now_ms()));
  EXPECT_EQ(queue.CountHeldBehind(m).value_or(-1), 2);  // B2 and A2
  EXPECT_EQ(this->Claim(), Ids{});
  ASSERT_TRUE(queue.Replay(m));
  EXPECT_EQ(this->Claim(), (Ids{"M@RGT"}));
  ASSERT_TRUE(queue.MarkDelivered(m));
  EXPECT_EQ(this->Claim(), (Ids{"B2@RGT", "A2@RGT"}));
  ASSERT_TRUE(queue.MarkDelivered(this->IdOf("B2@RGT")));
  ASSERT_TRUE(queue.MarkDelivered(this->IdOf("A2@RGT")));
  if (!TypeParam::kDurable) {
    return;  // the in-memory queue keeps everything
  }
  // The finished messages are forgotten with what ordered them.
  const core::Result<core::PurgeResult> purged =
      queue.Purge({std::chrono::hours(1), std::chrono::hours(1), 10});
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(purged->messages_deleted, 5);
}

TYPED_TEST_P(OutboundQueueTest, ClaimTakesAtMostMaxInIdOrder) {
  for (int i = 0; i < 5; ++i) {
    this->Store(MakeRouted(Id("N", i), "", {"RGT"}));
  }
  EXPECT_EQ(this->Claim("w1", 2), (Ids{"N0@RGT", "N1@RGT"}));
  EXPECT_EQ(this->Claim("w2", 2), (Ids{"N2@RGT", "N3@RGT"}));
  EXPECT_EQ(this->Claim("w3", 0), Ids{});
}

TYPED_TEST_P(OutboundQueueTest, ARetryingItemHoldsItsPartitionUntilItIsDue) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  ASSERT_EQ(this->Claim(), (Ids{"A1@RGT"}));
  const std::int64_t a1 = this->IdOf("A1@RGT");
  ASSERT_TRUE(this->harness_.queue().MarkFailed(a1, "connection refused", false,
                                                this->clock_.now_ms() + 5000));
  EXPECT_EQ(this->Claim(), Ids{});
  EXPECT_EQ(this->harness_.queue().CountHeldBehind(a1).value_or(-1), 1);
  this->clock_.Advance(std::chrono::milliseconds(5000));
  core::Result<std::vector<core::OutboundItem>> items =
      this->harness_.queue().ClaimNext("w1", 10, std::chrono::seconds(1));
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].control_id, "A1");
  EXPECT_EQ((*items)[0].attempts, 1);
  EXPECT_EQ((*items)[0].last_error, "connection refused");
}

// An operator's list of dead letters comes in pages (after the last id shown), and one item is
// read by its id (a replay's audit record) without listing the others.
TYPED_TEST_P(OutboundQueueTest, DeadLettersAreListedInPagesAndReadOneById) {
  for (const char* control_id : {"D1", "D2", "D3"}) {
    this->Store(MakeRouted(control_id, "", {"RGT"}));  // no NHS number: no partition waits
  }
  core::OutboundQueue& queue = this->harness_.queue();
  ASSERT_EQ(this->Claim(), (Ids{"D1@RGT", "D2@RGT", "D3@RGT"}));
  std::vector<std::int64_t> ids;
  for (const char* key : {"D1@RGT", "D2@RGT", "D3@RGT"}) {
    ids.push_back(this->IdOf(key));
    ASSERT_TRUE(queue.MarkFailed(ids.back(), "AR 207", true, this->clock_.now_ms()));
  }
  const auto listed = [&](std::int64_t after, std::size_t limit) {
    std::vector<std::int64_t> got;
    const core::Result<std::vector<core::OutboundItem>> page = queue.ListDead(after, limit);
    EXPECT_TRUE(page);
    for (const core::OutboundItem& item : page.value_or(std::vector<core::OutboundItem>{})) {
      got.push_back(item.id);
    }
    return got;
  };
  EXPECT_EQ(listed(0, 2), (std::vector<std::int64_t>{ids[0], ids[1]}));
  EXPECT_EQ(listed(ids[1], 2), (std::vector<std::int64_t>{ids[2]}));
  EXPECT_TRUE(listed(ids[2], 2).empty());
  core::Result<core::OutboundItem> one = queue.Get(ids[1]);
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->control_id, "D2");
  EXPECT_EQ(one->status, core::OutboundStatus::kDead);
  EXPECT_FALSE(one->payload.empty());
  core::Result<core::OutboundItem> none = queue.Get(ids[2] + 100);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, core::ErrorCode::kNotFound);
}

TYPED_TEST_P(OutboundQueueTest, DeadItemHoldsItsPartitionUntilReplayedOrDiscarded) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A3", "9434765919", {"RGT"}));
  ASSERT_EQ(this->Claim(), (Ids{"A1@RGT"}));
  const std::int64_t a1 = this->IdOf("A1@RGT");
  ASSERT_TRUE(this->harness_.queue().MarkFailed(a1, "AR 207", true, this->clock_.now_ms()));
  this->clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(this->Claim(), Ids{});
  EXPECT_EQ(this->harness_.queue().CountHeldBehind(a1).value_or(-1), 2);
  core::Result<std::vector<core::OutboundItem>> dead = this->harness_.queue().ListDead(0, 10);
  ASSERT_TRUE(dead) << dead.error().message;
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, a1);
  EXPECT_EQ((*dead)[0].status, core::OutboundStatus::kDead);
  EXPECT_EQ((*dead)[0].last_error, "AR 207");
  EXPECT_EQ((*dead)[0].attempts, 1);
  EXPECT_TRUE((*dead)[0].payload.empty()) << "a list shows no payload";

  // Replay: the dead item goes first, attempts start again.
  ASSERT_TRUE(this->harness_.queue().Replay(a1));
  EXPECT_EQ(this->harness_.queue().ListDead(0, 10)->size(), 0u);
  EXPECT_EQ(this->Claim(), (Ids{"A1@RGT"}));
  ASSERT_TRUE(this->harness_.queue().MarkFailed(a1, "AR 207", true, this->clock_.now_ms()));
  // Discard: the partition moves on without it.
  ASSERT_TRUE(this->harness_.queue().Discard(a1));
  EXPECT_EQ(this->Claim(), (Ids{"A2@RGT"}));
  const core::Result<core::QueueCounts> counts = this->harness_.queue().Counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->discarded, 1);
  EXPECT_EQ(counts->dead, 0);
  EXPECT_EQ(counts->in_flight, 1);
  EXPECT_EQ(counts->queued, 1);
}

TYPED_TEST_P(OutboundQueueTest, AnExpiredLeaseLetsAnotherWorkerClaim) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  ASSERT_EQ(this->Claim("crashed"), (Ids{"A1@RGT"}));  // 1 s lease, never marked
  EXPECT_EQ(this->Claim("w2"), Ids{});
  this->clock_.Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(this->Claim("w2"), Ids{});
  this->clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(this->Claim("w2"), (Ids{"A1@RGT"}));
  // A restarted worker with the same owner takes back its own items at once.
  EXPECT_EQ(this->Claim("w2"), (Ids{"A1@RGT"}));
  EXPECT_EQ(this->Claim("w3"), Ids{});
}

// A worker whose delivery outlived its lease, after another worker re-claimed the item, must not
// mark it: its "delivered" would release the patient's next item while the new holder may still
// be sending this one (two deliveries in flight at once, the later item overtaking).
TYPED_TEST_P(OutboundQueueTest, AStaleWorkersMarkIsRefusedAndKeepsThePartitionHeld) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  core::OutboundQueue& queue = this->harness_.queue();
  ASSERT_EQ(this->Claim("slow"), (Ids{"A1@RGT"}));  // 1 s lease
  const std::int64_t a1 = this->IdOf("A1@RGT");
  this->clock_.Advance(std::chrono::seconds(2));
  ASSERT_EQ(this->Claim("w2"), (Ids{"A1@RGT"}));

  core::Status stale = queue.MarkDeliveredAs("slow", a1);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, core::ErrorCode::kConflict);
  stale = queue.MarkFailedAs("slow", a1, "timeout", false, this->clock_.now_ms());
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(this->Claim("w3"), Ids{});  // A2 still waits: A1 is in flight at w2
  EXPECT_EQ(queue.Counts()->in_flight, 1);

  ASSERT_TRUE(queue.MarkDeliveredAs("w2", a1));
  EXPECT_EQ(queue.MarkDeliveredAs("w2", a1).error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(queue.MarkDeliveredAs("w2", 999).error().code, core::ErrorCode::kNotFound);
  // An expired lease that nobody took over still belongs to its worker.
  ASSERT_EQ(this->Claim("w3"), (Ids{"A2@RGT"}));
  this->clock_.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(queue.MarkFailedAs("w3", this->IdOf("A2@RGT"), "AR 207", true, 0));
  EXPECT_EQ(queue.Counts()->dead, 1);
  EXPECT_EQ(queue.Counts()->delivered, 1);
}

// Issue 9: two nodes enqueue the same patient's messages. While node 1's batch (holding the
// earlier message) is not yet committed, node 2's later message must not become claimable ahead
// of it: node 2 waits for node 1's partition lock, so ids follow commit order per partition.
TYPED_TEST_P(OutboundQueueTest, TwoNodesEnqueueingOnePatientKeepItsOrder) {
  std::unique_ptr<Database> other = this->harness_.OpenOtherNode();
  if (other == nullptr) {
    GTEST_SKIP() << this->harness_.kName << " holds one node only";
  }
  SqlInboundStore* node1 = this->harness_.sql_inbound();
  ASSERT_NE(node1, nullptr);
  SqlInboundStore node2(*other, InboundStoreSettings{});
  std::atomic<bool> in_commit{false};
  std::atomic<bool> release{false};
  node1->SetBeforeCommitHookForTest([&](std::size_t) {
    in_commit = true;
    while (!release) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return core::Ok();
  });
  std::thread first([&] { this->Store(MakeRouted("A1", "9434765919", {"RGT"})); });
  ASSERT_TRUE(tb::testing::WaitFor([&] { return in_commit.load(); }));
  std::atomic<bool> second_done{false};
  std::thread second([&] {
    EXPECT_TRUE(node2.Accept(MakeRouted("A2", "9434765919", {"RGT"})));
    second_done = true;
  });
  // Node 2 cannot commit A2 while node 1 holds the partition (without the lock it would, at once).
  EXPECT_FALSE(
      tb::testing::WaitFor([&] { return second_done.load(); }, std::chrono::milliseconds(500)));
  EXPECT_EQ(this->Claim("w1"), Ids{});
  release = true;
  first.join();
  second.join();
  node1->SetBeforeCommitHookForTest(nullptr);
  EXPECT_EQ(this->Claim("w1"), (Ids{"A1@RGT"}));
  ASSERT_TRUE(this->harness_.queue().MarkDeliveredAs("w1", this->IdOf("A1@RGT")));
  EXPECT_EQ(this->Claim("w1"), (Ids{"A2@RGT"}));
  node2.Shutdown();
}

TYPED_TEST_P(OutboundQueueTest, WrongStatesAreErrors) {
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  core::OutboundQueue& queue = this->harness_.queue();
  EXPECT_EQ(queue.MarkDelivered(999).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(queue.MarkFailed(999, "x", false, 0).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(queue.CountHeldBehind(999).error().code, core::ErrorCode::kNotFound);
  ASSERT_EQ(this->Claim(), (Ids{"A1@RGT"}));
  const std::int64_t a1 = this->IdOf("A1@RGT");
  EXPECT_EQ(queue.Replay(a1).error().code, core::ErrorCode::kNotFound);   // not dead
  EXPECT_EQ(queue.Discard(a1).error().code, core::ErrorCode::kConflict);  // in flight
  ASSERT_TRUE(queue.MarkDelivered(a1));
  EXPECT_EQ(queue.MarkDelivered(a1).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(queue.MarkFailed(a1, "x", true, 0).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(queue.Discard(a1).error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(queue.ClaimNext("", 1, std::chrono::seconds(1)).error().code,
            core::ErrorCode::kInvalidValue);
}

TYPED_TEST_P(OutboundQueueTest, ARolledBackBatchEnqueuesNothing) {
  SqlInboundStore* sql = this->harness_.sql_inbound();
  if (sql == nullptr) {
    GTEST_SKIP() << "no batches in " << TypeParam::kName;
  }
  sql->SetBeforeCommitHookForTest([](std::size_t) {
    return core::Status(core::MakeError(core::ErrorCode::kStorage, "injected: disk full"));
  });
  EXPECT_FALSE(this->harness_.inbound().Accept(MakeRouted("A1", "9434765919", {"RGT"})));
  sql->SetBeforeCommitHookForTest(nullptr);
  EXPECT_EQ(this->harness_.queue().Counts()->queued, 0);
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));  // the resend
  EXPECT_EQ(this->Claim(), (Ids{"A1@RGT"}));
}

TYPED_TEST_P(OutboundQueueTest, ReopenedQueueContinuesInOrder) {
  if (!TypeParam::kDurable) {
    GTEST_SKIP() << TypeParam::kName << " is not durable";
  }
  this->Store(MakeRouted("A1", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  this->Store(MakeRouted("A3", "9434765919", {"RGT"}));
  ASSERT_EQ(this->Claim("node/0"), (Ids{"A1@RGT"}));
  ASSERT_TRUE(this->harness_.queue().MarkDelivered(this->IdOf("A1@RGT")));
  ASSERT_EQ(this->Claim("node/0"), (Ids{"A2@RGT"}));  // in flight at the "crash"
  ASSERT_TRUE(this->harness_.Reopen(this->clock_));
  EXPECT_EQ(this->Claim("other/0"), Ids{});
  EXPECT_EQ(this->Claim("node/0"), (Ids{"A2@RGT"}));
  ASSERT_TRUE(this->harness_.queue().MarkDelivered(this->IdOf("A2@RGT")));
  EXPECT_EQ(this->Claim("other/0"), (Ids{"A3@RGT"}));
}

TYPED_TEST_P(OutboundQueueTest, ConcurrentClaimersKeepEachPatientsOrder) {
  constexpr int kPatients = 6;
  constexpr int kPerPatient = 8;
  const std::vector<std::string> patients = {"9434765919", "9449305552", "9000000009",
                                             "9434765870", "9449304513", "9876543210"};
  for (int m = 0; m < kPerPatient; ++m) {
    for (int p = 0; p < kPatients; ++p) {
      this->Store(MakeRouted(Id("P", p, m), patients[static_cast<std::size_t>(p)], {"RGT"}));
    }
  }
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> delivered;  // nhs_number -> control ids
  std::atomic<int> total{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      const std::string owner = Id("w", w);
      for (int round = 0; round < 1000 && total.load() < kPatients * kPerPatient; ++round) {
        auto items = this->harness_.queue().ClaimNext(owner, 2, std::chrono::minutes(1));
        if (!items) {
          failed = true;
          return;
        }
        for (const core::OutboundItem& item : *items) {
          {
            std::lock_guard lock(mutex);
            delivered[item.nhs_number].push_back(item.control_id);
          }
          if (!this->harness_.queue().MarkDelivered(item.id)) {
            failed = true;
          }
          ++total;
        }
        if (items->empty()) {
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  EXPECT_FALSE(failed.load());
  ASSERT_EQ(total.load(), kPatients * kPerPatient);
  for (int p = 0; p < kPatients; ++p) {
    std::vector<std::string> expected;
    for (int m = 0; m < kPerPatient; ++m) {
      expected.push_back(Id("P", p, m));
    }
    EXPECT_EQ(delivered[patients[static_cast<std::size_t>(p)]], expected);
  }
}

TYPED_TEST_P(OutboundQueueTest, PurgeErasesFinishedPayloadsThenForgetsTheirKeys) {
  SqlInboundStore* sql = this->harness_.sql_inbound();
  if (sql == nullptr) {
    GTEST_SKIP() << TypeParam::kName << " keeps dedupe keys in its inbound store";
  }
  const core::InboundMessage a1 = MakeRouted("A1", "9434765919", {"RGT"});
  this->Store(a1);
  this->Store(MakeRouted("A2", "9434765919", {"RGT"}));
  this->Store(MakeRouted("N1", "", {}));  // nothing to deliver
  ASSERT_EQ(this->Claim(), (Ids{"A1@RGT"}));
  ASSERT_TRUE(this->harness_.queue().MarkDelivered(this->IdOf("A1@RGT")));
  core::OutboundQueue& queue = this->harness_.queue();
  // The messages were received about a year before the manual clock's now.
  const auto days = [](int n) { return std::chrono::milliseconds(std::chrono::hours(24 * n)); };
  EXPECT_EQ(queue.Purge({days(2), days(1), 10}).error().code, core::ErrorCode::kInvalidValue);

  core::Result<core::PurgeResult> purged = queue.Purge({days(1), days(1000), 10});
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(purged->payloads_erased, 2);  // A1 (delivered) and N1; A2 is still queued
  EXPECT_EQ(purged->messages_deleted, 0);
  // The key still recognises a resend.
  EXPECT_EQ(this->harness_.inbound().Accept(a1)->outcome, core::AcceptOutcome::kDuplicate);
  EXPECT_EQ(queue.Purge({days(1), days(1000), 10})->payloads_erased, 0);

  purged = queue.Purge({days(1), days(100), 10});
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(purged->messages_deleted, 2);
  EXPECT_EQ(this->harness_.inbound().Count().value_or(-1), 1);  // A2 waits for delivery
  core::Result<std::vector<core::OutboundItem>> items =
      queue.ClaimNext("w2", 10, std::chrono::seconds(1));
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].control_id, "A2");
  EXPECT_FALSE((*items)[0].payload.empty());
  // Past the key retention a resend is a new message.
  EXPECT_EQ(this->harness_.inbound().Accept(a1)->outcome, core::AcceptOutcome::kStored);
}

REGISTER_TYPED_TEST_SUITE_P(
    OutboundQueueTest, StoredMessageGetsOneItemPerRouteWithWhatDeliveryNeeds,
    DuplicateAndConflictEnqueueNothing, InvalidRoutesAreRefusedAndStoreNothing,
    OnlyTheOldestUnfinishedItemOfAPartitionIsClaimable,
    AMessageAboutTwoPatientsIsOrderedInBothPartitions, ClaimTakesAtMostMaxInIdOrder,
    ARetryingItemHoldsItsPartitionUntilItIsDue, DeadLettersAreListedInPagesAndReadOneById,
    DeadItemHoldsItsPartitionUntilReplayedOrDiscarded, AnExpiredLeaseLetsAnotherWorkerClaim,
    WrongStatesAreErrors, ARolledBackBatchEnqueuesNothing, ReopenedQueueContinuesInOrder,
    ConcurrentClaimersKeepEachPatientsOrder, PurgeErasesFinishedPayloadsThenForgetsTheirKeys,
    AStaleWorkersMarkIsRefusedAndKeepsThePartitionHeld, TwoNodesEnqueueingOnePatientKeepItsOrder);

// ---- payloads at rest (AES-256-GCM), on the SQL engines ---------------------------------------

inline PayloadKey TestKey(const std::string& id, char digit) {
  core::Result<PayloadKey> key = ParsePayloadKey(id, std::string(64, digit));
  EXPECT_TRUE(key) << key.error().message;
  return key.value_or(PayloadKey{});
}

template <typename Backend>
class PayloadEncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = backend_.FreshUrl();
    if (url_.empty()) {
      if (HasFailure()) {
        FAIL() << "could not prepare a " << Backend::kName << " database";
      }
      GTEST_SKIP() << backend_.skip_reason();
    }
    core::Result<std::unique_ptr<Database>> database = OpenDatabase({.url = url_});
    ASSERT_TRUE(database) << database.error().message;
    database_ = std::move(*database);
  }
  void TearDown() override { database_.reset(); }

  Backend backend_;
  std::string url_;
  std::unique_ptr<Database> database_;
};

TYPED_TEST_SUITE_P(PayloadEncryptionTest);

TYPED_TEST_P(PayloadEncryptionTest, PayloadsAreSealedAtRestAndOpenedForDelivery) {
  const PayloadKey key = TestKey("k1", '7');
  const core::InboundMessage message = MakeRouted("A1", "9434765919", {"RGT"});
  {
    std::unique_ptr<core::InboundStore> inbound =
        MakeInboundStore(*this->database_, InboundStoreSettings{}, key);
    ASSERT_TRUE(inbound->Accept(message));
    EXPECT_EQ(inbound->Accept(message)->outcome, core::AcceptOutcome::kDuplicate);
  }
  // What an attacker with the database file sees.
  const core::Result<std::string> key_id = QueryOne<std::string>(
      *this->database_, "SELECT payload_key_id FROM inbound_message WHERE control_id = 'A1'");
  ASSERT_TRUE(key_id) << key_id.error().message;
  EXPECT_EQ(*key_id, "k1");
  std::string stored;
  ASSERT_TRUE(this->database_->impl().Read("raw payload", [&](Poco::Data::Session& session) {
    using namespace Poco::Data::Keywords;
    Poco::Data::BLOB blob;
    session << "SELECT payload FROM inbound_message WHERE control_id = 'A1'", into(blob), now;
    stored.assign(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
    return core::Ok();
  }));
  EXPECT_EQ(stored.size(), message.payload.size() + 28);  // nonce + tag
  EXPECT_EQ(stored.find("9434765919"), std::string::npos);
  EXPECT_EQ(stored.find("MSH|"), std::string::npos);

  ManualClock clock;
  std::unique_ptr<core::OutboundQueue> queue =
      MakeOutboundQueue(*this->database_, clock, {TestKey("old", '1'), key});
  core::Result<std::vector<core::OutboundItem>> items =
      queue->ClaimNext("w1", 10, std::chrono::seconds(1));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].payload, message.payload);

  // A payload that cannot be opened (its key no longer configured, a wrong key of the same id, a
  // tampered row) is never handed out as ciphertext, and does not stop the other deliveries: the
  // item is made dead, saying why, and the claim goes on.
  const PayloadKey other = TestKey("k2", '3');
  ASSERT_TRUE(MakeInboundStore(*this->database_, InboundStoreSettings{}, other)
                  ->Accept(MakeRouted("B1", "9449305552", {"RAJ"})));
  std::unique_ptr<core::OutboundQueue> without_k1 =
      MakeOutboundQueue(*this->database_, clock, {other});
  clock.Advance(std::chrono::seconds(1));  // w1's lease on A1 runs out
  items = without_k1->ClaimNext("w2", 10, std::chrono::seconds(1));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].control_id, "B1");
  core::Result<std::vector<core::OutboundItem>> dead = without_k1->ListDead(0, 10);
  ASSERT_TRUE(dead) << dead.error().message;
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].control_id, "A1");
  EXPECT_TRUE((*dead)[0].payload.empty()) << "a list shows no payload";
  EXPECT_NE((*dead)[0].last_error.find("'k1'"), std::string::npos) << (*dead)[0].last_error;
  EXPECT_EQ((*dead)[0].last_error.find("9434765919"), std::string::npos);
  ASSERT_TRUE(without_k1->Replay((*dead)[0].id));
  std::unique_ptr<core::OutboundQueue> wrong =
      MakeOutboundQueue(*this->database_, clock, {TestKey("k1", '8')});
  items = wrong->ClaimNext("w3", 10, std::chrono::seconds(1));
  ASSERT_TRUE(items) << items.error().message;
  EXPECT_TRUE(items->empty());
  EXPECT_EQ(wrong->Counts()->dead, 1);
}

TYPED_TEST_P(PayloadEncryptionTest, SealedPayloadsDetectTamperingAndMoves) {
  const PayloadKey key = TestKey("k1", 'a');
  const core::Result<std::string> sealed = SealPayload(key, "MSH|secret", "key-A");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(OpenPayload(key, *sealed, "key-A").value_or(""), "MSH|secret");
  EXPECT_NE(*SealPayload(key, "MSH|secret", "key-A"), *sealed);  // fresh nonce
  EXPECT_FALSE(OpenPayload(key, *sealed, "key-B"));              // moved to another row
  std::string altered = *sealed;
  altered[14] = static_cast<char>(altered[14] ^ 1);
  EXPECT_FALSE(OpenPayload(key, altered, "key-A"));
  EXPECT_FALSE(OpenPayload(key, sealed->substr(0, 20), "key-A"));
  EXPECT_EQ(ParsePayloadKey("k", "abc").error().code, core::ErrorCode::kConfig);
  EXPECT_EQ(ParsePayloadKey("", std::string(64, 'a')).error().code, core::ErrorCode::kConfig);
  EXPECT_FALSE(ParsePayloadKey("k", std::string(63, 'a') + "g"));
}

REGISTER_TYPED_TEST_SUITE_P(PayloadEncryptionTest, PayloadsAreSealedAtRestAndOpenedForDelivery,
                            SealedPayloadsDetectTamperingAndMoves);

}  // namespace tb::store::testing
