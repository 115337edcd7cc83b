#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/nhs_number.h"
#include "broker/core/record_locator.h"

namespace tb::testing {

// core::RecordLocator in memory, for tests of routing and the API. Same contract as the SQL
// implementation (validation, upsert, ordered lookup). Thread-safe.
class InMemoryRecordLocator final : public core::RecordLocator {
 public:
  core::Status Announce(const std::string& nhs_number, const std::string& ods,
                        const std::string& source, std::int64_t at_ms) override {
    BROKER_RETURN_IF_ERROR(Check(nhs_number, ods));
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    auto [it, inserted] = entries_.try_emplace({nhs_number, ods});
    core::LocatorEntry& entry = it->second;
    if (inserted) {
      entry.nhs_number = nhs_number;
      entry.ods = ods;
      entry.first_seen_ms = at_ms;
    }
    entry.source = source;
    entry.last_seen_ms = at_ms;
    return core::Ok();
  }

  core::Status Forget(const std::string& nhs_number, const std::string& ods) override {
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    entries_.erase({nhs_number, ods});
    return core::Ok();
  }

  core::Result<std::vector<core::LocatorEntry>> Lookup(const std::string& nhs_number) override {
    std::lock_guard lock(mutex_);
    if (failure_) {
      return *failure_;
    }
    std::vector<core::LocatorEntry> found;
    for (auto it = entries_.lower_bound({nhs_number, ""});
         it != entries_.end() && it->first.first == nhs_number; ++it) {
      found.push_back(it->second);
    }
    return found;
  }

  // While set, every call returns `error`.
  void SetFailure(std::optional<core::Error> error) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(error);
  }

 private:
  static core::Status Check(const std::string& nhs_number, const std::string& ods) {
    if (!core::IsValidNhsNumber(nhs_number)) {
      return core::MakeError(core::ErrorCode::kInvalidValue, "invalid NHS number",
                             "LocatorEntry.nhs_number");
    }
    if (ods.empty()) {
      return core::MakeError(core::ErrorCode::kInvalidValue, "empty ODS code", "LocatorEntry.ods");
    }
    return core::Ok();
  }

  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, core::LocatorEntry> entries_;
  std::optional<core::Error> failure_;
};

}  // namespace tb::testing
