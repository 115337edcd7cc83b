#include "broker/store/sqlite_wal_write_buffer.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <sqlite3.h>
#include <vector>

namespace tb::store {
namespace {

// A run longer than this is written out as it grows (a migration or a purge can write far more
// than a batch of messages: ~40 frames of 4,120 bytes).
constexpr std::size_t kMaxBufferedBytes = std::size_t{4} << 20;
// The most one xWrite of the unix VFS takes: it writes `amount & 0x1ffff` bytes per pwrite (a
// 128 KiB multiple would write nothing and report SQLITE_FULL), so longer runs go in pieces.
constexpr std::size_t kMaxWriteBytes = 0x1f000;  // 124 KiB
// What a file keeps allocated between commits (a batch of messages needs ~200 KB).
constexpr std::size_t kKeepBytes = std::size_t{1} << 20;

sqlite3_vfs* g_real = nullptr;  // the VFS this one wraps; set once, under g_install
sqlite3_vfs g_vfs{};
std::once_flag g_install;
int g_install_rc = SQLITE_OK;

// > 0 while a DeferWalSyncs is alive on this thread (and no SyncWalForReal inside it).
thread_local int t_defer_syncs = 0;
std::atomic<std::uint64_t> g_real_syncs{0};
std::atomic<std::uint64_t> g_deferred_syncs{0};

std::mutex g_paths_mutex;
std::map<std::string, int, std::less<>> g_paths;  // full database path -> registrations

// The full path SQLite will name the database by (its xOpen gets that, plus "-wal" for the WAL).
std::string FullPath(const std::string& path) {
  std::vector<char> full(static_cast<std::size_t>(g_real->mxPathname) + 1, '\0');
  if (g_real->xFullPathname(g_real, path.c_str(), g_real->mxPathname, full.data()) != SQLITE_OK) {
    return path;
  }
  return std::string(full.data());
}

bool Registered(const char* database_path) {
  std::lock_guard lock(g_paths_mutex);
  return database_path != nullptr && g_paths.find(std::string_view(database_path)) != g_paths.end();
}

// Our file object: the wrapped VFS's file follows it in the same allocation (szOsFile).
struct BufferedFile {
  sqlite3_file base;  // first: SQLite sees a BufferedFile* as a sqlite3_file*
  sqlite3_file* real;
  std::vector<char>* pending;  // the buffered run (owned, freed by xClose); null: not buffered
  sqlite3_int64 pending_at;    // file offset of pending->front()
  bool header_written;         // a WAL header (offset 0) was written since the last real sync
};

BufferedFile* Self(sqlite3_file* file) { return reinterpret_cast<BufferedFile*>(file); }
sqlite3_file* Real(sqlite3_file* file) { return Self(file)->real; }

// Writes the buffered run (if any) to the file. The run is dropped either way: after a failed
// write SQLite fails the operation that needed it and treats those frames as never written.
int Flush(BufferedFile* self) {
  if (self->pending == nullptr || self->pending->empty()) {
    return SQLITE_OK;
  }
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < self->pending->size() && rc == SQLITE_OK;) {
    const std::size_t chunk = std::min(kMaxWriteBytes, self->pending->size() - done);
    rc = self->real->pMethods->xWrite(self->real, self->pending->data() + done,
                                      static_cast<int>(chunk),
                                      self->pending_at + static_cast<sqlite3_int64>(done));
    done += chunk;
  }
  self->pending->clear();
  if (self->pending->capacity() > kKeepBytes) {
    std::vector<char>().swap(*self->pending);  // after a migration's or purge's long run
  }
  return rc;
}

int Close(sqlite3_file* file) {
  BufferedFile* self = Self(file);
  const int flushed = Flush(self);
  const int closed = self->real->pMethods->xClose(self->real);
  delete self->pending;
  self->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (const int rc = Flush(Self(file)); rc != SQLITE_OK) {
    return rc;
  }
  return Real(file)->pMethods->xRead(Real(file), out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  BufferedFile* self = Self(file);
  if (self->pending == nullptr || amount <= 0) {
    return self->real->pMethods->xWrite(self->real, data, amount, offset);
  }
  if (offset == 0) {
    self->header_written = true;  // the WAL starts from the top: its next sync must be real
  }
  std::vector<char>& run = *self->pending;
  const auto size = static_cast<std::size_t>(amount);
  const bool continues =
      !run.empty() && offset == self->pending_at + static_cast<sqlite3_int64>(run.size());
  if (!continues || run.size() + size > kMaxBufferedBytes) {
    if (const int rc = Flush(self); rc != SQLITE_OK) {
      return rc;
    }
    if (size > kMaxBufferedBytes) {
      return self->real->pMethods->xWrite(self->real, data, amount, offset);
    }
    self->pending_at = offset;
  }
  const char* bytes = static_cast<const char*>(data);
  run.insert(run.end(), bytes, bytes + size);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (const int rc = Flush(Self(file)); rc != SQLITE_OK) {
    return rc;
  }
  return Real(file)->pMethods->xTruncate(Real(file), size);
}

int Sync(sqlite3_file* file, int flags) {
  BufferedFile* self = Self(file);
  if (const int rc = Flush(self); rc != SQLITE_OK) {
    return rc;
  }
  if (self->pending != nullptr && t_defer_syncs > 0 && !self->header_written) {
    g_deferred_syncs.fetch_add(1, std::memory_order_relaxed);
    return SQLITE_OK;  // written; the WAL syncer fsyncs it before anyone is answered
  }
  const int rc = self->real->pMethods->xSync(self->real, flags);
  if (rc == SQLITE_OK && self->pending != nullptr) {
    self->header_written = false;
    g_real_syncs.fetch_add(1, std::memory_order_relaxed);
  }
  return rc;
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = Flush(Self(file)); rc != SQLITE_OK) {
    return rc;
  }
  return Real(file)->pMethods->xFileSize(Real(file), size);
}

int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) {
  return Real(file)->pMethods->xUnlock(Real(file), level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  if (const int rc = Flush(Self(file)); rc != SQLITE_OK) {
    return rc;
  }
  return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}
int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}
int ShmMap(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  return Real(file)->pMethods->xShmMap(Real(file), page, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Real(file)->pMethods->xShmLock(Real(file), offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Real(file)->pMethods->xShmBarrier(Real(file)); }
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Real(file)->pMethods->xShmUnmap(Real(file), delete_flag);
}
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (const int rc = Flush(Self(file)); rc != SQLITE_OK) {
    return rc;
  }
  return Real(file)->pMethods->xFetch(Real(file), offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return Real(file)->pMethods->xUnfetch(Real(file), offset, page);
}

// One method table per version the wrapped file offers, so SQLite sees the same capabilities
// (no shared memory methods where the real file has none, e.g. in-memory or temp files).
sqlite3_io_methods MethodsOfVersion(int version) {
  sqlite3_io_methods methods{};
  methods.iVersion = version;
  methods.xClose = Close;
  methods.xRead = Read;
  methods.xWrite = Write;
  methods.xTruncate = Truncate;
  methods.xSync = Sync;
  methods.xFileSize = FileSize;
  methods.xLock = Lock;
  methods.xUnlock = Unlock;
  methods.xCheckReservedLock = CheckReservedLock;
  methods.xFileControl = FileControl;
  methods.xSectorSize = SectorSize;
  methods.xDeviceCharacteristics = DeviceCharacteristics;
  if (version >= 2) {
    methods.xShmMap = ShmMap;
    methods.xShmLock = ShmLock;
    methods.xShmBarrier = ShmBarrier;
    methods.xShmUnmap = ShmUnmap;
  }
  if (version >= 3) {
    methods.xFetch = Fetch;
    methods.xUnfetch = Unfetch;
  }
  return methods;
}

const sqlite3_io_methods* Methods(int version) {
  static const sqlite3_io_methods v1 = MethodsOfVersion(1);
  static const sqlite3_io_methods v2 = MethodsOfVersion(2);
  static const sqlite3_io_methods v3 = MethodsOfVersion(3);
  return version >= 3 ? &v3 : version == 2 ? &v2 : &v1;
}

int Open(sqlite3_vfs* /*vfs*/, sqlite3_filename name, sqlite3_file* file, int flags,
         int* out_flags) {
  BufferedFile* self = Self(file);
  self->base.pMethods = nullptr;
  self->real =
      reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(BufferedFile));
  self->pending = nullptr;
  self->pending_at = 0;
  self->header_written = false;
  const int rc = g_real->xOpen(g_real, name, self->real, flags, out_flags);
  if (self->real->pMethods == nullptr) {
    return rc;  // nothing to close
  }
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && name != nullptr &&
      Registered(sqlite3_filename_database(name))) {
    self->pending = new (std::nothrow) std::vector<char>();  // none: write directly
  }
  // Set even when the open failed: SQLite then calls xClose, which closes the real file.
  self->base.pMethods = Methods(self->real->pMethods->iVersion);
  return rc;
}

// The rest of the VFS is the wrapped one's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_real->xFullPathname(g_real, name, size, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int size, char* out) { g_real->xDlError(g_real, size, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int Randomness(sqlite3_vfs*, int size, char* out) { return g_real->xRandomness(g_real, size, out); }
int Sleep(sqlite3_vfs*, int micros) { return g_real->xSleep(g_real, micros); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int size, char* out) {
  return g_real->xGetLastError(g_real, size, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}
int SetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr call) {
  return g_real->xSetSystemCall(g_real, name, call);
}
sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xGetSystemCall(g_real, name);
}
const char* NextSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xNextSystemCall(g_real, name);
}

}  // namespace

DeferWalSyncs::DeferWalSyncs() { ++t_defer_syncs; }
DeferWalSyncs::~DeferWalSyncs() { --t_defer_syncs; }

SyncWalForReal::SyncWalForReal() : saved_(t_defer_syncs) { t_defer_syncs = 0; }
SyncWalForReal::~SyncWalForReal() { t_defer_syncs = saved_; }

WalSyncCounts WalSyncCountsForTest() {
  return {g_real_syncs.load(std::memory_order_relaxed),
          g_deferred_syncs.load(std::memory_order_relaxed)};
}

core::Status InstallSqliteWalWriteBuffer() {
  std::call_once(g_install, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr || g_real->iVersion < 2) {
      g_install_rc = SQLITE_ERROR;
      return;
    }
    g_vfs.iVersion = g_real->iVersion >= 3 ? 3 : 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(BufferedFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "tb-wal-write-buffer";
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    if (g_vfs.iVersion >= 3) {
      g_vfs.xSetSystemCall = SetSystemCall;
      g_vfs.xGetSystemCall = GetSystemCall;
      g_vfs.xNextSystemCall = NextSystemCall;
    }
    g_install_rc = sqlite3_vfs_register(&g_vfs, /*makeDflt=*/1);
  });
  if (g_install_rc != SQLITE_OK) {
    return core::MakeError(core::ErrorCode::kStorage,
                           std::string("installing the SQLite WAL write buffer failed: ") +
                               sqlite3_errstr(g_install_rc));
  }
  return core::Ok();
}

void BufferWalWritesOf(const std::string& path) {
  if (g_real == nullptr) {
    return;  // not installed: nothing buffers
  }
  const std::string full = FullPath(path);
  std::lock_guard lock(g_paths_mutex);
  ++g_paths[full];
}

void StopBufferingWalWritesOf(const std::string& path) {
  if (g_real == nullptr) {
    return;
  }
  const std::string full = FullPath(path);
  std::lock_guard lock(g_paths_mutex);
  auto found = g_paths.find(full);
  if (found != g_paths.end() && --found->second == 0) {
    g_paths.erase(found);
  }
}

}  // namespace tb::store
