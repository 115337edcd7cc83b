#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/socket_base.hpp>

#include "broker/core/error.h"
#include "broker/core/result.h"

// What every TLS listener (HTTPS in tb::net, MLLP in tb::mllp) does the same way: bind the
// acceptor, and keep a registry of live sessions so Stop() can close them and callers can wait
// for them to drain. Header-only: both users already compile Asio.
namespace tb::net {

// Opens, binds (SO_REUSEADDR) and listens on address:port (port 0 = ephemeral). Returns the
// bound port, or kConfig naming `config_key` ("listen.mllp") when the address is invalid or
// cannot be bound. Not thread-safe: call before the acceptor is used by any handler.
inline core::Result<std::uint16_t> OpenAcceptor(boost::asio::ip::tcp::acceptor& acceptor,
                                                const std::string& address, std::uint16_t port,
                                                std::string_view config_key) {
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(address, ec);
  if (ec) {
    return core::MakeError(core::ErrorCode::kConfig, "invalid listen address " + address,
                           std::string(config_key));
  }
  const boost::asio::ip::tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return core::MakeError(
        core::ErrorCode::kConfig,
        "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message(),
        std::string(config_key));
  }
  return acceptor.local_endpoint().port();
}

// The live sessions of one listener, by connection id. Holds weak references: a session owns
// itself through its pending handlers and unregisters in its destructor. Thread-safe.
template <class Session>
class SessionRegistry {
 public:
  void Register(std::uint64_t id, std::weak_ptr<Session> session) {
    std::lock_guard lock(mutex_);
    sessions_[id] = std::move(session);
  }
  void Unregister(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
  }
  // Strong references to the sessions still alive (e.g. to ask each to close).
  std::vector<std::shared_ptr<Session>> Live() const {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(mutex_);
    for (const auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) {
        live.push_back(std::move(session));
      }
    }
    return live;
  }
  std::size_t Size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
};

}  // namespace tb::net
