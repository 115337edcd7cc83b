#include "broker/ledger/in_memory_ledger_store.h"

#include <algorithm>

namespace tb::ledger {
namespace {

// The SQL stores' WHERE clause, row by row.
bool Matches(const core::LedgerQuery& query, const core::LedgerRecord& record) {
  const core::LedgerIndex& index = record.index;
  if (!query.nhs_number.empty() && record.nhs_number != query.nhs_number) {
    return false;
  }
  if (!query.agent.empty() && index.requester_ods != query.agent &&
      index.source_ods != query.agent && index.destination_ods != query.agent) {
    return false;
  }
  if (!query.target.empty() && index.target != query.target) {
    return false;
  }
  if (!query.kinds.empty() &&
      std::find(query.kinds.begin(), query.kinds.end(), record.kind) == query.kinds.end()) {
    return false;
  }
  if (query.outcome && index.outcome != *query.outcome) {
    return false;
  }
  if ((query.from_ms && record.recorded_ms < *query.from_ms) ||
      (query.to_ms && record.recorded_ms > *query.to_ms)) {
    return false;
  }
  if (query.after_seq > 0 &&
      (query.newest_first ? record.seq >= query.after_seq : record.seq <= query.after_seq)) {
    return false;
  }
  return true;
}

}  // namespace

core::Status InMemoryLedgerStore::Append(const std::vector<core::LedgerRecord>& records,
                                         const core::LedgerCheckpoint* checkpoint) {
  std::lock_guard lock(mutex_);
  return AppendLocked(records, checkpoint);
}

core::Result<core::LedgerBatch> InMemoryLedgerStore::AppendAtHead(
    const core::LedgerChainer& chain) {
  std::lock_guard lock(mutex_);
  const bool empty = records_.empty();
  core::Result<core::LedgerBatch> batch =
      chain(empty ? 0 : records_.rbegin()->first, empty ? "" : records_.rbegin()->second.hash);
  if (!batch) {
    return batch;
  }
  BROKER_RETURN_IF_ERROR(
      AppendLocked(batch->records, batch->checkpoint ? &*batch->checkpoint : nullptr));
  return batch;
}

core::Status InMemoryLedgerStore::AppendLocked(const std::vector<core::LedgerRecord>& records,
                                               const core::LedgerCheckpoint* checkpoint) {
  for (const core::LedgerRecord& record : records) {
    if (records_.contains(record.seq)) {
      return core::MakeError(core::ErrorCode::kConflict, "ledger seq exists", "LedgerRecord.seq");
    }
  }
  if (checkpoint != nullptr && checkpoints_.contains(checkpoint->count)) {
    return core::MakeError(core::ErrorCode::kConflict, "checkpoint exists",
                           "LedgerCheckpoint.count");
  }
  for (const core::LedgerRecord& record : records) {
    records_.emplace(record.seq, record);
  }
  if (checkpoint != nullptr) {
    checkpoints_.emplace(checkpoint->count, *checkpoint);
  }
  return core::Ok();
}

core::Result<std::optional<core::LedgerRecord>> InMemoryLedgerStore::Last() {
  std::lock_guard lock(mutex_);
  if (records_.empty()) {
    return std::optional<core::LedgerRecord>();
  }
  return std::optional<core::LedgerRecord>(records_.rbegin()->second);
}

core::Result<std::vector<core::LedgerRecord>> InMemoryLedgerStore::ReadRange(std::int64_t from_seq,
                                                                             std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<core::LedgerRecord> out;
  for (auto it = records_.lower_bound(from_seq); it != records_.end() && out.size() < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

core::Result<std::vector<core::LedgerRecord>> InMemoryLedgerStore::Search(
    const core::LedgerQuery& query) {
  std::lock_guard lock(mutex_);
  std::vector<core::LedgerRecord> out;
  if (query.limit == 0) {
    return out;
  }
  const auto take = [&](const core::LedgerRecord& record) {
    if (Matches(query, record)) {
      out.push_back(record);
    }
    return out.size() < query.limit;
  };
  if (query.newest_first) {
    for (auto it = records_.rbegin(); it != records_.rend() && take(it->second); ++it) {
    }
  } else {
    for (auto it = records_.begin(); it != records_.end() && take(it->second); ++it) {
    }
  }
  return out;
}

core::Status InMemoryLedgerStore::WriteCheckpoint(const core::LedgerCheckpoint& checkpoint) {
  std::lock_guard lock(mutex_);
  if (!checkpoints_.emplace(checkpoint.count, checkpoint).second) {
    return core::MakeError(core::ErrorCode::kConflict, "checkpoint exists",
                           "LedgerCheckpoint.count");
  }
  return core::Ok();
}

core::Result<std::vector<core::LedgerCheckpoint>> InMemoryLedgerStore::ReadCheckpoints() {
  std::lock_guard lock(mutex_);
  std::vector<core::LedgerCheckpoint> out;
  for (const auto& [count, checkpoint] : checkpoints_) {
    out.push_back(checkpoint);
  }
  return out;
}

void InMemoryLedgerStore::EditForTest(
    const std::function<void(std::map<std::int64_t, core::LedgerRecord>&,
                             std::map<std::int64_t, core::LedgerCheckpoint>&)>& edit) {
  std::lock_guard lock(mutex_);
  edit(records_, checkpoints_);
}

}  // namespace tb::ledger
