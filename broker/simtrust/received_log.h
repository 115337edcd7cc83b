#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace tb::simtrust {

// One message a simulated trust accepted (over MLLP or FHIR).
struct ReceivedMessage {
  std::string control_id;  // MSH-10, or the FHIR Bundle.id
  std::string nhs_number;  // the patient's, when the message names one; else empty
  std::string type;        // "ADT^A01", or the MessageHeader event code ("transaction"...)
  std::string protocol;    // "mllp" | "fhir"
  std::string sender;      // the sender's certificate CN
  std::chrono::system_clock::time_point received_at;
};

// The JSON line for a message (no trailing newline):
// {"control_id":..,"nhs_number":..,"type":..,"protocol":..,"sender":..,
//  "received_at":"2026-11-23T10:00:00.123Z"}
std::string ToJsonLine(const ReceivedMessage& message);

// Where accepted messages are recorded. Testers read it to see what a trust got; it holds NHS
// numbers by design (synthetic data only), so it is a data file, never a log.
// Thread-safe: Append may be called from any thread.
class ReceivedLog {
 public:
  virtual ~ReceivedLog() = default;
  // Returns only once the line is written (and flushed). kStorage on failure.
  virtual core::Status Append(const ReceivedMessage& message) = 0;
};

// Appends JSON lines to a file (created with its folder if missing), one write + flush per line.
class FileReceivedLog final : public ReceivedLog {
 public:
  // kConfig when the file cannot be opened for appending.
  static core::Result<std::unique_ptr<FileReceivedLog>> Open(const std::filesystem::path& path);
  core::Status Append(const ReceivedMessage& message) override;

 private:
  explicit FileReceivedLog(std::filesystem::path path) : path_(std::move(path)) {}

  std::mutex mutex_;
  std::filesystem::path path_;
  std::ofstream out_;
};

// Keeps lines in memory: for tests.
class MemoryReceivedLog final : public ReceivedLog {
 public:
  core::Status Append(const ReceivedMessage& message) override;
  std::vector<ReceivedMessage> Messages() const;

 private:
  mutable std::mutex mutex_;
  std::vector<ReceivedMessage> messages_;
};

}  // namespace tb::simtrust
