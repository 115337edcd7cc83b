#pragma once

#include <iosfwd>

#include "broker/app/flags.h"

namespace tb::app {

// `trustbridge conformance run --suite PATH --target URL [--mllp HOST:PORT] --cert F --key F
// --ca F [--crl F] [--junit F] [--html F] [--var name=value]... [--timeout-ms N]`
// Runs the TestScripts of PATH (a file or a folder) against the FHIR base URL over mutual TLS
// (and HL7 v2 steps over MLLP/TLS), prints a summary to `out`, writes the reports asked for.
// Exit: 0 when no non-warning assert failed and no step erred, 1 otherwise, 2 for usage errors
// (missing flags, unreadable certificates, a suite that does not load, a report not writable).
int ConformanceCommand(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
