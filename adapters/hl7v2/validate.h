#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/nhs_number_identifier.h"
#include "broker/core/error.h"

namespace tb::hl7v2 {

// When MSH-7 (date/time of message) is required: it became required in v2.5.
enum class MessageTimeRule : std::uint8_t { kFromV25, kAlways, kNever };

// What the edge accepts. Empty sets accept anything, so a default ValidationRules checks only
// the required MSH fields, the segments each message type requires and NHS numbers.
struct ValidationRules {
  // "ADT^A01" accepts that type and trigger; a bare "ACK" accepts the type with any trigger.
  std::set<std::string, std::less<>> message_types;
  std::set<std::string, std::less<>> versions;        // MSH-12.1, e.g. "2.5.1"
  std::set<std::string, std::less<>> processing_ids;  // MSH-11.1, e.g. "P", "T"
  MessageTimeRule message_time = MessageTimeRule::kFromV25;
  bool check_nhs_number = true;
  // The assigning-authority namespace ids that name the NHS number (ClaimedNhsNumber).
  std::vector<std::string> nhs_number_namespaces = DefaultNhsNumberNamespaces();
};

// Checks a parsed message at the edge and returns every problem found (empty: valid), in
// message order, ready for MakeAck:
//   kRequiredFieldMissing  MSH-9.1, MSH-10, MSH-11, MSH-12 (and MSH-7 per the rule) empty or null;
//                          MSH-9.2 when a trigger is needed to check the type;
//   kUnsupportedMessage    MSH-9.1 not among rules.message_types (ERR-3 200), at "MSH-9.1";
//   kUnsupportedEvent      known type, unknown trigger (ERR-3 201), at "MSH-9.2";
//   kUnsupportedProcessingId / kUnsupportedVersion  MSH-11 / MSH-12 outside the rules' sets;
//   kRequiredFieldMissing  for an accepted type, a segment it requires: PID (and PID-3) in ADT,
//                          MRG (and MRG-1) in ADT^A34 and ADT^A40, OBR in ORU^R01, ORC or OBR in
//                          ORM and OML; at the segment ("PID") or field ("PID-3");
//   kInvalidValue          text beyond ASCII that is not in a character set MSH-18 allows
//                          (ReadCharacterSet: UTF-8, or ISO 8859-1 declared as 8859/1), at
//                          "MSH-18";
//   kInvalidValue          an NHS number claimed (ClaimedNhsNumber: what the v2 -> FHIR mapping
//                          reads as one) in a CX field the mapping reads (PID-2, PID-3, PID-4,
//                          MRG-1, MRG-2, PV1-5, PV1-19, NK1-33) that fails
//                          tb::core::IsValidNhsNumber, at the field ("PID-3", "PID[2]-3" for a
//                          second PID).
//   kInvalidValue          a PID claiming two different NHS numbers (in PID-2, PID-3, PID-4),
//                          at the second one's field ("PID-4", "PID[2]-3");
//   kUnsupportedMessage    an MRG claiming an NHS number in an event that merges or moves no
//                          record (anything but ADT A06, A07, A18, A30, A34-A36, A39-A51), at
//                          "MRG-1" / "MRG-2";
//   kUnsupportedMessage    a PID naming another patient than the first (PidOfAnotherPatient),
//                          at "PID[n]": one message per patient (ERR-3 200, AR), except in the
//                          two-patient events ADT^A17, A24 and A37;
// Messages name the field, never its value. Pure; thread-safe.
std::vector<core::Error> Validate(const Message& message, const ValidationRules& rules);

// The occurrence (2 or more) of the first PID segment that names another patient than the first
// PID, or nullopt when every PID names the first one's patient. Two PIDs name the same patient
// when both claim NHS numbers (ClaimedNhsNumber, in PID-3) and share one, or when their PID-3 are
// the same text; anything else is another patient. The broker routes, checks consent and maps
// per patient (the v2 -> FHIR mapping files every result under the first PID's Patient), so such
// a message is refused at the edge (Validate) and never mapped.
std::optional<std::size_t> PidOfAnotherPatient(
    const Message& message,
    std::span<const std::string> nhs_namespaces = DefaultNhsNumberNamespaces());

// Every NHS number claimed (ClaimedNhsNumber) where the v2 -> FHIR mapping writes a Patient's
// identifiers: PID-3, PID-2 and PID-4 of every PID, then MRG-1 and MRG-2 of every MRG (a
// merge's retired record, mapped as a linked Patient); each once, the routing key
// (ExtractNhsNumber) first. Another person's only in the two-patient events Validate lets
// through (ADT^A17, A24, A37). Whoever receives the message receives every one of these
// records, so the broker routes to their holders and the delivery checks their consents. Not
// checked: call core::IsValidNhsNumber.
std::vector<std::string> PatientNhsNumbers(
    const Message& message,
    std::span<const std::string> nhs_namespaces = DefaultNhsNumberNamespaces());

// The routing key: the first NHS number claimed (ClaimedNhsNumber) in the first PID's PID-3,
// whichever repetition carries it; nullopt when none does. Not checked: call
// core::IsValidNhsNumber (Validate does).
std::optional<std::string> ExtractNhsNumber(
    const Message& message,
    std::span<const std::string> nhs_namespaces = DefaultNhsNumberNamespaces());
std::optional<std::string> ExtractNhsNumber(
    const SegmentView& pid,
    std::span<const std::string> nhs_namespaces = DefaultNhsNumberNamespaces());

}  // namespace tb::hl7v2
