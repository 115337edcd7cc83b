#include "broker/simtrust/received_log.h"

#include <ctime>
#include <memory>

#include "broker/core/clock.h"
#include "broker/core/log.h"

namespace tb::simtrust {
namespace {

void AppendField(std::string& out, std::string_view key, std::string_view value) {
  out += out.size() > 1 ? ",\"" : "\"";
  out += key;
  out += "\":\"";
  core::AppendJsonEscaped(out, value);
  out += '"';
}

}  // namespace

std::string ToJsonLine(const ReceivedMessage& message) {
  std::string line = "{";
  AppendField(line, "control_id", message.control_id);
  AppendField(line, "nhs_number", message.nhs_number);
  AppendField(line, "type", message.type);
  AppendField(line, "protocol", message.protocol);
  AppendField(line, "sender", message.sender);
  AppendField(line, "received_at", core::FormatInstant(message.received_at));
  line += '}';
  return line;
}

core::Result<std::unique_ptr<FileReceivedLog>> FileReceivedLog::Open(
    const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  std::unique_ptr<FileReceivedLog> log(new FileReceivedLog(path));
  log->out_.open(path, std::ios::out | std::ios::app | std::ios::binary);
  if (!log->out_) {
    return core::MakeError(core::ErrorCode::kConfig,
                           "cannot open received_log for appending: " + path.string(),
                           "/received_log");
  }
  return log;
}

core::Status FileReceivedLog::Append(const ReceivedMessage& message) {
  std::string line = ToJsonLine(message);
  line += '\n';
  std::lock_guard lock(mutex_);
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.flush();
  if (!out_) {
    out_.clear();
    return core::MakeError(core::ErrorCode::kStorage, "cannot write the received log");
  }
  return core::Ok();
}

core::Status MemoryReceivedLog::Append(const ReceivedMessage& message) {
  std::lock_guard lock(mutex_);
  messages_.push_back(message);
  return core::Ok();
}

std::vector<ReceivedMessage> MemoryReceivedLog::Messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

}  // namespace tb::simtrust
