#include "broker/store/pg_connection.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <poll.h>
#include <utility>

#include <libpq-fe.h>

namespace tb::store {
namespace {

core::Error Failed(std::string_view what, std::string_view why) {
  std::string message(what);
  message += " failed: ";
  message += why;
  return core::MakeError(core::ErrorCode::kStorage, std::move(message));
}

// kStorage for a failed result: the SQLSTATE and, for the states a caller may want to tell
// apart, a fixed label. Never PQresultErrorMessage: it can quote values ("Key (x)=(...)").
core::Error ResultError(std::string_view what, const PGresult* result, const PGconn* connection) {
  if (PQstatus(connection) == CONNECTION_BAD) {
    return Failed(what, "connection lost");
  }
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (state == nullptr) {
    return Failed(what, "PostgreSQL error without SQLSTATE");
  }
  static constexpr std::pair<std::string_view, std::string_view> kLabels[] = {
      {"55P03", "lock timeout"},
      {"57014", "statement timeout"},
      {"40P01", "deadlock"},
      {"40001", "serialization failure"},
      {"23505", "unique violation"},
      {"57P01", "server shutting down"},
      {"25P02", "transaction aborted"},
  };
  std::string why = "SQLSTATE ";
  why += state;
  for (const auto& [code, label] : kLabels) {
    if (code == state) {
      why += " (";
      why += label;
      why += ')';
      break;
    }
  }
  return Failed(what, why);
}

// libpq wants NUL-terminated text parameters; binary ones are given with their length.
struct BoundParams {
  explicit BoundParams(std::span<const PgParam> params) {
    const std::size_t n = params.size();
    text.reserve(n);
    values.resize(n, nullptr);
    lengths.resize(n, 0);
    formats.resize(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const PgParam& param = params[i];
      if (param.is_null) {
        continue;
      }
      if (param.binary) {
        values[i] = param.value.data();
        lengths[i] = static_cast<int>(param.value.size());
        formats[i] = 1;
      } else {
        text.emplace_back(param.value);
        values[i] = text.back().c_str();  // reserve(): no reallocation moves it
      }
    }
  }
  int count() const { return static_cast<int>(values.size()); }

  std::vector<std::string> text;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

}  // namespace

std::string PgTextArray(std::span<const std::string_view> elements) {
  std::string out = "{";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    out += i == 0 ? "\"" : ",\"";
    for (const char c : elements[i]) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

// ---- PgRows -------------------------------------------------------------------------------------

PgRows::PgRows(PGresult* result) : result_(result) {}

PgRows::~PgRows() {
  if (result_ != nullptr) {
    PQclear(result_);
  }
}

PgRows::PgRows(PgRows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

PgRows& PgRows::operator=(PgRows&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) {
      PQclear(result_);
    }
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

int PgRows::size() const { return result_ == nullptr ? 0 : PQntuples(result_); }

bool PgRows::IsNull(int row, int column) const {
  return result_ == nullptr || row >= size() || column >= PQnfields(result_) ||
         PQgetisnull(result_, row, column) == 1;
}

std::string_view PgRows::Text(int row, int column) const {
  if (IsNull(row, column)) {
    return {};
  }
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::optional<std::int64_t> PgRows::Int64(int row, int column) const {
  if (IsNull(row, column)) {
    return std::nullopt;
  }
  const std::string_view text = Text(row, column);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// ---- PgConnection -------------------------------------------------------------------------------

core::Result<PgConnection> PgConnection::Open(const std::string& conninfo, std::string_view what) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  if (connection == nullptr) {
    return Failed(what, "out of memory");
  }
  PgConnection result(connection);
  if (PQstatus(connection) != CONNECTION_OK) {
    // libpq's reason (refused, unknown host, authentication failed) names host and user, never
    // the password; keep its first line.
    std::string reason = PQerrorMessage(connection);
    reason = reason.substr(0, reason.find('\n'));
    return Failed(what, reason.empty() ? "cannot connect" : reason);
  }
  // Pipelines must not block on a full send buffer while the server waits for us to read its
  // replies: send without blocking and poll for both directions (PgPipeline::Run).
  if (PQsetnonblocking(connection, 1) != 0) {
    return Failed(what, "cannot make the connection non-blocking");
  }
  return result;
}

PgConnection::~PgConnection() { Close(); }

PgConnection::PgConnection(PgConnection&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)),
      poisoned_(std::exchange(other.poisoned_, false)),
      reply_timeout_(other.reply_timeout_) {}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    Close();
    connection_ = std::exchange(other.connection_, nullptr);
    poisoned_ = std::exchange(other.poisoned_, false);
    reply_timeout_ = other.reply_timeout_;
  }
  return *this;
}

void PgConnection::Close() {
  if (connection_ != nullptr) {
    PQfinish(connection_);
    connection_ = nullptr;
  }
  poisoned_ = false;
}

bool PgConnection::usable() const {
  return connection_ != nullptr && !poisoned_ && PQstatus(connection_) == CONNECTION_OK;
}

int PgConnection::backend_pid() const {
  return connection_ == nullptr ? 0 : PQbackendPID(connection_);
}

core::Result<PgRows> PgConnection::Exec(std::string_view what, const std::string& sql,
                                        std::span<const PgParam> params) {
  if (!usable()) {
    return Failed(what, "connection lost");
  }
  const BoundParams bound(params);
  // PQexecParams blocks even in non-blocking mode (documented), which is what setup wants.
  PGresult* result =
      PQexecParams(connection_, sql.c_str(), bound.count(), nullptr, bound.values.data(),
                   bound.lengths.data(), bound.formats.data(), 0);
  PgRows rows(result);
  const ExecStatusType status = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    return ResultError(what, result, connection_);
  }
  return rows;
}

core::Status PgConnection::Prepare(std::string_view what, const std::string& name,
                                   const std::string& sql) {
  if (!usable()) {
    return Failed(what, "connection lost");
  }
  PGresult* result = PQprepare(connection_, name.c_str(), sql.c_str(), 0, nullptr);
  const bool ok = result != nullptr && PQresultStatus(result) == PGRES_COMMAND_OK;
  core::Status status = ok ? core::Ok() : core::Status(ResultError(what, result, connection_));
  PQclear(result);
  return status;
}

// ---- PgPipeline ---------------------------------------------------------------------------------

PgPipeline::PgPipeline(PgConnection& connection) : connection_(connection) {
  entered_ = connection_.usable() && PQenterPipelineMode(connection_.raw()) == 1;
}

PgPipeline::~PgPipeline() {
  if (entered_ && !ran_) {
    // Statements were queued but never synced: the connection's state is not worth repairing.
    connection_.Poison();
  }
}

void PgPipeline::Add(const std::string& prepared_name, std::span<const PgParam> params) {
  Send(&prepared_name, nullptr, params);
}

void PgPipeline::AddSql(const std::string& sql, std::span<const PgParam> params) {
  Send(nullptr, &sql, params);
}

void PgPipeline::Send(const std::string* prepared_name, const std::string* sql,
                      std::span<const PgParam> params) {
  if (!entered_ || send_failed_) {
    send_failed_ = true;
    return;
  }
  const BoundParams bound(params);
  // Non-blocking: libpq buffers what the socket cannot take yet; Run() flushes it.
  const int sent =
      prepared_name != nullptr
          ? PQsendQueryPrepared(connection_.raw(), prepared_name->c_str(), bound.count(),
                                bound.values.data(), bound.lengths.data(), bound.formats.data(), 0)
          : PQsendQueryParams(connection_.raw(), sql->c_str(), bound.count(), nullptr,
                              bound.values.data(), bound.lengths.data(), bound.formats.data(), 0);
  if (sent != 1) {
    send_failed_ = true;
    return;
  }
  ++queued_;
}

core::Result<std::vector<PgRows>> PgPipeline::Run(std::string_view what) {
  ran_ = true;
  PGconn* const connection = connection_.raw();
  if (!entered_) {
    return Failed(what, connection_.usable() ? "cannot enter pipeline mode" : "connection lost");
  }
  const auto lost = [&]() -> core::Error {
    connection_.Poison();
    return Failed(what, "connection lost");
  };
  if (send_failed_ || PQpipelineSync(connection) != 1) {
    if (PQstatus(connection) == CONNECTION_BAD) {
      return lost();
    }
    connection_.Poison();  // part of the batch may be queued: start afresh
    return Failed(what, "cannot queue a statement");
  }
  const std::chrono::milliseconds timeout = connection_.reply_timeout();
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  std::vector<PgRows> results;
  results.reserve(queued_);
  std::optional<core::Error> failure;
  std::size_t failed_index = 0;
  for (;;) {
    // Send what is still buffered and read until a whole result is in.
    while (PQisBusy(connection) == 1) {
      const int flushed = PQflush(connection);  // 0: all sent, 1: more to send, -1: error
      if (flushed < 0) {
        return lost();
      }
      pollfd descriptor{PQsocket(connection),
                        static_cast<short>(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0};
      int wait_ms = -1;
      if (timeout.count() > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
      }
      const int ready = poll(&descriptor, 1, wait_ms);
      if (ready == 0) {
        connection_.Poison();  // replies may still come: this connection is out of step
        return Failed(what, "timed out waiting for the server");
      }
      if (ready < 0 && errno != EINTR) {
        return lost();
      }
      if (PQconsumeInput(connection) == 0) {
        return lost();
      }
    }
    PGresult* result = PQgetResult(connection);
    if (result == nullptr) {
      if (PQstatus(connection) == CONNECTION_BAD) {
        return lost();
      }
      continue;  // the end of one statement's results
    }
    PgRows rows(result);
    switch (PQresultStatus(result)) {
      case PGRES_PIPELINE_SYNC:
        if (PQexitPipelineMode(connection) != 1) {
          connection_.Poison();
        }
        if (failure) {
          std::string message = std::move(failure->message);
          message += " (statement " + std::to_string(failed_index + 1) + " of " +
                     std::to_string(queued_) + ")";
          failure->message = std::move(message);
          return std::move(*failure);
        }
        return results;
      case PGRES_TUPLES_OK:
      case PGRES_COMMAND_OK:
      case PGRES_PIPELINE_ABORTED:  // skipped after a failure
        results.push_back(std::move(rows));
        break;
      default:  // PGRES_FATAL_ERROR and anything unexpected
        if (PQstatus(connection) == CONNECTION_BAD) {
          return lost();
        }
        if (!failure) {
          failure = ResultError(what, result, connection);
          failed_index = results.size();
        }
        results.push_back(std::move(rows));
        break;
    }
  }
}

}  // namespace tb::store
