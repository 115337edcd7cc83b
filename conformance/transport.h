#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/net/tls_settings.h"
#include "broker/core/host_port.h"
#include "broker/core/http_types.h"
#include "broker/core/result.h"

// How the runner reaches the system under test: HTTPS for FHIR operations, MLLP/TLS for the
// HL7 v2 step. Both always use mutual TLS with the tester's certificate.
namespace tb::conformance {

class Transport {
 public:
  virtual ~Transport() = default;
  // The FHIR base URL operations are relative to ("https://127.0.0.1:8443/fhir"), no trailing /.
  virtual const std::string& base_url() const = 0;
  // Sends one request to an absolute https URL. Any HTTP status is a value; Errors are for
  // transport failures (refused, TLS, timeout) and URLs that are not https.
  virtual core::Result<core::HttpResponse> Http(std::string_view method, std::string_view url,
                                                core::HttpHeaders headers, std::string body) = 0;
  // Sends one ER7 message over MLLP and returns the reply (the ACK). kConfig when no MLLP
  // endpoint was given.
  virtual core::Result<std::string> Hl7(std::string_view er7) = 0;
  // "host:port" of the MLLP endpoint for reports; empty when none.
  virtual std::string mllp_endpoint() const = 0;
};

struct TlsTransportSettings {
  std::string base_url;                       // https://host:port/path
  std::optional<core::HostPort> mllp;         // --mllp HOST:PORT
  net::TlsSettings tls;                       // --cert --key --ca
  std::chrono::milliseconds timeout{30'000};  // per request / per message
};

// The real transport: net::HttpsClient (one keep-alive connection pool) and one
// mllp::MllpClient connection reused for every v2 message. Errors from Make: kConfig (TLS files),
// kInvalidValue (base URL not https://host[:port][/path]). Not thread-safe: one run at a time.
core::Result<std::unique_ptr<Transport>> MakeTlsTransport(TlsTransportSettings settings);

}  // namespace tb::conformance
