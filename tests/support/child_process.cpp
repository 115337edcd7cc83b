#include "tests/support/child_process.h"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

namespace tb::testing {

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& output, ChildLimits limits)
    : output_(output) {
  if (argv.empty()) {
    ADD_FAILURE() << "ChildProcess: no program";
    return;
  }
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));  // execv does not write them
  }
  args.push_back(nullptr);
  const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    ADD_FAILURE() << "ChildProcess: cannot open " << output;
    return;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
    }
    // A test runner may have blocked or ignored signals; the broker expects the defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_IGN);
    if (limits.max_file_bytes) {
      ::signal(SIGXFSZ, SIG_IGN);  // stays ignored across exec: writes then fail with EFBIG
      const rlimit limit{static_cast<rlim_t>(*limits.max_file_bytes), RLIM_INFINITY};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out);
  if (pid < 0) {
    ADD_FAILURE() << "ChildProcess: fork failed";
    return;
  }
  pid_ = pid;
  exited_ = false;
}

ChildProcess::~ChildProcess() {
  if (!exited_) {
    Kill();
  }
}

void ChildProcess::Reap(int options) {
  if (exited_) {
    return;
  }
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, options);
  if (done == pid_) {
    exited_ = true;
    status_ = status;
  } else if (done < 0) {
    exited_ = true;  // not our child any more (already reaped)
  }
}

bool ChildProcess::running() {
  Reap(WNOHANG);
  return !exited_;
}

void ChildProcess::Kill() {
  if (exited_) {
    return;
  }
  ::kill(pid_, SIGKILL);
  Reap(0);
}

int ChildProcess::Terminate(std::chrono::milliseconds grace) {
  if (exited_) {
    return status_;
  }
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    Reap(WNOHANG);
    if (exited_) {
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return -1;
}

bool ChildProcess::SetMaxFileBytes(std::uint64_t bytes) {
  if (exited_) {
    return false;
  }
  const rlimit limit{static_cast<rlim_t>(bytes), RLIM_INFINITY};
  return ::prlimit(pid_, RLIMIT_FSIZE, &limit, nullptr) == 0;
}

int RunToCompletion(const std::vector<std::string>& argv, const std::filesystem::path& output,
                    std::chrono::milliseconds timeout) {
  ChildProcess child(argv, output);
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (child.running()) {
    if (std::chrono::steady_clock::now() >= until) {
      child.Kill();
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int status = child.Terminate();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tb::testing
