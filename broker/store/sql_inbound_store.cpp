#include "broker/store/sql_inbound_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <numeric>
#include <optional>
#include <semaphore>
#include <sqlite3.h>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Data/Statement.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "broker/store/database_impl.h"
#include "broker/store/pg_inbound_writer.h"
#include "broker/store/sql_ledger_append.h"
#include "broker/store/sql_record_locator.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

// SQLite's statements (PostgreSQL's, pipelined, are in pg_inbound_writer.cpp).
// ON CONFLICT ... DO NOTHING RETURNING id: one statement decides "new" (a row comes back) or
// "known key" (none does).
constexpr std::string_view kInsertSql =
    "INSERT INTO inbound_message (received_at, sender, protocol, message_type, control_id,"
    " dedupe_key, content_sha256, nhs_number, payload, payload_key_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
constexpr std::string_view kFindSql =
    "SELECT id, content_sha256 FROM inbound_message WHERE dedupe_key = ?";
// One outbound queue row per route of a newly stored message (migration 005).
constexpr std::string_view kEnqueueSql =
    "INSERT INTO outbound_message (inbound_message_id, destination, format, nhs_number, status,"
    " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)";
// One row per other patient of a message, for each of its queue rows (migration 009).
constexpr std::string_view kPartySql =
    "INSERT INTO outbound_message_party (outbound_message_id, destination, nhs_number)"
    " VALUES (?, ?, ?)";
constexpr std::string_view kCountSql = "SELECT COUNT(*) FROM inbound_message";
// InboundMessage::route_by_holders's argument, read in the batch transaction.
constexpr std::string_view kHoldersSql =
    "SELECT ods FROM record_locator WHERE nhs_number = ? ORDER BY ods";

// A stored message's locator announcement: SqlRecordLocator::Announce's statement.
const std::string& AnnounceSql() {
  static const std::string sql = LocatorUpsertSql("VALUES (?, ?, ?, ?, ?)");
  return sql;
}

}  // namespace

struct SqlInboundStore::Pending {
  explicit Pending(const core::InboundMessage& m) : message(&m) {}
  Pending(core::InboundMessage m, AcceptCallback report)
      : owned(std::move(m)), message(&*owned), on_done(std::move(report)) {}
  std::optional<core::InboundMessage> owned;  // AcceptAsync's message, kept until reported
  const core::InboundMessage* message;        // Accept's caller's (it blocks) or `owned`
  std::optional<std::string> sealed;          // the payload as stored, when a payload key is set
  std::optional<core::Result<core::AcceptResult>> result;  // set by the committer
  // Released by the committer once `result` is set; each caller waits on its own, so a commit
  // wakes exactly the callers of its batch.
  std::binary_semaphore done{0};
  // AcceptAsync: nobody waits; the committer reports through this and deletes the Pending.
  AcceptCallback on_done;

  // `this` may be gone as soon as this returns.
  void Release() {
    if (on_done) {
      on_done(std::move(*result));
      delete this;
      return;
    }
    done.release();
  }
};

SqlInboundStore::SqlInboundStore(Database& database, InboundStoreSettings settings,
                                 std::optional<PayloadKey> payload_key)
    : database_(database), settings_(settings), payload_key_(std::move(payload_key)) {
  if (database_.engine() == Engine::kPostgresql) {
    pg_writer_ = std::make_unique<PgInboundWriter>(database_.impl());
  }
  committer_ = std::thread([this] { RunCommitter(); });
}

SqlInboundStore::~SqlInboundStore() { Shutdown(); }

void SqlInboundStore::SetBeforeCommitHookForTest(
    std::function<core::Status(std::size_t batch_size)> hook) {
  std::lock_guard lock(mutex_);
  before_commit_for_test_ = std::move(hook);
}

core::Result<core::AcceptResult> SqlInboundStore::Accept(const core::InboundMessage& message) {
  BROKER_RETURN_IF_ERROR(core::ValidateInboundMessage(message));
  Pending pending(message);
  BROKER_RETURN_IF_ERROR(Enqueue(pending));
  pending.done.acquire();
  return std::move(*pending.result);
}

void SqlInboundStore::AcceptAsync(core::InboundMessage message, AcceptCallback done) {
  if (core::Status valid = core::ValidateInboundMessage(message); !valid) {
    done(std::move(valid).error());
    return;
  }
  auto pending = std::make_unique<Pending>(std::move(message), std::move(done));
  if (core::Status queued = Enqueue(*pending); !queued) {
    pending->on_done(std::move(queued).error());
    return;
  }
  pending.release();  // the committer reports and deletes it (Pending::Release)
}

core::Status SqlInboundStore::Enqueue(Pending& pending) {
  if (payload_key_) {
    // On the caller's thread: the committer only writes.
    core::Result<std::string> sealed =
        SealPayload(*payload_key_, pending.message->payload, pending.message->dedupe_key);
    if (!sealed) {
      return std::move(sealed).error();
    }
    pending.sealed = std::move(*sealed);
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return core::MakeError(core::ErrorCode::kStorage,
                             "inbound accept failed: store is shut down");
    }
    queue_.push_back(&pending);
  }
  work_.notify_one();
  return core::Ok();
}

bool SqlInboundStore::WriteLedgerHopsInto(core::LedgerChain* chain) {
  if (pg_writer_) {
    return false;
  }
  std::lock_guard lock(mutex_);
  ledger_chain_ = chain;
  return chain != nullptr;
}

bool SqlInboundStore::WritesLedgerHops() const {
  std::lock_guard lock(mutex_);
  return ledger_chain_ != nullptr;
}

core::Result<std::int64_t> SqlInboundStore::Count() {
  std::int64_t count = 0;
  BROKER_RETURN_IF_ERROR(
      database_.impl().Read("inbound count", [&count](Poco::Data::Session& session) {
        Poco::Int64 value = 0;
        session << std::string(kCountSql), into(value), now;
        count = value;
        return core::Ok();
      }));
  return count;
}

void SqlInboundStore::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (!committer_.joinable()) {
    return;  // shut down already
  }
  committer_.join();
  // The last batches may still wait for their WAL sync (Database::Impl::WriteThenWhenDurable):
  // their callers are answered before this store goes.
  std::unique_lock lock(mutex_);
  reported_.wait(lock, [this] { return unreported_batches_ == 0; });
  if (stats_.batches + stats_.failed_batches != 0) {
    LogTimes(stats_);
  }
}

SqlInboundStore::Stats SqlInboundStore::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::size_t SqlInboundStore::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void SqlInboundStore::PostAsyncReportsThrough(ReportPoster post) {
  std::lock_guard lock(mutex_);
  report_poster_ = std::move(post);
}

void SqlInboundStore::Report(const std::vector<Pending*>& batch) {
  const auto started = std::chrono::steady_clock::now();
  ReportPoster post;
  {
    std::lock_guard lock(mutex_);
    post = report_poster_;
  }
  // The AcceptAsync callers go to `post` together: posting each answer on its own woke the I/O
  // thread once per message, and on a busy core each wake-up preempted this thread
  // (docs/hl7v2-ingest.md, Performance). Accept's callers (each blocked on its own semaphore)
  // are released here.
  struct Reports {
    std::vector<Pending*> pending;
    ~Reports() {
      for (Pending* unrun : pending) {
        delete unrun;  // the task was dropped unrun: its callbacks go with it, unrun
      }
    }
  };
  std::shared_ptr<Reports> reports;
  for (Pending* pending : batch) {
    if (post && pending->on_done) {
      if (!reports) {
        reports = std::make_shared<Reports>();
        reports->pending.reserve(batch.size());
      }
      reports->pending.push_back(pending);
    } else {
      pending->Release();  // `pending` may be gone as soon as this returns
    }
  }
  if (reports) {
    post([reports] {
      std::vector<Pending*> pending = std::move(reports->pending);
      reports->pending.clear();
      for (Pending* each : pending) {
        each->Release();  // reports and deletes it
      }
    });
  }
  {
    std::lock_guard lock(mutex_);
    stats_.report += std::chrono::steady_clock::now() - started;
    --unreported_batches_;
    reported_.notify_all();  // under the lock: Shutdown() may destroy this store once it is seen
  }
}

void SqlInboundStore::RunCommitter() {
  try {
    std::size_t last_batch_size = 1;
    std::chrono::steady_clock::duration last_commit{};
    using Clock = std::chrono::steady_clock;
    std::unique_lock lock(mutex_);
    for (;;) {
      const auto idle_from = Clock::now();
      work_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      const auto linger_from = Clock::now();
      stats_.idle += linger_from - idle_from;
      if (queue_.empty()) {
        return;  // stopping, and everything that was waiting is committed
      }
      // The callers released by the last commit usually come straight back with their next
      // message. Without this short wait the first of them would be committed alone while the
      // rest queue behind it, halving the messages per fsync under steady load.
      const std::size_t expected = std::min(last_batch_size, settings_.max_batch_messages);
      if (queue_.size() < expected && !stopping_ && settings_.max_linger.count() > 0) {
        const auto linger =
            std::min<std::chrono::steady_clock::duration>(settings_.max_linger, last_commit / 4);
        work_.wait_for(lock, linger, [&] { return queue_.size() >= expected || stopping_; });
        stats_.linger += Clock::now() - linger_from;
      }
      std::vector<Pending*> batch;
      std::size_t bytes = 0;
      while (!queue_.empty() && batch.size() < settings_.max_batch_messages) {
        Pending* next = queue_.front();
        const std::size_t size = next->message->payload.size();
        if (!batch.empty() && bytes + size > settings_.max_batch_bytes) {
          break;
        }
        bytes += size;
        batch.push_back(next);
        queue_.pop_front();
      }
      ++unreported_batches_;
      lock.unlock();
      const auto started = Clock::now();
      std::chrono::nanoseconds write_time{};
      const std::size_t size = batch.size();
      CommitBatch(std::move(batch), write_time);
      last_commit = Clock::now() - started;
      last_batch_size = size;
      lock.lock();
      stats_.write += write_time;
      stats_.commit += last_commit - write_time;
    }
  } catch (const std::exception& error) {
    // A bug: callers would wait forever. Say so and stop (STYLE.md section 4, thread entries).
    database_.impl().logger().Error("inbound.committer_crashed", {{"what", error.what()}});
    std::abort();
  }
}

namespace {

using Row = InboundRow;
using Messages = std::vector<InboundRow>;

// Inserts the outbound queue rows of stored message `inbound_id`, and their rows for the message's
// other patients (`party`); SQLITE_DONE when all went in.
int EnqueueRoutesSqlite(sqlite3_stmt* enqueue, sqlite3_stmt* party, std::int64_t inbound_id,
                        const core::InboundMessage& message,
                        const std::vector<core::OutboundRoute>& routes) {
  const auto text = [](sqlite3_stmt* statement, int index, const std::string& value) {
    return sqlite3_bind_text(statement, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_STATIC);
  };
  for (const core::OutboundRoute& route : routes) {
    sqlite3_reset(enqueue);
    int rc = sqlite3_bind_int64(enqueue, 1, inbound_id);
    rc = rc != SQLITE_OK ? rc : text(enqueue, 2, route.destination);
    rc = rc != SQLITE_OK ? rc : text(enqueue, 3, route.format);
    rc = rc != SQLITE_OK ? rc
                         : (message.nhs_number.empty() ? sqlite3_bind_null(enqueue, 4)
                                                       : text(enqueue, 4, message.nhs_number));
    rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(enqueue, 5, message.received_at_ms);
    rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(enqueue, 6, message.received_at_ms);
    rc = rc != SQLITE_OK ? rc : sqlite3_step(enqueue);
    sqlite3_reset(enqueue);
    const sqlite3_int64 item_id = sqlite3_last_insert_rowid(sqlite3_db_handle(enqueue));
    for (const std::string& other : message.other_nhs_numbers) {
      if (rc != SQLITE_DONE) {
        break;
      }
      sqlite3_reset(party);
      rc = sqlite3_bind_int64(party, 1, item_id);
      rc = rc != SQLITE_OK ? rc : text(party, 2, route.destination);
      rc = rc != SQLITE_OK ? rc : text(party, 3, other);
      rc = rc != SQLITE_OK ? rc : sqlite3_step(party);
      sqlite3_reset(party);
    }
    if (rc != SQLITE_DONE) {
      return rc;
    }
  }
  return SQLITE_DONE;
}

// The ODS codes record_locator lists for `nhs_number`, ascending; SQLITE_DONE when all were read.
int ReadHoldersSqlite(sqlite3_stmt* select, const std::string& nhs_number,
                      std::vector<std::string>& holders) {
  sqlite3_reset(select);
  int rc = sqlite3_bind_text(select, 1, nhs_number.data(), static_cast<int>(nhs_number.size()),
                             SQLITE_STATIC);
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(select);
    if (rc == SQLITE_ROW) {
      holders.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(select, 0)),
                           static_cast<std::size_t>(sqlite3_column_bytes(select, 0)));
    }
  }
  sqlite3_reset(select);
  return rc;
}

// A record locator row a stored message announced: `nhs_number` (the announcement's or one of
// the message's other patients') held by the announcement's holder.
struct Announced {
  const core::LocatorAnnouncement* announcement;
  const std::string* nhs_number;
};

// Upserts a stored message's record locator announcement for `nhs_number`; SQLITE_DONE when it
// went in.
int AnnounceSqlite(sqlite3_stmt* upsert, const core::LocatorAnnouncement& announce,
                   const std::string& nhs_number) {
  const auto text = [upsert](int index, const std::string& value) {
    return sqlite3_bind_text(upsert, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_STATIC);
  };
  sqlite3_reset(upsert);
  int rc = text(1, nhs_number);
  rc = rc != SQLITE_OK ? rc : text(2, announce.ods);
  rc = rc != SQLITE_OK ? rc : text(3, announce.source);
  rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(upsert, 4, announce.at_ms);
  rc = rc != SQLITE_OK ? rc : sqlite3_bind_int64(upsert, 5, announce.at_ms);
  rc = rc != SQLITE_OK ? rc : sqlite3_step(upsert);
  sqlite3_reset(upsert);
  return rc;
}

// SQLite's path: the same statements through the C API, prepared once per connection (Poco
// would prepare them again for every message). Values are bound without copies.
// `announced` gets the announcements upserted (not those that repeat a row written lately:
// RecentLocatorRows), to be reported to the writer's RecentLocatorRows once the batch commits.
core::Status WriteBatchSqlite(Database::Impl& db, Poco::Data::Session& session,
                              const Messages& messages, std::vector<core::AcceptResult>& results,
                              std::vector<Announced>& announced) {
  constexpr std::string_view kWhat = "inbound accept";
  core::Result<sqlite3_stmt*> insert = db.CachedSqliteStatement(session, kInsertSql);
  if (!insert) {
    return std::move(insert).error();
  }
  core::Result<sqlite3_stmt*> find = db.CachedSqliteStatement(session, kFindSql);
  if (!find) {
    return std::move(find).error();
  }
  core::Result<sqlite3_stmt*> enqueue = db.CachedSqliteStatement(session, kEnqueueSql);
  if (!enqueue) {
    return std::move(enqueue).error();
  }
  core::Result<sqlite3_stmt*> party = db.CachedSqliteStatement(session, kPartySql);
  if (!party) {
    return std::move(party).error();
  }
  core::Result<sqlite3_stmt*> announce = db.CachedSqliteStatement(session, AnnounceSql());
  if (!announce) {
    return std::move(announce).error();
  }
  core::Result<sqlite3_stmt*> holders_of = db.CachedSqliteStatement(session, kHoldersSql);
  if (!holders_of) {
    return std::move(holders_of).error();
  }
  std::vector<std::string> holders;
  const auto text = [](sqlite3_stmt* statement, int index, const std::string& value) {
    return sqlite3_bind_text(statement, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_STATIC);
  };
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const core::InboundMessage& message = *messages[i].message;
    const std::string_view stored = messages[i].payload;
    sqlite3_stmt* const in = *insert;
    sqlite3_reset(in);
    int rc = sqlite3_bind_int64(in, 1, message.received_at_ms);
    rc = rc != SQLITE_OK ? rc : text(in, 2, message.sender);
    rc = rc != SQLITE_OK ? rc : text(in, 3, message.protocol);
    rc = rc != SQLITE_OK ? rc : text(in, 4, message.message_type);
    rc = rc != SQLITE_OK ? rc : text(in, 5, message.control_id);
    rc = rc != SQLITE_OK ? rc : text(in, 6, message.dedupe_key);
    rc = rc != SQLITE_OK ? rc : text(in, 7, message.content_sha256);
    rc = rc != SQLITE_OK ? rc
                         : (message.nhs_number.empty() ? sqlite3_bind_null(in, 8)
                                                       : text(in, 8, message.nhs_number));
    rc = rc != SQLITE_OK ? rc
                         : sqlite3_bind_blob(in, 9, stored.data(), static_cast<int>(stored.size()),
                                             SQLITE_STATIC);
    rc = rc != SQLITE_OK ? rc
                         : (messages[i].key_id == nullptr ? sqlite3_bind_null(in, 10)
                                                          : text(in, 10, *messages[i].key_id));
    if (rc != SQLITE_OK) {
      return SqliteError(kWhat, rc);
    }
    rc = sqlite3_step(in);
    if (rc == SQLITE_ROW) {
      const std::int64_t new_id = sqlite3_column_int64(in, 0);
      results[i] = {core::AcceptOutcome::kStored, new_id};
      rc = sqlite3_step(in);  // RETURNING: run to completion
      if (rc == SQLITE_DONE && message.route_by_holders) {
        holders.clear();
        rc = ReadHoldersSqlite(*holders_of, message.nhs_number, holders);
        for (const std::string& other : message.other_nhs_numbers) {
          rc = rc == SQLITE_DONE ? ReadHoldersSqlite(*holders_of, other, holders) : rc;
        }
        if (!message.other_nhs_numbers.empty()) {
          std::sort(holders.begin(), holders.end());
          holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
        }
        if (rc == SQLITE_DONE) {
          rc = EnqueueRoutesSqlite(*enqueue, *party, new_id, message,
                                   message.route_by_holders(holders));
        }
      } else if (rc == SQLITE_DONE) {
        rc = EnqueueRoutesSqlite(*enqueue, *party, new_id, message, message.routes);
      }
      if (rc == SQLITE_DONE && message.announce) {
        const core::LocatorAnnouncement& a = *message.announce;
        const auto announce_one = [&](const std::string& nhs_number) {
          if (!db.recent_locator_rows().Fresh(nhs_number, a.ods, a.source, a.at_ms)) {
            rc = AnnounceSqlite(*announce, a, nhs_number);
            announced.push_back(Announced{&a, &nhs_number});
          }
        };
        announce_one(a.nhs_number);
        for (const std::string& other : message.other_nhs_numbers) {
          if (rc == SQLITE_DONE) {
            announce_one(other);
          }
        }
      }
    } else if (rc == SQLITE_DONE) {
      sqlite3_stmt* const lookup = *find;
      sqlite3_reset(lookup);
      rc = text(lookup, 1, message.dedupe_key);
      if (rc != SQLITE_OK) {
        return SqliteError(kWhat, rc);
      }
      rc = sqlite3_step(lookup);
      if (rc != SQLITE_ROW) {
        return rc == SQLITE_DONE
                   ? core::MakeError(
                         core::ErrorCode::kStorage,
                         "inbound accept failed: a conflicting dedupe key was not found")
                   : SqliteError(kWhat, rc);
      }
      const unsigned char* sha = sqlite3_column_text(lookup, 1);
      const std::string_view existing(reinterpret_cast<const char*>(sha),
                                      static_cast<std::size_t>(sqlite3_column_bytes(lookup, 1)));
      results[i] = {existing == message.content_sha256 ? core::AcceptOutcome::kDuplicate
                                                       : core::AcceptOutcome::kConflict,
                    sqlite3_column_int64(lookup, 0)};
      sqlite3_reset(lookup);
      rc = SQLITE_DONE;
    }
    sqlite3_reset(in);
    if (rc != SQLITE_DONE) {
      return SqliteError(kWhat, rc);
    }
  }
  sqlite3_clear_bindings(*insert);  // the bound buffers belong to the callers
  sqlite3_clear_bindings(*find);
  sqlite3_clear_bindings(*enqueue);
  sqlite3_clear_bindings(*announce);
  sqlite3_clear_bindings(*holders_of);
  return core::Ok();
}

// The batch's audit records (InboundMessage::audit), in the batch's order, chained behind the
// ledger head read in this transaction and written; nullopt when no message has one.
core::Result<std::optional<core::LedgerBatch>> WriteAuditRecords(
    Database::Impl& db, Poco::Data::Session& session, core::LedgerChain& chain,
    const Messages& messages, const std::vector<core::AcceptResult>& results) {
  std::vector<core::LedgerDraft> drafts;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const core::InboundMessage& message = *messages[i].message;
    if (message.audit) {
      for (core::LedgerDraft& draft : message.audit(results[i])) {
        drafts.push_back(std::move(draft));
      }
    }
  }
  if (drafts.empty()) {
    return std::optional<core::LedgerBatch>();
  }
  core::Result<core::LedgerBatch> written =
      AppendLedgerAtHead(db, session, [&](std::int64_t head_seq, const std::string& head_hash) {
        return chain.ChainDrafts(drafts, head_seq, head_hash);
      });
  if (!written) {
    return std::move(written).error();
  }
  return std::optional<core::LedgerBatch>(std::move(*written));
}

}  // namespace

namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

struct CipherContext {
  CipherContext() : context(EVP_CIPHER_CTX_new()) {}
  ~CipherContext() { EVP_CIPHER_CTX_free(context); }
  CipherContext(const CipherContext&) = delete;
  CipherContext& operator=(const CipherContext&) = delete;
  EVP_CIPHER_CTX* context;
};

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

core::Result<PayloadKey> ParsePayloadKey(std::string_view id, std::string_view hex) {
  if (id.empty()) {
    return core::MakeError(core::ErrorCode::kConfig, "payload key id is empty", "PayloadKey.id");
  }
  PayloadKey key;
  key.id = std::string(id);
  if (hex.size() != 2 * key.bytes.size()) {
    return core::MakeError(core::ErrorCode::kConfig, "payload key must be 64 hex digits",
                           "PayloadKey.bytes");
  }
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  for (std::size_t i = 0; i < key.bytes.size(); ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return core::MakeError(core::ErrorCode::kConfig, "payload key must be 64 hex digits",
                             "PayloadKey.bytes");
    }
    key.bytes[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return key;
}

core::Result<std::string> SealPayload(const PayloadKey& key, std::string_view plaintext,
                                      std::string_view aad) {
  const auto failed = [] {
    return core::MakeError(core::ErrorCode::kInternal, "payload encryption failed");
  };
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  if (RAND_bytes(out, static_cast<int>(kNonceBytes)) != 1) {
    return failed();
  }
  CipherContext cipher;
  int length = 0;
  if (cipher.context == nullptr ||
      EVP_EncryptInit_ex(cipher.context, EVP_aes_256_gcm(), nullptr, key.bytes.data(), out) != 1 ||
      EVP_EncryptUpdate(cipher.context, nullptr, &length, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(cipher.context, out + kNonceBytes, &length, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(cipher.context, out + kNonceBytes + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.context, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out + kNonceBytes + plaintext.size()) != 1) {
    return failed();
  }
  return sealed;
}

core::Result<std::string> OpenPayload(const PayloadKey& key, std::string_view sealed,
                                      std::string_view aad) {
  const auto failed = [] {
    return core::MakeError(core::ErrorCode::kStorage,
                           "stored payload cannot be decrypted (altered, or another key)");
  };
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return failed();
  }
  const std::size_t size = sealed.size() - kNonceBytes - kTagBytes;
  std::string plaintext(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  const unsigned char* in = Bytes(sealed);
  // The tag is read, not written, by EVP_CTRL_GCM_SET_TAG; OpenSSL's signature is not const.
  std::array<unsigned char, kTagBytes> tag{};
  std::copy(in + kNonceBytes + size, in + sealed.size(), tag.begin());
  CipherContext cipher;
  int length = 0;
  if (cipher.context == nullptr ||
      EVP_DecryptInit_ex(cipher.context, EVP_aes_256_gcm(), nullptr, key.bytes.data(), in) != 1 ||
      EVP_DecryptUpdate(cipher.context, nullptr, &length, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(cipher.context, out, &length, in + kNonceBytes, static_cast<int>(size)) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(cipher.context, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(cipher.context, out + length, &length) != 1) {
    return failed();
  }
  return plaintext;
}

void SqlInboundStore::LogTimes(const Stats& stats) const {
  const auto ms = [](std::chrono::nanoseconds time) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(time).count());
  };
  database_.impl().logger().Info("inbound.committer_time",
                                 {{"batches", std::to_string(stats.batches)},
                                  {"messages", std::to_string(stats.messages)},
                                  {"failed_batches", std::to_string(stats.failed_batches)},
                                  {"idle_ms", ms(stats.idle)},
                                  {"linger_ms", ms(stats.linger)},
                                  {"write_ms", ms(stats.write)},
                                  {"commit_ms", ms(stats.commit)},
                                  {"report_ms", ms(stats.report)}});
}

void SqlInboundStore::CommitBatch(std::vector<Pending*> batch,
                                  std::chrono::nanoseconds& write_time) {
  Database::Impl& db = database_.impl();
  // What the answers need once the batch is on disk, perhaps on the WAL syncer's thread.
  struct Committed {
    std::vector<Pending*> batch;
    std::vector<std::size_t> order;           // batch indexes in the order written
    std::vector<core::AcceptResult> results;  // in `order`
  };
  auto done = std::make_shared<Committed>();
  done->batch = std::move(batch);
  const std::vector<Pending*>& pendings = done->batch;
  // In dedupe_key order (stable, so the same key keeps arrival order): on PostgreSQL two nodes
  // then take row locks in the same order and cannot deadlock on each other's batches.
  std::vector<std::size_t>& order = done->order;
  order.resize(pendings.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&pendings](std::size_t a, std::size_t b) {
    return pendings[a]->message->dedupe_key < pendings[b]->message->dedupe_key;
  });
  Messages messages;
  messages.reserve(pendings.size());
  for (const std::size_t i : order) {
    const Pending& pending = *pendings[i];
    if (pending.sealed) {
      messages.push_back(Row{pending.message, *pending.sealed, &payload_key_->id});
    } else {
      messages.push_back(Row{pending.message, pending.message->payload, nullptr});
    }
  }
  std::function<core::Status(std::size_t)> hook;
  core::LedgerChain* chain = nullptr;
  {
    std::lock_guard lock(mutex_);
    hook = before_commit_for_test_;
    chain = ledger_chain_;
  }
  std::optional<core::LedgerBatch> audited;  // the ledger rows written with the batch

  std::vector<core::AcceptResult>& results = done->results;
  results.resize(pendings.size());
  // Sets every caller's result (the batch's outcomes once it is on disk, else `status`'s error)
  // and answers them.
  const auto answer = [this](Committed& committed, const core::Status& status) {
    {
      // Counted before anyone is answered, so a caller that reads stats() sees its batch.
      std::lock_guard lock(mutex_);
      if (status) {
        ++stats_.batches;
        stats_.messages += committed.batch.size();
      } else {
        ++stats_.failed_batches;
      }
    }
    for (std::size_t k = 0; k < committed.order.size(); ++k) {
      Pending& pending = *committed.batch[committed.order[k]];
      if (status) {
        pending.result = committed.results[k];
      } else {
        pending.result = status.error();
      }
    }
    Report(committed.batch);
  };
  core::Status status = core::Ok();
  if (pg_writer_) {
    // PostgreSQL: the whole batch in one libpq pipeline (docs/adr/0004-libpq-pipeline.md), on
    // disk when it returns (synchronous_commit).
    std::function<core::Status()> before_commit;
    if (hook) {
      before_commit = [&hook, &pendings] { return hook(pendings.size()); };
    }
    status = pg_writer_->WriteBatch(messages, results, before_commit);
    if (status) {
      answer(*done, status);
    }
  } else {
    std::vector<Announced> announced;
    const auto body = [&](Poco::Data::Session& session) -> core::Status {
      const auto started = std::chrono::steady_clock::now();
      struct Timed {  // the rows' writing ends with this body, whichever way it returns
        std::chrono::steady_clock::time_point from;
        std::chrono::nanoseconds& into;
        ~Timed() { into = std::chrono::steady_clock::now() - from; }
      } timed{started, write_time};
      BROKER_RETURN_IF_ERROR(WriteBatchSqlite(db, session, messages, results, announced));
      if (chain != nullptr) {
        core::Result<std::optional<core::LedgerBatch>> written =
            WriteAuditRecords(db, session, *chain, messages, results);
        if (!written) {
          return std::move(written).error();
        }
        audited = std::move(*written);
      }
      if (hook) {
        BROKER_RETURN_IF_ERROR(hook(pendings.size()));
      }
      return core::Ok();
    };
    // Committed, the next batch may start at once; the answers wait until this one is on disk.
    status = db.WriteThenWhenDurable(
        "inbound accept", body,
        [&db, &announced, &audited, chain] {
          for (const Announced& row : announced) {
            const core::LocatorAnnouncement& a = *row.announcement;
            db.recent_locator_rows().Written(*row.nhs_number, a.ods, a.source, a.at_ms);
          }
          if (audited) {
            chain->Committed(*audited);
          }
        },
        [done, answer](core::Status durable) { answer(*done, durable); });
  }

  if (!status) {
    db.logger().Warn("inbound.batch_failed", {{"messages", std::to_string(done->batch.size())},
                                              {"error", status.error().message}});
    if (pg_writer_) {
      answer(*done, status);  // (SQLite's durable callback has answered, or will)
    }
  }
}

}  // namespace tb::store
