#pragma once

#include <string>
#include <string_view>

#include "adapters/hl7v2/encoding.h"

namespace tb::hl7v2 {

// HL7 v2 escape sequences (v2.5 section 2.7). All functions are pure, never fail and are safe to
// call from any thread.
//
// Reading:
//   Unescape      decodes the delimiter escapes \F\ \S\ \T\ \R\ \E\ \P\ and hex data \Xhh..\ of one
//                 leaf value (a component or subcomponent; a whole field also works, but its
//                 delimiters stay as they are). Formatting (\H\ \N\ \.br\ \.sp\ ...) and character
//                 set escapes (\Cxxyy\ \Mxxyyzz\ \Zxx\) are kept as written: they mean something
//                 only to a display or a charset converter, so dropping them would lose data.
//                 Malformed or unterminated sequences are kept literally.
//   UnescapeText  for formatted text (FT, TX, CF): as Unescape, and in addition \.br\ becomes
//                 "\n", \.sp\ / \.sp n\ become one / n line breaks, and the display-only commands
//                 \H\ \N\ \.fi\ \.nf\ \.in\ \.ti\ \.sk\ \.ce\ are dropped.
// Writing:
//   Escape        encodes plain text as one ER7 leaf value: every delimiter, the escape character
//                 and the truncation character become their escapes; CR and LF become \X0D\ and
//                 \X0A\ because they would end the segment. Other bytes pass unchanged (the
//                 character set is MSH-18's business).
//   EscapeText    for FT: as Escape, but a line break ("\n" or "\r\n") becomes \.br\.
// With no escape character declared (rare, pre-v2.3 senders) nothing can be escaped: Escape
// then replaces delimiters and line breaks with a space so that the structure stays intact.
std::string Unescape(std::string_view raw, const Encoding& enc);
std::string UnescapeText(std::string_view raw, const Encoding& enc);
std::string Escape(std::string_view text, const Encoding& enc);
std::string EscapeText(std::string_view text, const Encoding& enc);

// Appends Escape(text) to `out` without a temporary (used on the ACK path).
void AppendEscaped(std::string& out, std::string_view text, const Encoding& enc);

}  // namespace tb::hl7v2
