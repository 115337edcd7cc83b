// The background WAL checkpointer (broker/store/sqlite_wal_checkpointer.h) on a real SQLite file:
// the writer's commits wake it, it copies the WAL into the database file while the writer goes
// on, and the writer's backstop still restarts the WAL.

#include "broker/store/sqlite_wal_checkpointer.h"

#include <filesystem>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "tests/support/wait_for.h"

namespace tb::store {
namespace {

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_.path() / "checkpointed.db").string();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &writer_), SQLITE_OK);
    Exec("PRAGMA journal_mode = WAL");
    Exec("PRAGMA synchronous = FULL");
    Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  }
  void TearDown() override { sqlite3_close(writer_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(writer_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error != nullptr ? error : "");
    sqlite3_free(error);
  }
  // One commit of about `pages` new pages.
  void Commit(int pages) {
    Exec("BEGIN");
    for (int i = 0; i < pages; ++i) {
      Exec("INSERT INTO t (v) VALUES (randomblob(3500))");
    }
    Exec("COMMIT");
  }
  std::uintmax_t DatabaseFileBytes() const { return std::filesystem::file_size(path_); }
  std::uintmax_t WalFileBytes() const { return std::filesystem::file_size(path_ + "-wal"); }

  tb::testing::TempDir dir_;
  std::string path_;
  sqlite3* writer_ = nullptr;
  core::Logger log_{"tb.store.test"};
};

TEST_F(WalCheckpointerTest, TheThreadCopiesTheWalWhileTheWriterNeverCheckpointsItself) {
  WalCheckpointSettings settings;
  settings.background_pages = 20;
  settings.writer_pages = 1'000'000;  // no backstop in this test
  auto checkpointer = SqliteWalCheckpointer::Start(path_, settings, log_);
  ASSERT_TRUE(checkpointer) << checkpointer.error().message;
  (*checkpointer)->Attach(writer_);
  const std::uintmax_t before = DatabaseFileBytes();
  for (int i = 0; i < 10; ++i) {
    Commit(10);
  }
  ASSERT_TRUE(tb::testing::WaitFor([&] { return (*checkpointer)->passes() >= 1; }));
  // Only a checkpoint writes pages into the database file; the writer's hook never ran one.
  ASSERT_TRUE(tb::testing::WaitFor([&] { return DatabaseFileBytes() > before + 20 * 4096; }));
  (*checkpointer)->Detach(writer_);
  checkpointer->reset();

  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &reader), SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(reader, "SELECT COUNT(*) FROM t", -1, &count, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(count, 0), 100);
  sqlite3_finalize(count);
  sqlite3_close(reader);
}

TEST_F(WalCheckpointerTest, TheWritersBackstopRestartsTheWal) {
  WalCheckpointSettings settings;
  settings.background_pages = 1'000'000;  // the thread never wakes
  settings.writer_pages = 50;
  auto checkpointer = SqliteWalCheckpointer::Start(path_, settings, log_);
  ASSERT_TRUE(checkpointer) << checkpointer.error().message;
  (*checkpointer)->Attach(writer_);
  for (int i = 0; i < 40; ++i) {
    Commit(10);  // 400 pages in all
  }
  // Checkpointed at ~50 pages and started from the top each time: the WAL stays near that size.
  EXPECT_LT(WalFileBytes(), std::uintmax_t{120} * 4120);
  EXPECT_EQ((*checkpointer)->passes(), 0U);
  (*checkpointer)->Detach(writer_);
}

}  // namespace
}  // namespace tb::store
