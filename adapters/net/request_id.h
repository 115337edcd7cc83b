#pragma once

#include <string>
#include <string_view>

namespace tb::net {

// X-Request-ID: a client's id is kept (and carried to every hop) when it is 1-128 characters of
// [A-Za-z0-9._:-]; anything else is replaced by a fresh random id, so a hostile header can
// neither inject into logs nor grow without bound.
std::string AcceptOrMakeRequestId(std::string_view offered);
std::string MakeRequestId();

}  // namespace tb::net
