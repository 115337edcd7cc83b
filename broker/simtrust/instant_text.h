#pragma once

#include <chrono>
#include <string>

namespace tb::simtrust {

// core::FormatInstant's text ("2026-11-24T02:31:05.123Z"), with the date and time up to the
// second formatted once per second per thread: a simulated trust stamps every searchset it
// answers, and in the benchmarks it shares a CPU with the broker (docs/simulate-trust.md).
std::string InstantText(std::chrono::system_clock::time_point time);

}  // namespace tb::simtrust
