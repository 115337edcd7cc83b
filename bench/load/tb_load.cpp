// tb_load - load generator for scripts/bench.sh: closed-loop HTTPS (keep-alive or a new
// connection per request) and MLLP (TLS or plain TCP) with client certificates, latency
// percentiles and the server's CPU time per request and peak RSS from /proc. Prints one JSON line.
//
//   tb_load https --url URL --cert F --key F --ca F [--conns N] [--keepalive 1|0] [--resume 0|1]
//                 [--threads N]
//                 [--method M] [--body TEXT] [--header 'Name: value']...
//                 [--warmup S] [--duration S] [--server-pid PID]...
//   tb_load mllp  --port P [--host H] [--plain] [--cert F --key F --ca F] --msg FILE
//                 [--senders N] [--patients N] [--warmup S] [--duration S] [--server-pid PID]...
// Exit status: 0 when something was measured and nothing failed, 1 otherwise, 2 for usage.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/load/https_load.h"
#include "bench/load/mllp_load.h"

namespace {

using tb::bench::LoadResult;

struct Args {
  std::multimap<std::string, std::string> values;
  bool ok = true;

  std::string Get(const std::string& name, const std::string& fallback = {}) const {
    const auto found = values.find(name);
    return found == values.end() ? fallback : found->second;
  }
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> all;
    for (auto [it, end] = values.equal_range(name); it != end; ++it) {
      all.push_back(it->second);
    }
    return all;
  }
};

Args Parse(int argc, char** argv) {
  Args args;
  for (int i = 2; i < argc; ++i) {
    const std::string name = argv[i];
    if (name.rfind("--", 0) != 0) {
      args.ok = false;
      break;
    }
    if (name == "--plain") {
      args.values.emplace("plain", "1");
    } else if (i + 1 < argc) {
      args.values.emplace(name.substr(2), argv[++i]);
    } else {
      args.ok = false;
    }
  }
  return args;
}

std::vector<int> Pids(const Args& args) {
  std::vector<int> pids;
  for (const std::string& pid : args.All("server-pid")) {
    pids.push_back(std::stoi(pid));
  }
  return pids;
}

tb::net::TlsSettings Tls(const Args& args) {
  return tb::net::TlsSettings{args.Get("cert"), args.Get("key"), args.Get("ca"), {}};
}

int Report(const LoadResult& result) {
  std::cout << tb::bench::ToJson(result) << std::endl;
  const bool clean = result.ok > 0 && result.errors == 0 && result.bad_replies == 0;
  return clean ? 0 : 1;
}

int Usage() {
  std::cerr << "usage: tb_load https --url URL --cert F --key F --ca F [options]\n"
               "       tb_load mllp --port P --msg FILE [--plain | --cert F --key F --ca F] "
               "[options]\n(see the header of bench/load/tb_load.cpp)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return Usage();
  }
  const std::string mode = argv[1];
  const Args args = Parse(argc, argv);
  if (!args.ok) {
    return Usage();
  }
  try {
    if (mode == "https") {
      tb::bench::HttpsLoadOptions options;
      options.url = args.Get("url");
      options.tls = Tls(args);
      options.method = args.Get("method", "GET");
      options.body = args.Get("body");
      for (const std::string& header : args.All("header")) {
        const auto colon = header.find(':');
        if (colon == std::string::npos) {
          return Usage();
        }
        const auto value = header.find_first_not_of(' ', colon + 1);
        options.headers.emplace_back(header.substr(0, colon),
                                     value == std::string::npos ? "" : header.substr(value));
      }
      options.connections = std::stoi(args.Get("conns", "16"));
      options.keep_alive = args.Get("keepalive", "1") != "0";
      options.resume_sessions = args.Get("resume", "0") == "1";
      options.io_threads = std::stoi(args.Get("threads", "1"));
      options.warmup_s = std::stod(args.Get("warmup", "1"));
      options.duration_s = std::stod(args.Get("duration", "5"));
      options.server_pids = Pids(args);
      if (options.url.empty() || options.connections < 1 || options.io_threads < 1) {
        return Usage();
      }
      return Report(tb::bench::RunHttpsLoad(options));
    }
    if (mode == "mllp") {
      tb::bench::MllpLoadOptions options;
      options.host = args.Get("host", "127.0.0.1");
      options.port = static_cast<std::uint16_t>(std::stoi(args.Get("port", "0")));
      options.tls = args.Get("plain").empty();
      options.tls_settings = Tls(args);
      std::ifstream in(args.Get("msg"), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      options.message = text.str();
      options.senders = std::stoi(args.Get("senders", "16"));
      options.patients = std::stoi(args.Get("patients", "0"));
      options.warmup_s = std::stod(args.Get("warmup", "1"));
      options.duration_s = std::stod(args.Get("duration", "5"));
      options.server_pids = Pids(args);
      if (options.port == 0 || options.message.empty() || options.senders < 1) {
        return Usage();
      }
      return Report(tb::bench::RunMllpLoad(options));
    }
  } catch (const std::exception& e) {  // std::stoi on a bad number
    std::cerr << "tb_load: " << e.what() << "\n";
    return Usage();
  }
  return Usage();
}
