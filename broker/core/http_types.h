#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/core/peer_identity.h"

namespace tb::core {

// Plain HTTP message types, so broker code never sees Beast. Header names are compared
// case-insensitively by Header().
struct HttpHeaders {
  std::vector<std::pair<std::string, std::string>> fields;

  // The first value of `name`, or empty.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  void Set(std::string name, std::string value);
};

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/fhir/Patient?identifier=..." (origin form, not decoded)
  HttpHeaders headers;
  std::string body;
  PeerIdentity peer;  // from the TLS handshake; never from headers
  std::uint64_t connection_id = 0;

  std::string_view Path() const;   // target without the query
  std::string_view Query() const;  // after '?', without it; empty if none
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The request's Host header when it is fit to build this broker's own URLs from (a token
// endpoint, next links, a message's source): 1-255 bytes of RFC 3986 authority characters
// (letters, digits, "-._~%:[]"), so "broker.example:8443" or "[::1]:8443". Empty when absent or
// anything else: a space, '/', a quote or a byte beyond ASCII would make the URL, or the JSON it
// is written into, invalid.
std::string_view UsableHost(const HttpHeaders& headers);

// Percent-decoding (RFC 3986; '+' -> ' ' too when `plus_is_space`, as in HTML form bodies);
// nullopt on a malformed or truncated escape. Used for query strings and URLs in config.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

}  // namespace tb::core
