#pragma once

#include "adapters/hl7v2/message.h"
#include "broker/core/result.h"

// The character set a v2 message is written in (MSH-18, HL7 table 0211). The broker turns v2
// text into FHIR JSON, which is UTF-8 by definition, so it must know how to read bytes over
// 0x7F: many legacy systems send ISO 8859-1 ("Siân" as 53 69 E2 6E), which copied as it is would
// make JSON that no FHIR reader (this broker's included) accepts.
namespace tb::hl7v2 {

enum class CharacterSet {
  kUtf8,    // "UNICODE UTF-8", "UNICODE", or undeclared ("" or "ASCII") text that is UTF-8
  kLatin1,  // "8859/1"
};

// Reads MSH-18 (its first repetition) against the message's bytes:
//   - text of ASCII bytes only reads the same in every declared set: kUtf8 whatever MSH-18 says;
//   - "8859/1": kLatin1;
//   - "UNICODE UTF-8", "UNICODE", "ASCII" or nothing: kUtf8 when the bytes are well-formed
//     UTF-8 (undeclared UTF-8 is what most current senders send);
// Errors, kInvalidValue at "MSH-18" (messages never quote the text):
//   - UTF-8 (declared or undeclared) that is not well-formed: the sender should declare 8859/1;
//   - any other declared set with bytes over 0x7F: not supported (UTF-8 or 8859/1 only).
core::Result<CharacterSet> ReadCharacterSet(const Message& message);

}  // namespace tb::hl7v2
