#include "broker/app/conformance_command.h"

#include <fstream>
#include <ostream>

#include "broker/core/host_port.h"
#include "conformance/reports.h"
#include "conformance/runner.h"
#include "conformance/test_script.h"
#include "conformance/transport.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage =
    "usage: trustbridge conformance run --suite PATH --target URL [--mllp HOST:PORT]\n"
    "           --cert FILE --key FILE --ca FILE [--crl FILE] [--junit FILE] [--html FILE]\n"
    "           [--var name=value]... [--timeout-ms N]\n"
    "Runs FHIR R4 TestScripts (JSON; a file or every TestScript in a folder) against the FHIR\n"
    "base URL (https://host:port/fhir) over mutual TLS; operations of type hl7v2-send go to\n"
    "--mllp over MLLP/TLS. --var overrides a TestScript variable. Writes JUnit XML and a\n"
    "self-contained HTML report (NHS numbers masked). Exit 0 when no non-warning assert\n"
    "failed, 1 otherwise, 2 for usage errors. See docs/conformance.md.\n";

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  return static_cast<bool>(file);
}

}  // namespace

int ConformanceCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kUsage;
    return 0;
  }
  if (flags.positional().size() != 1 || flags.positional()[0] != "run") {
    err << "conformance: the only subcommand is `run`\n" << kUsage;
    return 2;
  }
  const std::string suite = flags.Get("suite");
  const std::string target = flags.Get("target");
  if (suite.empty() || target.empty()) {
    err << "conformance run: --suite and --target are required\n" << kUsage;
    return 2;
  }
  conformance::TlsTransportSettings settings;
  settings.base_url = target;
  settings.tls.cert = flags.Get("cert");
  settings.tls.key = flags.Get("key");
  settings.tls.ca = flags.Get("ca");
  settings.tls.crl = flags.Get("crl");
  if (settings.tls.cert.empty() || settings.tls.key.empty() || settings.tls.ca.empty()) {
    err << "conformance run: --cert, --key and --ca are required (mutual TLS)\n";
    return 2;
  }
  if (flags.Has("mllp")) {
    core::HostPort mllp;
    if (!core::ParseHostPort(flags.Get("mllp"), mllp) || mllp.port == 0) {
      err << "conformance run: --mllp must be HOST:PORT\n";
      return 2;
    }
    settings.mllp = mllp;
  }
  if (flags.Has("timeout-ms")) {
    const std::string text = flags.Get("timeout-ms");
    if (text.empty() || text.size() > 7 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
      err << "conformance run: --timeout-ms must be a number of milliseconds\n";
      return 2;
    }
    settings.timeout = std::chrono::milliseconds(std::stol(text));
  }
  conformance::RunOptions options;
  for (const std::string& assignment : flags.GetAll("var")) {
    const std::size_t equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0) {
      err << "conformance run: --var takes name=value\n";
      return 2;
    }
    options.variables[assignment.substr(0, equals)] = assignment.substr(equals + 1);
  }
  auto scripts = conformance::LoadSuite(suite);
  if (!scripts) {
    err << "conformance run: " << scripts.error().message
        << (scripts.error().location.empty() ? "" : " at " + scripts.error().location) << "\n";
    return 2;
  }
  auto transport = conformance::MakeTlsTransport(settings);
  if (!transport) {
    err << "conformance run: " << transport.error().message << "\n";
    return 2;
  }
  conformance::Runner runner(**transport, options);
  std::vector<conformance::ScriptResult> results;
  for (const conformance::TestScript& script : *scripts) {
    results.push_back(runner.Run(script));
  }
  out << conformance::RenderText(results);
  if (flags.Has("junit") && !WriteText(flags.Get("junit"), conformance::RenderJUnit(results))) {
    err << "conformance run: cannot write " << flags.Get("junit") << "\n";
    return 2;
  }
  if (flags.Has("html") &&
      !WriteText(flags.Get("html"), conformance::RenderHtml(results, target))) {
    err << "conformance run: cannot write " << flags.Get("html") << "\n";
    return 2;
  }
  return conformance::ExitStatus(results);
}

}  // namespace tb::app
