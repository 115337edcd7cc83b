// The WAL write buffer (broker/store/sqlite_wal_write_buffer.h) on real SQLite files: commits of
// every size land whole, other connections read them, and a reopened file holds them all.

#include "broker/store/sqlite_wal_write_buffer.h"

#include <filesystem>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace tb::store {
namespace {

class WalWriteBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InstallSqliteWalWriteBuffer());
    path_ = (dir_.path() / "buffered.db").string();
    BufferWalWritesOf(path_);
  }
  void TearDown() override { StopBufferingWalWritesOf(path_); }

  static sqlite3* Open(const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    Exec(db, "PRAGMA journal_mode = WAL");
    Exec(db, "PRAGMA synchronous = FULL");
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error != nullptr ? error : "");
    sqlite3_free(error);
  }
  static long long Count(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK);
    long long value = -1;
    if (sqlite3_step(statement) == SQLITE_ROW) {
      value = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
    return value;
  }

  tb::testing::TempDir dir_;
  std::string path_;
};

// Commits from one page to several MiB (longer than one buffered run and than one write of the
// unix VFS), a checkpoint in between, and a reader on its own connection after each commit.
TEST_F(WalWriteBufferTest, CommitsOfEverySizeAreReadWholeNowAndAfterReopening) {
  sqlite3* writer = Open(path_);
  sqlite3* reader = Open(path_);
  Exec(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)");
  long long rows = 0;
  for (const int per_commit : {1, 7, 40, 300, 2000}) {
    Exec(writer, "BEGIN IMMEDIATE");
    for (int i = 0; i < per_commit; ++i) {
      Exec(writer, "INSERT INTO t (k, v) VALUES (hex(randomblob(16)), randomblob(1100))");
    }
    Exec(writer, "COMMIT");
    rows += per_commit;
    EXPECT_EQ(Count(reader, "SELECT COUNT(*) FROM t"), rows) << per_commit;
    if (per_commit == 40) {
      Exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
  }
  EXPECT_EQ(sqlite3_close(reader), SQLITE_OK);
  EXPECT_EQ(sqlite3_close(writer), SQLITE_OK);

  StopBufferingWalWritesOf(path_);  // read back through the plain VFS path
  sqlite3* again = Open(path_);
  EXPECT_EQ(Count(again, "SELECT COUNT(*) FROM t"), rows);
  EXPECT_EQ(
      Count(again, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
  EXPECT_EQ(sqlite3_close(again), SQLITE_OK);
  BufferWalWritesOf(path_);
}

// A rolled-back transaction that spilled pages into the WAL leaves the committed rows intact.
TEST_F(WalWriteBufferTest, ARollbackAfterASpillKeepsWhatWasCommitted) {
  sqlite3* writer = Open(path_);
  Exec(writer, "PRAGMA cache_size = 10");  // spill to the WAL mid-transaction
  Exec(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  Exec(writer, "INSERT INTO t (v) VALUES (randomblob(100))");
  Exec(writer, "BEGIN IMMEDIATE");
  for (int i = 0; i < 500; ++i) {
    Exec(writer, "INSERT INTO t (v) VALUES (randomblob(3000))");
  }
  EXPECT_EQ(Count(writer, "SELECT COUNT(*) FROM t"), 501);
  Exec(writer, "ROLLBACK");
  EXPECT_EQ(Count(writer, "SELECT COUNT(*) FROM t"), 1);
  Exec(writer, "INSERT INTO t (v) VALUES (randomblob(100))");
  EXPECT_EQ(sqlite3_close(writer), SQLITE_OK);
  sqlite3* again = Open(path_);
  EXPECT_EQ(Count(again, "SELECT COUNT(*) FROM t"), 2);
  EXPECT_EQ(
      Count(again, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
  EXPECT_EQ(sqlite3_close(again), SQLITE_OK);
}

// Deferred commit syncs (DeferWalSyncs): a commit's sync is written, not fsynced; the sync after a
// new WAL header (the WAL starting from the top) and syncs inside SyncWalForReal stay real, and
// every commit is read by another connection at once.
TEST_F(WalWriteBufferTest, ADeferredCommitSyncStaysRealAfterANewWalHeader) {
  sqlite3* writer = Open(path_);
  sqlite3* reader = Open(path_);
  Exec(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  const auto commit = [&] { Exec(writer, "INSERT INTO t (v) VALUES (randomblob(500))"); };

  WalSyncCounts before = WalSyncCountsForTest();
  {
    const DeferWalSyncs deferred;
    commit();
  }
  WalSyncCounts after = WalSyncCountsForTest();
  EXPECT_EQ(after.deferred - before.deferred, 1U);
  EXPECT_EQ(after.real - before.real, 0U);
  EXPECT_EQ(Count(reader, "SELECT COUNT(*) FROM t"), 1) << "written before COMMIT returned";

  // Everything copied back: the next commit starts the WAL from the top with a new header, which
  // must be on disk before frames carrying its salts.
  Exec(writer, "PRAGMA wal_checkpoint(RESTART)");
  before = WalSyncCountsForTest();
  {
    const DeferWalSyncs deferred;
    commit();
  }
  after = WalSyncCountsForTest();
  EXPECT_EQ(after.real - before.real, 1U) << "the new header's sync";
  EXPECT_EQ(after.deferred - before.deferred, 1U) << "the commit's own";

  before = WalSyncCountsForTest();
  {
    const DeferWalSyncs deferred;
    const SyncWalForReal real;
    commit();
  }
  commit();  // no scope: real
  after = WalSyncCountsForTest();
  EXPECT_EQ(after.real - before.real, 2U);
  EXPECT_EQ(after.deferred - before.deferred, 0U);
  EXPECT_EQ(Count(reader, "SELECT COUNT(*) FROM t"), 4);
  EXPECT_EQ(sqlite3_close(reader), SQLITE_OK);
  EXPECT_EQ(sqlite3_close(writer), SQLITE_OK);
}

}  // namespace
}  // namespace tb::store
