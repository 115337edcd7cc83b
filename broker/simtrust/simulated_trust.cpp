#include "broker/simtrust/simulated_trust.h"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "adapters/mllp/server.h"
#include "adapters/net/https_server.h"
#include "adapters/net/server_runtime.h"
#include "adapters/net/tls_context.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/simtrust/fhir_api.h"
#include "broker/simtrust/hl7_receiver.h"
#include "broker/simtrust/patient_store.h"
#include "broker/simtrust/received_log.h"

namespace tb::simtrust {

namespace asio = boost::asio;

class SimulatedTrust::Impl {
 public:
  explicit Impl(SimTrustConfig config)
      : config_(std::move(config)),
        random_(config_.seed.value_or(std::random_device{}())),
        log_("tb.simtrust") {}

  ~Impl() {
    Stop();
    Wait();
  }

  core::Status Start();
  void Stop() { runtime_.RequestStop(); }
  void Wait();

  std::atomic<std::uint16_t> fhir_port_{0};
  std::atomic<std::uint16_t> mllp_port_{0};
  std::atomic<std::size_t> patient_count_{0};
  std::atomic<std::size_t> delayed_{0};

  // Latency timers not yet fired, so that stopping need not wait them out.
  std::mutex timers_mutex_;
  std::uint64_t next_timer_ = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<asio::steady_timer>> timers_;

 private:
  void OnRequest(core::HttpRequest request, net::Responder respond);
  bool DrawFailure() {
    if (config_.failure_rate <= 0.0) {
      return false;
    }
    std::lock_guard lock(random_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(random_) < config_.failure_rate;
  }

  SimTrustConfig config_;
  core::SystemClock clock_;
  PatientStore store_;
  std::unique_ptr<FileReceivedLog> received_;
  std::unique_ptr<SimFhirApi> api_;
  std::unique_ptr<Hl7Receiver> hl7_;
  net::ServerRuntime runtime_{"tb.simtrust"};  // the io_context outlives what is built on it
  asio::thread_pool blocking_{1};              // file I/O (the received log), in arrival order
  std::unique_ptr<net::HttpsServer> https_;
  std::unique_ptr<mllp::MllpServer> mllp_;
  std::mutex random_mutex_;
  std::mt19937_64 random_;
  bool started_ = false;
  bool waited_ = false;
  core::Logger log_;
};

core::Status SimulatedTrust::Impl::Start() {
  if (started_) {
    return core::MakeError(core::ErrorCode::kInternal, "the simulated trust is already started");
  }
  started_ = true;
  auto store = PatientStore::LoadFolder(config_.patients);
  if (!store) {
    return store.error();
  }
  store_ = std::move(*store);
  patient_count_ = store_.patient_count();
  if (!config_.received_log.empty()) {
    auto received = FileReceivedLog::Open(config_.received_log);
    if (!received) {
      return received.error();
    }
    received_ = std::move(*received);
  }
  auto tls = net::MakeServerContext(config_.tls);
  if (!tls) {
    return tls.error();
  }

  net::HttpServerSettings http;
  http.address = config_.listen_fhir.host;
  http.port = config_.listen_fhir.port;
  http.component = "tb.simtrust.https";
  https_ = std::make_unique<net::HttpsServer>(
      runtime_.io_context(), *tls, http,
      [this](core::HttpRequest request, net::Responder respond) {
        OnRequest(std::move(request), std::move(respond));
      },
      &SimFhirApi::ErrorResponse);
  auto fhir_port = https_->Start();
  if (!fhir_port) {
    return fhir_port.error();
  }
  fhir_port_ = *fhir_port;
  // No I/O thread runs yet, so no request can reach the API before it exists.
  SimFhirApiSettings api;
  api.ods = config_.ods;
  api.name = config_.name;
  api.base_url =
      "https://" + core::HostPort{config_.listen_fhir.host, *fhir_port}.ToString() + "/fhir";
  api.clients = config_.clients;
  api.page_size = config_.page_size;
  api_ = std::make_unique<SimFhirApi>(std::move(api), store_, received_.get(), clock_);
  hl7_ = std::make_unique<Hl7Receiver>(config_.ods, config_.clients, received_.get(), clock_,
                                       config_.refuse_types);

  if (config_.listen_mllp) {
    mllp::MllpServerSettings settings;
    settings.address = config_.listen_mllp->host;
    settings.port = config_.listen_mllp->port;
    settings.component = "tb.simtrust.mllp";
    mllp_ = std::make_unique<mllp::MllpServer>(
        runtime_.io_context(), *tls, settings,
        [this](mllp::FrameRequest frame, mllp::ReplyFn reply) {
          asio::post(blocking_,
                     [this, frame = std::move(frame), reply = std::move(reply)]() mutable {
                       reply(hl7_->Accept(std::move(frame.payload), frame.peer));
                     });
        },
        [this](const mllp::FrameFault& fault) { return hl7_->Refuse(fault.head, fault.error); });
    auto mllp_port = mllp_->Start();
    if (!mllp_port) {
      return mllp_port.error();
    }
    mllp_port_ = *mllp_port;
  }

  runtime_.Run(config_.io_threads, config_.handle_signals);
  log_.Info(
      "simulated_trust_started",
      {{"ods", config_.ods},
       {"fhir", config_.listen_fhir.host + ":" + std::to_string(fhir_port_.load())},
       {"mllp", mllp_ ? config_.listen_mllp->host + ":" + std::to_string(mllp_port_.load()) : ""},
       {"patients", std::to_string(store_.patient_count())},
       {"resources", std::to_string(store_.resource_count())},
       {"latency_ms", std::to_string(config_.latency.count())},
       {"failure_rate", std::to_string(config_.failure_rate)}});
  return core::Ok();
}

void SimulatedTrust::Impl::OnRequest(core::HttpRequest request, net::Responder respond) {
  const bool fail = DrawFailure();
  // What the request gets. Reads are answered from memory at once, on this I/O thread, and only
  // the sending waits for the latency: a searchset costs no thread hand-off, and trusts that
  // share a CPU with the broker (scripts/bench.sh) do their work while they "think" instead of
  // all at the moment their latency ends. Messages are accepted after the latency, off the I/O
  // threads (the received log is file I/O), in arrival order.
  std::optional<core::HttpResponse> ready;
  if (fail) {
    ready = SimFhirApi::ErrorResponse(
        core::MakeError(core::ErrorCode::kUpstreamUnavailable,
                        "simulated failure at trust " + config_.ods + " (failure_rate)"));
    ready->headers.Set("Retry-After", "1");
  } else if (!SimFhirApi::MayWrite(request)) {
    ready = api_->Handle(request);
  }
  auto answer = [this, ready = std::move(ready), request = std::move(request),
                 respond = std::move(respond)]() mutable {
    if (ready) {
      respond(std::move(*ready));
      return;
    }
    asio::post(blocking_, [this, request = std::move(request), respond = std::move(respond)] {
      respond(api_->Handle(request));
    });
  };
  if (config_.latency.count() <= 0) {
    answer();
    return;
  }
  // Latency on a timer: the I/O thread goes on serving other connections meanwhile. Wait()
  // cancels timers through their executor, which must never run the cancel beside the timer's
  // own completion: with one I/O thread (the benchmarks' trusts) the io_context runs one handler
  // at a time, so the timer uses it directly; with more, each timer has a strand of its own,
  // which costs an allocation and a hand-off of every completion.
  const asio::any_io_executor executor =
      config_.io_threads == 1 ? asio::any_io_executor(runtime_.io_context().get_executor())
                              : asio::any_io_executor(asio::make_strand(runtime_.io_context()));
  auto timer = std::make_shared<asio::steady_timer>(executor, config_.latency);
  std::uint64_t id = 0;
  {
    std::lock_guard lock(timers_mutex_);
    id = ++next_timer_;
    timers_[id] = timer;
  }
  ++delayed_;
  timer->async_wait(
      [this, id, timer, answer = std::move(answer)](const boost::system::error_code&) mutable {
        {
          std::lock_guard lock(timers_mutex_);
          timers_.erase(id);
        }
        --delayed_;
        answer();  // also when cancelled by Wait(): every request gets its answer
      });
}

void SimulatedTrust::Impl::Wait() {
  if (waited_) {
    return;
  }
  runtime_.WaitForStopRequest();
  waited_ = true;
  if (https_) {
    https_->Stop();
  }
  if (mllp_) {
    mllp_->Stop();
  }
  {
    std::lock_guard lock(timers_mutex_);
    for (auto& [id, weak] : timers_) {
      if (auto timer = weak.lock()) {
        asio::post(timer->get_executor(), [timer] { timer->cancel(); });
      }
    }
  }
  if (runtime_.running()) {
    // Busy connections finish their current request (including its latency).
    net::ServerRuntime::Drain(
        [this] {
          return (https_ ? https_->ActiveConnections() : 0) +
                 (mllp_ ? mllp_->ActiveConnections() : 0);
        },
        config_.latency + std::chrono::seconds(5));
  }
  blocking_.join();
  runtime_.Join();
  if (started_) {
    log_.Info("simulated_trust_stopped", {{"ods", config_.ods}});
  }
}

SimulatedTrust::SimulatedTrust(SimTrustConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}

SimulatedTrust::~SimulatedTrust() = default;

core::Status SimulatedTrust::Start() { return impl_->Start(); }
std::uint16_t SimulatedTrust::fhir_port() const { return impl_->fhir_port_.load(); }
std::uint16_t SimulatedTrust::mllp_port() const { return impl_->mllp_port_.load(); }
std::size_t SimulatedTrust::patient_count() const { return impl_->patient_count_.load(); }
std::size_t SimulatedTrust::DelayedRequestsForTest() const { return impl_->delayed_.load(); }
void SimulatedTrust::Stop() { impl_->Stop(); }
void SimulatedTrust::Wait() { impl_->Wait(); }

int RunSimulateTrust(const std::filesystem::path& config_file, std::ostream& out,
                     std::ostream& err) {
  try {
    auto config = LoadSimTrustConfig(config_file);
    if (!config) {
      err << "config error: " << config.error().message << "\n";
      return 2;
    }
    config->handle_signals = true;
    core::SetLogLevel(config->log_level);
    const std::string ods = config->ods;
    const std::string fhir_host = config->listen_fhir.host;
    const std::string mllp_host = config->listen_mllp ? config->listen_mllp->host : "";
    SimulatedTrust trust(std::move(*config));
    if (core::Status started = trust.Start(); !started) {
      err << "cannot start: " << started.error().message << "\n";
      return 1;
    }
    out << "simulated trust " << ods << ": FHIR https://"
        << core::HostPort{fhir_host, trust.fhir_port()}.ToString() << "/fhir";
    if (trust.mllp_port() != 0) {
      out << ", MLLP/TLS " << core::HostPort{mllp_host, trust.mllp_port()}.ToString();
    }
    out << ", " << trust.patient_count() << " patients (Ctrl-C stops)" << std::endl;
    trust.Wait();
    return 0;
  } catch (const std::exception& error) {
    err << "simulate-trust: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace tb::simtrust
