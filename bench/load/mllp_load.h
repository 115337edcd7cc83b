#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/net/tls_settings.h"
#include "bench/load/load_result.h"

namespace tb::bench {

struct MllpLoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  bool tls = true;           // false: plain TCP MLLP (the npm peers speak no TLS)
  net::TlsSettings tls_settings;
  std::string message;       // ER7 template; segments end in \r (or \n, normalised)
  int senders = 16;          // connections, each waiting for its ACK before the next message
  // 0: keep the template's NHS number; N: cycle each sender through N distinct, valid NHS
  // numbers (PID-3, first repetition), so the broker sees N patients.
  int patients = 0;
  double warmup_s = 1;
  double duration_s = 5;
  std::vector<int> server_pids;
};

// Closed loop of `senders` MLLP senders. Every message gets a unique MSH-10 (so nothing is a
// duplicate); an answer with MSA-1 AA or CA is `ok`, any other answer a bad reply. After a
// transport error the sender reconnects. Never throws.
LoadResult RunMllpLoad(const MllpLoadOptions& options);

// The i-th NHS number of a synthetic range (999 prefix, valid Modulus 11 check digit).
std::string SyntheticNhsNumber(std::uint32_t index);

}  // namespace tb::bench
