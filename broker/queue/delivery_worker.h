#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/outbound_queue.h"

namespace tb::queue {

struct DeliverySettings {
  std::size_t threads = 2;      // delivery threads; each delivers one item at a time
  std::size_t claim_batch = 8;  // items claimed per ClaimNext() by one thread
  std::chrono::milliseconds lease{std::chrono::minutes(2)};  // > attempt_timeout
  // The longest one Deliverer::Deliver() call takes (the Deliverer's own timeout). A thread starts
  // an item of its claim only while at least this much of the item's lease is left; else it
  // claims again (taking back its own in-flight items with fresh leases). So an attempt never
  // outlives its lease: another worker that took an expired item over could otherwise deliver it
  // and the patient's next message, and this thread would then send its stale copy after them.
  std::chrono::milliseconds attempt_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds idle_poll{std::chrono::milliseconds(250)};  // nothing due: wait
  // Backoff after the n-th failed attempt: min(max, base * 2^(n-1)), then jittered to a uniform
  // value in [delay/2, delay] so that retries of many items do not arrive together.
  std::chrono::milliseconds backoff_base{std::chrono::seconds(1)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  // A transient failure makes the item dead once it has failed this many times (0: never) or is
  // older than max_age (0: never). A permanent failure (AE/AR) makes it dead at once.
  std::int32_t max_attempts = 0;
  std::chrono::milliseconds max_age{std::chrono::hours(72)};
  // Lease owner name; thread i uses "<owner>/<i>". Keep it stable across restarts of the same
  // node (e.g. the host name): a restarted worker then takes back its own in-flight items at once
  // instead of waiting for their leases to expire. Must differ between nodes.
  std::string owner = "trustbridge";
};

// The delay before attempt `attempts` + 1 after `attempts` failures (>= 1), before jitter.
std::chrono::milliseconds BackoffDelay(const DeliverySettings& settings, std::int32_t attempts);

struct DeliveryStats {
  std::uint64_t delivered = 0;
  std::uint64_t retried = 0;       // transient failures queued for a retry
  std::uint64_t dead = 0;          // items made dead (permanent failure or out of retries)
  std::uint64_t refused = 0;       // items refused by policy (discarded, not dead)
  std::uint64_t held_alerts = 0;   // "partition held" warnings logged
  std::uint64_t queue_errors = 0;  // failed queue operations (storage)
  // Marks refused because another worker had re-claimed the item (the delivery outlived its
  // lease): the other worker's mark counts, and the partition was not released by this one.
  std::uint64_t lease_lost = 0;
};

// Delivers what core::OutboundQueue holds: `settings.threads` threads each claim due partition
// heads, call `deliverer` for each in id order, then mark the item delivered, queued for a retry
// (exponential backoff with jitter), dead, or - refused by policy - discarded. Marks are made as
// the claiming thread's lease owner: when a delivery outlived its lease and another worker has
// re-claimed the item, the stale mark is refused ("queue.lease_lost"), so it neither releases the
// partition under the new holder nor counts a failure against it. When a failed item
// holds later items of its patient and destination, logs a warning "queue.partition_held" (item id,
// destination, count; no PHI).
//
// Ownership: holds `queue`, `deliverer` and `clock` by reference; they must outlive this object.
// Thread-safety: Start/Stop/Wake from any thread; Stop() is idempotent and run by the destructor.
class DeliveryWorker {
 public:
  DeliveryWorker(core::OutboundQueue& queue, core::Deliverer& deliverer, DeliverySettings settings,
                 const core::Clock& clock);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  // Starts the threads. Errors: kInvalidValue for bad settings (no threads, empty owner, ...),
  // kInternal when already started.
  core::Status Start();

  // Finishes the deliveries in progress (each thread completes and marks the item it is
  // delivering), then joins. Items a thread had claimed but not started stay in flight, leased to
  // it: the same owner takes them back on its next Start(), another after the lease.
  void Stop();

  // Something new may be due (a message was stored): threads waiting for idle_poll look now.
  void Wake();

  DeliveryStats stats() const;

 private:
  void Run(std::size_t index);
  // Delivers and marks one item as its lease holder `owner` (MarkDeliveredAs / MarkFailedAs).
  // False when the queue failed (the caller backs off).
  bool DeliverOne(const core::OutboundItem& item, const std::string& owner);
  // The Deliverer refused item by policy (kRefused): discarded with `reason`, not dead, so the
  // patient's later items are not held. False when the queue failed.
  bool Refuse(const core::OutboundItem& item, const std::string& owner, const std::string& reason);
  // MarkDeliveredAs, retried every idle_poll while it fails with kStorage and the item's lease
  // lasts (a delivered item left in flight is delivered again).
  core::Status MarkDeliveredWhileLeased(const core::OutboundItem& item, const std::string& owner);
  // True (logged, counted) when `marked` is the queue's kConflict: `owner` no longer holds item.
  bool LeaseLost(const core::OutboundItem& item, const core::Status& marked);
  std::int64_t NowMs() const;
  std::int64_t RetryAt(std::int32_t attempts);
  void WaitIdle(std::chrono::milliseconds how_long);

  core::OutboundQueue& queue_;
  core::Deliverer& deliverer_;
  const DeliverySettings settings_;
  const core::Clock& clock_;
  core::Logger logger_{"tb.queue"};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;       // guarded by mutex_
  std::uint64_t wakeups_ = 0;   // guarded by mutex_; bumped by Wake()
  std::uint64_t jitter_state_;  // guarded by mutex_
  DeliveryStats stats_;         // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace tb::queue
