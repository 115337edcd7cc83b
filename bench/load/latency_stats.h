#pragma once

#include <cstdint>
#include <vector>

namespace tb::bench {

// Percentiles of a set of request latencies, in microseconds (nearest-rank).
struct LatencySummary {
  std::uint64_t count = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Sorts `latencies_ns` in place (they are the caller's scratch copy) and summarises them.
LatencySummary Summarise(std::vector<std::int64_t>& latencies_ns);

}  // namespace tb::bench
