// tb::queue::DeliveryWorker against a FakeDeliverer, on the in-memory queue and SQLite
// (queue_test) or PostgreSQL (queue_pg_test, TB_QUEUE_TEST_PG). Real clock, short backoffs; every
// wait is a WaitFor on an outcome, never a timed assertion.
#include "broker/queue/delivery_worker.h"

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/broker/store/outbound_queue_suite.h"
#include "tests/support/wait_for.h"

namespace tb::queue {
namespace {

using store::testing::Id;
using store::testing::MakeRouted;
using tb::testing::WaitFor;

constexpr const char* kPatientA = "9434765919";
constexpr const char* kPatientB = "9449305552";

// Records what it delivered; a destination can be down (transient failure) and a control id can
// be poison (permanent failure: the destination answers AR).
class FakeDeliverer final : public core::Deliverer {
 public:
  core::Result<core::DeliveryResult> Deliver(const core::OutboundItem& item) override {
    std::lock_guard lock(mutex_);
    ++attempts_;
    if (down_.contains(item.destination)) {
      return core::MakeError(core::ErrorCode::kUpstreamUnavailable, "connection refused");
    }
    if (poison_.contains(item.control_id)) {
      return core::DeliveryResult{core::DeliveryOutcome::kPermanentFailure, "AR 207"};
    }
    if (refused_.contains(item.control_id)) {
      return core::DeliveryResult{core::DeliveryOutcome::kRefused, "consent deny: Consent/c1"};
    }
    delivered_.push_back(item);
    return core::DeliveryResult{core::DeliveryOutcome::kDelivered, {}};
  }

  void SetDown(const std::string& destination, bool down) {
    std::lock_guard lock(mutex_);
    if (down) {
      down_.insert(destination);
    } else {
      down_.erase(destination);
    }
  }
  void SetPoison(const std::string& control_id, bool poison) {
    std::lock_guard lock(mutex_);
    if (poison) {
      poison_.insert(control_id);
    } else {
      poison_.erase(control_id);
    }
  }
  void SetRefused(const std::string& control_id) {
    std::lock_guard lock(mutex_);
    refused_.insert(control_id);
  }
  int attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  std::size_t delivered_count() const {
    std::lock_guard lock(mutex_);
    return delivered_.size();
  }
  // Control ids delivered to `destination` for `nhs_number`, in delivery order.
  std::vector<std::string> For(const std::string& destination,
                               const std::string& nhs_number) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids;
    for (const core::OutboundItem& item : delivered_) {
      if (item.destination == destination && item.nhs_number == nhs_number) {
        ids.push_back(item.control_id);
      }
    }
    return ids;
  }
  std::multiset<std::string> AllControlIds() const {
    std::lock_guard lock(mutex_);
    std::multiset<std::string> ids;
    for (const core::OutboundItem& item : delivered_) {
      ids.insert(item.control_id + "@" + item.destination);
    }
    return ids;
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> down_;
  std::set<std::string> poison_;
  std::set<std::string> refused_;  // policy forbids delivering these
  std::vector<core::OutboundItem> delivered_;
  int attempts_ = 0;
};

DeliverySettings FastSettings(std::string owner = "node-a") {
  DeliverySettings settings;
  settings.threads = 2;
  settings.claim_batch = 4;
  settings.lease = std::chrono::seconds(30);
  settings.idle_poll = std::chrono::milliseconds(5);
  settings.backoff_base = std::chrono::milliseconds(2);
  settings.backoff_max = std::chrono::milliseconds(20);
  settings.max_age = std::chrono::milliseconds(0);  // the test messages were received in 2025
  settings.owner = std::move(owner);
  return settings;
}

using Ids = std::vector<std::string>;

}  // namespace
}  // namespace tb::queue

// The contract suite comes with the harnesses; it runs in tests/broker/store.
namespace tb::store::testing {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OutboundQueueTest);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PayloadEncryptionTest);
}  // namespace tb::store::testing

namespace tb::queue {
namespace {

template <typename Harness>
class DeliveryWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!harness_.Open(clock_)) {
      if (HasFailure()) {
        FAIL() << "could not open the " << Harness::kName << " queue";
      }
      GTEST_SKIP() << harness_.skip_reason();
    }
  }
  void TearDown() override {
    worker_.reset();
    harness_.Close();
  }

  void Store(const core::InboundMessage& message) {
    const core::Result<core::AcceptResult> result = harness_.inbound().Accept(message);
    ASSERT_TRUE(result) << result.error().message;
  }
  void StartWorker(DeliverySettings settings = FastSettings()) {
    worker_ =
        std::make_unique<DeliveryWorker>(harness_.queue(), deliverer_, std::move(settings), clock_);
    ASSERT_TRUE(worker_->Start());
  }
  core::QueueCounts Counts() { return harness_.queue().Counts().value_or(core::QueueCounts{}); }
  std::vector<core::OutboundItem> Dead() {
    return harness_.queue().ListDead().value_or(std::vector<core::OutboundItem>{});
  }

  core::SystemClock clock_;
  Harness harness_;
  FakeDeliverer deliverer_;
  std::unique_ptr<DeliveryWorker> worker_;
};

TYPED_TEST_SUITE_P(DeliveryWorkerTest);

TYPED_TEST_P(DeliveryWorkerTest, DestinationDownThenUpDeliversAllInOrderPerPatient) {
  const std::vector<std::string> patients = {kPatientA, kPatientB, "9000000009", ""};
  this->deliverer_.SetDown("RGT", true);
  for (int m = 0; m < 5; ++m) {
    for (std::size_t p = 0; p < patients.size(); ++p) {
      this->Store(MakeRouted(Id("P", static_cast<long>(p), m), patients[p], {"RGT", "RAJ"}));
    }
  }
  this->StartWorker();
  // RAJ is up: its messages flow while RGT is retried.
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.delivered_count() == 20; }));
  ASSERT_TRUE(WaitFor([&] { return this->worker_->stats().retried >= 6; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), Ids{});
  this->deliverer_.SetDown("RGT", false);
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.delivered_count() == 40; }));
  for (std::size_t p = 0; p + 1 < patients.size(); ++p) {
    Ids expected;
    for (int m = 0; m < 5; ++m) {
      expected.push_back(Id("P", static_cast<long>(p), m));
    }
    EXPECT_EQ(this->deliverer_.For("RGT", patients[p]), expected) << patients[p];
    EXPECT_EQ(this->deliverer_.For("RAJ", patients[p]), expected) << patients[p];
  }
  const std::multiset<std::string> all = this->deliverer_.AllControlIds();
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size()) << "duplicates";
  ASSERT_TRUE(WaitFor([&] { return this->Counts().delivered == 40; }));
  EXPECT_EQ(this->Counts().queued, 0);
  EXPECT_EQ(this->worker_->stats().dead, 0u);
}

TYPED_TEST_P(DeliveryWorkerTest, PoisonMessageGoesDeadHoldsItsPatientAndReplayReleasesInOrder) {
  this->deliverer_.SetPoison("A1", true);
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));
  this->Store(MakeRouted("B1", kPatientB, {"RGT"}));
  this->Store(MakeRouted("A2", kPatientA, {"RGT"}));
  this->Store(MakeRouted("B2", kPatientB, {"RGT"}));
  this->Store(MakeRouted("A3", kPatientA, {"RGT"}));
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->Dead().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RGT", kPatientB).size() == 2; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientB), (Ids{"B1", "B2"}));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), Ids{});  // held behind the dead A1
  const core::OutboundItem dead = this->Dead()[0];
  EXPECT_EQ(dead.control_id, "A1");
  EXPECT_EQ(dead.attempts, 1);  // a refusal is not retried
  EXPECT_EQ(dead.last_error, "AR 207");
  EXPECT_EQ(this->harness_.queue().CountHeldBehind(dead.id).value_or(-1), 2);
  EXPECT_GE(this->worker_->stats().held_alerts, 1u);

  this->deliverer_.SetPoison("A1", false);  // the trust fixed its side
  ASSERT_TRUE(this->harness_.queue().Replay(dead.id));
  this->worker_->Wake();
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RGT", kPatientA).size() == 3; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A1", "A2", "A3"}));
  EXPECT_TRUE(this->Dead().empty());
}

TYPED_TEST_P(DeliveryWorkerTest, DiscardingTheDeadItemReleasesTheHeldOnes) {
  this->deliverer_.SetPoison("A1", true);
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));
  this->Store(MakeRouted("A2", kPatientA, {"RGT"}));
  this->Store(MakeRouted("A3", kPatientA, {"RGT"}));
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->Dead().size() == 1; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), Ids{});
  ASSERT_TRUE(this->harness_.queue().Discard(this->Dead()[0].id));
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RGT", kPatientA).size() == 2; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A2", "A3"}));
  EXPECT_EQ(this->Counts().discarded, 1);
}

TYPED_TEST_P(DeliveryWorkerTest, OutOfAttemptsGoesDead) {
  this->deliverer_.SetDown("RGT", true);
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));
  DeliverySettings settings = FastSettings();
  settings.max_attempts = 3;
  this->StartWorker(settings);
  ASSERT_TRUE(WaitFor([&] { return this->Dead().size() == 1; }));
  EXPECT_EQ(this->Dead()[0].attempts, 3);
  EXPECT_EQ(this->Dead()[0].last_error, "connection refused");
  EXPECT_EQ(this->deliverer_.attempts(), 3);
}

TYPED_TEST_P(DeliveryWorkerTest, AMessageOlderThanMaxAgeGoesDeadAtItsNextFailure) {
  this->deliverer_.SetDown("RGT", true);
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));  // received in 2025
  DeliverySettings settings = FastSettings();
  settings.max_age = std::chrono::hours(72);
  this->StartWorker(settings);
  ASSERT_TRUE(WaitFor([&] { return this->Dead().size() == 1; }));
  EXPECT_EQ(this->Dead()[0].attempts, 1);
}

TYPED_TEST_P(DeliveryWorkerTest, ADuplicateControlIdIsDeliveredOnce) {
  const core::InboundMessage message = MakeRouted("A1", kPatientA, {"RGT"});
  this->Store(message);
  EXPECT_EQ(this->harness_.inbound().Accept(message)->outcome, core::AcceptOutcome::kDuplicate);
  this->Store(MakeRouted("A2", kPatientA, {"RGT"}));
  EXPECT_EQ(this->harness_.inbound().Accept(message)->outcome, core::AcceptOutcome::kDuplicate);
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->Counts().delivered == 2; }));
  this->worker_->Stop();
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A1", "A2"}));
}

TYPED_TEST_P(DeliveryWorkerTest, ACrashedWorkersItemsAreDeliveredAfterItsLease) {
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));
  this->Store(MakeRouted("A2", kPatientA, {"RGT"}));
  // A worker of another node claims A1 and dies without marking it.
  core::Result<std::vector<core::OutboundItem>> taken =
      this->harness_.queue().ClaimNext("node-b/0", 10, std::chrono::milliseconds(300));
  ASSERT_TRUE(taken);
  ASSERT_EQ(taken->size(), 1u);
  this->StartWorker(FastSettings("node-a"));
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RGT", kPatientA).size() == 2; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A1", "A2"}));
}

TYPED_TEST_P(DeliveryWorkerTest, WorkerRestartContinuesInOrder) {
  if (!TypeParam::kDurable) {
    GTEST_SKIP() << TypeParam::kName << " is not durable";
  }
  this->deliverer_.SetDown("RGT", true);
  for (int m = 0; m < 4; ++m) {
    this->Store(MakeRouted(Id("A", m), kPatientA, {"RGT"}));
    this->Store(MakeRouted(Id("B", m), kPatientB, {"RGT"}));
  }
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->worker_->stats().retried >= 2; }));
  this->worker_.reset();  // Stop(): the broker shuts down with everything undelivered
  ASSERT_TRUE(this->harness_.Reopen(this->clock_));
  this->deliverer_.SetDown("RGT", false);
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.delivered_count() == 8; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A0", "A1", "A2", "A3"}));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientB), (Ids{"B0", "B1", "B2", "B3"}));
}

// A delivery refused by policy (consent, scopes) is not a dead letter: it is discarded with the
// reason, and the patient's later messages flow at once.
TYPED_TEST_P(DeliveryWorkerTest, ARefusedDeliveryIsDiscardedAndDoesNotHoldThePatient) {
  this->deliverer_.SetRefused("A1");
  this->Store(MakeRouted("A1", kPatientA, {"RGT"}));
  this->Store(MakeRouted("A2", kPatientA, {"RGT"}));
  this->Store(MakeRouted("A3", kPatientA, {"RGT"}));
  this->StartWorker();
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RGT", kPatientA).size() == 2; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientA), (Ids{"A2", "A3"}));
  ASSERT_TRUE(WaitFor([&] { return this->Counts().delivered == 2; }));
  EXPECT_EQ(this->Counts().discarded, 1);
  EXPECT_EQ(this->Counts().dead, 0);
  EXPECT_TRUE(this->Dead().empty());
  EXPECT_EQ(this->worker_->stats().refused, 1u);
  EXPECT_EQ(this->worker_->stats().dead, 0u);
}

REGISTER_TYPED_TEST_SUITE_P(DeliveryWorkerTest, DestinationDownThenUpDeliversAllInOrderPerPatient,
                            PoisonMessageGoesDeadHoldsItsPatientAndReplayReleasesInOrder,
                            DiscardingTheDeadItemReleasesTheHeldOnes, OutOfAttemptsGoesDead,
                            AMessageOlderThanMaxAgeGoesDeadAtItsNextFailure,
                            ADuplicateControlIdIsDeliveredOnce,
                            ACrashedWorkersItemsAreDeliveredAfterItsLease,
                            WorkerRestartContinuesInOrder,
                            ARefusedDeliveryIsDiscardedAndDoesNotHoldThePatient);

#ifdef TB_QUEUE_TEST_PG
INSTANTIATE_TYPED_TEST_SUITE_P(Postgresql, DeliveryWorkerTest,
                               store::testing::SqlQueueHarness<store::testing::PostgresqlBackend>);
#else
using Harnesses = ::testing::Types<store::testing::MemoryQueueHarness,
                                   store::testing::SqlQueueHarness<store::testing::SqliteBackend>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Local, DeliveryWorkerTest, Harnesses);

TEST(Backoff, DoublesFromTheBaseUpToTheMaximum) {
  DeliverySettings settings;
  settings.backoff_base = std::chrono::milliseconds(100);
  settings.backoff_max = std::chrono::milliseconds(1000);
  EXPECT_EQ(BackoffDelay(settings, 1).count(), 100);
  EXPECT_EQ(BackoffDelay(settings, 2).count(), 200);
  EXPECT_EQ(BackoffDelay(settings, 4).count(), 800);
  EXPECT_EQ(BackoffDelay(settings, 5).count(), 1000);
  EXPECT_EQ(BackoffDelay(settings, 1'000'000).count(), 1000);
}

TEST(DeliveryWorker, RefusesBadSettings) {
  tb::testing::InMemoryOutboundQueue queue;
  FakeDeliverer deliverer;
  core::SystemClock clock;
  DeliverySettings settings;
  settings.threads = 0;
  DeliveryWorker no_threads(queue, deliverer, settings, clock);
  EXPECT_EQ(no_threads.Start().error().code, core::ErrorCode::kInvalidValue);
  settings = DeliverySettings{};
  settings.owner.clear();
  DeliveryWorker no_owner(queue, deliverer, settings, clock);
  EXPECT_EQ(no_owner.Start().error().code, core::ErrorCode::kInvalidValue);
}

TEST(DeliveryWorker, KeepsRunningWhileTheQueueFails) {
  tb::testing::InMemoryOutboundQueue queue;
  tb::testing::InMemoryInboundStore inbound(&queue);
  FakeDeliverer deliverer;
  core::SystemClock clock;
  queue.SetClaimFailure(core::MakeError(core::ErrorCode::kStorage, "database is locked"));
  ASSERT_TRUE(inbound.Accept(MakeRouted("A1", kPatientA, {"RGT"})));
  DeliveryWorker worker(queue, deliverer, FastSettings(), clock);
  ASSERT_TRUE(worker.Start());
  ASSERT_TRUE(WaitFor([&] { return worker.stats().queue_errors >= 2; }));
  queue.SetClaimFailure(std::nullopt);
  ASSERT_TRUE(WaitFor([&] { return deliverer.delivered_count() == 1; }));
}
#endif

}  // namespace
}  // namespace tb::queue
