#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/inbound_store.h"

namespace tb::testing {

// core::InboundStore in memory, for tests of components that store inbound messages (MLLP and
// FHIR ingest). Same contract as tb::store::SqlInboundStore: validation, kStored / kDuplicate /
// kConflict by dedupe_key and content_sha256 (the shared suite in tests/broker/store runs against
// it too). Nothing is durable. Thread-safe.
class InMemoryInboundStore final : public core::InboundStore {
 public:
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
    messages_.push_back(message);
    by_key_.emplace(message.dedupe_key, messages_.size() - 1);
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
  mutable std::mutex mutex_;
  std::vector<core::InboundMessage> messages_;
  std::map<std::string, std::size_t> by_key_;
  std::optional<core::Error> failure_;
};

}  // namespace tb::testing
