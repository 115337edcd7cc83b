#include "broker/app/audit_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <system_error>

#include "broker/app/config.h"
#include "broker/core/clock.h"
#include "broker/ledger/checkpoint_signer.h"
#include "broker/ledger/ledger.h"
#include "broker/ledger/verify.h"
#include "broker/store/store.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage =
    "usage: trustbridge audit verify --config FILE [--checkpoint FILE]...\n"
    "       trustbridge audit checkpoint --config FILE [--export FILE]\n"
    "       trustbridge audit checkpoints --config FILE [--export FILE]\n";

// The broker's config, or nullopt with the problems written to `err`.
std::optional<BrokerConfig> LoadConfig(const Flags& flags, std::ostream& err) {
  ConfigLoad load = LoadBrokerConfig(flags.Get("config"));
  if (!load.config) {
    for (const core::Error& problem : load.problems) {
      err << "config error: " << problem.message << "\n";
    }
    return std::nullopt;
  }
  return std::move(*load.config);
}

// The checkpoints in an exported file: one JSON object per line (what `audit checkpoints`
// writes), or one JSON object over several lines. Errors: kInvalidValue, kConfig (unreadable).
core::Result<std::vector<core::LedgerCheckpoint>> ReadCheckpointFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    return core::MakeError(core::ErrorCode::kConfig, "cannot read " + file);
  }
  if (auto whole = ledger::CheckpointFromJson(text); whole) {
    return std::vector<core::LedgerCheckpoint>{std::move(*whole)};
  }
  std::vector<core::LedgerCheckpoint> checkpoints;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    auto checkpoint = ledger::CheckpointFromJson(line);
    if (!checkpoint) {
      return std::move(checkpoint).error();
    }
    checkpoints.push_back(std::move(*checkpoint));
  }
  if (checkpoints.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "no checkpoint in " + file);
  }
  return checkpoints;
}

int Verify(const Flags& flags, const BrokerConfig& config, std::ostream& out, std::ostream& err) {
  ledger::VerifyOptions options;
  for (const std::string& file : flags.GetAll("checkpoint")) {
    auto checkpoints = ReadCheckpointFile(file);
    if (!checkpoints) {
      err << "audit verify: cannot read checkpoint " << file << ": " << checkpoints.error().message
          << "\n";
      return 2;
    }
    for (core::LedgerCheckpoint& checkpoint : *checkpoints) {
      options.external_checkpoints.push_back(std::move(checkpoint));
    }
  }
  auto verifier = ledger::CheckpointVerifier::FromPemFile(config.tls.cert);
  if (!verifier) {
    err << "audit verify: " << verifier.error().message << "\n";
    return 2;
  }
  store::StoreSettings settings;
  settings.url = config.store_url;
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

// Writes `text` to `file` whole or not at all: a temporary file beside it, then a rename.
core::Status WriteWhole(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::path temporary = file;
  temporary += ".partial";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return core::MakeError(core::ErrorCode::kStorage, "cannot write " + temporary.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, file, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return core::MakeError(core::ErrorCode::kStorage, "cannot write " + file.string());
  }
  return core::Ok();
}

// `audit checkpoint` (`sign_head`: sign the head now and export that checkpoint) and
// `audit checkpoints` (every stored one): JSON lines, for a peer to hold (docs/ledger.md).
int Checkpoints(const Flags& flags, const BrokerConfig& config, bool sign_head, std::ostream& out,
                std::ostream& err) {
  store::StoreSettings settings;
  settings.url = config.store_url;
  auto database = store::OpenDatabase(settings);
  if (!database) {
    err << "audit checkpoints: " << database.error().message << "\n";
    return 2;
  }
  std::unique_ptr<core::LedgerStore> ledger_store = store::MakeLedgerStore(**database);
  std::vector<core::LedgerCheckpoint> checkpoints;
  if (sign_head) {
    // Sign the head as it is now, so the export covers every record written so far (automatic
    // checkpoints come every 1000 records). A running broker may append meanwhile: this signs the
    // head read here, an earlier but equally valid point of the one chain.
    auto signer = ledger::CheckpointSigner::FromPemFile(config.tls.key);
    if (!signer) {
      err << "audit checkpoint: " << signer.error().message << "\n";
      return 2;
    }
    core::SystemClock clock;
    auto ledger = ledger::Ledger::Open(*ledger_store, clock, signer->get(),
                                       {.checkpoint_every = 0, .max_batch = 1});
    if (!ledger) {
      err << "audit checkpoint: " << ledger.error().message << "\n";
      return 2;
    }
    auto signed_now = (*ledger)->Checkpoint();  // the stored one if that count has one already
    if (!signed_now) {
      err << "audit checkpoint: " << signed_now.error().message << "\n";
      return 2;
    }
    checkpoints.push_back(std::move(*signed_now));
  } else {
    auto stored = ledger_store->ReadCheckpoints();
    if (!stored) {
      err << "audit checkpoints: " << stored.error().message << "\n";
      return 2;
    }
    if (stored->empty()) {
      err << "audit checkpoints: the ledger has no checkpoint yet (`audit checkpoint` signs one)\n";
      return 2;
    }
    checkpoints = std::move(*stored);
  }
  std::string text;
  for (const core::LedgerCheckpoint& checkpoint : checkpoints) {
    text += ledger::CheckpointToJson(checkpoint);
    text += '\n';
  }
  if (const std::string file = flags.Get("export"); !file.empty()) {
    if (core::Status written = WriteWhole(file, text); !written) {
      err << "audit checkpoints: " << written.error().message << "\n";
      return 2;
    }
    out << "wrote " << checkpoints.size() << " checkpoint(s), the last at record "
        << checkpoints.back().count << ", to " << file << "\n";
    return 0;
  }
  out << text;
  return 0;
}

}  // namespace

int AuditCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kUsage;
    return 0;
  }
  const bool verify = flags.positional().size() == 1 && flags.positional()[0] == "verify";
  const bool one = flags.positional().size() == 1 && flags.positional()[0] == "checkpoint";
  const bool all = flags.positional().size() == 1 && flags.positional()[0] == "checkpoints";
  if ((!verify && !one && !all) || flags.Get("config").empty()) {
    err << kUsage;
    return 2;
  }
  std::optional<BrokerConfig> config = LoadConfig(flags, err);
  if (!config) {
    return 2;
  }
  return verify ? Verify(flags, *config, out, err) : Checkpoints(flags, *config, one, out, err);
}

}  // namespace tb::app
