#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/audit_ledger.h"
#include "broker/core/result.h"
#include "broker/ledger/checkpoint_signer.h"

namespace tb::ledger {

enum class VerifyProblem {
  kAltered,             // a record's content, hash or columns were changed
  kDeleted,             // a record is missing (a gap, or later records renumbered)
  kInserted,            // a record that is not part of the chain sits at this seq
  kReordered,           // a valid record sits at another position than the one it was written at
  kCheckpointMismatch,  // a checkpoint's head hash differs from the chain's hash at its count
  kBadSignature,        // a checkpoint's signature does not verify with the broker's key
  kTailCut,             // a checkpoint counts more records than the chain holds
};
std::string_view ToString(VerifyProblem problem);  // "altered", "deleted", ...

struct VerifyFailure {
  std::int64_t seq = 0;  // the first bad sequence number
  VerifyProblem problem = VerifyProblem::kAltered;
  std::string detail;  // one line, no PHI
};

struct VerifyReport {
  std::int64_t records = 0;      // records walked
  std::int64_t checkpoints = 0;  // checkpoints checked (stored + external)
  std::string head_hash;         // hash of the last record walked
  // Records after the highest valid checkpoint: their links hold, but only a later checkpoint
  // (or a peer's copy) can show that none was appended by someone else or cut away.
  std::int64_t unsigned_tail = 0;
  std::optional<VerifyFailure> failure;
  bool ok() const { return !failure.has_value(); }
};

struct VerifyOptions {
  // Checkpoints held elsewhere (exported with CheckpointToJson, e.g. by a peer broker), checked
  // like the stored ones: they reveal a tail cut together with its stored checkpoints.
  std::vector<core::LedgerCheckpoint> external_checkpoints = {};
  std::size_t page_size = 1000;  // records read per store call
};

// Walks every record from seq 1, recomputing each hash and link and checking the columns against
// the hashed entry, and checks every checkpoint's signature and that its count and head hash
// match the chain. Returns the report; report.failure names the FIRST bad sequence number and
// why. Errors (the ledger could not be read at all): kStorage.
// Memory: one page plus a small look-ahead; time: linear in the records.
core::Result<VerifyReport> VerifyLedger(core::LedgerStore& store,
                                        const CheckpointVerifier& verifier,
                                        const VerifyOptions& options = {});

// Prints a verify outcome for `trustbridge audit verify` and returns its exit code:
//   0 every link and signature holds ("audit ledger OK: N records, M checkpoints ...")
//   1 tampering found ("audit ledger FAILED at seq N: <problem>: <detail>" on `err`)
//   2 the ledger could not be verified (storage error), message on `err`
int PrintVerifyReport(const core::Result<VerifyReport>& report, std::ostream& out,
                      std::ostream& err);

}  // namespace tb::ledger
