#pragma once

#include <iosfwd>

#include "broker/app/flags.h"

namespace tb::app {

// `trustbridge audit verify --config FILE [--checkpoint FILE]...`: opens the broker's store (the
// one `store.url` names), walks the audit ledger and checks every link and every checkpoint
// signature against the broker's certificate (`tls.cert`). `--checkpoint` adds checkpoints held
// elsewhere (files written by `audit checkpoint(s) --export`, one JSON object per line, e.g. kept
// by a peer broker), which also reveal a cut tail.
// Exit: 0 every record and signature holds; 1 tampering found (the first bad sequence number
// named on `err`); 2 usage, config or storage problems.
//
// `trustbridge audit checkpoint --config FILE [--export FILE]`: signs the ledger's head now with
// the broker's key (`tls.key`), stores that checkpoint and prints it (or writes it to FILE, whole
// or not at all). `trustbridge audit checkpoints --config FILE [--export FILE]`: every stored
// checkpoint. Output: one checkpoint JSON per line (ledger::CheckpointToJson). Exit 0, or 2.
int AuditCommand(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
