#pragma once

#include <iosfwd>

#include "broker/app/flags.h"

namespace tb::app {

// `trustbridge audit verify --config FILE [--checkpoint FILE]...`: opens the broker's store (the
// one `store.url` names), walks the audit ledger and checks every link and every checkpoint
// signature against the broker's certificate (`tls.cert`). `--checkpoint` adds checkpoints held
// elsewhere (exported JSON, e.g. kept by a peer broker), which also reveal a cut tail.
// Exit: 0 every record and signature holds; 1 tampering found (the first bad sequence number
// named on `err`); 2 usage, config or storage problems.
int AuditCommand(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
