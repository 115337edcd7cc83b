#include "adapters/net/accept_loop.h"

#include <string>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

namespace tb::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Failures that the pending connection cannot cure: it stays in the backlog and the next try
// fails the same way until something else frees the resource.
bool IsResourceShortage(const boost::system::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

// Other errors are about the one connection that failed (reset before it was accepted, a
// network error the man page says to treat as EAGAIN): try the next at once. A run this long
// means the acceptor itself is failing, which retrying at once would only spin on.
constexpr int kFailuresBeforePause = 16;

// connection_limit_reached is logged at most this often while the limit keeps being hit.
constexpr std::chrono::seconds kLimitLogInterval{10};

}  // namespace

ConnectionSlot::ConnectionSlot(std::shared_ptr<AcceptLoop> loop) : loop_(std::move(loop)) {
  loop_->connections_.fetch_add(1);
}

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    if (loop_) {
      loop_->Release();
    }
    loop_ = std::move(other.loop_);
  }
  return *this;
}

ConnectionSlot::~ConnectionSlot() {
  if (loop_) {
    loop_->Release();
  }
}

std::shared_ptr<AcceptLoop> AcceptLoop::Create(tcp::acceptor acceptor, asio::io_context& io_context,
                                               AcceptSettings settings, core::Logger log,
                                               Admit admit) {
  return std::shared_ptr<AcceptLoop>(
      new AcceptLoop(std::move(acceptor), io_context, settings, std::move(log), std::move(admit)));
}

AcceptLoop::AcceptLoop(tcp::acceptor acceptor, asio::io_context& io_context,
                       AcceptSettings settings, core::Logger log, Admit admit)
    : io_context_(io_context),
      acceptor_(std::move(acceptor)),
      pause_timer_(acceptor_.get_executor()),
      settings_(settings),
      log_(std::move(log)),
      admit_(std::move(admit)) {
  if (settings_.max_connections == 0) {
    settings_.max_connections = 1;
  }
}

void AcceptLoop::Start() {
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Arm(); });
}

void AcceptLoop::Stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->pause_timer_.cancel();
  });
}

AcceptLoop::Stats AcceptLoop::stats() const {
  return Stats{accepted_.load(), failed_accepts_.load(), pauses_.load(),
               limit_pauses_.load()};
}

void AcceptLoop::Arm() {
  if (stopped_.load()) {
    return;
  }
  if (connections_.load() >= settings_.max_connections) {
    at_limit_.store(true);
    // Release posts a resume only once it sees the flag: a slot freed before the flag was set
    // posted nothing, so look again now that it is set.
    if (connections_.load() >= settings_.max_connections) {
      const std::uint64_t pauses = limit_pauses_.fetch_add(1) + 1;
      const auto now = std::chrono::steady_clock::now();
      if (limit_pauses_logged_ == 0 || now - limit_logged_ >= kLimitLogInterval) {
        log_.Warn("connection_limit_reached",
                  {{"max_connections", std::to_string(settings_.max_connections)},
                   {"times", std::to_string(pauses - limit_pauses_logged_)}});
        limit_logged_ = now;
        limit_pauses_logged_ = pauses;
      }
      return;
    }
    at_limit_.store(false);  // a resume posted meanwhile finds the flag clear and does nothing
  }
  acceptor_.async_accept(
      asio::make_strand(io_context_),
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->OnAccept(ec, std::move(socket));
      });
}

void AcceptLoop::OnAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || stopped_.load()) {
    return;
  }
  if (ec) {
    failed_accepts_.fetch_add(1);
    if (IsResourceShortage(ec) || ++failures_in_a_row_ >= kFailuresBeforePause) {
      Pause(ec);
      return;
    }
    log_.Warn("accept_failed", {{"reason", ec.message()}});
    Arm();
    return;
  }
  failures_in_a_row_ = 0;
  accepted_.fetch_add(1);
  if (paused_) {
    paused_ = false;
    log_.Info("accepting_again", {{"connections", std::to_string(connections_.load())}});
  }
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  admit_(std::move(socket), ConnectionSlot(shared_from_this()));
  Arm();
}

void AcceptLoop::Pause(const boost::system::error_code& ec) {
  pauses_.fetch_add(1);
  failures_in_a_row_ = 0;
  if (!paused_) {
    paused_ = true;
    log_.Warn("accept_paused", {{"reason", ec.message()},
                                {"pause_ms", std::to_string(settings_.resource_pause.count())},
                                {"connections", std::to_string(connections_.load())}});
  }
  pause_timer_.expires_after(settings_.resource_pause);
  pause_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
    if (!wait_ec) {
      self->Arm();
    }
  });
}

void AcceptLoop::ResumeIfBelowLimit() {
  if (at_limit_.load() && connections_.load() < settings_.max_connections) {
    at_limit_.store(false);
    Arm();
  }
}

void AcceptLoop::Release() {
  connections_.fetch_sub(1);
  // Only a loop waiting for a place needs to hear of it; once stopped, nobody does (and the
  // io_context may be shutting down).
  if (at_limit_.load() && !stopped_.load()) {
    asio::post(acceptor_.get_executor(),
               [self = shared_from_this()] { self->ResumeIfBelowLimit(); });
  }
}

}  // namespace tb::net
