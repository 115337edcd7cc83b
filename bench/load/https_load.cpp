#include "bench/load/https_load.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "adapters/net/https_client.h"
#include "adapters/net/tls_context.h"

namespace tb::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One virtual user: its requests are strictly sequential, so its own fields need no lock.
struct User {
  std::vector<std::int64_t> latencies_ns;
  std::uint64_t errors = 0;
  std::uint64_t bad_replies = 0;
  std::string first_error;
};

class HttpsLoop {
 public:
  HttpsLoop(net::HttpsClient& client, net::HttpsTarget target, core::HttpRequest request,
            int users)
      : client_(client), target_(std::move(target)), request_(std::move(request)), users_(users) {}

  void Start() {
    active_ = static_cast<int>(users_.size());
    for (User& user : users_) {
      Issue(user);
    }
  }
  void SetMeasuring(bool on) { measuring_ = on; }
  // Lets every user finish its request in flight and stop; waits at most `limit`.
  void StopAndWait(std::chrono::seconds limit) {
    stopping_ = true;
    std::unique_lock lock(mutex_);
    done_.wait_for(lock, limit, [this] { return active_ == 0; });
  }
  std::vector<User>& users() { return users_; }

 private:
  void Issue(User& user) {
    if (stopping_) {
      std::lock_guard lock(mutex_);
      if (--active_ == 0) {
        done_.notify_all();
      }
      return;
    }
    const auto start = Clock::now();
    client_.AsyncRequest(target_, request_, start + std::chrono::seconds(30),
                         [this, &user, start](core::Result<core::HttpResponse> response) {
                           const auto elapsed = Clock::now() - start;
                           if (measuring_) {
                             Record(user, response, elapsed);
                           }
                           Issue(user);
                         });
  }

  static void Record(User& user, const core::Result<core::HttpResponse>& response,
                     Clock::duration elapsed) {
    if (!response) {
      ++user.errors;
      if (user.first_error.empty()) {
        user.first_error = response.error().message;
      }
      return;
    }
    if (response->status < 200 || response->status > 299) {
      ++user.bad_replies;
      if (user.first_error.empty()) {
        user.first_error = "HTTP " + std::to_string(response->status) + ": " +
                           response->body.substr(0, 300);
      }
      return;
    }
    user.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  }

  net::HttpsClient& client_;
  const net::HttpsTarget target_;
  const core::HttpRequest request_;
  std::vector<User> users_;
  std::atomic<bool> measuring_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable done_;
  int active_ = 0;
};

}  // namespace

LoadResult RunHttpsLoad(const HttpsLoadOptions& options) {
  LoadResult result;
  result.mode = options.keep_alive        ? "https"
                : options.resume_sessions ? "https-newconn-resumed"
                                          : "https-newconn";
  result.concurrency = options.connections;

  auto url = net::ParseHttpsUrl(options.url.substr(0, options.url.find('?')));
  if (!url) {
    result.first_error = "bad --url: " + url.error().message;
    return result;
  }
  auto tls = net::MakeClientContext(options.tls);
  if (!tls) {
    result.first_error = "client TLS: " + tls.error().message;
    return result;
  }
  core::HttpRequest request;
  request.method = options.method;
  const auto query = options.url.find('?');
  request.target = (url->path.empty() ? "/" : url->path) +
                   (query == std::string::npos ? "" : options.url.substr(query));
  request.body = options.body;
  for (const auto& [name, value] : options.headers) {
    request.headers.Set(name, value);
  }

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  net::HttpsClientSettings settings;
  // Keep-alive: every connection goes back to the pool; otherwise none does, so each request
  // makes a new connection: a full handshake, or with resume_sessions an abbreviated one.
  settings.max_idle_per_host =
      options.keep_alive ? static_cast<std::size_t>(options.connections) : 0;
  settings.resume_sessions = options.resume_sessions;
  settings.user_agent = "tb_load";
  settings.component = "tb.bench.load";
  {
    net::HttpsClient client(io, *tls, settings);
    HttpsLoop loop(client, url->target, request, options.connections);
    std::vector<std::thread> threads;
    for (int i = 0; i < options.io_threads; ++i) {
      threads.emplace_back([&io] { io.run(); });
    }
    loop.Start();
    MeasureWindow(
        options.warmup_s, options.duration_s, options.server_pids,
        [&loop](bool on) { loop.SetMeasuring(on); }, result);
    loop.StopAndWait(std::chrono::seconds(35));
    const net::HttpsClientStats stats = client.Stats();
    result.handshakes = static_cast<std::int64_t>(stats.connections_opened);
    result.handshakes_resumed = static_cast<std::int64_t>(stats.connections_resumed);
    client.Shutdown();
    work.reset();
    io.stop();
    for (std::thread& thread : threads) {
      thread.join();
    }
    std::vector<std::int64_t> all;
    for (User& user : loop.users()) {
      all.insert(all.end(), user.latencies_ns.begin(), user.latencies_ns.end());
      result.errors += user.errors;
      result.bad_replies += user.bad_replies;
      if (result.first_error.empty()) {
        result.first_error = user.first_error;
      }
    }
    result.ok = all.size();
    result.latency = Summarise(all);
  }
  return result;
}

}  // namespace tb::bench
