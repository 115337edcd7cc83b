// The WAL syncer (broker/store/sqlite_wal_syncer.h): commits' callers are answered only after an
// fdatasync that began after their commit, in commit order, one sync covering every commit before
// it; a failed sync fails every waiting and later write (fail-stop). Then the same through a real
// SQLite store: an inbound message committed (visible to readers) is not acknowledged until the
// WAL's sync returns.

#include "broker/store/sqlite_wal_syncer.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/store/sqlite_wal_write_buffer.h"
#include "tests/broker/store/store_test_support.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait_for.h"

namespace tb::store {
namespace {

using core::ErrorCode;

// A sync call that blocks until the test lets it return, counting the calls that have begun.
class HeldSync {
 public:
  SqliteWalSyncer::SyncCall Call() {
    return [this](int /*fd*/) {
      std::unique_lock lock(mutex_);
      ++begun_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return released_ >= begun_; });
      return result_;
    };
  }
  int begun() {
    std::lock_guard lock(mutex_);
    return begun_;
  }
  // Lets the sync calls begun so far return `result` (0 or an errno).
  void Release(int result = 0) {
    std::lock_guard lock(mutex_);
    released_ = begun_;
    result_ = result;
    changed_.notify_all();
  }
  // Every call from now on returns at once.
  void Open() {
    std::lock_guard lock(mutex_);
    released_ = 1 << 30;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int begun_ = 0;
  int released_ = 0;
  int result_ = 0;
};

class WalSyncerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    wal_ = (dir_.path() / "store.db-wal").string();
    std::ofstream(wal_) << "frames";
  }

  // Appends `name` to the answers when `number`'s sync is known.
  void After(SqliteWalSyncer& syncer, std::uint64_t number, const std::string& name) {
    syncer.AfterSync(number, [this, name](core::Status status) {
      std::lock_guard lock(mutex_);
      answers_.push_back(name + (status ? "" : " failed"));
    });
  }
  std::vector<std::string> answers() {
    std::lock_guard lock(mutex_);
    return answers_;
  }
  // `syncer` calling `held`, with commit "first" waiting in its first, held, sync.
  void HoldTheFirstSync(SqliteWalSyncer& syncer, HeldSync& held) {
    syncer.SetSyncCallForTest(held.Call());
    After(syncer, syncer.Committed(), "first");
    ASSERT_TRUE(tb::testing::WaitFor([&] { return held.begun() == 1; }));
  }

  tb::testing::TempDir dir_;
  std::string wal_;
  core::Logger log_{"tb.store"};
  std::mutex mutex_;
  std::vector<std::string> answers_;
};

TEST_F(WalSyncerTest, AnswersACommitOnlyAfterASyncThatBeganAfterIt) {
  HeldSync held;
  SqliteWalSyncer syncer(wal_, log_);
  ASSERT_NO_FATAL_FAILURE(HoldTheFirstSync(syncer, held));
  // Committed while the first sync runs: that sync may not cover its frames.
  const std::uint64_t second = syncer.Committed();
  const std::uint64_t third = syncer.Committed();
  After(syncer, third, "third");
  After(syncer, second, "second");
  EXPECT_TRUE(answers().empty()) << "answered before its sync returned";

  held.Release();
  ASSERT_TRUE(tb::testing::WaitFor([&] { return held.begun() == 2; }));
  EXPECT_EQ(answers(), std::vector<std::string>{"first"});

  held.Release();  // one sync for both commits made during the first
  ASSERT_TRUE(tb::testing::WaitFor([&] { return answers().size() == 3; }));
  EXPECT_EQ(answers(), (std::vector<std::string>{"first", "second", "third"})) << "commit order";
  EXPECT_EQ(syncer.syncs(), 2U);

  // Already on disk: answered at once, on the caller's thread, without another sync.
  After(syncer, second, "again");
  EXPECT_EQ(answers().back(), "again");
  EXPECT_EQ(syncer.syncs(), 2U);
  EXPECT_TRUE(syncer.health());
}

TEST_F(WalSyncerTest, AFailedSyncFailsEveryWaitingAndLaterCommit) {
  HeldSync held;
  SqliteWalSyncer syncer(wal_, log_);
  ASSERT_NO_FATAL_FAILURE(HoldTheFirstSync(syncer, held));
  const std::uint64_t second = syncer.Committed();
  After(syncer, second, "second");
  held.Release(EIO);
  ASSERT_TRUE(tb::testing::WaitFor([&] { return answers().size() == 2; }));
  EXPECT_EQ(answers(), (std::vector<std::string>{"first failed", "second failed"}))
      << "a commit after the failed sync is not trusted either: the kernel may have dropped "
         "pages it had not yet written";
  ASSERT_FALSE(syncer.health());
  EXPECT_EQ(syncer.health().error().code, ErrorCode::kStorage);
  EXPECT_NE(syncer.health().error().message.find("fdatasync"), std::string::npos);

  After(syncer, syncer.Committed(), "later");
  EXPECT_EQ(answers().back(), "later failed");
  EXPECT_EQ(held.begun(), 1) << "no sync is tried after a failed one";
}

TEST_F(WalSyncerTest, StopSyncsWhatIsWaitingAndRefusesLaterCommits) {
  SqliteWalSyncer syncer(wal_, log_);
  std::atomic<int> calls{0};
  syncer.SetSyncCallForTest([&calls](int fd) {
    ++calls;
    return fd >= 0 ? 0 : EBADF;  // the real WAL file was opened
  });
  After(syncer, syncer.Committed(), "first");
  syncer.Stop();
  EXPECT_EQ(answers(), std::vector<std::string>{"first"});
  EXPECT_GE(calls.load(), 1);
  After(syncer, syncer.Committed(), "after stop");
  EXPECT_EQ(answers().back(), "after stop failed");
}

// A callback that writes (and so waits for the syncer from the syncer's own thread) is refused,
// not left hanging.
TEST_F(WalSyncerTest, AWaitFromItsOwnCallbackIsRefusedNotHung) {
  SqliteWalSyncer syncer(wal_, log_);
  syncer.SetSyncCallForTest([](int) { return 0; });
  std::promise<core::Status> inner;
  syncer.AfterSync(syncer.Committed(),
                   [&](core::Status) { inner.set_value(syncer.WaitFor(syncer.Committed())); });
  std::future<core::Status> waited = inner.get_future();
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const core::Status status = waited.get();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kInternal);
}

// ---- through a SQLite store ------------------------------------------------------------------

class WalSyncedStoreTest : public ::testing::Test {
 protected:
  core::Result<std::unique_ptr<Database>> Open(bool outside_lock = true) {
    StoreSettings settings;
    settings.url = "sqlite:" + (dir_.path() / "store.db").string();
    settings.sync_outside_write_lock = outside_lock;
    return OpenDatabase(settings);
  }
  tb::testing::TempDir dir_;
};

// Issue 8's "ACK after commit" with the fsync outside the write lock: the message is committed
// (a reader sees its row) while the WAL's sync is held, and its caller is answered only once the
// sync returns.
TEST_F(WalSyncedStoreTest, NoAcceptIsAnsweredBeforeTheWalIsSynced) {
  HeldSync held;  // outlives the store's syncer, which calls it
  core::Result<std::unique_ptr<Database>> database = Open();
  ASSERT_TRUE(database) << database.error().message;
  SqliteWalSyncer* syncer = (*database)->impl().wal_syncer_for_test();
  ASSERT_NE(syncer, nullptr);
  syncer->SetSyncCallForTest(held.Call());
  {
    SqlInboundStore store(**database, {});
    const WalSyncCounts before = WalSyncCountsForTest();
    std::promise<core::Result<core::AcceptResult>> answer;
    store.AcceptAsync(testing::MakeMessage("HELD1"),
                      [&answer](core::Result<core::AcceptResult> r) { answer.set_value(r); });
    ASSERT_TRUE(tb::testing::WaitFor([&] { return held.begun() == 1; }));
    EXPECT_EQ(testing::QueryOne<Poco::Int64>(**database, "SELECT COUNT(*) FROM inbound_message")
                  .value_or(-1),
              1)
        << "committed, visible to readers";
    std::future<core::Result<core::AcceptResult>> answered = answer.get_future();
    EXPECT_EQ(answered.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
        << "acknowledged before the WAL was synced";
    EXPECT_GT(WalSyncCountsForTest().deferred, before.deferred) << "COMMIT's own sync deferred";

    held.Release();
    ASSERT_EQ(answered.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    const core::Result<core::AcceptResult> result = answered.get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, core::AcceptOutcome::kStored);
    held.Open();
  }
}

// Fail-stop: once the WAL's sync fails, the waiting message gets kStorage (an error ACK), and so
// does every later write, until the store is opened again.
TEST_F(WalSyncedStoreTest, AFailedWalSyncRefusesEveryLaterWrite) {
  core::Result<std::unique_ptr<Database>> database = Open();
  ASSERT_TRUE(database) << database.error().message;
  SqliteWalSyncer* syncer = (*database)->impl().wal_syncer_for_test();
  ASSERT_NE(syncer, nullptr);
  syncer->SetSyncCallForTest([](int) { return EIO; });
  {
    SqlInboundStore store(**database, {});
    const core::Result<core::AcceptResult> failed = store.Accept(testing::MakeMessage("EIO1"));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, ErrorCode::kStorage);
    const core::Result<core::AcceptResult> later = store.Accept(testing::MakeMessage("EIO2"));
    ASSERT_FALSE(later);
    EXPECT_EQ(later.error().code, ErrorCode::kStorage);
  }
  EXPECT_FALSE(testing::Execute(**database, "CREATE TABLE later (id INTEGER)"));
  (*database)->Close();

  // Reopened (the broker restarted): SQLite recovers what is on disk and writes are taken again.
  core::Result<std::unique_ptr<Database>> reopened = Open();
  ASSERT_TRUE(reopened) << reopened.error().message;
  SqlInboundStore store(**reopened, {});
  const core::Result<core::AcceptResult> resent = store.Accept(testing::MakeMessage("EIO2"));
  ASSERT_TRUE(resent) << resent.error().message;
}

TEST_F(WalSyncedStoreTest, InCommitSyncingHasNoSyncerAndStillStores) {
  core::Result<std::unique_ptr<Database>> database = Open(/*outside_lock=*/false);
  ASSERT_TRUE(database) << database.error().message;
  EXPECT_EQ((*database)->impl().wal_syncer_for_test(), nullptr);
  const WalSyncCounts before = WalSyncCountsForTest();
  SqlInboundStore store(**database, {});
  const core::Result<core::AcceptResult> stored = store.Accept(testing::MakeMessage("INLOCK1"));
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->outcome, core::AcceptOutcome::kStored);
  EXPECT_EQ(WalSyncCountsForTest().deferred, before.deferred);
  EXPECT_GT(WalSyncCountsForTest().real, before.real);
}

}  // namespace
}  // namespace tb::store
