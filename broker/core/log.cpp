#include "broker/core/log.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "broker/core/clock.h"
#include "broker/core/json_escape_scan.h"

namespace tb::core {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_sink_mutex;
std::function<void(std::string_view)> g_sink;  // guarded by g_sink_mutex

// Lines of Logger::InfoBatched waiting to be written, each ending in '\n', and the thread that
// writes them kBatchedLineDelay after the first arrived. All guarded by g_sink_mutex. Allocated
// once and never destroyed, so that a line logged while the process exits still finds it.
struct Batch {
  std::string pending;
  std::condition_variable wake;  // pending became non-empty, or stopping
  std::thread flusher;
  bool started = false;
  bool stopping = false;  // at exit: batched lines are written at once from then on
};
constexpr std::size_t kBatchBytes = 32 * 1024;

Batch& TheBatch() {
  static Batch* const batch = new Batch();  // NOLINT(cppcoreguidelines-owning-memory): see Batch
  return *batch;
}

// Hands `text` (whole lines, each ending in '\n') to the sink. Caller holds g_sink_mutex.
void EmitLocked(std::string_view text) {
  if (text.empty()) {
    return;
  }
  if (!g_sink) {
    std::fwrite(text.data(), 1, text.size(), stderr);  // stderr is unbuffered: one write(2)
    return;
  }
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    g_sink(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
}

void EmitPendingLocked(Batch& batch) {
  EmitLocked(batch.pending);
  batch.pending.clear();
}

void FlushLoop() {
  Batch& batch = TheBatch();
  std::unique_lock lock(g_sink_mutex);
  while (!batch.stopping) {
    batch.wake.wait(lock, [&batch] { return batch.stopping || !batch.pending.empty(); });
    // Let the lines of the next few milliseconds join this write (an immediate line may write
    // them first).
    batch.wake.wait_for(lock, kBatchedLineDelay,
                        [&batch] { return batch.stopping || batch.pending.empty(); });
    EmitPendingLocked(batch);
  }
}

// At exit: stops the flusher and writes what is left.
void StopFlusher() {
  Batch& batch = TheBatch();
  {
    std::lock_guard lock(g_sink_mutex);
    batch.stopping = true;
  }
  batch.wake.notify_one();
  if (batch.flusher.joinable()) {
    batch.flusher.join();
  }
  std::lock_guard lock(g_sink_mutex);
  EmitPendingLocked(batch);
}

constexpr std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

// The time as "YYYY-MM-DDTHH:MM:SS.mmmZ" (AppendInstant formats the second once per thread).
void AppendTime(std::string& out) {
  AppendInstant(out, ToUnixMs(std::chrono::system_clock::now()));
}

void AppendField(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  AppendJsonEscaped(out, key);
  out += "\":\"";
  AppendJsonEscaped(out, value);
  out += '"';
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Runs of characters that need no escape (nearly all of a log value) are appended at once,
  // and found eight bytes at a time.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i + 8 <= text.size()) {
      std::uint64_t word = 0;
      std::memcpy(&word, text.data() + i, 8);
      if (!core::MayNeedJsonEscape(word)) {
        i += 7;  // and the loop's ++i
        continue;
      }
    }
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte != '"' && byte != '\\') {
      continue;
    }
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (byte) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[byte >> 4];
        out += kHex[byte & 0x0f];
    }
  }
  out.append(text.data() + run, text.size() - run);
}

bool Logger::Enabled(LogLevel level) const {
  return level != LogLevel::kOff && level >= g_level.load(std::memory_order_relaxed);
}

void Logger::Write(LogLevel level, std::string_view event, std::initializer_list<LogField> fields,
                   bool batched) const {
  if (!Enabled(level)) {
    return;
  }
  // Written into a buffer this thread keeps, not a string allocated per line (three info lines
  // per FHIR read); only used until the line is handed over below, under the sink's lock, which
  // a sink cannot re-enter to log again.
  thread_local std::string line;
  line.clear();
  line += "{\"time\":\"";
  AppendTime(line);
  line += '"';
  AppendField(line, "level", LevelName(level));
  AppendField(line, "logger", name_);
  AppendField(line, "event", event);
  for (const LogField& field : fields) {
    AppendField(line, field.key(), field.value());
  }
  line += "}\n";
  struct Trim {  // a rare long line's memory is not kept by the thread
    ~Trim() {
      if (line.capacity() > 4096) {
        std::string().swap(line);
      }
    }
  } trim;

  Batch& batch = TheBatch();
  std::lock_guard lock(g_sink_mutex);
  if (batched && !batch.stopping) {
    const bool was_empty = batch.pending.empty();
    batch.pending += line;
    if (batch.pending.size() >= kBatchBytes) {
      EmitPendingLocked(batch);
      return;
    }
    if (!batch.started) {
      batch.started = true;
      batch.flusher = std::thread(FlushLoop);
      std::atexit(StopFlusher);
    }
    if (was_empty) {
      batch.wake.notify_one();
    }
    return;
  }
  if (batch.pending.empty()) {
    EmitLocked(line);
    return;
  }
  batch.pending += line;  // the waiting lines first, all in one write
  EmitPendingLocked(batch);
}

void FlushLog() {
  std::lock_guard lock(g_sink_mutex);
  EmitPendingLocked(TheBatch());
}

void SetLogLevel(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }
LogLevel GetLogLevel() { return g_level.load(std::memory_order_relaxed); }

void SetLogSink(std::function<void(std::string_view line)> sink) {
  std::lock_guard lock(g_sink_mutex);
  EmitPendingLocked(TheBatch());
  g_sink = std::move(sink);
}

bool ParseLogLevel(std::string_view text, LogLevel& level) {
  for (const LogLevel candidate : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                   LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (LevelName(candidate) == text) {
      level = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace tb::core
