#include "adapters/net/server_runtime.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <sched.h>

namespace tb::net {

unsigned UsableCpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    const int count = CPU_COUNT(&allowed);
    if (count > 0) {
      return static_cast<unsigned>(count);
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

ServerRuntime::ServerRuntime(std::string component)
    : work_(boost::asio::make_work_guard(io_context_)),
      signals_(io_context_),
      log_(std::move(component)) {}

ServerRuntime::~ServerRuntime() { Join(); }

void ServerRuntime::Run(unsigned threads, bool handle_signals) {
  if (handle_signals) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (!ec) {
        log_.Info("signal", {{"signal", std::to_string(signal)}});
        RequestStop();
      }
    });
  }
  for (unsigned i = 0; i < std::max(1u, threads); ++i) {
    threads_.emplace_back([this] {
      try {
        io_context_.run();
      } catch (const std::exception& error) {
        log_.Error("io_thread_exception", {{"what", error.what()}});
        std::abort();
      }
    });
  }
}

void ServerRuntime::RequestStop() {
  std::lock_guard lock(mutex_);
  stop_requested_ = true;
  stop_requested_cv_.notify_all();
}

void ServerRuntime::WaitForStopRequest() {
  std::unique_lock lock(mutex_);
  stop_requested_cv_.wait(lock, [this] { return stop_requested_; });
}

void ServerRuntime::Drain(const std::function<std::size_t()>& active,
                          std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (active() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ServerRuntime::Join() {
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  work_.reset();
  io_context_.stop();
  for (auto& thread : threads_) {
    thread.join();
  }
  threads_.clear();
}

}  // namespace tb::net
