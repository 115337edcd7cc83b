#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace tb::core {

// Control ids for messages the broker originates (ACK MSH-10, outbound MSH-10): 20 characters
// (the v2.3 limit of MSH-10, so every receiver can store them), unique per process and, with a
// random per-process prefix, across restarts and nodes: 8 hex digits of randomness + 12 hex digits
// of a counter. Thread-safe.
class ControlIdGenerator {
 public:
  ControlIdGenerator();
  explicit ControlIdGenerator(std::uint32_t prefix) : prefix_(prefix) {}

  std::string Next();

 private:
  std::uint32_t prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace tb::core
