#include "broker/queue/delivery_worker.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <utility>

#include "broker/core/clock.h"

namespace tb::queue {

std::chrono::milliseconds BackoffDelay(const DeliverySettings& settings, std::int32_t attempts) {
  const std::int64_t base = std::max<std::int64_t>(settings.backoff_base.count(), 1);
  const std::int64_t max = std::max<std::int64_t>(settings.backoff_max.count(), base);
  std::int64_t delay = base;
  for (std::int32_t i = 1; i < attempts && delay < max; ++i) {
    delay *= 2;
  }
  return std::chrono::milliseconds(std::min(delay, max));
}

DeliveryWorker::DeliveryWorker(core::OutboundQueue& queue, core::Deliverer& deliverer,
                               DeliverySettings settings, const core::Clock& clock)
    : queue_(queue),
      deliverer_(deliverer),
      settings_(std::move(settings)),
      clock_(clock),
      jitter_state_(std::random_device{}() | 1u) {}

DeliveryWorker::~DeliveryWorker() { Stop(); }

core::Status DeliveryWorker::Start() {
  if (settings_.threads == 0 || settings_.claim_batch == 0) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "delivery needs at least one thread and a claim batch of one",
                           "DeliverySettings.threads");
  }
  if (settings_.owner.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "delivery owner is empty",
                           "DeliverySettings.owner");
  }
  if (settings_.attempt_timeout.count() <= 0 || settings_.lease <= settings_.attempt_timeout) {
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "delivery lease must be longer than one attempt's timeout",
                           "DeliverySettings.lease");
  }
  std::lock_guard lock(mutex_);
  if (!threads_.empty()) {
    return core::MakeError(core::ErrorCode::kInternal, "delivery worker already started");
  }
  stopping_ = false;
  for (std::size_t i = 0; i < settings_.threads; ++i) {
    threads_.emplace_back([this, i] { Run(i); });
  }
  return core::Ok();
}

void DeliveryWorker::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (std::thread& thread : threads) {
    thread.join();
  }
}

void DeliveryWorker::Wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakeups_;
  }
  wake_.notify_all();
}

DeliveryStats DeliveryWorker::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::int64_t DeliveryWorker::NowMs() const { return core::ToUnixMs(clock_.Now()); }

std::int64_t DeliveryWorker::RetryAt(std::int32_t attempts) {
  const std::int64_t delay = BackoffDelay(settings_, attempts).count();
  std::uint64_t random = 0;
  {
    std::lock_guard lock(mutex_);
    // xorshift64: jitter needs spread, not quality.
    jitter_state_ ^= jitter_state_ << 13;
    jitter_state_ ^= jitter_state_ >> 7;
    jitter_state_ ^= jitter_state_ << 17;
    random = jitter_state_;
  }
  const std::int64_t half = delay / 2;
  const std::int64_t jitter =
      half > 0 ? static_cast<std::int64_t>(random % static_cast<std::uint64_t>(half + 1)) : 0;
  return NowMs() + (delay - half) + jitter;
}

void DeliveryWorker::WaitIdle(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  const std::uint64_t seen = wakeups_;
  wake_.wait_for(lock, how_long, [&] { return stopping_ || wakeups_ != seen; });
}

void DeliveryWorker::Run(std::size_t index) {
  try {
    const std::string owner = settings_.owner + "/" + std::to_string(index);
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) {
          return;
        }
      }
      core::Result<std::vector<core::OutboundItem>> claimed =
          queue_.ClaimNext(owner, settings_.claim_batch, settings_.lease);
      if (!claimed) {
        logger_.Warn("queue.claim_failed", {{"error", claimed.error().message}});
        {
          std::lock_guard lock(mutex_);
          ++stats_.queue_errors;
        }
        WaitIdle(settings_.idle_poll);
        continue;
      }
      if (claimed->empty()) {
        WaitIdle(settings_.idle_poll);
        continue;
      }
      for (const core::OutboundItem& item : *claimed) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) {
            return;  // the rest stay leased to `owner`: taken back on the next Start()
          }
        }
        // For an in-flight item next_attempt_at is its lease's end.
        if (NowMs() + settings_.attempt_timeout.count() >= item.next_attempt_at_ms) {
          break;  // claim again: ours come back with fresh leases, others' are theirs now
        }
        if (!DeliverOne(item, owner)) {
          WaitIdle(settings_.idle_poll);
          break;  // the queue failed; the rest are re-claimed after their lease
        }
      }
    }
  } catch (const std::exception& error) {
    // A bug (STYLE.md section 4, thread entries): say so and stop.
    logger_.Error("queue.worker_crashed", {{"what", error.what()}});
    std::abort();
  }
}

bool DeliveryWorker::LeaseLost(const core::OutboundItem& item, const core::Status& marked) {
  if (marked || marked.error().code != core::ErrorCode::kConflict) {
    return false;
  }
  // The delivery outlived the lease and another worker holds the item now: its outcome is that
  // worker's to record, and the partition stays held until it does.
  logger_.Warn("queue.lease_lost", {{"item", std::to_string(item.id)},
                                    {"destination", item.destination},
                                    {"control_id", item.control_id}});
  std::lock_guard lock(mutex_);
  ++stats_.lease_lost;
  return true;
}

core::Status DeliveryWorker::MarkDeliveredWhileLeased(const core::OutboundItem& item,
                                                      const std::string& owner) {
  // The destination has the message: if the mark fails for a moment (a lock held past the busy
  // timeout, a full disk), the item would stay in flight and be sent again. Retrying the mark
  // while the lease lasts turns most of those repeats into nothing.
  for (;;) {
    core::Status marked = queue_.MarkDeliveredAs(owner, item.id);
    if (marked || marked.error().code != core::ErrorCode::kStorage ||
        NowMs() + settings_.idle_poll.count() >= item.next_attempt_at_ms) {
      return marked;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        return marked;
      }
      ++stats_.queue_errors;
    }
    logger_.Warn("queue.mark_retry",
                 {{"item", std::to_string(item.id)}, {"error", marked.error().message}});
    WaitIdle(settings_.idle_poll);
  }
}

bool DeliveryWorker::DeliverOne(const core::OutboundItem& item, const std::string& owner) {
  const core::Result<core::DeliveryResult> result = deliverer_.Deliver(item);
  const std::string id = std::to_string(item.id);
  if (result && result->outcome == core::DeliveryOutcome::kDelivered) {
    const core::Status marked = MarkDeliveredWhileLeased(item, owner);
    if (LeaseLost(item, marked)) {
      return true;
    }
    std::lock_guard lock(mutex_);
    if (!marked) {
      ++stats_.queue_errors;
      // Delivered but not marked: it will be delivered again (at least once, same control id).
      logger_.Warn("queue.mark_failed", {{"item", id}, {"error", marked.error().message}});
      return marked.error().code != core::ErrorCode::kStorage;
    }
    ++stats_.delivered;
    return true;
  }

  if (result && result->outcome == core::DeliveryOutcome::kRefused) {
    return Refuse(item, owner, result->detail);
  }

  const bool permanent = result && result->outcome == core::DeliveryOutcome::kPermanentFailure;
  const std::string detail = result ? result->detail : result.error().message;
  const std::int32_t attempts = item.attempts + 1;
  const std::int64_t now = NowMs();
  const bool out_of_attempts = settings_.max_attempts > 0 && attempts >= settings_.max_attempts;
  // A replayed item's age counts from its replay: the operator asked for another round of tries.
  const std::int64_t age_from = item.replayed_at_ms > 0 ? item.replayed_at_ms : item.created_at_ms;
  const bool too_old = settings_.max_age.count() > 0 && now - age_from >= settings_.max_age.count();
  const bool dead = permanent || out_of_attempts || too_old;
  const std::int64_t next = dead ? now : RetryAt(attempts);
  const core::Status marked = queue_.MarkFailedAs(owner, item.id, detail, dead, next);
  if (LeaseLost(item, marked)) {
    return true;
  }
  {
    std::lock_guard lock(mutex_);
    if (!marked) {
      ++stats_.queue_errors;
    } else if (dead) {
      ++stats_.dead;
    } else {
      ++stats_.retried;
    }
  }
  if (!marked) {
    logger_.Warn("queue.mark_failed", {{"item", id}, {"error", marked.error().message}});
    return marked.error().code != core::ErrorCode::kStorage;
  }
  const std::string_view reason = permanent         ? "refused"
                                  : out_of_attempts ? "out_of_attempts"
                                  : too_old         ? "too_old"
                                                    : "retry";
  logger_.Warn(dead ? "queue.dead_letter" : "queue.delivery_failed",
               {{"item", id},
                {"destination", item.destination},
                {"control_id", item.control_id},
                {"attempts", std::to_string(attempts)},
                {"reason", std::string(reason)},
                {"error", detail}});
  if (!item.nhs_number.empty()) {
    const core::Result<std::int64_t> held = queue_.CountHeldBehind(item.id);
    if (held && *held > 0) {
      logger_.Warn("queue.partition_held", {{"item", id},
                                            {"destination", item.destination},
                                            {"held", std::to_string(*held)},
                                            {"state", dead ? "dead" : "retrying"}});
      std::lock_guard lock(mutex_);
      ++stats_.held_alerts;
    }
  }
  return true;
}

bool DeliveryWorker::Refuse(const core::OutboundItem& item, const std::string& owner,
                            const std::string& reason) {
  // Not a dead letter: a refused item must not hold the patient's later messages. The queue has
  // no "refused" state, so it ends as discarded with the reason as last_error, in two steps. The
  // first re-queues it a lease ahead (not at once, so no other thread re-claims it before the
  // discard): if the broker stops between the two, the item is checked again then.
  const std::string id = std::to_string(item.id);
  const std::int64_t retry_at = NowMs() + settings_.lease.count();
  core::Status marked = queue_.MarkFailedAs(owner, item.id, "refused: " + reason, false, retry_at);
  if (LeaseLost(item, marked)) {
    return true;
  }
  if (marked) {
    marked = queue_.Discard(item.id);
  }
  std::lock_guard lock(mutex_);
  if (!marked) {
    ++stats_.queue_errors;
    logger_.Warn("queue.mark_failed", {{"item", id}, {"error", marked.error().message}});
    return marked.error().code != core::ErrorCode::kStorage;
  }
  ++stats_.refused;
  logger_.Info("queue.delivery_refused", {{"item", id},
                                          {"destination", item.destination},
                                          {"control_id", item.control_id},
                                          {"reason", reason}});
  return true;
}

}  // namespace tb::queue
