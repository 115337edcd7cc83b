#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tb::core {

// Injected wherever time matters, so tests can use a FakeClock. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

// UTC milliseconds since the Unix epoch: how times are stored and compared across the broker.
std::int64_t ToUnixMs(std::chrono::system_clock::time_point time);

// A FHIR instant in UTC with milliseconds: "2026-11-23T11:20:52.123Z". Thread-safe.
// The date and time up to the second are formatted once per second per thread.
std::string FormatInstant(std::int64_t unix_ms);
std::string FormatInstant(std::chrono::system_clock::time_point time);
// The same text appended to `out` (no string of its own: log lines and JSON writers).
void AppendInstant(std::string& out, std::int64_t unix_ms);

}  // namespace tb::core
