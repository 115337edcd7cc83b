#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "broker/core/audit_ledger.h"

namespace tb::ledger {

// core::LedgerStore in memory, for tests and tools. Same contract as the SQL stores: Append
// writes all or nothing and refuses (kConflict) a seq or checkpoint count that exists.
// Thread-safety: any thread.
class InMemoryLedgerStore final : public core::LedgerStore {
 public:
  core::Status Append(const std::vector<core::LedgerRecord>& records,
                      const core::LedgerCheckpoint* checkpoint) override;
  core::Result<core::LedgerBatch> AppendAtHead(const core::LedgerChainer& chain) override;
  core::Result<std::optional<core::LedgerRecord>> Last() override;
  core::Result<std::vector<core::LedgerRecord>> ReadRange(std::int64_t from_seq,
                                                          std::size_t limit) override;
  core::Result<std::vector<core::LedgerRecord>> Search(const core::LedgerQuery& query) override;
  core::Status WriteCheckpoint(const core::LedgerCheckpoint& checkpoint) override;
  core::Result<std::vector<core::LedgerCheckpoint>> ReadCheckpoints() override;

  // Runs `edit` on the rows (by seq) and checkpoints (by count) under the lock: tamper tests.
  void EditForTest(
      const std::function<void(std::map<std::int64_t, core::LedgerRecord>&,
                               std::map<std::int64_t, core::LedgerCheckpoint>&)>& edit);

 private:
  core::Status AppendLocked(const std::vector<core::LedgerRecord>& records,
                            const core::LedgerCheckpoint* checkpoint);
  std::mutex mutex_;
  std::map<std::int64_t, core::LedgerRecord> records_;
  std::map<std::int64_t, core::LedgerCheckpoint> checkpoints_;
};

}  // namespace tb::ledger
