#include "bench/load/proc_probe.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tb::bench {
namespace {

// utime + stime (fields 14 and 15 of /proc/PID/stat), counted after the ")" that ends the
// command name, since the name itself may hold spaces.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return 0;
  }
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int index = 3; fields >> field; ++index) {  // the first field after ")" is field 3
    if (index == 14) {
      utime = std::stoull(field);
    } else if (index == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

std::uint64_t StatusKb(int pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream value(line.substr(key.size() + 1));
      std::uint64_t kb = 0;
      value >> kb;
      return kb;
    }
  }
  return 0;
}

}  // namespace

ProcSample SampleProcesses(const std::vector<int>& pids) {
  ProcSample sample;
  for (const int pid : pids) {
    sample.cpu_seconds += CpuSeconds(pid);
    sample.vm_hwm_kb += StatusKb(pid, "VmHWM");
    sample.vm_rss_kb += StatusKb(pid, "VmRSS");
  }
  return sample;
}

}  // namespace tb::bench
