#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace tb::core {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// One key/value of a log line. Values are rendered as JSON strings; never put PHI in them
// (no NHS numbers, names, birth dates or payloads) - log ids, types, sizes and error codes.
struct LogField {
  std::string_view key;
  std::string value;
};

// A named logger ("tb.net", "tb.mllp"). Writes one JSON object per line:
//   {"time":"2026-11-23T10:00:00.123Z","level":"info","logger":"tb.net","event":"...",...}
// Thread-safe: lines from several threads never interleave.
class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  bool Enabled(LogLevel level) const;
  void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) const;

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

 private:
  std::string name_;
};

// Process-wide settings, set once by broker/app at start (before threads run).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Replaces the sink (default: stderr). The sink receives one complete line without '\n'.
void SetLogSink(std::function<void(std::string_view line)> sink);
// "trace" | "debug" | "info" | "warn" | "error" | "off"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel& level);

// Appends `text` to `out` as the body of a JSON string (quotes not included).
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace tb::core
