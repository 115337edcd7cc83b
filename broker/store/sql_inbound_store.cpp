#include "broker/store/sql_inbound_store.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Data/LOB.h>
#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>

#include "broker/store/database_impl.h"

namespace tb::store {
namespace {

using namespace Poco::Data::Keywords;  // NOLINT(google-build-using-namespace): into/use/now

// ON CONFLICT ... DO NOTHING RETURNING id: one statement decides "new" (a row comes back) or
// "known key" (none does) on both engines, and on PostgreSQL waits for a concurrent transaction
// of another node that inserts the same key, instead of failing the batch.
constexpr std::string_view kInsertSql =
    "INSERT INTO inbound_message (received_at, sender, protocol, message_type, control_id,"
    " dedupe_key, content_sha256, nhs_number, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
constexpr std::string_view kFindSql =
    "SELECT id, content_sha256 FROM inbound_message WHERE dedupe_key = ?";
constexpr std::string_view kCountSql = "SELECT COUNT(*) FROM inbound_message";

}  // namespace

struct SqlInboundStore::Pending {
  const core::InboundMessage* message;                      // the caller's; it blocks until done
  std::optional<core::Result<core::AcceptResult>> result;  // set by the committer
  bool done = false;                                        // guarded by mutex_
};

SqlInboundStore::SqlInboundStore(Database& database, InboundStoreSettings settings)
    : database_(database), settings_(settings) {
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
  Pending pending{&message, std::nullopt};
  std::unique_lock lock(mutex_);
  if (stopping_) {
    return core::MakeError(core::ErrorCode::kStorage, "inbound accept failed: store is shut down");
  }
  queue_.push_back(&pending);
  work_.notify_one();
  done_.wait(lock, [&pending] { return pending.done; });
  return std::move(*pending.result);
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
  if (committer_.joinable()) {
    committer_.join();
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

void SqlInboundStore::RunCommitter() {
  try {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) {
        return;  // stopping, and everything that was waiting is committed
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
      lock.unlock();
      const bool committed = CommitBatch(batch);
      lock.lock();
      if (committed) {
        ++stats_.batches;
        stats_.messages += batch.size();
      } else {
        ++stats_.failed_batches;
      }
      for (Pending* pending : batch) {
        pending->done = true;
      }
      done_.notify_all();
    }
  } catch (const std::exception& error) {
    // A bug: callers would wait forever. Say so and stop (STYLE.md section 4, thread entries).
    database_.impl().logger().Error("inbound.committer_crashed", {{"what", error.what()}});
    std::abort();
  }
}

bool SqlInboundStore::CommitBatch(const std::vector<Pending*>& batch) {
  Database::Impl& db = database_.impl();
  std::vector<std::size_t> order(batch.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&batch](std::size_t a, std::size_t b) {
    return batch[a]->message->dedupe_key < batch[b]->message->dedupe_key;
  });
  std::function<core::Status(std::size_t)> hook;
  {
    std::lock_guard lock(mutex_);
    hook = before_commit_for_test_;
  }

  std::vector<core::AcceptResult> results(batch.size());
  const std::string insert_sql = db.Sql(kInsertSql);
  const std::string find_sql = db.Sql(kFindSql);
  const core::Status status = db.Write("inbound accept", [&](Poco::Data::Session& session) -> core::Status {
    // Bound by reference: each execute() sends the current values of these variables.
    Poco::Int64 received_at = 0;
    std::string sender;
    std::string protocol;
    std::string message_type;
    std::string control_id;
    std::string dedupe_key;
    std::string content_sha256;
    Poco::Nullable<std::string> nhs_number;
    Poco::Data::BLOB payload;
    Poco::Int64 new_id = 0;
    Poco::Data::Statement insert(session);
    insert << insert_sql, use(received_at), use(sender), use(protocol), use(message_type),
        use(control_id), use(dedupe_key), use(content_sha256), use(nhs_number), use(payload),
        into(new_id);

    Poco::Int64 existing_id = 0;
    std::string existing_sha256;
    Poco::Data::Statement find(session);
    find << find_sql, use(dedupe_key), into(existing_id), into(existing_sha256);

    for (const std::size_t i : order) {
      const core::InboundMessage& message = *batch[i]->message;
      received_at = message.received_at_ms;
      sender = message.sender;
      protocol = message.protocol;
      message_type = message.message_type;
      control_id = message.control_id;
      dedupe_key = message.dedupe_key;
      content_sha256 = message.content_sha256;
      if (message.nhs_number.empty()) {
        nhs_number.clear();
      } else {
        nhs_number = message.nhs_number;
      }
      payload.assignRaw(reinterpret_cast<const unsigned char*>(message.payload.data()),
                        message.payload.size());
      if (insert.execute() == 1) {
        results[i] = {core::AcceptOutcome::kStored, new_id};
        continue;
      }
      if (find.execute() != 1) {
        return core::MakeError(core::ErrorCode::kStorage,
                               "inbound accept failed: a conflicting dedupe key was not found");
      }
      results[i] = {existing_sha256 == message.content_sha256 ? core::AcceptOutcome::kDuplicate
                                                              : core::AcceptOutcome::kConflict,
                    existing_id};
    }
    if (hook) {
      BROKER_RETURN_IF_ERROR(hook(batch.size()));
    }
    return core::Ok();
  });

  if (!status) {
    db.logger().Warn("inbound.batch_failed", {{"messages", std::to_string(batch.size())},
                                              {"error", status.error().message}});
    for (Pending* pending : batch) {
      pending->result = status.error();
    }
    return false;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->result = results[i];
  }
  return true;
}

}  // namespace tb::store
