#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "broker/core/log.h"

namespace tb::net {

// The CPUs this process may run on (its affinity mask: taskset, a cgroup cpuset), at least 1: the
// default number of I/O threads. std::thread::hardware_concurrency counts the machine's CPUs,
// which gives a process confined to fewer more I/O threads than it can run at once; they then
// only take turns (a pass-through read at 1 connection on 1 CPU: 37 -> 19 context switches and
// ~20% less CPU per request with 1 I/O thread instead of 2; docs/federation.md).
unsigned UsableCpus();

// What every long-running server process here does the same way (`serve`, `simulate-trust`):
// one io_context run by N threads, SIGINT/SIGTERM turned into a stop request, a stop/wait
// handshake between the thread that asks and the thread that waits, draining busy connections,
// and joining. The listeners themselves stay with their owners.
//
// Usage: build listeners on io_context(); Run(threads, signals); in the waiting thread
// WaitForStopRequest(), stop the listeners, Drain(active, timeout), then Join().
// Thread-safety: RequestStop from any thread (and from signal handlers run on the io threads);
// the other members from the owning thread. The destructor joins.
class ServerRuntime {
 public:
  explicit ServerRuntime(std::string component);
  ~ServerRuntime();
  ServerRuntime(const ServerRuntime&) = delete;
  ServerRuntime& operator=(const ServerRuntime&) = delete;

  boost::asio::io_context& io_context() { return io_context_; }

  // Starts `threads` (at least 1) threads running the io_context. A handler that throws is a bug:
  // the thread logs it and aborts rather than run on in an unknown state. With
  // `handle_signals`, SIGINT and SIGTERM call RequestStop().
  void Run(unsigned threads, bool handle_signals);
  bool running() const { return !threads_.empty(); }

  // Ends WaitForStopRequest(). Idempotent.
  void RequestStop();
  void WaitForStopRequest();

  // Waits until `active()` is 0 or `timeout` has passed (busy connections finishing).
  static void Drain(const std::function<std::size_t()>& active, std::chrono::milliseconds timeout);

  // Stops the io_context and joins its threads. Idempotent.
  void Join();

 private:
  boost::asio::io_context io_context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::signal_set signals_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable stop_requested_cv_;
  bool stop_requested_ = false;
  core::Logger log_;
};

}  // namespace tb::net
