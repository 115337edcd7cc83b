#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tb::core {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool empty() const { return host.empty(); }
  std::string ToString() const {
    return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                               : host + ":" + std::to_string(port);
  }
};

// "host:port", IPv6 as "[::1]:443"; false if malformed.
bool ParseHostPort(std::string_view text, HostPort& out);

}  // namespace tb::core
