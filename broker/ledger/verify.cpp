#include "broker/ledger/verify.h"

#include <algorithm>
#include <deque>
#include <map>
#include <utility>

#include "broker/core/digest.h"
#include "broker/ledger/entry.h"
#include "broker/ledger/ledger.h"

namespace tb::ledger {
namespace {

constexpr std::size_t kLookAhead = 64;  // records searched for a displaced predecessor

// Reads the ledger in pages by seq, with look-ahead.
class Cursor {
 public:
  Cursor(core::LedgerStore& store, std::size_t page_size)
      : store_(store), page_size_(std::max<std::size_t>(page_size, 1)) {}

  // The record `k` ahead of the current one (0 = the next to take), or nullptr at the end.
  core::Result<const core::LedgerRecord*> Peek(std::size_t k) {
    while (buffer_.size() <= k && !exhausted_) {
      core::Result<std::vector<core::LedgerRecord>> page = store_.ReadRange(next_seq_, page_size_);
      if (!page) {
        return std::move(page).error();
      }
      if (page->size() < page_size_) {
        exhausted_ = true;
      }
      for (core::LedgerRecord& record : *page) {
        next_seq_ = record.seq + 1;
        buffer_.push_back(std::move(record));
      }
    }
    return buffer_.size() > k ? &buffer_[k] : nullptr;
  }

  core::LedgerRecord Take() {
    core::LedgerRecord record = std::move(buffer_.front());
    buffer_.pop_front();
    return record;
  }

 private:
  core::LedgerStore& store_;
  const std::size_t page_size_;
  std::deque<core::LedgerRecord> buffer_;
  std::int64_t next_seq_ = 1;
  bool exhausted_ = false;
};

std::string HashOf(const core::LedgerRecord& record) {
  std::string material;
  material.reserve(record.prev_hash.size() + record.canonical.size());
  material.append(record.prev_hash).append(record.canonical);
  return core::Sha256Hex(material);
}

struct Envelope {
  std::int64_t seq = 0;
  std::int64_t recorded_ms = 0;
  std::string kind;
  std::string nhs_number;
  core::LedgerIndex index;  // what the search columns must hold
};

std::optional<Envelope> ReadEnvelope(const core::LedgerRecord& record) {
  core::Result<StoredEntry> entry = ReadStoredEntry(record);
  if (!entry) {
    return std::nullopt;
  }
  return Envelope{entry->seq, entry->recorded_ms, std::move(entry->kind),
                  std::move(entry->nhs_number), ExpectedIndex(*entry)};
}

VerifyFailure Failure(std::int64_t seq, VerifyProblem problem, std::string detail) {
  return VerifyFailure{seq, problem, std::move(detail)};
}

// The chain walk: the first bad record, or nullopt. Fills report.records and head_hash, and
// checks `checkpoints` (by count) against the chain as it passes them.
core::Result<std::optional<VerifyFailure>> Walk(
    Cursor& cursor, const std::multimap<std::int64_t, const core::LedgerCheckpoint*>& checkpoints,
    VerifyReport& report) {
  std::string prev_hash(kGenesisHash);  // hash of the last good record (P)
  std::string prev_prev_hash;           // and of the one before it (PP)
  std::int64_t expected = 1;
  for (;;) {
    core::Result<const core::LedgerRecord*> peek = cursor.Peek(0);
    if (!peek) {
      return std::move(peek).error();
    }
    if (*peek == nullptr) {
      return std::optional<VerifyFailure>();
    }
    core::LedgerRecord record = cursor.Take();
    const std::int64_t s = expected;
    if (record.seq > s) {
      return std::optional(Failure(
          s, VerifyProblem::kDeleted,
          "records " + std::to_string(s) + ".." + std::to_string(record.seq - 1) + " are missing"));
    }
    if (record.seq < s) {
      return std::optional(Failure(s, VerifyProblem::kInserted, "a second record has this seq"));
    }
    core::Result<const core::LedgerRecord*> next = cursor.Peek(0);
    if (!next) {
      return std::move(next).error();
    }
    if (HashOf(record) != record.hash) {
      if (*next != nullptr && (*next)->prev_hash == prev_hash) {
        return std::optional(
            Failure(s, VerifyProblem::kInserted, "the chain continues around this record"));
      }
      return std::optional(
          Failure(s, VerifyProblem::kAltered, "the hash does not match the record's content"));
    }
    const std::optional<Envelope> envelope = ReadEnvelope(record);
    if (!envelope) {
      return std::optional(
          Failure(s, VerifyProblem::kAltered, "the hashed entry is not a ledger entry"));
    }
    if (record.prev_hash != prev_hash) {
      if (!prev_prev_hash.empty() && record.prev_hash == prev_prev_hash) {
        return std::optional(
            Failure(s - 1, VerifyProblem::kInserted, "the next record links past this one"));
      }
      for (std::size_t k = 0; k < kLookAhead; ++k) {
        core::Result<const core::LedgerRecord*> ahead = cursor.Peek(k);
        if (!ahead) {
          return std::move(ahead).error();
        }
        if (*ahead == nullptr) {
          break;
        }
        if ((*ahead)->hash == record.prev_hash) {
          return std::optional(Failure(
              s, VerifyProblem::kReordered,
              "this record was written after the one at seq " + std::to_string((*ahead)->seq)));
        }
      }
      if (envelope->seq < s) {
        return std::optional(
            Failure(s, VerifyProblem::kReordered,
                    "this record was written as seq " + std::to_string(envelope->seq)));
      }
      if (envelope->seq > s) {
        return std::optional(Failure(s, VerifyProblem::kDeleted,
                                     "this record was written as seq " +
                                         std::to_string(envelope->seq) +
                                         "; records before it are missing"));
      }
      if (s > 1) {
        return std::optional(
            Failure(s - 1, VerifyProblem::kAltered, "the next record does not link to this one"));
      }
      return std::optional(
          Failure(s, VerifyProblem::kAltered, "the first record does not start the chain"));
    }
    if (envelope->seq != s) {
      return std::optional(
          Failure(s, VerifyProblem::kReordered,
                  "this record was written as seq " + std::to_string(envelope->seq)));
    }
    if (envelope->kind != record.kind || envelope->nhs_number != record.nhs_number ||
        envelope->recorded_ms != record.recorded_ms || envelope->index != record.index) {
      return std::optional(
          Failure(s, VerifyProblem::kAltered, "a column differs from the hashed entry"));
    }
    auto [first, last] = checkpoints.equal_range(s);
    for (auto it = first; it != last; ++it) {
      if (it->second->head_hash != record.hash) {
        return std::optional(Failure(s, VerifyProblem::kCheckpointMismatch,
                                     "the checkpoint's head hash differs from the chain"));
      }
    }
    prev_prev_hash = std::move(prev_hash);
    prev_hash = record.hash;
    report.records = s;
    report.head_hash = record.hash;
    ++expected;
  }
}

}  // namespace

std::string_view ToString(VerifyProblem problem) {
  switch (problem) {
    case VerifyProblem::kAltered:
      return "altered";
    case VerifyProblem::kDeleted:
      return "deleted";
    case VerifyProblem::kInserted:
      return "inserted";
    case VerifyProblem::kReordered:
      return "reordered";
    case VerifyProblem::kCheckpointMismatch:
      return "checkpoint mismatch";
    case VerifyProblem::kBadSignature:
      return "bad signature";
    case VerifyProblem::kTailCut:
      return "tail cut";
  }
  return "unknown";
}

core::Result<VerifyReport> VerifyLedger(core::LedgerStore& store,
                                        const CheckpointVerifier& verifier,
                                        const VerifyOptions& options) {
  VerifyReport report;
  core::Result<std::vector<core::LedgerCheckpoint>> stored = store.ReadCheckpoints();
  if (!stored) {
    return std::move(stored).error();
  }
  std::vector<const core::LedgerCheckpoint*> all;
  for (const core::LedgerCheckpoint& checkpoint : *stored) {
    all.push_back(&checkpoint);
  }
  for (const core::LedgerCheckpoint& checkpoint : options.external_checkpoints) {
    all.push_back(&checkpoint);
  }
  report.checkpoints = static_cast<std::int64_t>(all.size());

  // Signatures first: a checkpoint that does not verify says nothing about the chain.
  std::optional<VerifyFailure> failure;
  const auto consider = [&failure](VerifyFailure candidate) {
    if (!failure || candidate.seq < failure->seq) {
      failure = std::move(candidate);
    }
  };
  std::multimap<std::int64_t, const core::LedgerCheckpoint*> valid;
  for (const core::LedgerCheckpoint* checkpoint : all) {
    core::Status signature = verifier.Verify(*checkpoint);
    if (!signature) {
      consider(Failure(std::max<std::int64_t>(checkpoint->count, 1), VerifyProblem::kBadSignature,
                       "checkpoint at count " + std::to_string(checkpoint->count) + ": " +
                           signature.error().message));
      continue;
    }
    if (checkpoint->count < 1) {
      consider(Failure(1, VerifyProblem::kCheckpointMismatch, "checkpoint counts no records"));
      continue;
    }
    valid.emplace(checkpoint->count, checkpoint);
  }

  Cursor cursor(store, options.page_size);
  core::Result<std::optional<VerifyFailure>> walked = Walk(cursor, valid, report);
  if (!walked) {
    return std::move(walked).error();
  }
  if (walked->has_value()) {
    consider(std::move(**walked));
  } else {
    // The whole chain holds: a checkpoint beyond its end means records were cut away.
    for (const auto& [count, checkpoint] : valid) {
      if (count > report.records) {
        consider(Failure(report.records + 1, VerifyProblem::kTailCut,
                         "a checkpoint counts " + std::to_string(count) +
                             " records; the ledger holds " + std::to_string(report.records)));
        break;
      }
    }
  }
  std::int64_t signed_up_to = 0;
  for (const auto& [count, checkpoint] : valid) {
    if (count <= report.records) {
      signed_up_to = std::max(signed_up_to, count);
    }
  }
  report.unsigned_tail = report.records - signed_up_to;
  report.failure = std::move(failure);
  return report;
}

int PrintVerifyReport(const core::Result<VerifyReport>& report, std::ostream& out,
                      std::ostream& err) {
  if (!report) {
    err << "audit verify: cannot read the ledger: " << report.error().message << "\n";
    return 2;
  }
  if (report->failure) {
    const VerifyFailure& failure = *report->failure;
    err << "audit ledger FAILED at seq " << failure.seq << ": " << ToString(failure.problem) << ": "
        << failure.detail << "\n";
    return 1;
  }
  out << "audit ledger OK: " << report->records << " records, " << report->checkpoints
      << " checkpoints verified, head " << report->head_hash << ", " << report->unsigned_tail
      << " records after the last checkpoint\n";
  return 0;
}

}  // namespace tb::ledger
