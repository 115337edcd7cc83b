// The ledger over InMemoryLedgerStore: append/verify, tampering of every kind, checkpoints,
// concurrency, journey. (ledger_sqlite_test.cpp repeats the tampering with SQL on SQLite.)
#include "broker/ledger/ledger.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "broker/core/digest.h"
#include "broker/ledger/canonical_json.h"
#include "broker/ledger/entry.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/verify.h"
#include "tests/broker/ledger/ledger_test_util.h"
#include "tests/support/test_pki.h"

namespace tb::ledger {
namespace {

using tb::testing::TestPki;
using testing::MakeHop;
using Records = std::map<std::int64_t, core::LedgerRecord>;
using Checkpoints = std::map<std::int64_t, core::LedgerCheckpoint>;

std::unique_ptr<CheckpointSigner> BrokerSigner() {
  auto signer = CheckpointSigner::FromPemFile(TestPki::Get().Key(TestPki::kBrokerA));
  EXPECT_TRUE(signer) << signer.error().message;
  return signer ? std::move(*signer) : nullptr;
}

std::unique_ptr<CheckpointVerifier> BrokerVerifier() {
  auto verifier = CheckpointVerifier::FromPemFile(TestPki::Get().Cert(TestPki::kBrokerA));
  EXPECT_TRUE(verifier) << verifier.error().message;
  return verifier ? std::move(*verifier) : nullptr;
}

std::string Rehash(core::LedgerRecord& record) {
  record.hash = core::Sha256Hex(record.prev_hash + record.canonical);
  return record.hash;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = BrokerSigner();
    verifier_ = BrokerVerifier();
    ASSERT_TRUE(signer_ && verifier_);
  }

  void OpenLedger(LedgerSettings settings = {.checkpoint_every = 0}) {
    auto ledger = Ledger::Open(store_, clock_, signer_.get(), settings);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ledger_ = std::move(*ledger);
  }

  // Appends n hops alternating between two patients.
  void AppendHops(int n) {
    for (int i = 1; i <= n; ++i) {
      auto receipt =
          ledger_->Append(MakeHop(i % 3 == 0 ? HopKind::kResponse : HopKind::kQuery,
                                  i % 2 == 0 ? testing::kPatientA : testing::kPatientB, i));
      ASSERT_TRUE(receipt) << receipt.error().message;
    }
  }

  VerifyReport Verify(const VerifyOptions& options = {}) {
    auto report = VerifyLedger(store_, *verifier_, options);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : VerifyReport{};
  }

  void ExpectFailure(std::int64_t seq, VerifyProblem problem, const VerifyOptions& options = {}) {
    const VerifyReport report = Verify(options);
    ASSERT_TRUE(report.failure.has_value()) << "tampering not detected";
    EXPECT_EQ(report.failure->seq, seq) << report.failure->detail;
    EXPECT_EQ(ToString(report.failure->problem), ToString(problem)) << report.failure->detail;
  }

  void Edit(const std::function<void(Records&, Checkpoints&)>& edit) { store_.EditForTest(edit); }

  testing::SteppingClock clock_;
  InMemoryLedgerStore store_;
  std::unique_ptr<CheckpointSigner> signer_;
  std::unique_ptr<CheckpointVerifier> verifier_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, AppendsAChainThatVerifies) {
  OpenLedger();
  AppendHops(10);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, 10);
  auto records = store_.ReadRange(1, 100);
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 10u);
  EXPECT_EQ((*records)[0].prev_hash, kGenesisHash);
  for (std::size_t i = 1; i < records->size(); ++i) {
    EXPECT_EQ((*records)[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ((*records)[i].prev_hash, (*records)[i - 1].hash);
  }
  EXPECT_EQ(report.head_hash, records->back().hash);
  EXPECT_EQ(report.unsigned_tail, 10);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(PrintVerifyReport(report, out, err), 0);
  EXPECT_NE(out.str().find("audit ledger OK: 10 records"), std::string::npos) << out.str();
}

// Records chained by another store's transaction (ChainDrafts, as SqlInboundStore does for
// inbound hops) and the ledger's own appends form one chain that verifies, checkpoints included,
// and the head that Checkpoint() signs is the newest of either.
TEST_F(LedgerTest, DraftsChainedInAnotherTransactionAndAppendsShareOneChain) {
  OpenLedger({.checkpoint_every = 3});
  AppendHops(2);
  std::vector<core::LedgerDraft> drafts;
  for (int i = 3; i <= 4; ++i) {
    auto draft = Ledger::Draft(MakeHop(HopKind::kInbound, testing::kPatientA, i));
    ASSERT_TRUE(draft) << draft.error().message;
    drafts.push_back(std::move(*draft));
  }
  // What the inbound store does inside its batch transaction.
  auto written = store_.AppendAtHead([&](std::int64_t seq, const std::string& hash) {
    return ledger_->ChainDrafts(drafts, seq, hash);
  });
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->records.size(), 2u);
  EXPECT_EQ(written->records.front().seq, 3);
  EXPECT_TRUE(written->checkpoint.has_value()) << "seq 3 crossed checkpoint_every";
  ledger_->Committed(*written);
  EXPECT_EQ(ledger_->stats().records, 4u);

  AppendHops(1);  // the ledger's own committer continues behind the drafts
  auto checkpoint = ledger_->Checkpoint();
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  EXPECT_EQ(checkpoint->count, 5);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, 5);

  EXPECT_FALSE(Ledger::Draft(HopRecord{})) << "an invalid hop makes no draft";
}

TEST_F(LedgerTest, EmptyLedgerVerifies) { EXPECT_TRUE(Verify().ok()); }

TEST_F(LedgerTest, ReopenedLedgerContinuesTheChain) {
  OpenLedger();
  AppendHops(3);
  ledger_.reset();
  OpenLedger();
  auto receipt = ledger_->Append(MakeHop(HopKind::kDelivery, testing::kPatientA, 4));
  ASSERT_TRUE(receipt);
  EXPECT_EQ(receipt->seq, 4);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(LedgerTest, RecordsCanonicalEntryWithColumnsAndNoPayload) {
  OpenLedger();
  HopRecord hop = MakeHop(HopKind::kInbound, testing::kPatientA, 1);
  ASSERT_TRUE(ledger_->Append(hop));
  auto records = store_.ReadRange(1, 1);
  ASSERT_TRUE(records && records->size() == 1);
  const core::LedgerRecord& record = records->front();
  EXPECT_EQ(record.kind, "inbound");
  EXPECT_EQ(record.nhs_number, testing::kPatientA);
  // Version 2: the hop's facts, not its rendering; the resources are built on read.
  EXPECT_EQ(record.canonical.rfind("{\"hop\":{\"broker\":", 0), 0u) << record.canonical;
  EXPECT_NE(record.canonical.find("\"seq\":1,\"v\":2}"), std::string::npos);
  EXPECT_LT(record.canonical.size(), 600u) << record.canonical;
  auto stored = fhir::ParseJson(record.canonical);
  ASSERT_TRUE(stored);
  EXPECT_EQ(CanonicalJson(*stored).value_or(""), record.canonical);  // canonical as stored
  EXPECT_EQ(record.index, IndexOf(hop));
  auto entry = ParseEntry(record);
  ASSERT_TRUE(entry);
  EXPECT_TRUE((*entry)["provenance"].IsObject());
  EXPECT_TRUE((*entry)["audit_event"].IsObject());
  // Built from the facts: the same resources the hop renders to, recorded at the ledger's time.
  rapidjson::Document expected = BuildAuditEvent(hop, record.recorded_ms);
  EXPECT_EQ(fhir::ToJson((*entry)["audit_event"]), fhir::ToJson(expected));
}

TEST_F(LedgerTest, EveryHopFactSurvivesTheEntry) {
  OpenLedger();
  HopRecord hop = MakeHop(HopKind::kDelivery, testing::kPatientB, 7);
  hop.derived = true;
  hop.mapped_v2_to_fhir = true;
  hop.target = "Bundle/b-1";
  hop.outcome = HopOutcome::kSeriousFailure;
  hop.outcome_detail = "kUpstreamUnavailable \"quoted\" caf\xC3\xA9";
  ASSERT_TRUE(ledger_->Append(hop));
  auto records = store_.ReadRange(1, 1);
  ASSERT_TRUE(records && records->size() == 1);
  auto stored = ReadStoredEntry(records->front());
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_TRUE(stored->hop.has_value());
  const std::int64_t recorded = records->front().recorded_ms;
  EXPECT_EQ(fhir::ToJson(BuildProvenance(*stored->hop, recorded)),
            fhir::ToJson(BuildProvenance(hop, recorded)));
  EXPECT_EQ(fhir::ToJson(BuildAuditEvent(*stored->hop, recorded)),
            fhir::ToJson(BuildAuditEvent(hop, recorded)));
  EXPECT_EQ(HopFactsJson(*stored->hop), HopFactsJson(hop));
  EXPECT_EQ(records->front().index.outcome, 8);
  EXPECT_EQ(records->front().index.target, "Bundle/b-1");
  EXPECT_TRUE(Verify().ok());
}

TEST_F(LedgerTest, SearchFiltersByIndexedKeysNewestFirstWithKeyset) {
  OpenLedger();
  AppendHops(9);  // 3, 6, 9 are responses; even seqs are patient A
  core::LedgerQuery query;
  query.nhs_number = testing::kPatientA;
  query.limit = 2;
  auto first = ledger_->Search(query);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].seq, 8);
  EXPECT_EQ((*first)[1].seq, 6);
  query.after_seq = 6;
  auto second = ledger_->Search(query);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].seq, 4);
  EXPECT_EQ((*second)[1].seq, 2);

  core::LedgerQuery responses;
  responses.kinds = {"response"};
  responses.newest_first = false;
  responses.agent = "RJ1";
  auto found = ledger_->Search(responses);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*found)[0].seq, 3);
  EXPECT_EQ((*found)[2].seq, 9);
  responses.agent = "RZZ";
  EXPECT_TRUE(ledger_->Search(responses).value().empty());

  core::LedgerQuery bad;
  bad.nhs_number = "1234567890";
  auto refused = ledger_->Search(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kInvalidValue);
}

TEST_F(LedgerTest, InvalidHopIsRefusedAndNothingIsWritten) {
  OpenLedger();
  auto receipt = ledger_->Append(MakeHop(HopKind::kQuery, "1234567890"));
  ASSERT_FALSE(receipt);
  EXPECT_EQ(receipt.error().code, core::ErrorCode::kInvalidValue);
  auto last = store_.Last();
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->has_value());
}

TEST_F(LedgerTest, JourneyListsOnePatientsRecordsInOrder) {
  OpenLedger();
  AppendHops(9);
  auto journey = ledger_->Journey(testing::kPatientA);
  ASSERT_TRUE(journey);
  ASSERT_EQ(journey->size(), 4u);  // seq 2, 4, 6, 8
  for (std::size_t i = 0; i < journey->size(); ++i) {
    EXPECT_EQ((*journey)[i].seq, static_cast<std::int64_t>(2 * (i + 1)));
    EXPECT_EQ((*journey)[i].nhs_number, testing::kPatientA);
  }
  EXPECT_FALSE(ledger_->Journey("123"));
  // A page: after seq 2, at most two.
  auto page = ledger_->Journey(testing::kPatientA, 2, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 4);
  EXPECT_EQ((*page)[1].seq, 6);
}

TEST_F(LedgerTest, ManyThreadsAppendOneValidChain) {
  OpenLedger({.checkpoint_every = 50});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 60;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &seqs] {
      for (int i = 0; i < kPerThread; ++i) {
        auto receipt = ledger_->Append(MakeHop(HopKind::kQuery, testing::kPatientA, t * 1000 + i));
        if (receipt) {
          seqs[static_cast<std::size_t>(t)].push_back(receipt->seq);
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  std::set<std::int64_t> all;
  for (const auto& list : seqs) {
    EXPECT_EQ(list.size(), static_cast<std::size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
    all.insert(list.begin(), list.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, kThreads * kPerThread);
  EXPECT_GE(report.checkpoints, 1);  // one per crossed multiple of 50 (batches may span several)
}

TEST_F(LedgerTest, AsyncAppendsFromTwoThreadsReportEveryRecordOnceInOneValidChain) {
  OpenLedger({.checkpoint_every = 100});
  constexpr int kThreads = 2;
  constexpr int kPerThread = 300;
  std::mutex mutex;
  std::condition_variable reported;
  std::vector<std::int64_t> seqs;
  int failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ledger_->AppendAsync(MakeHop(HopKind::kQuery, testing::kPatientA, t * 1000 + i),
                             [&](core::Result<AppendReceipt> receipt) {
                               std::lock_guard lock(mutex);
                               if (receipt) {
                                 seqs.push_back(receipt->seq);
                               } else {
                                 ++failures;
                               }
                               reported.notify_one();
                             });
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  {
    std::unique_lock lock(mutex);
    reported.wait(
        lock, [&] { return static_cast<int>(seqs.size()) + failures == kThreads * kPerThread; });
  }
  EXPECT_EQ(failures, 0);
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end());  // each seq once
  EXPECT_EQ(seqs.front(), 1);
  EXPECT_EQ(seqs.back(), kThreads * kPerThread);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << report.failure->detail;
  EXPECT_EQ(report.records, kThreads * kPerThread);
  EXPECT_LT(ledger_->stats().batches, static_cast<std::uint64_t>(kThreads * kPerThread));
}

// After a large batch the committer waits for as many records again, and appenders notify it
// only once that many are queued: a record arriving alone must still be committed (the wait
// ends at its timeout), and so must every later one.
TEST_F(LedgerTest, LoneRecordsAfterALargeBatchAreCommitted) {
  OpenLedger();
  constexpr int kBurst = 200;
  std::mutex mutex;
  std::condition_variable reported;
  int done = 0;
  for (int i = 1; i <= kBurst; ++i) {
    ledger_->AppendAsync(MakeHop(HopKind::kQuery, testing::kPatientA, i),
                         [&](core::Result<AppendReceipt> receipt) {
                           EXPECT_TRUE(receipt);
                           std::lock_guard lock(mutex);
                           ++done;
                           reported.notify_one();
                         });
  }
  {
    std::unique_lock lock(mutex);
    reported.wait(lock, [&] { return done == kBurst; });
  }
  ASSERT_LT(ledger_->stats().batches, static_cast<std::uint64_t>(kBurst));  // batches formed
  for (int i = 1; i <= 3; ++i) {
    auto receipt = ledger_->Append(MakeHop(HopKind::kQuery, testing::kPatientB, kBurst + i));
    ASSERT_TRUE(receipt) << receipt.error().message;
    EXPECT_EQ(receipt->seq, kBurst + i);
  }
  EXPECT_EQ(Verify().records, kBurst + 3);
}

TEST_F(LedgerTest, AsyncAppendOfAnInvalidHopReportsTheErrorAtOnce) {
  OpenLedger();
  const HopRecord hop = MakeHop(HopKind::kQuery, "1234567890");  // fails the NHS check digit
  std::optional<core::Result<AppendReceipt>> got;
  ledger_->AppendAsync(hop, [&](core::Result<AppendReceipt> receipt) { got = std::move(receipt); });
  ASSERT_TRUE(got.has_value());  // in this thread, before AppendAsync returned
  EXPECT_EQ(got->error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(Verify().records, 0);
}

// One request's records, queued together: the committer (idle) finds them all at once, so they
// are one batch, in the order given, and the callback runs once, after all are durable.
TEST_F(LedgerTest, AppendAllAsyncCommitsARequestsRecordsTogetherAndReportsOnce) {
  OpenLedger();
  std::vector<HopRecord> hops;
  for (int i = 1; i <= 5; ++i) {
    hops.push_back(MakeHop(HopKind::kQuery, testing::kPatientA, i));
  }
  std::mutex mutex;
  std::condition_variable reported;
  std::vector<core::Status> calls;
  ledger_->AppendAllAsync(hops, [&](core::Status status) {
    std::lock_guard lock(mutex);
    calls.push_back(std::move(status));
    reported.notify_one();
  });
  {
    std::unique_lock lock(mutex);
    reported.wait(lock, [&] { return !calls.empty(); });
  }
  ledger_.reset();  // nothing more can report
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0]);
  auto records = store_.ReadRange(1, 10);
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 5u);
  for (std::size_t i = 0; i < records->size(); ++i) {
    EXPECT_NE((*records)[i].canonical.find("\"req-" + std::to_string(i + 1) + "\""),
              std::string::npos)
        << (*records)[i].canonical;
  }
  EXPECT_EQ(Verify().records, 5);
}

TEST_F(LedgerTest, AppendAllAsyncCommitsTheGroupInOneBatch) {
  OpenLedger();
  std::vector<HopRecord> hops;
  for (int i = 1; i <= 8; ++i) {
    hops.push_back(MakeHop(HopKind::kQuery, testing::kPatientA, i));
  }
  std::promise<core::Status> done;
  ledger_->AppendAllAsync(hops, [&](core::Status status) { done.set_value(std::move(status)); });
  ASSERT_TRUE(done.get_future().get());
  EXPECT_EQ(ledger_->stats().batches, 1u);
  EXPECT_EQ(ledger_->stats().records, 8u);
}

TEST_F(LedgerTest, AppendAllAsyncWithAnInvalidHopAppendsNoneOfThem) {
  OpenLedger();
  std::vector<HopRecord> hops = {MakeHop(HopKind::kQuery, testing::kPatientA, 1),
                                 MakeHop(HopKind::kQuery, "1234567890", 2),  // bad check digit
                                 MakeHop(HopKind::kQuery, testing::kPatientA, 3)};
  std::optional<core::Status> got;
  ledger_->AppendAllAsync(hops, [&](core::Status status) { got = std::move(status); });
  ASSERT_TRUE(got.has_value());  // in this thread, before AppendAllAsync returned
  EXPECT_EQ(got->error().code, core::ErrorCode::kInvalidValue);
  std::optional<core::Status> empty;
  ledger_->AppendAllAsync({}, [&](core::Status status) { empty = std::move(status); });
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(*empty);
  ledger_.reset();
  EXPECT_EQ(Verify().records, 0);
}

TEST_F(LedgerTest, AsyncAppendsQueuedBeforeTheLedgerCloses) {
  OpenLedger();
  std::atomic<int> committed{0};
  for (int i = 1; i <= 50; ++i) {
    ledger_->AppendAsync(MakeHop(HopKind::kQuery, testing::kPatientA, i),
                         [&](core::Result<AppendReceipt> receipt) {
                           if (receipt) {
                             committed.fetch_add(1);
                           }
                         });
  }
  ledger_.reset();  // commits what is queued, reports it, then stops
  EXPECT_EQ(committed.load(), 50);
  EXPECT_EQ(Verify().records, 50);
}

// ---- tampering -------------------------------------------------------------------------------

TEST_F(LedgerTest, OneChangedByteIsAltered) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    std::string& canonical = records.at(5).canonical;
    canonical[canonical.find("TREAT")] = 'X';
  });
  ExpectFailure(5, VerifyProblem::kAltered);
}

TEST_F(LedgerTest, AChangedSearchColumnIsAltered) {
  OpenLedger();
  AppendHops(10);
  // Hiding a record from an agent's search (or pinning it on another trust) is tampering too.
  Edit([](Records& records, Checkpoints&) { records.at(4).index.requester_ods = "RZZ"; });
  ExpectFailure(4, VerifyProblem::kAltered);
}

TEST_F(LedgerTest, RewrittenRecordWithRecomputedHashIsAltered) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    core::LedgerRecord& record = records.at(5);
    record.canonical.replace(record.canonical.find("RJ1"), 3, "RZZ");
    Rehash(record);
  });
  ExpectFailure(5, VerifyProblem::kAltered);
}

TEST_F(LedgerTest, ChangedNhsNumberColumnIsAltered) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) { records.at(4).nhs_number = testing::kPatientB; });
  ExpectFailure(4, VerifyProblem::kAltered);
}

TEST_F(LedgerTest, DeletedRecordIsAGap) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) { records.erase(6); });
  ExpectFailure(6, VerifyProblem::kDeleted);
}

TEST_F(LedgerTest, DeletedRecordWithRenumberingIsDeleted) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    records.erase(6);
    for (std::int64_t seq = 7; seq <= 10; ++seq) {
      auto node = records.extract(seq);
      node.key() = seq - 1;
      node.mapped().seq = seq - 1;
      records.insert(std::move(node));
    }
  });
  ExpectFailure(6, VerifyProblem::kDeleted);
}

TEST_F(LedgerTest, SwappedRecordsAreReordered) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    std::swap(records.at(5), records.at(6));
    records.at(5).seq = 5;
    records.at(6).seq = 6;
  });
  ExpectFailure(5, VerifyProblem::kReordered);
}

TEST_F(LedgerTest, ForgedRecordInsertedWithValidHashIsInserted) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    for (std::int64_t seq = 10; seq >= 5; --seq) {
      auto node = records.extract(seq);
      node.key() = seq + 1;
      node.mapped().seq = seq + 1;
      records.insert(std::move(node));
    }
    core::LedgerRecord forged = records.at(4);  // a plausible copy linked behind seq 4
    forged.seq = 5;
    forged.canonical.replace(forged.canonical.find("\"seq\":4"), 7, "\"seq\":5");
    forged.prev_hash = records.at(4).hash;
    Rehash(forged);
    records.emplace(5, forged);
  });
  ExpectFailure(5, VerifyProblem::kInserted);
}

TEST_F(LedgerTest, GarbageRecordInsertedIsInserted) {
  OpenLedger();
  AppendHops(10);
  Edit([](Records& records, Checkpoints&) {
    for (std::int64_t seq = 10; seq >= 3; --seq) {
      auto node = records.extract(seq);
      node.key() = seq + 1;
      node.mapped().seq = seq + 1;
      records.insert(std::move(node));
    }
    core::LedgerRecord garbage;
    garbage.seq = 3;
    garbage.kind = "query";
    garbage.canonical = "{}";
    garbage.prev_hash = records.at(2).hash;
    garbage.hash = std::string(64, 'a');
    records.emplace(3, garbage);
  });
  ExpectFailure(3, VerifyProblem::kInserted);
}

TEST_F(LedgerTest, StoredCheckpointWithBadSignatureIsReported) {
  OpenLedger();
  AppendHops(5);
  ASSERT_TRUE(ledger_->Checkpoint());
  EXPECT_TRUE(Verify().ok());
  Edit([](Records&, Checkpoints& checkpoints) {
    std::string& signature = checkpoints.at(5).signature;
    signature[10] = signature[10] == 'A' ? 'B' : 'A';
  });
  ExpectFailure(5, VerifyProblem::kBadSignature);
}

TEST_F(LedgerTest, CheckpointSignedWithAnotherKeyIsReported) {
  auto other = CheckpointSigner::FromPemFile(TestPki::Get().Key(TestPki::kBrokerB));
  ASSERT_TRUE(other);
  OpenLedger();
  AppendHops(3);
  auto records = store_.ReadRange(3, 1);
  ASSERT_TRUE(records);
  auto forged = (*other)->Sign(3, records->front().hash, 1);
  ASSERT_TRUE(forged);
  ASSERT_TRUE(store_.WriteCheckpoint(*forged));
  ExpectFailure(3, VerifyProblem::kBadSignature);
}

TEST_F(LedgerTest, CheckpointWithWrongHeadIsAMismatch) {
  OpenLedger();
  AppendHops(6);
  auto checkpoint = signer_->Sign(4, std::string(64, 'b'), 1);
  ASSERT_TRUE(checkpoint);
  ASSERT_TRUE(store_.WriteCheckpoint(*checkpoint));
  ExpectFailure(4, VerifyProblem::kCheckpointMismatch);
}

TEST_F(LedgerTest, AutomaticCheckpointsAreSignedAndStored) {
  OpenLedger({.checkpoint_every = 4});
  AppendHops(9);  // one record per batch here: checkpoints at 4 and 8
  auto checkpoints = store_.ReadCheckpoints();
  ASSERT_TRUE(checkpoints);
  ASSERT_EQ(checkpoints->size(), 2u);
  EXPECT_EQ((*checkpoints)[0].count, 4);
  EXPECT_EQ((*checkpoints)[1].count, 8);
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.unsigned_tail, 1);
}

TEST_F(LedgerTest, TailCutIsFoundWithAnExportedCheckpoint) {
  OpenLedger();
  AppendHops(10);
  auto checkpoint = ledger_->Checkpoint();
  ASSERT_TRUE(checkpoint);
  // A peer holds the exported checkpoint.
  auto held = CheckpointFromJson(CheckpointToJson(*checkpoint));
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(verifier_->Verify(*held));
  // The insider cuts the last three records and the stored checkpoint: the chain alone holds.
  Edit([](Records& records, Checkpoints& checkpoints) {
    records.erase(8);
    records.erase(9);
    records.erase(10);
    checkpoints.clear();
  });
  EXPECT_TRUE(Verify().ok());
  ExpectFailure(8, VerifyProblem::kTailCut, {.external_checkpoints = {*held}});
}

TEST_F(LedgerTest, TailCutBelowAStoredCheckpointIsFound) {
  OpenLedger();
  AppendHops(10);
  ASSERT_TRUE(ledger_->Checkpoint());
  Edit([](Records& records, Checkpoints&) { records.erase(10); });
  ExpectFailure(10, VerifyProblem::kTailCut);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(PrintVerifyReport(Verify(), out, err), 1);
  EXPECT_NE(err.str().find("FAILED at seq 10: tail cut"), std::string::npos) << err.str();
}

TEST_F(LedgerTest, FirstProblemWinsOverLaterOnes) {
  OpenLedger();
  AppendHops(10);
  ASSERT_TRUE(ledger_->Checkpoint());
  Edit([](Records& records, Checkpoints& checkpoints) {
    records.at(3).canonical += " ";
    checkpoints.at(10).signature = "AAAA";
  });
  ExpectFailure(3, VerifyProblem::kAltered);
}

TEST_F(LedgerTest, VerifyWalksAcrossPages) {
  OpenLedger();
  AppendHops(25);
  EXPECT_TRUE(Verify({.page_size = 4}).ok());
  Edit([](Records& records, Checkpoints&) {
    std::swap(records.at(12), records.at(13));
    records.at(12).seq = 12;
    records.at(13).seq = 13;
  });
  ExpectFailure(12, VerifyProblem::kReordered, {.page_size = 4});
}

TEST(CheckpointSigner, RefusesMissingAndNonKeyFiles) {
  EXPECT_EQ(CheckpointSigner::FromPemFile("/nonexistent/key.pem").error().code,
            core::ErrorCode::kConfig);
  EXPECT_EQ(CheckpointSigner::FromPem("not a key").error().code, core::ErrorCode::kConfig);
  EXPECT_EQ(CheckpointVerifier::FromPem("not a cert").error().code, core::ErrorCode::kConfig);
}

// The broker's key, encrypted under a passphrase: refused with a config error, never a prompt
// on the terminal (OpenSSL's default when no passphrase callback is given).
TEST(CheckpointSigner, RefusesAnEncryptedKeyWithoutAskingForItsPassphrase) {
  const std::string encrypted = TestPki::Get().EncryptedKeyPem(TestPki::kBrokerA, "secret");
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_EQ(CheckpointSigner::FromPem(encrypted).error().code, core::ErrorCode::kConfig);
}

TEST(CheckpointSigner, KeyIdOfKeyAndCertificateAgree) {
  auto signer = BrokerSigner();
  auto verifier = BrokerVerifier();
  ASSERT_TRUE(signer && verifier);
  EXPECT_EQ(signer->key_id(), verifier->key_id());
  EXPECT_EQ(signer->key_id().size(), 64u);
}

TEST(CheckpointJson, RefusesBadInput) {
  EXPECT_FALSE(CheckpointFromJson("{"));
  EXPECT_FALSE(CheckpointFromJson(R"({"count":"1"})"));
  EXPECT_FALSE(CheckpointFromJson(R"({"count":1,"time_ms":2,"head_hash":"x","key_id":"k"})"));
}

}  // namespace
}  // namespace tb::ledger
