#include "broker/store/database.h"

#include <cstddef>
#include <exception>
#include <filesystem>
#include <sqlite3.h>
#include <thread>
#include <utility>
#include <vector>

#include <Poco/Data/DataException.h>
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Statement.h>

#include "broker/core/no_wait_reads.h"
#include "broker/store/database_impl.h"
#include "broker/store/sqlite_wal_checkpointer.h"
#include "broker/store/sqlite_wal_syncer.h"
#include "broker/store/sqlite_wal_write_buffer.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

constexpr int kPoolIdleSeconds = 60;

void RegisterConnectors() {
  static std::once_flag once;
  std::call_once(once, [] {
    // SQLite's memory statistics take a process-wide mutex on every sqlite3_malloc and free
    // (~90 per pass-through read); nothing here reads them. Only possible before SQLite's first
    // use in the process; if something opened a database first, statistics stay on, harmlessly.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::PostgreSQL::Connector::registerConnector();
  });
}

core::Error ClosedError(std::string_view what) {
  return core::MakeError(core::ErrorCode::kStorage, std::string(what) + " failed: store is closed");
}

// Gives back a session slot (Database::Impl::slots_) taken by its owner.
struct SlotRelease {
  std::counting_semaphore<>& slots;
  ~SlotRelease() { slots.release(); }
};

// A read inside a core::NoWaitReads scope that could only run by waiting.
core::Error WouldWait(std::string_view what) {
  return core::MakeError(core::ErrorCode::kStorage,
                         std::string(what) + " not run: it would have to wait here");
}

// Statements run on every new connection of a pool.
class TunedSessionPool final : public Poco::Data::SessionPool {
 public:
  TunedSessionPool(const std::string& connector, const std::string& connection, int max_sessions,
                   std::function<void(Poco::Data::Session&)> setup)
      : Poco::Data::SessionPool(connector, connection, 1, max_sessions, kPoolIdleSeconds),
        setup_(std::move(setup)) {}
  TunedSessionPool(const TunedSessionPool&) = delete;
  TunedSessionPool& operator=(const TunedSessionPool&) = delete;

 protected:
  void customizeSession(Poco::Data::Session& session) override { setup_(session); }

 private:
  std::function<void(Poco::Data::Session&)> setup_;
};

// Through the C API: a statement (PRAGMA busy_timeout) would first have to read the schema.
void SetSqliteBusyTimeout(Poco::Data::Session& session, const StoreSettings& settings) {
  sqlite3_busy_timeout(Poco::Data::SQLite::Utility::dbHandle(session),
                       static_cast<int>(settings.lock_timeout.count()));
}

// PRAGMA journal_mode = WAL, retried for up to lock_timeout: switching a new file from the
// rollback journal needs its exclusive lock, and SQLite answers SQLITE_BUSY at once, without the
// busy handler, while another opener reads it (the switch runs inside a read transaction, where
// waiting could deadlock). Returns the journal mode now in force.
std::string SwitchToWal(Poco::Data::Session& writer, const StoreSettings& settings) {
  const auto give_up = std::chrono::steady_clock::now() + settings.lock_timeout;
  for (;;) {
    try {
      std::string mode;
      writer << "PRAGMA journal_mode = WAL", into(mode), now;
      return mode;
    } catch (const Poco::Data::SQLite::DBLockedException&) {
      if (std::chrono::steady_clock::now() >= give_up) {
        throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

// PRAGMA takes no bound parameters; the values are integers from settings, never text.
void SetupSqliteConnection(Poco::Data::Session& session, const StoreSettings& settings,
                           bool read_only) {
  SetSqliteBusyTimeout(session, settings);
  session << "PRAGMA foreign_keys = ON", now;
  session << (settings.durability == Durability::kFull ? "PRAGMA synchronous = FULL"
                                                       : "PRAGMA synchronous = OFF"),
      now;
  if (read_only) {
    session << "PRAGMA query_only = ON", now;
  }
}

void SetupPostgresqlConnection(Poco::Data::Session& session, const StoreSettings& settings) {
  // set_config() rather than SET so that the values are bound, not spliced into SQL.
  const std::vector<std::pair<std::string, std::string>> config = {
      {"client_min_messages", "warning"},  // no NOTICE chatter on stderr
      // on: a commit is durable before Accept() returns; off only for benchmarks (settings.h)
      {"synchronous_commit", settings.durability == Durability::kFull ? "on" : "off"},
      {"lock_timeout", std::to_string(settings.lock_timeout.count())},
      {"statement_timeout", std::to_string(settings.statement_timeout.count())},
  };
  for (const auto& [name, value] : config) {
    std::string name_copy = name;
    std::string value_copy = value;
    std::string applied;
    session << "SELECT set_config($1, $2, false)", use(name_copy), use(value_copy), into(applied),
        now;
  }
}

std::string PostgresqlSqlState(const std::string& message) {
  // Poco's PostgreSQL StatementException text carries "... State: 23505 Detail: ...".
  const std::size_t at = message.find("State: ");
  if (at == std::string::npos || at + 12 > message.size()) {
    return {};
  }
  std::string state = message.substr(at + 7, 5);
  for (const char c : state) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
      return {};
    }
  }
  return state;
}

}  // namespace

core::Error StorageError(std::string_view what, const Poco::Exception& error) {
  std::string message = std::string(what) + " failed: " + error.name();
  if (dynamic_cast<const Poco::Data::ConnectionFailedException*>(&error) != nullptr) {
    // libpq's reason (refused, unknown host, authentication failed) names host and user, never
    // the password; keep its first line.
    std::string reason = error.message();
    reason = reason.substr(0, reason.find('\n'));
    message += ": " + reason;
  } else if (const std::string state = PostgresqlSqlState(error.message()); !state.empty()) {
    message += " (SQLSTATE " + state + ")";
  } else {
    // Errors while preparing carry no SQLSTATE; recognise the server's fixed phrases.
    static constexpr std::pair<std::string_view, std::string_view> kPhrases[] = {
        {"due to lock timeout", "lock timeout"},
        {"due to statement timeout", "statement timeout"},
        {"deadlock detected", "deadlock"},
        {"server closed the connection", "connection lost"},
        {"no connection to the server", "connection lost"},
    };
    for (const auto& [phrase, label] : kPhrases) {
      if (error.message().find(phrase) != std::string::npos) {
        message += " (" + std::string(label) + ")";
        break;
      }
    }
  }
  return core::MakeError(core::ErrorCode::kStorage, std::move(message));
}

core::Error SqliteError(std::string_view what, int result_code) {
  return core::MakeError(core::ErrorCode::kStorage,
                         std::string(what) + " failed: " + sqlite3_errstr(result_code));
}

// ---- Database::Impl ---------------------------------------------------------------------------

Database::Impl::Impl(StoreLocation location, const StoreSettings& settings)
    : location_(std::move(location)),
      settings_(settings),
      slots_(static_cast<std::ptrdiff_t>(settings.max_sessions == 0 ? 1 : settings.max_sessions)) {
  if (settings_.max_sessions == 0) {
    settings_.max_sessions = 1;
  }
  if (location_.engine == Engine::kPostgresql) {
    capabilities_.supports_concurrent_writers = true;
    capabilities_.supports_skip_locked = true;
    capabilities_.supports_multiple_nodes = true;
  }
}

Database::Impl::~Impl() { Close(); }

core::Result<std::unique_ptr<Database::Impl>> Database::Impl::Open(StoreLocation location,
                                                                   const StoreSettings& settings) {
  RegisterConnectors();
  std::unique_ptr<Impl> impl(new Impl(std::move(location), settings));
  BROKER_RETURN_IF_ERROR(impl->OpenConnections());
  return impl;
}

core::Status Database::Impl::OpenConnections() {
  const std::string what = "opening " + location_.display;
  try {
    if (location_.engine == Engine::kSqlite) {
      if (!location_.in_memory) {
        // Say so plainly (Poco would retry until its login timeout and then say "timed out").
        const std::filesystem::path folder =
            std::filesystem::path(location_.connection_string).parent_path();
        std::error_code ec;
        if (!folder.empty() && !std::filesystem::is_directory(folder, ec)) {
          return core::MakeError(
              core::ErrorCode::kStorage,
              what + " failed: the folder " + folder.string() + " does not exist");
        }
      }
      if (!location_.in_memory && settings_.durability == Durability::kFull) {
        // One pwrite per commit into the WAL instead of two per page (sqlite_wal_write_buffer.h):
        // only with a sync at every commit, which writes the buffered frames out first.
        BROKER_RETURN_IF_ERROR(InstallSqliteWalWriteBuffer());
        BufferWalWritesOf(location_.connection_string);
        wal_buffered_ = true;
      }
      writer_.emplace(location_.connector, location_.connection_string,
                      static_cast<std::size_t>(settings_.connect_timeout.count()));
      // The busy timeout first, and not as a PRAGMA: preparing any statement reads the schema,
      // which takes a lock that another node (or a test's second opener) migrating the same file
      // holds at this moment, and a PRAGMA busy_timeout would meet it before it applied.
      SetSqliteBusyTimeout(*writer_, settings_);
      const std::string mode = SwitchToWal(*writer_, settings_);
      if (mode != "wal" && !(location_.in_memory && mode == "memory")) {
        return core::MakeError(core::ErrorCode::kStorage,
                               what + " failed: the database refused WAL journal mode");
      }
      SetupSqliteConnection(*writer_, settings_, /*read_only=*/false);
      if (!location_.in_memory) {
        // The WAL is copied back into the database file by a thread of its own, not by the
        // commit that fills it (sqlite_wal_checkpointer.h).
        WalCheckpointSettings checkpoints;
        checkpoints.durable = settings_.durability == Durability::kFull;
        checkpoints.busy_timeout_ms = static_cast<int>(settings_.lock_timeout.count());
        core::Result<std::unique_ptr<SqliteWalCheckpointer>> checkpointer =
            SqliteWalCheckpointer::Start(location_.connection_string, checkpoints, logger_);
        if (!checkpointer) {
          return std::move(checkpointer).error();
        }
        checkpointer_ = std::move(*checkpointer);
        checkpointer_->Attach(Poco::Data::SQLite::Utility::dbHandle(*writer_));
      }
      if (wal_buffered_ && settings_.sync_outside_write_lock) {
        // The commits' WAL syncs are deferred to this thread (DeferWalSyncs in Commit), which
        // needs the buffering VFS to tell a commit's sync from the others.
        sqlite3* handle = Poco::Data::SQLite::Utility::dbHandle(*writer_);
        syncer_ = std::make_unique<SqliteWalSyncer>(
            sqlite3_filename_wal(sqlite3_db_filename(handle, "main")), logger_);
      }
      if (!location_.in_memory) {
        const StoreSettings settings = settings_;
        pool_ = std::make_unique<TunedSessionPool>(
            location_.connector, location_.connection_string,
            static_cast<int>(settings_.max_sessions), [settings](Poco::Data::Session& session) {
              SetupSqliteConnection(session, settings, /*read_only=*/true);
            });
      }
    } else {
      // Poco keeps the last of repeated keys, so a connect_timeout in the URL wins over ours.
      const std::string connection =
          "connect_timeout=" + std::to_string(settings_.connect_timeout.count()) + " " +
          location_.connection_string;
      const StoreSettings settings = settings_;
      pool_ = std::make_unique<TunedSessionPool>(location_.connector, connection,
                                                 static_cast<int>(settings_.max_sessions),
                                                 [settings](Poco::Data::Session& session) {
                                                   SetupPostgresqlConnection(session, settings);
                                                 });
      // Connect now, so that a wrong URL fails at startup rather than on the first message.
      BROKER_RETURN_IF_ERROR(Read(what, [](Poco::Data::Session& session) {
        int one = 0;
        session << "SELECT 1", into(one), now;
        return core::Ok();
      }));
    }
  } catch (const Poco::Exception& error) {
    writer_.reset();
    pool_.reset();
    return StorageError(what, error);
  }
  logger_.Info("store.opened",
               {{"engine", std::string(ToString(location_.engine))},
                {"url", location_.display},
                {"durability", settings_.durability == Durability::kFull ? "full" : "off"}});
  if (settings_.durability == Durability::kOff) {
    logger_.Warn("store.durability_off",
                 {{"detail", "commits do not wait for the disk: for benchmarks only"}});
  }
  return core::Ok();
}

std::string Database::Impl::Sql(std::string_view sql) const {
  if (location_.engine != Engine::kPostgresql) {
    return std::string(sql);
  }
  std::string out;
  out.reserve(sql.size() + 8);
  int index = 0;
  bool in_string = false;
  for (const char c : sql) {
    if (c == '\'') {
      in_string = !in_string;
    }
    if (c == '?' && !in_string) {
      out.push_back('$');
      out += std::to_string(++index);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

core::Status Database::Impl::WithPooledSession(
    std::string_view what, const std::function<core::Status(Poco::Data::Session&)>& use) {
  if (!slots_.try_acquire_for(settings_.session_wait)) {
    return core::MakeError(core::ErrorCode::kStorage,
                           std::string(what) + " failed: no free database session within " +
                               std::to_string(settings_.session_wait.count()) + " ms");
  }
  const SlotRelease release{slots_};
  try {
    Poco::Data::Session session = pool_->get();
    core::Status status = use(session);
    session.close();  // back to the pool
    return status;
  } catch (const Poco::Exception& error) {
    return StorageError(what, error);
  }
}

namespace {

// Runs `body` between begin and commit; rolls back on error. `begin`, `commit` and `rollback`
// differ per engine.
core::Status RunTransaction(std::string_view what, Poco::Data::Session& session,
                            const SessionBody& body, const std::function<void()>& begin,
                            const std::function<void()>& commit,
                            const std::function<void()>& rollback) {
  try {
    begin();
  } catch (const Poco::Exception& error) {
    return StorageError(what, error);
  }
  const auto try_rollback = [&rollback] {
    try {
      rollback();
    } catch (...) {  // NOLINT(bugprone-empty-catch): already failing; SQLite may have rolled back
    }
  };
  try {
    core::Status status = body(session);
    if (!status) {
      try_rollback();
      return status;
    }
    commit();
    return core::Ok();
  } catch (const Poco::Exception& error) {
    try_rollback();
    return StorageError(what, error);
  } catch (const std::exception&) {
    try_rollback();
    return core::MakeError(core::ErrorCode::kStorage,
                           std::string(what) + " failed: unexpected exception");
  }
}

}  // namespace

core::Status Database::Impl::Write(std::string_view what, const SessionBody& body) {
  return Write(what, body, nullptr);
}

core::Status Database::Impl::Write(std::string_view what, const SessionBody& body,
                                   const std::function<void()>& committed) {
  std::shared_lock lifecycle(lifecycle_);
  std::uint64_t number = 0;
  BROKER_RETURN_IF_ERROR(Commit(what, body, committed, number));
  // Still under lifecycle_: Close() stops the syncer only after this has been answered.
  return syncer_ ? syncer_->WaitFor(number) : core::Ok();
}

core::Status Database::Impl::WriteThenWhenDurable(std::string_view what, const SessionBody& body,
                                                  const std::function<void()>& committed,
                                                  std::function<void(core::Status)> durable) {
  std::shared_lock lifecycle(lifecycle_);
  std::uint64_t number = 0;
  core::Status status = Commit(what, body, committed, number);
  if (number == 0) {
    durable(status);  // synced by the commit itself (or durability off)
  } else if (status) {
    syncer_->AfterSync(number, std::move(durable));
  } else {
    // After the earlier commits' callbacks: callers are answered in commit order.
    syncer_->AfterSync(number,
                       [durable = std::move(durable), status](core::Status) { durable(status); });
  }
  return status;
}

core::Status Database::Impl::Commit(std::string_view what, const SessionBody& body,
                                    const std::function<void()>& committed, std::uint64_t& number) {
  // lifecycle_ is held (shared) by the caller.
  if (closed_) {
    return ClosedError(what);
  }
  if (location_.engine == Engine::kSqlite) {
    std::lock_guard writer(writer_mutex_);
    if (syncer_) {
      // Fail-stop after a failed fdatasync (sqlite_wal_syncer.h).
      BROKER_RETURN_IF_ERROR(syncer_->health());
    }
    Poco::Data::Session& session = *writer_;
    // BEGIN, COMMIT and ROLLBACK as cached statements: through Poco each was compiled again on
    // every transaction. Failures throw what Poco would have thrown for the same result code.
    const auto run = [this, &session](std::string_view sql) {
      sqlite3* handle = Poco::Data::SQLite::Utility::dbHandle(session);
      core::Result<sqlite3_stmt*> statement = CachedSqliteStatement(session, sql);
      if (!statement) {
        Poco::Data::SQLite::Utility::throwException(handle, SQLITE_ERROR);
      }
      const int rc = sqlite3_step(*statement);
      sqlite3_reset(*statement);
      if (rc != SQLITE_DONE) {
        Poco::Data::SQLite::Utility::throwException(handle, rc);
      }
    };
    // With a syncer, COMMIT writes the WAL frames and leaves their fsync to it.
    std::optional<DeferWalSyncs> deferred;
    if (syncer_) {
      deferred.emplace();
    }
    core::Status status = RunTransaction(
        what, session, body, [&run] { run("BEGIN IMMEDIATE"); }, [&run] { run("COMMIT"); },
        [&run] { run("ROLLBACK"); });
    deferred.reset();
    if (status && committed) {
      committed();
    }
    if (syncer_) {
      number = status ? syncer_->Committed() : syncer_->last_committed();
    }
    return status;
  }
  return WithPooledSession(what, [&](Poco::Data::Session& session) {
    core::Status status = RunTransaction(
        what, session, body, [&session] { session.begin(); }, [&session] { session.commit(); },
        [&session] { session.rollback(); });
    if (status && committed) {
      committed();
    }
    return status;
  });
}

std::string RecentLocatorRows::Key(std::string_view nhs_number, std::string_view ods) {
  std::string key;
  key.reserve(nhs_number.size() + 1 + ods.size());
  key.append(nhs_number).append(1, '|').append(ods);
  return key;
}

bool RecentLocatorRows::Fresh(std::string_view nhs_number, std::string_view ods,
                              std::string_view source, std::int64_t at_ms) const {
  const auto it = rows_.find(Key(nhs_number, ods));
  return it != rows_.end() && it->second.source == source && at_ms >= it->second.last_seen_ms &&
         at_ms - it->second.last_seen_ms <= kRefreshMs;
}

void RecentLocatorRows::Written(std::string_view nhs_number, std::string_view ods,
                                std::string_view source, std::int64_t at_ms) {
  if (rows_.size() >= kMaxPairs) {
    rows_.clear();  // simpler than ageing; a pair not held is only upserted again
  }
  Row& row = rows_[Key(nhs_number, ods)];
  row.source.assign(source);
  row.last_seen_ms = at_ms;
}

void RecentLocatorRows::Drop(std::string_view nhs_number, std::string_view ods) {
  rows_.erase(Key(nhs_number, ods));
}

core::Status Database::Impl::Read(std::string_view what, const SessionBody& body) {
  const bool no_wait = core::NoWaitReads::Active();
  std::shared_lock lifecycle(lifecycle_, std::defer_lock);
  if (!no_wait) {
    lifecycle.lock();
  } else if (!lifecycle.try_lock()) {
    core::NoWaitReads::MarkBlocked();  // Close() is running
    return WouldWait(what);
  }
  if (closed_) {
    return ClosedError(what);
  }
  const auto run = [&](Poco::Data::Session& session) -> core::Status {
    try {
      return body(session);
    } catch (const Poco::Exception& error) {
      return StorageError(what, error);
    } catch (const std::exception&) {
      return core::MakeError(core::ErrorCode::kStorage,
                             std::string(what) + " failed: unexpected exception");
    }
  };
  if (no_wait) {
    core::Status status = ReadWithoutWaiting(what, run);
    if (!status) {
      core::NoWaitReads::MarkBlocked();  // the caller reads again where it may wait
    }
    return status;
  }
  if (!pool_) {  // SQLite :memory: has only the writer connection
    std::lock_guard writer(writer_mutex_);
    return run(*writer_);
  }
  return WithPooledSession(what, run);
}

core::Status Database::Impl::ReadWithoutWaiting(std::string_view what, const SessionBody& run) {
  if (location_.engine != Engine::kSqlite) {
    return WouldWait(what);  // every PostgreSQL read is a network round trip
  }
  if (!pool_) {
    std::unique_lock writer(writer_mutex_, std::try_to_lock);
    return writer.owns_lock() ? run(*writer_) : WouldWait(what);
  }
  // An idle session, not a new one (opening a connection reads the file and sets it up). Another
  // thread may take the idle one first, and then get() opens one here after all: rare, and a
  // file open on a local disk.
  if (pool_->idle() == 0 || !slots_.try_acquire()) {
    return WouldWait(what);
  }
  const SlotRelease release{slots_};
  try {
    Poco::Data::Session session = pool_->get();
    sqlite3* const handle = Poco::Data::SQLite::Utility::dbHandle(session);
    // No busy handler for this read: a lock held elsewhere (a checkpoint's, a WAL recovery's)
    // fails it at once with SQLITE_BUSY instead of sleeping on this thread.
    sqlite3_busy_timeout(handle, 0);
    core::Status status = run(session);
    SetSqliteBusyTimeout(session, settings_);  // as every pooled session has it
    session.close();                           // back to the pool
    return status;
  } catch (const Poco::Exception& error) {
    return StorageError(what, error);
  }
}

core::Result<sqlite3_stmt*> Database::Impl::CachedSqliteStatement(Poco::Data::Session& writer,
                                                                  std::string_view sql) {
  // Called inside Write(), so writer_mutex_ is held.
  if (const auto it = sqlite_statements_.find(sql); it != sqlite_statements_.end()) {
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return it->second;
  }
  sqlite3* handle = Poco::Data::SQLite::Utility::dbHandle(writer);
  sqlite3_stmt* statement = nullptr;
  const int rc = sqlite3_prepare_v3(handle, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(statement);
    return SqliteError("preparing a statement", rc);
  }
  sqlite_statements_.emplace(std::string(sql), statement);
  return statement;
}

void Database::Impl::Close() {
  std::unique_lock lifecycle(lifecycle_);
  if (closed_) {
    return;
  }
  closed_ = true;
  {
    std::lock_guard writer(writer_mutex_);
    for (auto& [sql, statement] : sqlite_statements_) {
      sqlite3_finalize(statement);  // before the connection closes, or it cannot
    }
    sqlite_statements_.clear();
  }
  if (syncer_) {
    // Write's callers have all returned (lifecycle_); Stop() syncs and answers what still waits
    // (WriteThenWhenDurable callbacks whose owner did not wait for them).
    syncer_->Stop();
    syncer_.reset();
  }
  if (checkpointer_) {
    if (writer_) {
      checkpointer_->Detach(Poco::Data::SQLite::Utility::dbHandle(*writer_));
    }
    checkpointer_.reset();  // before the writer: a pass running now finishes first
  }
  try {
    if (pool_) {
      pool_->shutdown();
    }
    pool_.reset();
    if (writer_) {
      writer_->close();
    }
    writer_.reset();
  } catch (const Poco::Exception& error) {
    logger_.Warn("store.close_failed", {{"error", StorageError("close", error).message}});
  }
  if (wal_buffered_) {
    StopBufferingWalWritesOf(location_.connection_string);
    wal_buffered_ = false;
  }
  logger_.Info("store.closed", {{"url", location_.display}});
}

// ---- Database -------------------------------------------------------------------------------

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Database::~Database() = default;

const Capabilities& Database::capabilities() const { return impl_->capabilities(); }

Engine Database::engine() const { return impl_->engine(); }

const std::string& Database::display_url() const { return impl_->display_url(); }

void Database::Close() { impl_->Close(); }

core::Result<std::int64_t> Database::SchemaVersion() {
  std::int64_t version = 0;
  BROKER_RETURN_IF_ERROR(impl_->Read("reading the schema version", [&](Poco::Data::Session& s) {
    Poco::Int64 value = 0;
    s << "SELECT COALESCE(MAX(version), 0) FROM schema_version", into(value), now;
    version = value;
    return core::Ok();
  }));
  return version;
}

}  // namespace tb::store
