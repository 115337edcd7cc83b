#include "broker/app/audit_command.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include "broker/app/config.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/verify.h"
#include "broker/store/store.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage =
    "usage: trustbridge audit verify --config FILE [--checkpoint FILE]...\n";

}  // namespace

int AuditCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kUsage;
    return 0;
  }
  if (flags.positional().size() != 1 || flags.positional()[0] != "verify" ||
      flags.Get("config").empty()) {
    err << kUsage;
    return 2;
  }
  ConfigLoad load = LoadBrokerConfig(flags.Get("config"));
  if (!load.config) {
    for (const core::Error& problem : load.problems) {
      err << "config error: " << problem.message << "\n";
    }
    return 2;
  }
  ledger::VerifyOptions options;
  for (const std::string& file : flags.GetAll("checkpoint")) {
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto checkpoint = ledger::CheckpointFromJson(text);
    if (!in || !checkpoint) {
      err << "audit verify: cannot read checkpoint " << file << "\n";
      return 2;
    }
    options.external_checkpoints.push_back(std::move(*checkpoint));
  }
  auto verifier = ledger::CheckpointVerifier::FromPemFile(load.config->tls.cert);
  if (!verifier) {
    err << "audit verify: " << verifier.error().message << "\n";
    return 2;
  }
  store::StoreSettings settings;
  settings.url = load.config->store_url;
  auto database = store::OpenDatabase(settings);
  if (!database) {
    err << "audit verify: " << database.error().message << "\n";
    return 2;
  }
  std::unique_ptr<core::LedgerStore> ledger_store = store::MakeLedgerStore(**database);
  const int code =
      ledger::PrintVerifyReport(ledger::VerifyLedger(*ledger_store, **verifier, options), out, err);
  ledger_store.reset();
  return code;
}

}  // namespace tb::app
