#pragma once

// Store-internal: libpq used directly, for the hot paths where Poco::Data's one round trip per
// statement is the cost (docs/adr/0004-libpq-pipeline.md). A small RAII connection and a pipeline
// batch: statements sent together, answered together, in one round trip.
//
// Errors are kStorage values naming the operation and the SQLSTATE (or "connection lost",
// "timed out"), never the server's message text, which can quote bound values (PHI). Nothing here
// throws or logs.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

struct pg_conn;
struct pg_result;

namespace tb::store {

// One bound parameter: text (format 0) or binary (format 1, e.g. BYTEA) bytes; null when
// `is_null`. Borrowed: libpq copies the bytes into its send buffer before Add() returns.
struct PgParam {
  std::string_view value;
  bool binary = false;
  bool is_null = false;

  static PgParam Text(std::string_view text) { return {text, false, false}; }
  static PgParam Bytes(std::string_view bytes) { return {bytes, true, false}; }
  static PgParam Null() { return {{}, false, true}; }
  // Null for an empty string (columns where "absent" is stored as NULL).
  static PgParam TextOrNull(std::string_view text) { return text.empty() ? Null() : Text(text); }
};

// A PostgreSQL array literal of text elements ({"a","b"}), quoted so any text is safe; bound as
// a text parameter and cast with CAST($n AS TEXT[]).
std::string PgTextArray(std::span<const std::string_view> elements);

// The rows of one statement's result (text format). Move-only; frees the libpq result.
class PgRows {
 public:
  PgRows() = default;
  explicit PgRows(pg_result* result);
  ~PgRows();
  PgRows(PgRows&& other) noexcept;
  PgRows& operator=(PgRows&& other) noexcept;
  PgRows(const PgRows&) = delete;
  PgRows& operator=(const PgRows&) = delete;

  int size() const;  // rows
  bool IsNull(int row, int column) const;
  std::string_view Text(int row, int column) const;
  // The column as a 64-bit integer; nullopt when null or not an integer.
  std::optional<std::int64_t> Int64(int row, int column) const;

 private:
  pg_result* result_ = nullptr;
};

// A libpq connection. Move-only; closed by the destructor. Not thread-safe: one owner thread.
class PgConnection {
 public:
  // Connects with a libpq conninfo string ("host=... dbname=..." or a URI). `what` names the
  // operation in errors. Errors: kStorage with libpq's first line, which names host and user but
  // never the password.
  static core::Result<PgConnection> Open(const std::string& conninfo, std::string_view what);

  PgConnection() = default;
  ~PgConnection();
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // False once the connection is lost, or left in an unknown state (a timed-out pipeline): the
  // owner then opens a new one.
  bool usable() const;
  void Close();

  // The server process id of this connection (pg_stat_activity.pid), 0 when closed.
  int backend_pid() const;

  // One statement outside a pipeline, waiting for its result (setup, ROLLBACK, COMMIT).
  core::Result<PgRows> Exec(std::string_view what, const std::string& sql,
                            std::span<const PgParam> params = {});
  // Prepares `sql` (with $1.. placeholders) as `name` on this connection.
  core::Status Prepare(std::string_view what, const std::string& name, const std::string& sql);

  // How long a pipeline waits for the server before giving up (the connection is then closed,
  // as its state is unknown). Zero: no limit.
  void set_reply_timeout(std::chrono::milliseconds timeout) { reply_timeout_ = timeout; }

  pg_conn* raw() const { return connection_; }
  std::chrono::milliseconds reply_timeout() const { return reply_timeout_; }

  // Marks the connection unusable (kept open until Close()).
  void Poison() { poisoned_ = true; }

 private:
  explicit PgConnection(pg_conn* connection) : connection_(connection) {}

  pg_conn* connection_ = nullptr;
  bool poisoned_ = false;
  std::chrono::milliseconds reply_timeout_{0};
};

// Statements pipelined on one connection (libpq pipeline mode) and sent with one Sync: one round
// trip for the lot. If one fails, the server skips the rest up to the Sync, and an explicit
// transaction the pipeline opened is left aborted (the caller rolls it back).
//
//   PgPipeline pipeline(connection);
//   pipeline.AddSql("BEGIN");
//   pipeline.Add("insert_row", params);  // prepared on the connection earlier
//   pipeline.AddSql("COMMIT");
//   core::Result<std::vector<PgRows>> results = pipeline.Run("ledger append");
//
// Run() returns one PgRows per statement, in order, or the first failure as kStorage (SQLSTATE
// and the failed statement's index in the message). Single use; the connection must outlive it.
class PgPipeline {
 public:
  explicit PgPipeline(PgConnection& connection);
  ~PgPipeline();
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;

  // Queues a prepared statement / a statement given as SQL (parsed by the server each time).
  void Add(const std::string& prepared_name, std::span<const PgParam> params);
  void AddSql(const std::string& sql, std::span<const PgParam> params = {});

  std::size_t size() const { return queued_; }

  // Sends the Sync, then reads every result. The connection leaves pipeline mode either way.
  core::Result<std::vector<PgRows>> Run(std::string_view what);

 private:
  void Send(const std::string* prepared_name, const std::string* sql,
            std::span<const PgParam> params);

  PgConnection& connection_;
  std::size_t queued_ = 0;
  bool send_failed_ = false;  // a statement could not be queued: Run() fails
  bool entered_ = false;
  bool ran_ = false;
};

}  // namespace tb::store
