#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/inbound_store.h"
#include "broker/core/outbound_queue.h"
#include "broker/core/record_locator.h"

namespace tb::testing {

// core::OutboundQueue in memory, with the contract of tb::store::SqlOutboundQueue (ordering rule,
// leases, dead letters; the shared suite tests/broker/store/outbound_queue_suite.h runs against
// it). Filled by InMemoryInboundStore from the routes of the messages it stores. Nothing is
// durable. Thread-safe. `clock` must outlive it.
class InMemoryOutboundQueue final : public core::OutboundQueue {
 public:
  explicit InMemoryOutboundQueue(const core::Clock& clock = DefaultClock()) : clock_(clock) {}

  static const core::Clock& DefaultClock() {
    static const core::SystemClock clock;
    return clock;
  }

  // Adds the items of a stored message (called by InMemoryInboundStore).
  void Enqueue(std::int64_t inbound_id, const core::InboundMessage& message) {
    std::lock_guard lock(mutex_);
    for (const core::OutboundRoute& route : message.routes) {
      core::OutboundItem item;
      item.id = static_cast<std::int64_t>(items_.size()) + 1;
      item.inbound_message_id = inbound_id;
      item.destination = route.destination;
      item.format = route.format;
      item.nhs_number = message.nhs_number;
      item.next_attempt_at_ms = message.received_at_ms;
      item.created_at_ms = message.received_at_ms;
      item.sender = message.sender;
      item.protocol = message.protocol;
      item.message_type = message.message_type;
      item.control_id = message.control_id;
      item.payload = message.payload;
      items_.push_back(Row{std::move(item), {}, message.other_nhs_numbers});
    }
  }

  core::Result<std::vector<core::OutboundItem>> ClaimNext(
      const std::string& owner, std::size_t max, std::chrono::milliseconds lease) override {
    std::vector<core::OutboundItem> claimed;
    if (owner.empty()) {
      return core::MakeError(core::ErrorCode::kInvalidValue, "claim owner is empty", "owner");
    }
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    const std::int64_t now = NowMs();
    for (std::size_t i = 0; i < items_.size() && claimed.size() < max; ++i) {
      Row& row = items_[i];
      const bool due =
          IsOpen(row.item.status) &&
          (row.item.next_attempt_at_ms <= now ||
           (row.item.status == core::OutboundStatus::kInFlight && row.lease_owner == owner));
      if (!due || !IsHead(i)) {
        continue;
      }
      row.item.status = core::OutboundStatus::kInFlight;
      row.item.next_attempt_at_ms = now + lease.count();
      row.lease_owner = owner;
      claimed.push_back(row.item);
    }
    return claimed;
  }

  core::Status MarkDelivered(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    Row* row = Find(id);
    if (row == nullptr || !IsOpen(row->item.status)) {
      return NotFound(id);
    }
    row->item.status = core::OutboundStatus::kDelivered;
    row->lease_owner.clear();
    return core::Ok();
  }

  core::Status MarkFailed(std::int64_t id, const std::string& error, bool permanent,
                          std::int64_t next_attempt_at_ms) override {
    std::lock_guard lock(mutex_);
    Row* row = Find(id);
    if (row == nullptr || !IsOpen(row->item.status)) {
      return NotFound(id);
    }
    row->item.status = permanent ? core::OutboundStatus::kDead : core::OutboundStatus::kQueued;
    ++row->item.attempts;
    row->item.last_error = error;
    row->item.next_attempt_at_ms = next_attempt_at_ms;
    row->lease_owner.clear();
    return core::Ok();
  }

  core::Status MarkDeliveredAs(const std::string& owner, std::int64_t id) override {
    std::lock_guard lock(mutex_);
    if (mark_failures_ > 0) {
      --mark_failures_;
      return core::MakeError(core::ErrorCode::kStorage, "injected: database is locked");
    }
    Row* row = nullptr;
    BROKER_RETURN_IF_ERROR(HeldBy(owner, id, row));
    row->item.status = core::OutboundStatus::kDelivered;
    row->lease_owner.clear();
    return core::Ok();
  }

  core::Status MarkFailedAs(const std::string& owner, std::int64_t id, const std::string& error,
                            bool permanent, std::int64_t next_attempt_at_ms) override {
    std::lock_guard lock(mutex_);
    Row* row = nullptr;
    BROKER_RETURN_IF_ERROR(HeldBy(owner, id, row));
    row->item.status = permanent ? core::OutboundStatus::kDead : core::OutboundStatus::kQueued;
    ++row->item.attempts;
    row->item.last_error = error;
    row->item.next_attempt_at_ms = next_attempt_at_ms;
    row->lease_owner.clear();
    return core::Ok();
  }

  core::Result<core::OutboundItem> Get(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    for (const Row& row : items_) {
      if (row.item.id == id) {
        return row.item;
      }
    }
    return core::MakeError(core::ErrorCode::kNotFound, "no outbound item " + std::to_string(id));
  }

  core::Result<std::vector<core::OutboundItem>> ListDead(std::int64_t after_id,
                                                         std::size_t limit) override {
    std::lock_guard lock(mutex_);
    std::vector<core::OutboundItem> dead;
    for (const Row& row : items_) {  // in id order
      if (dead.size() < limit && row.item.id > after_id &&
          row.item.status == core::OutboundStatus::kDead) {
        dead.push_back(row.item);
        dead.back().payload.clear();  // a list shows none (the contract)
      }
    }
    return dead;
  }

  core::Status Replay(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    Row* row = Find(id);
    if (row == nullptr || row->item.status != core::OutboundStatus::kDead) {
      return NotFound(id);
    }
    row->item.status = core::OutboundStatus::kQueued;
    row->item.attempts = 0;
    row->item.next_attempt_at_ms = NowMs();
    row->item.replayed_at_ms = row->item.next_attempt_at_ms;
    return core::Ok();
  }

  core::Status Discard(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    Row* row = Find(id);
    if (row == nullptr) {
      return NotFound(id);
    }
    if (row->item.status != core::OutboundStatus::kDead &&
        row->item.status != core::OutboundStatus::kQueued) {
      return core::MakeError(core::ErrorCode::kConflict,
                             "only a dead or queued item can be discarded", "OutboundItem.status");
    }
    row->item.status = core::OutboundStatus::kDiscarded;
    return core::Ok();
  }

  core::Result<std::int64_t> CountHeldBehind(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    Row* row = Find(id);
    if (row == nullptr) {
      return NotFound(id);
    }
    std::int64_t held = 0;
    if (row->item.nhs_number.empty()) {
      return held;
    }
    for (std::size_t i = static_cast<std::size_t>(id); i < items_.size(); ++i) {
      if (SamePartition(items_[i], *row) && Pending(items_[i].item.status)) {
        ++held;
      }
    }
    return held;
  }

  core::Result<core::QueueCounts> Counts() override {
    std::lock_guard lock(mutex_);
    core::QueueCounts counts;
    for (const Row& row : items_) {
      switch (row.item.status) {
        case core::OutboundStatus::kQueued:
          ++counts.queued;
          break;
        case core::OutboundStatus::kInFlight:
          ++counts.in_flight;
          break;
        case core::OutboundStatus::kDelivered:
          ++counts.delivered;
          break;
        case core::OutboundStatus::kDead:
          ++counts.dead;
          break;
        case core::OutboundStatus::kDiscarded:
          ++counts.discarded;
          break;
      }
    }
    return counts;
  }

  // Erases the payloads of finished items older than payload_retention (the in-memory inbound
  // store keeps its own copy: dedupe keys live there and are never purged).
  core::Result<core::PurgeResult> Purge(const core::PurgePolicy& policy) override {
    if (policy.key_retention < policy.payload_retention) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "key retention must not be shorter than payload retention",
                             "PurgePolicy.key_retention");
    }
    std::lock_guard lock(mutex_);
    core::PurgeResult result;
    const std::int64_t before = NowMs() - policy.payload_retention.count();
    for (Row& row : items_) {
      if (!Pending(row.item.status) && row.item.created_at_ms < before &&
          !row.item.payload.empty()) {
        row.item.payload.clear();
        ++result.payloads_erased;
      }
    }
    return result;
  }

  // While set, ClaimNext() returns `error` (e.g. kStorage); nullopt clears.
  void SetClaimFailure(std::optional<core::Error> error) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(error);
  }

  // The next `count` MarkDeliveredAs() calls fail with kStorage (a lock held past the timeout).
  void FailNextDeliveredMarks(int count) {
    std::lock_guard lock(mutex_);
    mark_failures_ = count;
  }

 private:
  struct Row {
    core::OutboundItem item;
    std::string lease_owner;
    std::vector<std::string> other_patients;  // the message's other NHS numbers
  };

  static bool IsOpen(core::OutboundStatus status) {
    return status == core::OutboundStatus::kQueued || status == core::OutboundStatus::kInFlight;
  }
  static bool Pending(core::OutboundStatus status) {
    return IsOpen(status) || status == core::OutboundStatus::kDead;
  }
  // The rows share a partition: the same destination and a patient in common (the routing key
  // or one of the message's other patients).
  static bool SamePartition(const Row& a, const Row& b) {
    if (a.item.nhs_number.empty() || b.item.nhs_number.empty() ||
        a.item.destination != b.item.destination) {
      return false;
    }
    const auto names = [](const Row& row, const std::string& nhs_number) {
      return row.item.nhs_number == nhs_number ||
             std::find(row.other_patients.begin(), row.other_patients.end(), nhs_number) !=
                 row.other_patients.end();
    };
    if (names(b, a.item.nhs_number)) {
      return true;
    }
    return std::any_of(a.other_patients.begin(), a.other_patients.end(),
                       [&](const std::string& other) { return names(b, other); });
  }
  static core::Error NotFound(std::int64_t id) {
    return core::MakeError(core::ErrorCode::kNotFound,
                           "outbound item " + std::to_string(id) + " not found in that state",
                           "OutboundItem.id");
  }

  // Guarded by mutex_.
  bool IsHead(std::size_t index) const {
    for (std::size_t i = 0; i < index; ++i) {
      if (SamePartition(items_[i], items_[index]) && Pending(items_[i].item.status)) {
        return false;
      }
    }
    return true;
  }
  // Under mutex_: `row` = item `id` when `owner` holds its lease; else kNotFound / kConflict.
  core::Status HeldBy(const std::string& owner, std::int64_t id, Row*& row) {
    row = Find(id);
    if (row == nullptr) {
      return NotFound(id);
    }
    if (row->item.status != core::OutboundStatus::kInFlight || row->lease_owner != owner) {
      return core::MakeError(core::ErrorCode::kConflict,
                             "outbound item " + std::to_string(id) + " is not leased to " + owner,
                             "OutboundItem.lease_owner");
    }
    return core::Ok();
  }

  Row* Find(std::int64_t id) {
    if (id < 1 || id > static_cast<std::int64_t>(items_.size())) {
      return nullptr;
    }
    return &items_[static_cast<std::size_t>(id - 1)];
  }
  std::int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
        .count();
  }

  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<Row> items_;  // item id N is element N-1
  std::optional<core::Error> failure_;
  int mark_failures_ = 0;  // MarkDeliveredAs calls still to fail
};

// core::InboundStore in memory, for tests of components that store inbound messages (MLLP and
// FHIR ingest). Same contract as tb::store::SqlInboundStore: validation, kStored / kDuplicate /
// kConflict by dedupe_key and content_sha256 (the shared suite in tests/broker/store runs against
// it too). Nothing is durable. Thread-safe.
//
// With a `queue`, the routes of each stored message become items of that queue (as
// SqlInboundStore writes outbound_message rows); `queue` must outlive the store.
// With a `locator`, WritesLocatorAnnouncements() is true and a stored message's announcement is
// written to it under the store's lock, before the message: when the locator fails, Accept returns
// its error and nothing is stored (as a rolled-back transaction). `locator` must outlive the store.
class InMemoryInboundStore final : public core::InboundStore {
 public:
  explicit InMemoryInboundStore(InMemoryOutboundQueue* queue = nullptr,
                                core::RecordLocator* locator = nullptr)
      : queue_(queue), locator_(locator) {}

  bool WritesLocatorAnnouncements() const override { return locator_ != nullptr; }

  // With a `locator`: from now on RoutesByHoldersInCommit() is true and a stored message's
  // route_by_holders runs under the store's lock on that locator's holders (before its
  // announcement, as SqlInboundStore does); the stored copy keeps the routes it returned.
  void RouteByHoldersInCommit() {
    std::lock_guard lock(mutex_);
    route_by_holders_ = locator_ != nullptr;
  }
  bool RoutesByHoldersInCommit() const override {
    std::lock_guard lock(mutex_);
    return route_by_holders_;
  }

  core::Result<core::AcceptResult> Accept(const core::InboundMessage& message) override {
    BROKER_RETURN_IF_ERROR(core::ValidateInboundMessage(message));
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    if (const auto it = by_key_.find(message.dedupe_key); it != by_key_.end()) {
      const core::InboundMessage& earlier = messages_[it->second];
      return core::AcceptResult{earlier.content_sha256 == message.content_sha256
                                    ? core::AcceptOutcome::kDuplicate
                                    : core::AcceptOutcome::kConflict,
                                static_cast<std::int64_t>(it->second) + 1};
    }
    std::vector<core::OutboundRoute> routes = message.routes;
    if (route_by_holders_ && message.route_by_holders) {
      std::vector<std::string> patients = message.other_nhs_numbers;
      patients.insert(patients.begin(), message.nhs_number);
      std::vector<std::string> holders;
      for (const std::string& patient : patients) {
        core::Result<std::vector<core::LocatorEntry>> entries = locator_->Lookup(patient);
        if (!entries) {
          return entries.error();
        }
        for (const core::LocatorEntry& entry : *entries) {
          holders.push_back(entry.ods);
        }
      }
      std::sort(holders.begin(), holders.end());
      holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
      routes = message.route_by_holders(holders);
    }
    if (locator_ != nullptr && message.announce) {
      const core::LocatorAnnouncement& announce = *message.announce;
      BROKER_RETURN_IF_ERROR(
          locator_->Announce(announce.nhs_number, announce.ods, announce.source, announce.at_ms));
      for (const std::string& other : message.other_nhs_numbers) {
        BROKER_RETURN_IF_ERROR(
            locator_->Announce(other, announce.ods, announce.source, announce.at_ms));
      }
    }
    messages_.push_back(message);
    messages_.back().routes = std::move(routes);
    messages_.back().route_by_holders = nullptr;  // it points into the caller's frame
    by_key_.emplace(message.dedupe_key, messages_.size() - 1);
    if (queue_ != nullptr) {
      queue_->Enqueue(static_cast<std::int64_t>(messages_.size()), messages_.back());
    }
    return core::AcceptResult{core::AcceptOutcome::kStored,
                              static_cast<std::int64_t>(messages_.size())};
  }

  core::Result<std::int64_t> Count() override {
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    return static_cast<std::int64_t>(messages_.size());
  }

  // While set, Accept() and Count() return `error` (e.g. kStorage, to test NAKs); nullopt clears.
  void SetFailure(std::optional<core::Error> error) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(error);
  }

  // The stored messages in arrival order; message_id N is element N-1.
  std::vector<core::InboundMessage> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  InMemoryOutboundQueue* const queue_;
  core::RecordLocator* const locator_;
  mutable std::mutex mutex_;
  std::vector<core::InboundMessage> messages_;
  std::map<std::string, std::size_t> by_key_;
  std::optional<core::Error> failure_;
  bool route_by_holders_ = false;
};

}  // namespace tb::testing
