#include "broker/app/cli.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/net/open_files_limit.h"
#include "broker/app/audit_command.h"
#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "broker/app/conformance_command.h"
#include "broker/app/flags.h"
#include "broker/app/mapping_commands.h"
#include "broker/app/queue_command.h"
#include "broker/app/send_hl7_command.h"
#include "broker/core/log.h"
#include "broker/simtrust/simulated_trust.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage = R"(usage: trustbridge <command> [options]

commands:
  serve --config FILE        run the broker
  check-config --config FILE validate a config file and exit (0 = valid)
  simulate-trust --config FILE
                             run a simulated trust (FHIR server + MLLP/TLS endpoint)
  send-hl7 --to HOST:PORT FILE...
                             send HL7 v2 messages over MLLP/TLS and print each ACK
  map v2-to-fhir FILE        map one HL7 v2 message to a FHIR message Bundle
  map fhir-to-v2 FILE        map a FHIR resource or Bundle to one HL7 v2 message
  validate FILE...           check FHIR resources against R4 and the UK Core rules enforced
  queue list|counts|replay ID|discard ID --config FILE
                             the store-and-forward queue: dead letters, replay, discard
  audit verify --config FILE walk the audit ledger; exit 0 only if nothing was altered,
                             removed, inserted or reordered and every checkpoint verifies
  audit checkpoint[s] --config FILE [--export FILE]
                             sign the ledger head now [list every checkpoint], for a peer to hold
  conformance run --suite PATH --target URL ...
                             run FHIR TestScripts (+ HL7 v2 steps); JUnit XML and HTML reports
  version                    print the version

Run `trustbridge <command> --help` for a command's options.
)";

void PrintProblems(const std::vector<core::Error>& problems) {
  for (const core::Error& problem : problems) {
    std::cerr << "config error: " << problem.message << "\n";
  }
}

int Serve(const Flags& flags) {
  if (flags.Has("help")) {
    std::cout << "usage: trustbridge serve --config FILE [--log-level LEVEL]\n";
    return 0;
  }
  const std::string file = flags.Get("config");
  if (file.empty()) {
    std::cerr << "serve: --config FILE is required\n";
    return 2;
  }
  ConfigLoad load = LoadBrokerConfig(file);
  if (!load.config) {
    PrintProblems(load.problems);
    return 2;
  }
  core::SetLogLevel(load.config->log_level);
  if (flags.Has("log-level")) {
    core::LogLevel level = core::LogLevel::kInfo;
    if (!core::ParseLogLevel(flags.Get("log-level"), level)) {
      std::cerr << "serve: unknown --log-level\n";
      return 2;
    }
    core::SetLogLevel(level);
  }
  const std::uint64_t open_files = net::RaiseOpenFilesLimit();
  // Both listeners full, plus the store, the upstream pools and the logs.
  const std::uint64_t wanted =
      2 * static_cast<std::uint64_t>(load.config->limits.max_connections) + 256;
  if (open_files < wanted) {
    core::Logger("tb.serve")
        .Warn("open_files_limit_low",
              {{"limit", std::to_string(open_files)},
               {"max_connections", std::to_string(load.config->limits.max_connections)},
               {"effect", "accepting pauses when descriptors run out"}});
  }
  BrokerServer server(std::move(*load.config));
  if (core::Status started = server.Start(); !started) {
    std::cerr << "cannot start: " << started.error().message << "\n";
    return 1;
  }
  server.Wait();
  return 0;
}

int CheckConfig(const Flags& flags) {
  const std::string file = flags.Get("config");
  if (file.empty()) {
    std::cerr << "check-config: --config FILE is required\n";
    return 2;
  }
  ConfigLoad load = LoadBrokerConfig(file);
  if (!load.config) {
    PrintProblems(load.problems);
    return 2;
  }
  std::cout << "config OK: " << load.config->participants.size() << " participants, "
            << load.config->peers.size() << " peers\n";
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::cerr << kUsage;
      return 2;
    }
    const std::string_view command = argv[1];
    Flags flags = Flags::Parse(argc - 2, argv + 2);
    if (!flags.error().empty()) {
      std::cerr << "trustbridge " << command << ": " << flags.error() << "\n";
      return 2;
    }
    if (command == "serve") {
      return Serve(flags);
    }
    if (command == "check-config") {
      return CheckConfig(flags);
    }
    if (command == "simulate-trust") {
      if (flags.Has("help") || flags.Get("config").empty()) {
        (flags.Has("help") ? std::cout : std::cerr)
            << "usage: trustbridge simulate-trust --config FILE (see docs/simulate-trust.md)\n";
        return flags.Has("help") ? 0 : 2;
      }
      net::RaiseOpenFilesLimit();
      return simtrust::RunSimulateTrust(flags.Get("config"), std::cout, std::cerr);
    }
    if (command == "map") {
      return MapCommand(flags, std::cout, std::cerr);
    }
    if (command == "queue") {
      return QueueCommand(flags, std::cout, std::cerr);
    }
    if (command == "audit") {
      return AuditCommand(flags, std::cout, std::cerr);
    }
    if (command == "validate") {
      return ValidateCommand(flags, std::cout, std::cerr);
    }
    if (command == "send-hl7") {
      return SendHl7Command(flags, std::cout, std::cerr);
    }
    if (command == "conformance") {
      return ConformanceCommand(flags, std::cout, std::cerr);
    }
    if (command == "version" || command == "--version") {
      std::cout << "trustbridge 0.1.0\n";
      return 0;
    }
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "unknown command: " << command << "\n" << kUsage;
    return 2;
  } catch (const std::exception& error) {
    // Startup-time exceptions from third-party code; never a stack trace.
    std::cerr << "trustbridge: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace tb::app
