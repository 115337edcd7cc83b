#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "broker/core/http_types.h"
#include "broker/core/result.h"

namespace tb::core {

// One outbound FHIR request to a participant's or peer broker's FHIR base.
struct UpstreamRequest {
  std::string base_url;     // "https://127.0.0.1:9201/fhir" (participant fhir_base / peer fhir_base)
  std::string expected_cn;  // the server certificate's subject CN must be this (cert_cn in config)
  HttpRequest request;      // method, target relative to the base ("/Patient?identifier=..."),
                            // headers, body; the client prefixes the base path
};

// The port through which routing talks to other FHIR servers over mutual TLS (STYLE.md: domain
// code reaches transports through interfaces in core, so tests can hand it fakes). Implemented
// in broker/app over tb::net::HttpsClient (pooled keep-alive connections).
//
// Errors (the callback's Error): kTimeout when the deadline passed; kUpstreamUnavailable for
// refused connections, TLS failures (wrong CA, revoked, wrong CN) and broken responses;
// kTooLarge for an oversize response; kInvalidValue for a request that cannot be sent. Any HTTP
// status is a response, not an Error.
// Thread-safety: Send may be called from any thread. `done` runs exactly once, on an I/O thread:
// it must not block.
class UpstreamClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;
  virtual ~UpstreamClient() = default;
  virtual void Send(UpstreamRequest request, std::chrono::steady_clock::time_point deadline,
                    Callback done) = 0;
};

}  // namespace tb::core
