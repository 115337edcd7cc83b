#pragma once

// The ledger storage contract (core::LedgerStore) on every engine (instantiated in
// store_sqlite_test.cpp and store_pg_test.cpp). Include after inbound_store_suite.h. The store
// keeps rows as given; chaining and verification are tested in tests/broker/ledger.

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/store/store.h"
#include "tests/broker/store/store_test_support.h"

namespace tb::store::testing {

template <typename Backend>
class LedgerStoreTest : public RepositoryTest<Backend, core::LedgerStore, &MakeLedgerStore> {
 protected:
  static core::LedgerRecord Row(std::int64_t seq, std::string nhs = "9449305552") {
    return core::LedgerRecord{
        seq,
        1000 + seq,
        "query",
        std::move(nhs),
        "{\"seq\":" + std::to_string(seq) + ",\"text\":\"\xC3\xA9\"}",
        std::string(64, static_cast<char>('0' + seq % 10)),
        std::string(64, static_cast<char>('a' + seq % 6)),
        core::LedgerIndex{seq % 2 == 0 ? "RJ1" : "", "RGT", seq % 3 == 0 ? "RXH" : "",
                          seq == 2 ? "Bundle/b2" : "", seq % 4 == 0 ? 4 : 0}};
  }
  // Rows 1..n, recorded at 1001..1000+n, kinds cycling query/response/refusal.
  void AppendRows(std::int64_t n) {
    static constexpr const char* kKinds[] = {"query", "response", "refusal"};
    std::vector<core::LedgerRecord> rows;
    for (std::int64_t seq = 1; seq <= n; ++seq) {
      core::LedgerRecord row = Row(seq, seq % 2 == 0 ? "9449305552" : "9000000009");
      row.kind = kKinds[seq % 3];
      rows.push_back(std::move(row));
    }
    ASSERT_TRUE(this->repository_->Append(rows, nullptr));
  }
  std::vector<std::int64_t> Seqs(const core::LedgerQuery& query) {
    auto found = this->repository_->Search(query);
    EXPECT_TRUE(found) << found.error().message;
    std::vector<std::int64_t> seqs;
    for (const core::LedgerRecord& record : found.value_or(std::vector<core::LedgerRecord>{})) {
      seqs.push_back(record.seq);
    }
    return seqs;
  }
  static core::LedgerCheckpoint Checkpoint(std::int64_t count) {
    return core::LedgerCheckpoint{count, std::string(64, 'c'), 5000 + count, std::string(64, 'k'),
                                  "MEUCIQ=="};
  }
};

TYPED_TEST_SUITE_P(LedgerStoreTest);

TYPED_TEST_P(LedgerStoreTest, EmptyLedgerHasNoLastRecord) {
  auto last = this->repository_->Last();
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_FALSE(last->has_value());
  auto range = this->repository_->ReadRange(1, 10);
  ASSERT_TRUE(range);
  EXPECT_TRUE(range->empty());
  auto checkpoints = this->repository_->ReadCheckpoints();
  ASSERT_TRUE(checkpoints);
  EXPECT_TRUE(checkpoints->empty());
}

TYPED_TEST_P(LedgerStoreTest, AppendedRowsReadBackExactly) {
  core::LedgerStore& ledger = *this->repository_;
  std::vector<core::LedgerRecord> rows = {this->Row(1), this->Row(2, ""), this->Row(3)};
  ASSERT_TRUE(ledger.Append(rows, nullptr));
  auto range = ledger.ReadRange(1, 10);
  ASSERT_TRUE(range) << range.error().message;
  ASSERT_EQ(range->size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const core::LedgerRecord& got = (*range)[i];
    EXPECT_EQ(got.seq, rows[i].seq);
    EXPECT_EQ(got.recorded_ms, rows[i].recorded_ms);
    EXPECT_EQ(got.kind, rows[i].kind);
    EXPECT_EQ(got.nhs_number, rows[i].nhs_number);
    EXPECT_EQ(got.canonical, rows[i].canonical);
    EXPECT_EQ(got.prev_hash, rows[i].prev_hash);
    EXPECT_EQ(got.hash, rows[i].hash);
    EXPECT_EQ(got.index, rows[i].index);
  }
  auto last = ledger.Last();
  ASSERT_TRUE(last && last->has_value());
  EXPECT_EQ((*last)->seq, 3);
}

TYPED_TEST_P(LedgerStoreTest, ReadRangePagesBySeq) {
  core::LedgerStore& ledger = *this->repository_;
  std::vector<core::LedgerRecord> rows;
  for (std::int64_t seq = 1; seq <= 7; ++seq) {
    rows.push_back(this->Row(seq));
  }
  ASSERT_TRUE(ledger.Append(rows, nullptr));
  auto page = ledger.ReadRange(3, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 3);
  EXPECT_EQ((*page)[1].seq, 4);
  auto tail = ledger.ReadRange(6, 100);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[1].seq, 7);
}

TYPED_TEST_P(LedgerStoreTest, AnExistingSeqIsAConflictAndNothingIsWritten) {
  core::LedgerStore& ledger = *this->repository_;
  ASSERT_TRUE(ledger.Append({this->Row(1), this->Row(2)}, nullptr));
  core::LedgerCheckpoint checkpoint = this->Checkpoint(3);
  core::Status clash = ledger.Append({this->Row(3), this->Row(2)}, &checkpoint);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, core::ErrorCode::kConflict);
  auto last = ledger.Last();
  ASSERT_TRUE(last && last->has_value());
  EXPECT_EQ((*last)->seq, 2);  // row 3 was rolled back
  auto checkpoints = ledger.ReadCheckpoints();
  ASSERT_TRUE(checkpoints);
  EXPECT_TRUE(checkpoints->empty());
}

// A group-commit batch is larger than one statement on some engines (PostgreSQL: 256 rows per
// INSERT): every row lands, in order, and a clash in a later statement undoes the earlier ones.
TYPED_TEST_P(LedgerStoreTest, ABatchOfManyStatementsIsWrittenWholeOrNotAtAll) {
  core::LedgerStore& ledger = *this->repository_;
  std::vector<core::LedgerRecord> rows;
  for (std::int64_t seq = 1; seq <= 600; ++seq) {
    rows.push_back(this->Row(seq));
  }
  ASSERT_TRUE(ledger.Append(rows, nullptr));
  auto all = ledger.ReadRange(1, 1000);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 600u);
  for (std::size_t i = 0; i < all->size(); ++i) {
    ASSERT_EQ((*all)[i].seq, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ((*all)[599].canonical, rows[599].canonical);
  EXPECT_EQ((*all)[599].index, rows[599].index);

  std::vector<core::LedgerRecord> more;
  for (std::int64_t seq = 601; seq <= 1000; ++seq) {
    more.push_back(this->Row(seq));
  }
  more.push_back(this->Row(600));  // clashes in the second statement
  core::Status clash = ledger.Append(more, nullptr);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, core::ErrorCode::kConflict);
  auto last = ledger.Last();
  ASSERT_TRUE(last && last->has_value());
  EXPECT_EQ((*last)->seq, 600);
}

TYPED_TEST_P(LedgerStoreTest, CheckpointsAreStoredWithRowsOrAlone) {
  core::LedgerStore& ledger = *this->repository_;
  const core::LedgerCheckpoint at2 = this->Checkpoint(2);
  ASSERT_TRUE(ledger.Append({this->Row(1), this->Row(2)}, &at2));
  ASSERT_TRUE(ledger.WriteCheckpoint(this->Checkpoint(1)));
  core::Status again = ledger.WriteCheckpoint(this->Checkpoint(2));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::ErrorCode::kConflict);
  auto checkpoints = ledger.ReadCheckpoints();
  ASSERT_TRUE(checkpoints);
  ASSERT_EQ(checkpoints->size(), 2u);
  EXPECT_EQ((*checkpoints)[0].count, 1);
  const core::LedgerCheckpoint& got = (*checkpoints)[1];
  EXPECT_EQ(got.count, 2);
  EXPECT_EQ(got.head_hash, at2.head_hash);
  EXPECT_EQ(got.time_ms, at2.time_ms);
  EXPECT_EQ(got.key_id, at2.key_id);
  EXPECT_EQ(got.signature, at2.signature);
}

// The journey's read (Ledger::Journey): one patient, oldest first, after a cursor.
TYPED_TEST_P(LedgerStoreTest, SearchByNhsNumberListsOnePatientInOrder) {
  core::LedgerStore& ledger = *this->repository_;
  ASSERT_TRUE(ledger.Append({this->Row(1, "9449305552"), this->Row(2, "9000000009"),
                             this->Row(3, ""), this->Row(4, "9449305552")},
                            nullptr));
  using V = std::vector<std::int64_t>;
  core::LedgerQuery journey;
  journey.nhs_number = "9449305552";
  journey.newest_first = false;
  EXPECT_EQ(this->Seqs(journey), (V{1, 4}));
  journey.after_seq = 1;
  EXPECT_EQ(this->Seqs(journey), (V{4}));
  journey.nhs_number = "9434765919";
  journey.after_seq = 0;
  EXPECT_TRUE(this->Seqs(journey).empty());
}

TYPED_TEST_P(LedgerStoreTest, SearchByPatientAgentTargetKindOutcomeAndDate) {
  this->AppendRows(12);
  using V = std::vector<std::int64_t>;
  core::LedgerQuery query;
  query.nhs_number = "9449305552";
  EXPECT_EQ(this->Seqs(query), (V{12, 10, 8, 6, 4, 2}));  // newest first
  query.newest_first = false;
  query.limit = 3;
  EXPECT_EQ(this->Seqs(query), (V{2, 4, 6}));

  core::LedgerQuery agent;  // as requester (even), source (all) or destination (multiples of 3)
  agent.agent = "RXH";
  EXPECT_EQ(this->Seqs(agent), (V{12, 9, 6, 3}));
  agent.agent = "RJ1";
  agent.nhs_number = "9000000009";
  EXPECT_TRUE(this->Seqs(agent).empty());  // RJ1 asked only about the other patient
  agent.agent = "RGT";
  agent.limit = 2;
  EXPECT_EQ(this->Seqs(agent), (V{11, 9}));

  core::LedgerQuery target;
  target.target = "Bundle/b2";
  EXPECT_EQ(this->Seqs(target), (V{2}));

  core::LedgerQuery kinds;
  kinds.kinds = {"refusal", "response"};  // seq % 3 == 2 or 1
  kinds.from_ms = 1004;                   // recorded_at = 1000 + seq
  kinds.to_ms = 1008;
  EXPECT_EQ(this->Seqs(kinds), (V{8, 7, 5, 4}));

  core::LedgerQuery failed;
  failed.outcome = 4;
  EXPECT_EQ(this->Seqs(failed), (V{12, 8, 4}));
  failed.outcome = 0;
  failed.to_ms = 1003;
  EXPECT_EQ(this->Seqs(failed), (V{3, 2, 1}));
}

// The destination index leaves out a destination that is also the row's source or requester
// (migration 008): the agent search must still find the row by it, once.
TYPED_TEST_P(LedgerStoreTest, AnAgentIsFoundWhereverItIsNamedAndOnce) {
  std::vector<core::LedgerRecord> rows;
  const auto add = [&](std::string requester, std::string source, std::string destination) {
    core::LedgerRecord row = this->Row(static_cast<std::int64_t>(rows.size()) + 1);
    row.index =
        core::LedgerIndex{std::move(requester), std::move(source), std::move(destination), "", 0};
    rows.push_back(std::move(row));
  };
  add("RJ1", "T01", "T01");  // 1: a query hop: the trust asked is its source and destination
  add("RJ1", "", "RJ1");     // 2: a response hop: the requester is its destination
  add("", "RGT", "RXH");     // 3: a delivery: the destination alone
  add("RJ1", "", "PEER");    // 4: a response to a peer for requester RJ1
  add("", "T01", "");        // 5
  ASSERT_TRUE(this->repository_->Append(rows, nullptr));
  using V = std::vector<std::int64_t>;
  const auto agent = [&](std::string ods) {
    core::LedgerQuery query;
    query.agent = std::move(ods);
    query.newest_first = false;
    return this->Seqs(query);
  };
  EXPECT_EQ(agent("T01"), (V{1, 5}));
  EXPECT_EQ(agent("RJ1"), (V{1, 2, 4}));
  EXPECT_EQ(agent("RXH"), (V{3}));
  EXPECT_EQ(agent("RGT"), (V{3}));
  EXPECT_EQ(agent("PEER"), (V{4}));
  EXPECT_TRUE(agent("R00").empty());

  // With the other criteria and keyset pages (each branch of the agent search repeats them).
  core::LedgerQuery page;
  page.agent = "RJ1";
  page.limit = 1;
  std::vector<std::int64_t> newest_first;
  for (std::vector<std::int64_t> got = this->Seqs(page); !got.empty(); got = this->Seqs(page)) {
    newest_first.insert(newest_first.end(), got.begin(), got.end());
    page.after_seq = got.back();
  }
  EXPECT_EQ(newest_first, (V{4, 2, 1}));
  core::LedgerQuery narrowed;
  narrowed.agent = "T01";
  narrowed.from_ms = 1002;  // recorded_at = 1000 + seq
  narrowed.kinds = {"query"};
  narrowed.nhs_number = "9449305552";
  EXPECT_EQ(this->Seqs(narrowed), (V{5}));
  narrowed.to_ms = 1004;
  EXPECT_TRUE(this->Seqs(narrowed).empty());
}

TYPED_TEST_P(LedgerStoreTest, SearchPagesByKeysetInBothDirections) {
  this->AppendRows(7);
  using V = std::vector<std::int64_t>;
  core::LedgerQuery query;
  query.limit = 3;
  EXPECT_EQ(this->Seqs(query), (V{7, 6, 5}));
  query.after_seq = 5;
  EXPECT_EQ(this->Seqs(query), (V{4, 3, 2}));
  query.after_seq = 2;
  EXPECT_EQ(this->Seqs(query), (V{1}));
  query.newest_first = false;
  query.after_seq = 5;
  EXPECT_EQ(this->Seqs(query), (V{6, 7}));
  query.limit = 0;
  EXPECT_TRUE(this->Seqs(query).empty());
}

REGISTER_TYPED_TEST_SUITE_P(
    LedgerStoreTest, EmptyLedgerHasNoLastRecord, AppendedRowsReadBackExactly, ReadRangePagesBySeq,
    AnExistingSeqIsAConflictAndNothingIsWritten, ABatchOfManyStatementsIsWrittenWholeOrNotAtAll,
    CheckpointsAreStoredWithRowsOrAlone, SearchByNhsNumberListsOnePatientInOrder,
    SearchByPatientAgentTargetKindOutcomeAndDate, AnAgentIsFoundWhereverItIsNamedAndOnce,
    SearchPagesByKeysetInBothDirections);

}  // namespace tb::store::testing
