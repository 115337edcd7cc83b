#pragma once

#include <chrono>
#include <thread>

namespace tb::bench {

template <typename SetMeasuring>
void MeasureWindow(double warmup_s, double duration_s, const std::vector<int>& pids,
                   SetMeasuring set_measuring, LoadResult& result) {
  using Seconds = std::chrono::duration<double>;
  std::this_thread::sleep_for(Seconds(warmup_s));
  result.server_before = SampleProcesses(pids);
  const auto start = std::chrono::steady_clock::now();
  set_measuring(true);
  std::this_thread::sleep_for(Seconds(duration_s));
  set_measuring(false);
  result.window_seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  result.server_after = SampleProcesses(pids);
}

}  // namespace tb::bench
