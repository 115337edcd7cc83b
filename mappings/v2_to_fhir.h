#pragma once

#include <string>
#include <string_view>

#include "adapters/hl7v2/message.h"
#include "broker/core/result.h"
#include "mappings/mapping_tables.h"

// HL7 v2 -> FHIR R4: one v2 message becomes one FHIR message Bundle (JSON), following the HL7
// v2-to-FHIR IG's segment, datatype and vocabulary maps, with UK Core where it applies (NHS number
// identifier from whichever PID-3 repetition carries it, its verification status, ODS codes).
// docs/mappings.md lists what is mapped, what is carried as raw segments, and each deliberate
// difference from the IG and the reference outputs.
//
// Supported: ADT^A01 A02 A03 A04 A05 A08 A11 A13 A28 A31 A40, ORU^R01, and the orders ORM^O01
// and OML^O21 (ServiceRequest per ORC/OBR).
//
// Determinism: no clock and no randomness. The message's namespace is the v5 UUID of its sending
// application/facility and control id (MSH-3, MSH-4, MSH-10; the whole message when MSH-10 is
// empty); each resource id is a v8 UUID derived from that namespace and the resource's segment
// position (deterministic_id.h). The same message always maps to the byte-identical Bundle.
//
// Thread-safety: the functions are reentrant; `tables` is only read.
// Errors (locations are v2 positions, messages never quote content):
//   whatever Message::Parse returns for text that is not ER7;
//   kUnsupportedMessage  a message type other than ADT, ORU, ORM or OML (location MSH-9.1);
//   kUnsupportedEvent    a trigger event not listed above (location MSH-9.2);
//   kRequiredFieldMissing a required segment is absent (PID in ADT and orders; MRG in A40; OBR in
//                        ORU; ORC or OBR in an order), or the patient has no identifier (PID-3);
//   kInvalidValue        an NHS number failing the Modulus 11 check; with options.strict, any
//                        malformed date/time or ED value.
namespace tb::mappings {

// How to read a v2 time of day that carries no UTC offset. FHIR requires an offset once a time is
// given; v2 senders in England and Wales send local (UK civil) time.
enum class LocalTimeRule {
  kEuropeLondon,  // GMT, or BST (+01:00) between the last Sundays of March and October
  kUtc,           // treat as +00:00
  kDateOnly,      // drop the time of day, keep the date
};

struct V2ToFhirOptions {
  LocalTimeRule local_time = LocalTimeRule::kEuropeLondon;
  // Keep segments the mapper does not map (Z-segments, SFT, IN1, ...) as MessageHeader extensions
  // carrying the raw ER7 segment, so nothing is lost. Off only for tests that want less noise.
  bool keep_unmapped_segments = true;
  // A malformed value (a date/time that is not a v2 date, ED data that does not match its
  // encoding) fails the whole mapping with kInvalidValue when true. When false (the default)
  // the element is left out and the segment that held it is also kept verbatim on the
  // MessageHeader (kUnmappedSegmentExtensionUrl), so nothing is lost and one bad optional field
  // does not block a patient's admission.
  bool strict = false;
};

// The extension on MessageHeader that carries one unmapped segment (valueString: the segment as
// received, escapes and all).
inline constexpr std::string_view kUnmappedSegmentExtensionUrl =
    "https://fhir.trustbridge.nhs.uk/StructureDefinition/hl7v2-unmapped-segment";
// The extension on an element whose v2 code has no FHIR equivalent in the tables (valueCoding:
// the original code and its v2 system), used where FHIR requires a code from a fixed value set.
inline constexpr std::string_view kOriginalCodeExtensionUrl =
    "https://fhir.trustbridge.nhs.uk/StructureDefinition/hl7v2-original-code";
// Extensions the mapping writes that FHIR -> v2 reads back (one definition for both ways).
inline constexpr std::string_view kBirthTimeUrl =
    "http://hl7.org/fhir/StructureDefinition/patient-birthTime";
// R4 Observation.value[x] has no Attachment; the R5 cross-version extension carries ED/RP values.
inline constexpr std::string_view kObservationValueR5Url =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value";
// OBX-4 sub-id (IG OG[Extension-Subidentifier]); a complex extension of the FHIR extensions pack.
inline constexpr std::string_view kObservationSubIdUrl =
    "http://hl7.org/fhir/StructureDefinition/observation-v2-subid";

// Whether the mapping covers MSH-9 `type`^`trigger`: ADT A01-A05, A08, A11, A13, A28, A31, A40,
// ORU^R01, ORM^O01, OML^O21. Any other v2 message cannot be sent to a participant that takes
// FHIR (routing::Receives leaves those participants out).
bool HasFhirMapping(std::string_view type, std::string_view trigger);

// Parses `er7` and maps it; returns the Bundle as compact JSON.
core::Result<std::string> MapV2ToFhir(std::string_view er7, const MappingTables& tables,
                                      const V2ToFhirOptions& options = {});
// The same for a message already parsed.
core::Result<std::string> MapV2ToFhir(const hl7v2::Message& message, const MappingTables& tables,
                                      const V2ToFhirOptions& options = {});

}  // namespace tb::mappings
