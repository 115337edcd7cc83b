#include "bench/load/load_result.h"

#include <cstdio>

namespace tb::bench {
namespace {

// Error texts come from our own client code (no payloads), but may hold quotes.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return buffer;
}

}  // namespace

double LoadResult::Rate() const {
  return window_seconds > 0 ? static_cast<double>(ok) / window_seconds : 0;
}

double LoadResult::ServerCpuUsPerRequest() const {
  if (ok == 0) {
    return 0;
  }
  return (server_after.cpu_seconds - server_before.cpu_seconds) * 1e6 / static_cast<double>(ok);
}

double LoadResult::PerRequest(std::uint64_t count) const {
  return ok == 0 ? 0 : static_cast<double>(count) / static_cast<double>(ok);
}

std::string ToJson(const LoadResult& result) {
  std::string json = "{\"mode\":" + JsonString(result.mode);
  json += ",\"concurrency\":" + std::to_string(result.concurrency);
  json += ",\"window_s\":" + Number(result.window_seconds);
  json += ",\"ok\":" + std::to_string(result.ok);
  json += ",\"errors\":" + std::to_string(result.errors);
  json += ",\"bad_replies\":" + std::to_string(result.bad_replies);
  json += ",\"rate\":" + Number(result.Rate());
  json += ",\"p50_us\":" + Number(result.latency.p50_us);
  json += ",\"p90_us\":" + Number(result.latency.p90_us);
  json += ",\"p99_us\":" + Number(result.latency.p99_us);
  json += ",\"max_us\":" + Number(result.latency.max_us);
  json += ",\"server_cpu_s\":" +
          Number(result.server_after.cpu_seconds - result.server_before.cpu_seconds);
  json += ",\"server_cpu_us_per_req\":" + Number(result.ServerCpuUsPerRequest());
  json += ",\"server_write_bytes_per_req\":" +
          Number(result.PerRequest(result.server_after.storage_write_bytes -
                                   result.server_before.storage_write_bytes));
  json += ",\"server_ctxsw_per_req\":" +
          Number(result.PerRequest(result.server_after.context_switches -
                                   result.server_before.context_switches));
  json += ",\"server_hwm_kb\":" + std::to_string(result.server_after.vm_hwm_kb);
  json += ",\"server_rss_kb\":" + std::to_string(result.server_after.vm_rss_kb);
  if (result.handshakes >= 0) {
    json += ",\"client_handshakes\":" + std::to_string(result.handshakes);
    json += ",\"client_handshakes_resumed\":" + std::to_string(result.handshakes_resumed);
  }
  json += ",\"first_error\":" + JsonString(result.first_error);
  return json + "}";
}

}  // namespace tb::bench
