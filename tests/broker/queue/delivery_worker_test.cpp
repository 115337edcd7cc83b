// tb::queue::DeliveryWorker against a FakeDeliverer, on the in-memory queue and SQLite
// (queue_test) or PostgreSQL (queue_pg_test, TB_QUEUE_TEST_PG). Real clock, short backoffs; every
// wait is a WaitFor on an outcome, never a timed assertion.
#include "broker/queue/delivery_worker.h"

#include <condition_variable>
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
    std::unique_lock lock(mutex_);
    ++attempts_;
    if (item.control_id == gated_) {
      // A slow destination: the attempt hangs until the test opens the gate (or, so that a failing
      // test cannot hang, a minute passes), then fails or succeeds as set.
      gate_waiting_ = true;
      gate_changed_.notify_all();
      gate_changed_.wait_for(lock, std::chrono::minutes(1), [&] { return gate_open_; });
      gate_waiting_ = false;
      gated_.clear();
      if (gate_fails_) {
        return core::MakeError(core::ErrorCode::kTimeout, "reply timeout");
      }
    }
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
  // The next attempt at `control_id` hangs until OpenGate(); it then fails if `fails`.
  void Gate(const std::string& control_id, bool fails) {
    std::lock_guard lock(mutex_);
    gated_ = control_id;
    gate_fails_ = fails;
    gate_open_ = false;
  }
  bool GateWaiting() const {
    std::lock_guard lock(mutex_);
    return gate_waiting_;
  }
  void OpenGate() {
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;
    }
    gate_changed_.notify_all();
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
  std::condition_variable gate_changed_;
  std::string gated_;  // control id whose next attempt hangs
  bool gate_fails_ = false;
  bool gate_open_ = false;
  bool gate_waiting_ = false;
};

// Opens the gate when a test ends, failed or not, so the worker's Stop() can join.
struct GateOpener {
  FakeDeliverer& deliverer;
  ~GateOpener() { deliverer.OpenGate(); }
};

DeliverySettings FastSettings(std::string owner = "node-a") {
  DeliverySettings settings;
  settings.threads = 2;
  settings.claim_batch = 4;
  settings.lease = std::chrono::seconds(30);
  settings.attempt_timeout = std::chrono::seconds(1);  // the fake answers at once
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
    return harness_.queue().ListDead(0, 1000).value_or(std::vector<core::OutboundItem>{});
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
  // Replayed, its age counts from the replay: a failure now is retried, not dead at once.
  ASSERT_TRUE(this->harness_.queue().Replay(this->Dead()[0].id));
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.attempts() >= 3; }));
  EXPECT_TRUE(this->Dead().empty());
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

// A delivery that outlives its lease: another worker (here: of another node) re-claims the item.
// The slow worker's marks are then refused - its success must not release the patient's next
// message while the new holder may still be sending the first, and its failure must not count
// against the new holder's attempt.
TYPED_TEST_P(DeliveryWorkerTest, AStaleWorkersMarkIsRefusedAndDoesNotReleaseThePartition) {
  for (const bool slow_attempt_fails : {false, true}) {
    SCOPED_TRACE(slow_attempt_fails ? "the slow attempt fails" : "the slow attempt succeeds");
    const std::string first = slow_attempt_fails ? "F1" : "S1";
    const std::string second = slow_attempt_fails ? "F2" : "S2";
    const std::string patient = slow_attempt_fails ? kPatientB : kPatientA;
    const std::int64_t delivered_before = this->Counts().delivered;  // by the first round
    this->Store(MakeRouted(first, patient, {"RGT"}));
    this->Store(MakeRouted(second, patient, {"RGT"}));
    this->deliverer_.Gate(first, slow_attempt_fails);
    GateOpener opener{this->deliverer_};
    DeliverySettings settings = FastSettings("node-a");
    settings.threads = 1;  // so that no other thread of this worker re-claims the item
    settings.lease = std::chrono::milliseconds(200);
    settings.attempt_timeout = std::chrono::milliseconds(50);
    this->StartWorker(settings);
    ASSERT_TRUE(WaitFor([&] { return this->deliverer_.GateWaiting(); }));

    // The lease runs out while the destination hangs; node-b takes the item over.
    std::vector<core::OutboundItem> taken;
    ASSERT_TRUE(WaitFor([&] {
      taken = this->harness_.queue()
                  .ClaimNext("node-b/0", 10, std::chrono::minutes(1))
                  .value_or(std::vector<core::OutboundItem>{});
      return !taken.empty();
    }));
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].control_id, first);

    this->deliverer_.OpenGate();
    ASSERT_TRUE(WaitFor([&] { return this->worker_->stats().lease_lost == 1; }));
    this->worker_.reset();
    EXPECT_EQ(this->Counts().in_flight, 1);  // still node-b's
    EXPECT_EQ(this->Counts().delivered, delivered_before);
    EXPECT_EQ(this->deliverer_.For("RGT", patient).size(), slow_attempt_fails ? 0u : 1u);
    core::Result<std::vector<core::OutboundItem>> none =
        this->harness_.queue().ClaimNext("node-c/0", 10, std::chrono::minutes(1));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty()) << "the second message was released by a stale mark";

    // node-b's own marks are the ones that count: a failure (attempts 1, not 2: the stale
    // failure was not counted), then a delivery, which releases the second message.
    core::OutboundQueue& queue = this->harness_.queue();
    ASSERT_TRUE(queue.MarkFailedAs("node-b/0", taken[0].id, "reset", false, 0));
    std::vector<core::OutboundItem> again =
        queue.ClaimNext("node-c/0", 10, std::chrono::minutes(1)).value_or(taken);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].control_id, first);
    EXPECT_EQ(again[0].attempts, 1);
    ASSERT_TRUE(queue.MarkDeliveredAs("node-c/0", again[0].id));
    std::vector<core::OutboundItem> next =
        queue.ClaimNext("node-c/0", 10, std::chrono::minutes(1)).value_or(taken);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].control_id, second);
    ASSERT_TRUE(queue.MarkDeliveredAs("node-c/0", next[0].id));
  }
}

// A thread does not start an item of its claim whose lease is nearly over: another worker may
// have taken it over and delivered it and the patient's next message, and a stale copy sent now
// would arrive after them (an old ADT^A08 over newer data).
TYPED_TEST_P(DeliveryWorkerTest, AnItemWhoseLeaseIsNearlyOverIsNotStarted) {
  this->Store(MakeRouted("X1", kPatientA, {"RGT"}));
  this->Store(MakeRouted("Y1", kPatientB, {"RGT"}));
  this->Store(MakeRouted("Y2", kPatientB, {"RGT"}));
  this->deliverer_.Gate("X1", false);
  GateOpener opener{this->deliverer_};
  DeliverySettings settings = FastSettings("node-a");
  settings.threads = 1;
  settings.claim_batch = 2;  // X1 and Y1
  settings.lease = std::chrono::milliseconds(200);
  settings.attempt_timeout = std::chrono::milliseconds(50);
  this->StartWorker(settings);
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.GateWaiting(); }));

  // While X1's destination hangs, the leases run out and node-b takes both items over: it
  // delivers Y1 and then the patient's next message, Y2 (X1 it just marks: the gate holds it).
  core::OutboundQueue& queue = this->harness_.queue();
  std::vector<core::OutboundItem> taken;
  ASSERT_TRUE(WaitFor([&] {
    taken = queue.ClaimNext("node-b/0", 10, std::chrono::minutes(1))
                .value_or(std::vector<core::OutboundItem>{});
    return taken.size() == 2;
  }));
  for (const core::OutboundItem& item : taken) {
    if (item.control_id == "Y1") {
      ASSERT_TRUE(this->deliverer_.Deliver(item));
    }
    ASSERT_TRUE(queue.MarkDeliveredAs("node-b/0", item.id));
  }
  std::vector<core::OutboundItem> next =
      queue.ClaimNext("node-b/0", 10, std::chrono::minutes(1)).value_or(taken);
  ASSERT_EQ(next.size(), 1u);
  ASSERT_EQ(next[0].control_id, "Y2");
  ASSERT_TRUE(this->deliverer_.Deliver(next[0]));
  ASSERT_TRUE(queue.MarkDeliveredAs("node-b/0", next[0].id));

  // X1's attempt ends; a later message shows the worker has gone past its old claim.
  this->deliverer_.OpenGate();
  this->Store(MakeRouted("Z1", kPatientA, {"RAJ"}));
  ASSERT_TRUE(WaitFor([&] { return this->deliverer_.For("RAJ", kPatientA).size() == 1; }));
  EXPECT_EQ(this->deliverer_.For("RGT", kPatientB), (Ids{"Y1", "Y2"}));
}

REGISTER_TYPED_TEST_SUITE_P(DeliveryWorkerTest, DestinationDownThenUpDeliversAllInOrderPerPatient,
                            PoisonMessageGoesDeadHoldsItsPatientAndReplayReleasesInOrder,
                            AnItemWhoseLeaseIsNearlyOverIsNotStarted,
                            DiscardingTheDeadItemReleasesTheHeldOnes, OutOfAttemptsGoesDead,
                            AMessageOlderThanMaxAgeGoesDeadAtItsNextFailure,
                            ADuplicateControlIdIsDeliveredOnce,
                            ACrashedWorkersItemsAreDeliveredAfterItsLease,
                            WorkerRestartContinuesInOrder,
                            ARefusedDeliveryIsDiscardedAndDoesNotHoldThePatient,
                            AStaleWorkersMarkIsRefusedAndDoesNotReleaseThePartition);

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
  settings = DeliverySettings{};
  settings.lease = settings.attempt_timeout;  // an attempt could outlive its lease
  DeliveryWorker short_lease(queue, deliverer, settings, clock);
  EXPECT_EQ(short_lease.Start().error().code, core::ErrorCode::kInvalidValue);
}

// A delivered item whose mark fails for a moment (storage) is marked again while its lease lasts,
// not sent to the destination a second time.
TEST(DeliveryWorker, RetriesAFailedDeliveredMarkInsteadOfDeliveringAgain) {
  tb::testing::InMemoryOutboundQueue queue;
  tb::testing::InMemoryInboundStore inbound(&queue);
  FakeDeliverer deliverer;
  core::SystemClock clock;
  ASSERT_TRUE(inbound.Accept(MakeRouted("A1", kPatientA, {"RGT"})));
  ASSERT_TRUE(inbound.Accept(MakeRouted("A2", kPatientA, {"RGT"})));
  queue.FailNextDeliveredMarks(3);
  DeliveryWorker worker(queue, deliverer, FastSettings(), clock);
  ASSERT_TRUE(worker.Start());
  ASSERT_TRUE(WaitFor([&] { return queue.Counts()->delivered == 2; }));
  worker.Stop();
  EXPECT_EQ(deliverer.attempts(), 2);
  EXPECT_EQ(deliverer.For("RGT", kPatientA), (Ids{"A1", "A2"}));
  EXPECT_EQ(worker.stats().queue_errors, 3u);
  EXPECT_EQ(worker.stats().delivered, 2u);
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
