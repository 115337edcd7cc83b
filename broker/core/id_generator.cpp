#include "broker/core/id_generator.h"

#include <cstdio>
#include <random>

namespace tb::core {

ControlIdGenerator::ControlIdGenerator() : prefix_(std::random_device{}()) {}

std::string ControlIdGenerator::Next() {
  const std::uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) & 0xFFFFFFFFFFFFULL;
  char buffer[21];
  std::snprintf(buffer, sizeof buffer, "%08X%012llX", prefix_, static_cast<unsigned long long>(n));
  return std::string(buffer, 20);
}

}  // namespace tb::core
