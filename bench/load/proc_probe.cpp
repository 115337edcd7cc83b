#include "bench/load/proc_probe.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

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

// The value of the first line "<key>: <number>" (or "<key>:\t<number> kB") of a /proc file.
std::uint64_t ProcValue(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream value(line.substr(key.size() + 1));
      std::uint64_t number = 0;
      value >> number;
      return number;
    }
  }
  return 0;
}

std::uint64_t ContextSwitches(int pid) {
  std::uint64_t switches = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string status = task.path().string() + "/status";
    switches += ProcValue(status, "voluntary_ctxt_switches") +
                ProcValue(status, "nonvoluntary_ctxt_switches");
  }
  return switches;
}

}  // namespace

ProcSample SampleProcesses(const std::vector<int>& pids) {
  ProcSample sample;
  for (const int pid : pids) {
    sample.cpu_seconds += CpuSeconds(pid);
    const std::string proc = "/proc/" + std::to_string(pid);
    sample.vm_hwm_kb += ProcValue(proc + "/status", "VmHWM");
    sample.vm_rss_kb += ProcValue(proc + "/status", "VmRSS");
    sample.storage_write_bytes += ProcValue(proc + "/io", "write_bytes");
    sample.context_switches += ContextSwitches(pid);
  }
  return sample;
}

}  // namespace tb::bench
