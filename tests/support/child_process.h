#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace tb::testing {

// Limits applied in a child between fork and exec.
struct ChildLimits {
  // RLIMIT_FSIZE: the largest file the child may write, in bytes (SIGXFSZ is ignored in the child,
  // so a write past it fails with EFBIG: a full disk, as far as the child can tell). Unset: none.
  std::optional<std::uint64_t> max_file_bytes;
};

// A program run as a child process (the real `trustbridge` binary for crash tests), with stdout
// and stderr appended to `output`. The destructor SIGKILLs it if it still runs and reaps it, so a
// failing test never leaves a child behind.
//
// Thread-safety: one owner thread.
class ChildProcess {
 public:
  // Starts `argv[0]` (a path) with `argv`. Fails the calling test (ADD_FAILURE) when fork or exec
  // fails; running() then says false.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output,
               ChildLimits limits = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::filesystem::path& output() const { return output_; }
  // True while the child has not exited (reaps it when it has).
  bool running();
  // SIGKILL, then reap: what a power cut or the OOM killer does to a process.
  void Kill();
  // SIGTERM, then wait up to `grace` for it to exit; SIGKILL after that. The exit status, as
  // waitpid reports it (-1 if it had to be killed or was already reaped).
  int Terminate(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // Raises (or lowers) the running child's RLIMIT_FSIZE (prlimit): "the disk has space again".
  bool SetMaxFileBytes(std::uint64_t bytes);

 private:
  void Reap(int options);

  std::filesystem::path output_;
  pid_t pid_ = -1;
  bool exited_ = true;
  int status_ = -1;
};

// Runs `argv` to completion (output appended to `output`) and returns its exit code (-1 if it did
// not exit normally within `timeout`; it is killed then).
int RunToCompletion(const std::vector<std::string>& argv, const std::filesystem::path& output,
                    std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace tb::testing
