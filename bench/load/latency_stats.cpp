#include "bench/load/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace tb::bench {
namespace {

double AtRank(const std::vector<std::int64_t>& sorted, double fraction) {
  // Nearest rank: the smallest value with at least `fraction` of the samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  const std::size_t index = rank == 0 ? 0 : rank - 1;
  return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]) / 1000.0;
}

}  // namespace

LatencySummary Summarise(std::vector<std::int64_t>& latencies_ns) {
  LatencySummary summary;
  if (latencies_ns.empty()) {
    return summary;
  }
  std::sort(latencies_ns.begin(), latencies_ns.end());
  summary.count = latencies_ns.size();
  summary.p50_us = AtRank(latencies_ns, 0.50);
  summary.p90_us = AtRank(latencies_ns, 0.90);
  summary.p99_us = AtRank(latencies_ns, 0.99);
  summary.max_us = static_cast<double>(latencies_ns.back()) / 1000.0;
  return summary;
}

}  // namespace tb::bench
