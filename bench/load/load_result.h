#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/load/latency_stats.h"
#include "bench/load/proc_probe.h"

namespace tb::bench {

// One load run, as printed (one JSON line) for scripts/bench.sh.
struct LoadResult {
  std::string mode;               // "https" or "mllp"
  int concurrency = 0;            // connections (HTTPS) or senders (MLLP)
  double window_seconds = 0;      // the measured window, after the warm-up
  std::uint64_t ok = 0;           // completed in the window with the expected answer
  std::uint64_t errors = 0;       // transport errors (connect, TLS, timeout, reset)
  std::uint64_t bad_replies = 0;  // answered, but not 2xx / not AA or CA
  std::string first_error;        // the first error or bad reply seen, for diagnosis
  LatencySummary latency;         // of the `ok` requests
  ProcSample server_before;       // server processes at the start of the window
  ProcSample server_after;        // ... and at its end
  // HTTPS: TLS handshakes the client completed over the whole run (warm-up included), and how
  // many of them resumed a session instead of a full certificate exchange. -1: not HTTPS.
  std::int64_t handshakes = -1;
  std::int64_t handshakes_resumed = -1;

  double Rate() const;                           // ok per second
  double ServerCpuUsPerRequest() const;          // server CPU time in the window per ok request
  double PerRequest(std::uint64_t count) const;  // count / ok (0 without an ok request)
};

// {"mode":..,"concurrency":..,"rate":..,"p50_us":..,...} on one line.
std::string ToJson(const LoadResult& result);

// Waits `warmup_s`, samples `pids`, calls set_measuring(true), waits `duration_s`, calls
// set_measuring(false) and samples again; fills window_seconds and the two samples.
template <typename SetMeasuring>
void MeasureWindow(double warmup_s, double duration_s, const std::vector<int>& pids,
                   SetMeasuring set_measuring, LoadResult& result);

}  // namespace tb::bench

#include "bench/load/load_result_inl.h"
