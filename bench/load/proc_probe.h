#pragma once

#include <cstdint>
#include <vector>

namespace tb::bench {

// What /proc says about the server processes under test (Linux only). A process that cannot be
// read (gone, no permission) contributes nothing, so a missing figure shows up as 0.
struct ProcSample {
  double cpu_seconds = 0;       // user + system time, all threads, summed over the pids
  std::uint64_t vm_hwm_kb = 0;  // peak resident set (VmHWM), summed over the pids
  std::uint64_t vm_rss_kb = 0;  // resident set now (VmRSS), summed over the pids
  // Bytes the processes caused to be written to storage (write_bytes of /proc/PID/io: page-cache
  // writeback of their files, e.g. a database's WAL and checkpoints), summed over the pids.
  std::uint64_t storage_write_bytes = 0;
  // Voluntary + involuntary context switches of all their threads (/proc/PID/task/*/status).
  std::uint64_t context_switches = 0;
};

ProcSample SampleProcesses(const std::vector<int>& pids);

}  // namespace tb::bench
