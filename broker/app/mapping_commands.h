#pragma once

#include <iosfwd>

#include "broker/app/flags.h"

namespace tb::app {

// `trustbridge map v2-to-fhir FILE [--tables DIR] [--compact]`: the HL7 v2 message in FILE as a
// FHIR message Bundle (pretty JSON unless --compact). `--tables DIR` adds a trust's local code
// maps (*.csv) to the shipped ones.
// `trustbridge map fhir-to-v2 FILE [--message adt|oru] [--trigger A28|A31|A08]
//  [--sending-facility ODS] [--receiving-facility ODS] [--control-id ID] [--tables DIR] [--cr]`:
// the FHIR resource or Bundle in FILE as one ER7 message (segments on separate lines; `--cr`
// writes the wire form with "\r"); `--tables DIR` adds a trust's local reverse code maps.
// Exit: 0 mapped, 1 the input could not be mapped (the error, with its location, on `err`),
// 2 usage. "-" reads standard input.
int MapCommand(const Flags& flags, std::ostream& out, std::ostream& err);

// `trustbridge validate FILE...`: each FHIR resource against base R4 (JSON schema) and the UK
// Core rules the broker enforces (adapters/fhir/README.md). Prints "FILE: valid" or one line per
// problem ("FILE: LOCATION: message"). Exit: 0 when all are valid, 1 otherwise, 2 usage.
int ValidateCommand(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
