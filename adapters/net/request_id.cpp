#include "adapters/net/request_id.h"

#include <random>

namespace tb::net {
namespace {

bool IsAcceptable(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string MakeRequestId() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t high = generator();
  std::uint64_t low = generator();
  for (int i = 0; i < 16; ++i) {
    id[static_cast<std::size_t>(i)] = kHex[(high >> (4 * i)) & 0x0f];
    id[static_cast<std::size_t>(16 + i)] = kHex[(low >> (4 * i)) & 0x0f];
  }
  return id;
}

std::string AcceptOrMakeRequestId(std::string_view offered) {
  return IsAcceptable(offered) ? std::string(offered) : MakeRequestId();
}

}  // namespace tb::net
