#pragma once

// Store-internal: SqlInboundStore's batch commit on PostgreSQL through libpq pipeline mode
// (docs/adr/0004-libpq-pipeline.md).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/inbound_store.h"
#include "broker/store/database_impl.h"
#include "broker/store/pg_connection.h"

namespace tb::store {

// A message of a group-commit batch as it is written.
struct InboundRow {
  const core::InboundMessage* message;
  std::string_view payload;   // the plaintext, or its sealed form
  const std::string* key_id;  // the payload key's id when sealed, else null
};

// Writes whole batches of inbound messages and their outbound rows on one libpq connection of its
// own, opened on first use with the conninfo and session settings (synchronous_commit,
// lock_timeout, statement_timeout) of the database's pooled sessions, its statements prepared
// once. A batch is one pipeline, one round trip: BEGIN, the enqueue partition locks
// (LockEnqueuePartitions' rule, plus one lock per record locator pair the batch announces), per
// message an insert that also enqueues its routes and upserts its locator announcement when it
// stores the message, and a lookup of the key's row, then COMMIT.
//
// The same contract as the Poco::Data path it replaces: all or nothing per batch; a known key is
// kDuplicate (same content) or kConflict with the existing id and enqueues nothing; every failure
// is kStorage naming the SQLSTATE. A lost connection fails the batch and is reopened for the next.
// Each batch runs inside Database::Impl::Read(), so Close() waits for it and later batches fail.
//
// Thread-safety: none; owned and used by the committer thread.
class PgInboundWriter {
 public:
  explicit PgInboundWriter(Database::Impl& database) : db_(database) {}

  // Writes `rows` (already in dedupe_key order) in one transaction and sets results[i] for
  // rows[i] (`results` has rows.size() entries). `before_commit`, when set, runs after every
  // row is written and before COMMIT (then a second round trip); its error rolls the batch back.
  core::Status WriteBatch(const std::vector<InboundRow>& rows,
                          std::vector<core::AcceptResult>& results,
                          const std::function<core::Status()>& before_commit);

  // The server process id of the writer's connection (0 before the first batch), for tests.
  int backend_pid() const { return connection_.backend_pid(); }

 private:
  core::Status Connect(Poco::Data::Session& pooled);
  core::Status Write(const std::vector<InboundRow>& rows, std::vector<core::AcceptResult>& results,
                     const std::function<core::Status()>& before_commit);

  Database::Impl& db_;
  PgConnection connection_;
};

}  // namespace tb::store
