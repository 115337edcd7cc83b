#pragma once

// Shared by the ledger tests: hops, a fixed clock, the dev PKI's broker key.

#include <atomic>
#include <chrono>
#include <string>

#include "broker/core/clock.h"
#include "broker/core/digest.h"
#include "broker/ledger/records.h"

namespace tb::ledger::testing {

// Advances one millisecond per call, so records get distinct, predictable times.
class SteppingClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(1'763'900'000'000 + ticks_.fetch_add(1)));
  }

 private:
  mutable std::atomic<std::int64_t> ticks_{0};
};

inline constexpr const char* kPatientA = "9449305552";
inline constexpr const char* kPatientB = "9000000009";

inline HopRecord MakeHop(HopKind kind, std::string nhs_number, int n = 0) {
  HopRecord hop;
  hop.kind = kind;
  hop.time_ms = 1'763'900'000'000 + n;
  hop.request_id = "req-" + std::to_string(n);
  hop.broker_ods = "X26";
  hop.requester_ods = "RJ1";
  hop.requester_address = "127.0.0.1";
  hop.purpose_of_use = "TREAT";
  hop.source_ods = "RGT";
  hop.destination_ods = "RXH";
  hop.nhs_number = std::move(nhs_number);
  hop.source_digest = core::Sha256Hex("message " + std::to_string(n));
  hop.scope = "patient/*.read";
  hop.consent_decision = "permit";
  hop.query = "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|" + hop.nhs_number;
  return hop;
}

}  // namespace tb::ledger::testing
