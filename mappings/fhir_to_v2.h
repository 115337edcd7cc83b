#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/encoding.h"
#include "broker/core/clock.h"
#include "broker/core/result.h"
#include "mappings/fhir_to_v2_tables.h"

// FHIR R4 -> HL7 v2 (ER7) for trusts that speak only v2. See docs/mappings-fhir-to-v2.md for the
// field-by-field map and the deliberate losses.
//
//   Patient (+ Encounter)                    -> ADT^A28 / ADT^A31 / ADT^A08
//   DiagnosticReport + Observations, or
//   Observations alone (+ Patient, Encounter) -> ORU^R01
//
// Input is one resource or a Bundle (message, collection, transaction, batch, searchset, ...)
// as JSON text. References are resolved inside the Bundle (fullUrl, Type/id, absolute URLs
// ending in Type/id) and to contained resources ("#id").
namespace tb::mappings {

enum class FhirToV2Message : std::uint8_t {
  kAuto,  // ORU^R01 for a DiagnosticReport, or Observations without an Encounter; else ADT
  kAdt,
  kOru,
};

enum class AdtTrigger : std::uint8_t {
  kDefault,  // MessageHeader.eventCoding (v2-0003) if it names A28/A31/A08, else A08 with an
             // Encounter and A31 without
  kA28,      // add person information (ADT_A05 structure)
  kA31,      // update person information (ADT_A05)
  kA08,      // update patient information (ADT_A01)
};

// How text with line breaks (valueString, notes, conclusions) is written.
enum class TextLineBreaks : std::uint8_t {
  kFormattedText,  // OBX-2 FT, line breaks as \.br\ (NTE-3 likewise)
  kRepetitions,    // OBX-2 TX, one repetition per line (NTE-3 likewise)
};

// Everything that is not in the FHIR input. A plain value; the pointers are borrowed and must
// outlive the MapFhirToV2 call.
struct FhirToV2Options {
  std::string sending_application = "TRUSTBRIDGE";  // MSH-3
  std::string sending_facility;                     // MSH-4
  std::string receiving_application;                // MSH-5
  std::string receiving_facility;                   // MSH-6
  // MSH-10. Empty: "TB" + 16 hex digits of a hash of the input, so the same input always gets
  // the same control id (give a real one when sending).
  std::string control_id;
  // MSH-7 and EVN-2, as a v2 DTM ("20240301101500+0000"). Empty: the clock's now, in UTC.
  std::string timestamp;
  const core::Clock* clock = nullptr;  // nullptr: the system clock
  std::string processing_id = "P";     // MSH-11
  std::string version = "2.5.1";       // MSH-12; before 2.5 coded values are typed CE, not CWE
  std::string character_set = "UNICODE UTF-8";  // MSH-18 (FHIR JSON is UTF-8); empty: not sent
  hl7v2::Encoding encoding;  // MSH-1/MSH-2; must be complete (all five delimiters)
  FhirToV2Message message = FhirToV2Message::kAuto;
  AdtTrigger adt_trigger = AdtTrigger::kDefault;
  TextLineBreaks line_breaks = TextLineBreaks::kFormattedText;
  const FhirToV2Tables* tables = nullptr;  // nullptr: FhirToV2Tables::Builtin()
  fhir::JsonLimits json_limits;
  // Output caps (kTooLarge beyond them): building costs grow with segments x segments and
  // repetitions x field size, and no legacy receiver wants thousands of either.
  std::size_t max_segments = 5000;
  std::size_t max_repetitions = 100;  // per field (PID-3, PID-5, OBX-8, ...)
};

// Maps FHIR JSON text to one "\r"-terminated ER7 message.
// Errors (core::Error; messages never quote payload values):
//   kTooLarge / kInvalidValue  JSON over the limits or not JSON (from fhir::ParseJson);
//   kRequiredFieldMissing      no Patient to put in PID (location "Patient"), nothing to report
//                              for ORU (location "DiagnosticReport"), resourceType missing;
//   kInvalidValue              a member of the wrong JSON type, a malformed date, an NHS number
//                              failing the Modulus 11 check, a bad encoding in the options;
//                              location is FHIRPath, e.g. "Bundle.entry[2].resource.birthDate";
//   kUnsupportedMessage        results for more than one patient in one input;
//   kTooLarge                  over max_segments or max_repetitions.
// Deterministic: the same input and options always give the same bytes.
// Thread-safety: reentrant; shares only the immutable tables.
core::Result<std::string> MapFhirToV2(std::string_view json, const FhirToV2Options& options = {});

// As above for an already parsed resource or Bundle (borrowed for the call).
core::Result<std::string> MapFhirToV2(const rapidjson::Value& resource,
                                      const FhirToV2Options& options = {});

// FHIR date, dateTime or instant -> v2 DTM, keeping precision and time zone:
//   "2024"                       -> "2024"
//   "2024-03-01"                 -> "20240301"
//   "2024-03-01T10:15:00+01:00"  -> "20240301101500+0100"
//   "2024-03-01T10:15:00.123Z"   -> "20240301101500.123+0000"
// Fractions beyond 4 digits (the DTM maximum) are truncated. kInvalidValue (location empty; the
// caller adds its own) for anything that is not a FHIR date/dateTime/instant.
core::Result<std::string> FhirDateTimeToDtm(std::string_view fhir);

}  // namespace tb::mappings
