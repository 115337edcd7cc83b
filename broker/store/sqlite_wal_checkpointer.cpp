#include "broker/store/sqlite_wal_checkpointer.h"

#include <sqlite3.h>
#include <utility>

#include "broker/store/sqlite_wal_write_buffer.h"

namespace tb::store {

core::Result<std::unique_ptr<SqliteWalCheckpointer>> SqliteWalCheckpointer::Start(
    const std::string& path, const WalCheckpointSettings& settings, const core::Logger& log) {
  sqlite3* connection = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &connection, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_busy_timeout(connection, settings.busy_timeout_ms);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(connection,
                      settings.durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF",
                      nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(connection);
    return core::MakeError(
        core::ErrorCode::kStorage,
        std::string("opening the WAL checkpointer's connection failed: ") + sqlite3_errstr(rc));
  }
  return std::unique_ptr<SqliteWalCheckpointer>(
      new SqliteWalCheckpointer(connection, settings, log));
}

SqliteWalCheckpointer::SqliteWalCheckpointer(sqlite3* connection,
                                             const WalCheckpointSettings& settings,
                                             const core::Logger& log)
    : connection_(connection),
      settings_(settings),
      log_(log),
      next_wake_pages_(settings.background_pages) {
  thread_ = std::thread([this] { Run(); });
}

SqliteWalCheckpointer::~SqliteWalCheckpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_close_v2(connection_);
}

void SqliteWalCheckpointer::Attach(sqlite3* writer) { sqlite3_wal_hook(writer, OnCommit, this); }

void SqliteWalCheckpointer::Detach(sqlite3* writer) {
  sqlite3_wal_autocheckpoint(writer, settings_.writer_pages);
}

std::size_t SqliteWalCheckpointer::passes() const {
  std::lock_guard lock(mutex_);
  return passes_;
}

int SqliteWalCheckpointer::OnCommit(void* self_pointer, sqlite3* writer, const char* schema,
                                    int wal_pages) {
  auto* self = static_cast<SqliteWalCheckpointer*>(self_pointer);
  if (wal_pages < self->next_wake_pages_ - self->settings_.background_pages) {
    self->next_wake_pages_ = self->settings_.background_pages;  // the WAL started from the top
  }
  if (wal_pages >= self->settings_.writer_pages) {
    // The backstop, as SQLite's own autocheckpoint does it: copy what the thread has not yet, so
    // that the next transaction can start the WAL from the top. SQLITE_BUSY (the thread is in a
    // pass) is fine: the next commit tries again. Its syncs are real even inside a COMMIT whose
    // own sync is deferred: frames go into the database only once they are on disk, and the
    // database is synced before the WAL may start from the top over them.
    const SyncWalForReal real_syncs;
    sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (wal_pages >= self->next_wake_pages_) {
    self->next_wake_pages_ = wal_pages + self->settings_.background_pages;
    {
      std::lock_guard lock(self->mutex_);
      self->pending_ = true;
    }
    self->wake_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteWalCheckpointer::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) {
      return;
    }
    pending_ = false;
    lock.unlock();
    const int rc = sqlite3_wal_checkpoint_v2(connection_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      // The writer's backstop checkpoints instead; nothing is lost, the WAL only grows.
      log_.Warn("store.wal_checkpoint_failed", {{"error", sqlite3_errstr(rc)}});
    }
    lock.lock();
    ++passes_;
  }
}

}  // namespace tb::store
