#include "broker/store/sqlite_wal_syncer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <semaphore>
#include <unistd.h>
#include <utility>
#include <vector>

namespace tb::store {
namespace {

core::Error StoppedError() {
  return core::MakeError(core::ErrorCode::kStorage, "store write failed: store is closed");
}

int SyncDescriptor(int fd) { return ::fdatasync(fd) == 0 ? 0 : errno; }

}  // namespace

SqliteWalSyncer::SqliteWalSyncer(std::string wal_path, const core::Logger& log)
    : wal_path_(std::move(wal_path)), log_(log), sync_call_(SyncDescriptor) {
  thread_ = std::thread([this] { Run(); });
}

SqliteWalSyncer::~SqliteWalSyncer() {
  Stop();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::uint64_t SqliteWalSyncer::Committed() {
  std::lock_guard lock(mutex_);
  return ++committed_;
}

std::uint64_t SqliteWalSyncer::last_committed() const {
  std::lock_guard lock(mutex_);
  return committed_;
}

void SqliteWalSyncer::AfterSync(std::uint64_t number, Done done) {
  core::Status known = core::Ok();
  {
    std::lock_guard lock(mutex_);
    if (failed_) {
      known = *failed_;
    } else if (stopped_) {
      known = StoppedError();
    } else if (number > synced_) {
      after_.emplace(number, std::move(done));
      wake_.notify_one();
      return;
    }
  }
  done(std::move(known));
}

core::Status SqliteWalSyncer::WaitFor(std::uint64_t number) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // A callback of this thread wrote and would wait for this thread: a bug, refused rather
    // than hung (the write is committed; its caller hears it may not be durable).
    log_.Error("store.wal_sync_self_wait", {{"detail", "a durable callback wrote to the store"}});
    return core::MakeError(core::ErrorCode::kInternal,
                           "store write failed: written from the WAL syncer's own callback");
  }
  std::binary_semaphore ready{0};
  core::Status result = core::Ok();
  AfterSync(number, [&ready, &result](core::Status status) {
    result = std::move(status);
    ready.release();
  });
  ready.acquire();
  return result;
}

core::Status SqliteWalSyncer::health() const {
  std::lock_guard lock(mutex_);
  if (failed_) {
    return *failed_;
  }
  return core::Ok();
}

void SqliteWalSyncer::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void SqliteWalSyncer::SetSyncCallForTest(SyncCall call) {
  std::lock_guard lock(mutex_);
  sync_call_ = std::move(call);
}

std::uint64_t SqliteWalSyncer::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}

int SqliteWalSyncer::SyncOnce() {
  if (fd_ < 0) {
    fd_ = ::open(wal_path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      return errno;
    }
    // The WAL's name in its folder must survive a crash too (SQLite syncs the folder on the WAL's
    // first sync, which may have been deferred).
    const std::string folder = std::filesystem::path(wal_path_).parent_path().string();
    const int dir =
        ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
      return errno;
    }
    const int rc = ::fsync(dir) == 0 ? 0 : errno;
    ::close(dir);
    if (rc != 0) {
      return rc;
    }
  }
  SyncCall call;
  {
    std::lock_guard lock(mutex_);
    call = sync_call_;
    ++syncs_;
  }
  return call(fd_);
}

void SqliteWalSyncer::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return !after_.empty() || stopping_; });
    if (after_.empty()) {
      break;  // stopping, nothing left to sync
    }
    // Every commit numbered up to here has written its frames: this sync covers them all.
    const std::uint64_t target = committed_;
    lock.unlock();
    const int error = SyncOnce();
    lock.lock();
    if (error == 0) {
      synced_ = target;
    } else if (!failed_) {
      failed_ = core::MakeError(
          core::ErrorCode::kStorage,
          std::string("store write failed: the disk did not confirm it (fdatasync: ") +
              std::strerror(error) + "); the store refuses writes until the broker restarts");
      log_.Error("store.wal_sync_failed",
                 {{"error", std::strerror(error)},
                  {"detail", "fail-stop: restart once the disk is sound"}});
    }
    // Released in commit order, outside the lock (a callback may commit again).
    std::vector<Done> released;
    const auto end = failed_ ? after_.end() : after_.upper_bound(synced_);
    for (auto it = after_.begin(); it != end; ++it) {
      released.push_back(std::move(it->second));
    }
    after_.erase(after_.begin(), end);
    const core::Status status = failed_ ? core::Status(*failed_) : core::Ok();
    lock.unlock();
    for (Done& done : released) {
      done(status);
    }
    lock.lock();
  }
  stopped_ = true;
}

}  // namespace tb::store
