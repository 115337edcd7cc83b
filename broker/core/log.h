#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace tb::core {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// One key/value of a log line. Values are rendered as JSON strings; never put PHI in them
// (no NHS numbers, names, birth dates or payloads) - log ids, types, sizes and error codes.
// A value the caller already holds (a string, a view, a literal) is borrowed, not copied: the
// fields live in the call's initializer list, so whatever they name outlives the line's writing.
// A value made for the line (std::to_string(n), a concatenation) is moved in.
class LogField {
 public:
  LogField(std::string_view key, std::string&& value)
      : key_(key), owned_(std::move(value)), owns_(true) {}
  LogField(std::string_view key, const std::string& value) : key_(key), borrowed_(value) {}
  LogField(std::string_view key, std::string_view value) : key_(key), borrowed_(value) {}
  LogField(std::string_view key, const char* value) : key_(key), borrowed_(value) {}

  std::string_view key() const { return key_; }
  std::string_view value() const { return owns_ ? std::string_view(owned_) : borrowed_; }

 private:
  std::string_view key_;
  std::string_view borrowed_;
  std::string owned_;
  bool owns_ = false;
};

// A named logger ("tb.net", "tb.mllp"). Writes one JSON object per line:
//   {"time":"2026-11-23T10:00:00.123Z","level":"info","logger":"tb.net","event":"...",...}
// Thread-safe: lines from several threads never interleave.
class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  bool Enabled(LogLevel level) const;
  void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) const {
    Write(level, event, fields, false);
  }

  void Debug(std::string_view event, std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kDebug, event, fields);
  }
  void Info(std::string_view event, std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kInfo, event, fields);
  }
  void Warn(std::string_view event, std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kWarn, event, fields);
  }
  void Error(std::string_view event, std::initializer_list<LogField> fields = {}) const {
    Log(LogLevel::kError, event, fields);
  }
  // An info line written for every request (an access line, a query's summary) that nobody
  // waits for: kept in a buffer and written together with others, at most
  // kBatchedLineDelay later, so that a busy server makes one write(2) per batch instead of one
  // per line. Every other line (Log, Info, Warn, Error) is written at once, after the lines
  // waiting in the buffer, so the order of lines is kept. The buffer is also written when it
  // holds 32 KiB, on FlushLog() and at exit (std::exit, returning from main); a crash or
  // SIGKILL loses at most the last kBatchedLineDelay of batched lines.
  void InfoBatched(std::string_view event, std::initializer_list<LogField> fields = {}) const {
    Write(LogLevel::kInfo, event, fields, true);
  }

 private:
  void Write(LogLevel level, std::string_view event, std::initializer_list<LogField> fields,
             bool batched) const;

  std::string name_;
};

// The longest a line logged with Logger::InfoBatched waits in the buffer.
inline constexpr std::chrono::milliseconds kBatchedLineDelay{20};

// Writes the lines waiting in the buffer now (see Logger::InfoBatched).
void FlushLog();

// Process-wide settings, set once by broker/app at start (before threads run).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Replaces the sink (default: stderr), after writing the lines waiting in the buffer to the old
// one. The sink receives one complete line without '\n', under the log's lock.
void SetLogSink(std::function<void(std::string_view line)> sink);
// "trace" | "debug" | "info" | "warn" | "error" | "off"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel& level);

// Appends `text` to `out` as the body of a JSON string (quotes not included).
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace tb::core
