#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "broker/app/flags.h"

namespace tb::app {

// Splits a file's text into HL7 v2 messages: each starts at a line beginning with "MSH"; blank
// lines, a batch's FHS/BHS/BTS/FTS lines and any line endings (\r, \n, \r\n) are accepted, one
// style per message as the parser takes them (a lone \n in a \r or \r\n message is data).
// Segments come back "\r"-terminated, as MLLP carries them.
std::vector<std::string> SplitHl7Messages(std::string_view text);

// `trustbridge send-hl7 --to HOST:PORT [--cert F --key F --ca F [--crl F]] [--server-name N |
// --no-verify-name] [--timeout-ms N] FILE...` ("-" reads standard input). Sends every message of
// every file over one MLLP/TLS connection, one at a time, and prints each ACK (segments on their
// own lines) to `out`. Exit: 0 when every message got AA/CA, 1 when any got another code or no
// answer, 2 for usage or certificate problems.
int SendHl7Command(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
