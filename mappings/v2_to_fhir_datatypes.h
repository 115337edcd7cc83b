#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/value.h"
#include "broker/core/result.h"
#include "mappings/json_text.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

// The v2 datatype -> FHIR datatype maps of the HL7 v2-to-FHIR IG (CX[Identifier], XPN[HumanName],
// XAD[Address], XTN[ContactPoint], TS/DTM/DT[date/dateTime], CE/CWE[CodeableConcept],
// XCN[Practitioner], XON[Organization], HD, SN, NM[Quantity], ED[Attachment]). Used by the segment
// maps in v2_to_fhir_*.cpp; exposed for tests.
//
// Every function reads v2 Values (escapes resolved, "" nulls treated as absent). The Write*
// functions write one JSON value (or object members, where said) at the current position of a
// JsonText (json_text.h; the caller has written the key or separator), and write nothing when
// there is nothing to map. Problems with the input (a malformed date) are recorded in the context
// (first error wins) and the element is left out, so callers need not check every call; MapV2ToFhir
// returns the recorded error. Not thread-safe: one context per mapping.
namespace tb::mappings {

using JsonAlloc = rapidjson::Document::AllocatorType;

class V2MapContext {
 public:
  V2MapContext(JsonAlloc& alloc, const MappingTables& tables, const V2ToFhirOptions& options);
  ~V2MapContext();
  V2MapContext(const V2MapContext&) = delete;
  V2MapContext& operator=(const V2MapContext&) = delete;

  JsonAlloc& alloc() { return alloc_; }
  const MappingTables& tables() const { return tables_; }
  const V2ToFhirOptions& options() const { return options_; }

  // Records `error` unless one is recorded already.
  void Fail(core::Error error);
  // A malformed value that was left out: Fail() under options().strict, else remembered so the
  // mapper keeps the segment verbatim (TakeLossy() reads and clears the flag).
  void Lossy(core::Error error);
  // A valid value the map can carry only in part (a repetition FHIR has no room for): remembered
  // like Lossy() so the segment is also kept verbatim, but never an error, even under strict.
  void KeepVerbatim() { lossy_ = true; }
  bool TakeLossy() {
    const bool lossy = lossy_;
    lossy_ = false;
    return lossy;
  }
  bool failed() const { return error_.has_value(); }
  const std::optional<core::Error>& error() const { return error_; }

  // tables().CodingSystemUri(v2_name), computed once per thread and tables (a per-thread cache
  // across mappings, bounded), else once per mapping: messages name the same few coding systems
  // over and over. The view lives as long as the context.
  std::string_view SystemUri(std::string_view v2_name);
  // `parts` joined, copied into the context's pool: the view lives as long as the context.
  std::string_view Keep(std::initializer_list<std::string_view> parts);
  // "system":"<SystemUri(v2_name), JSON-escaped>" (empty for an empty URI) when the per-thread
  // cache holds it (it then lives as long as the context), else nullptr.
  const std::string* SystemMember(std::string_view v2_name);

 private:
  JsonAlloc& alloc_;
  const MappingTables& tables_;
  const V2ToFhirOptions& options_;
  std::optional<core::Error> error_;
  bool lossy_ = false;
  bool thread_cache_ = false;  // whether SystemUri may use the per-thread cache
  std::vector<std::pair<std::string_view, std::string_view>> system_uris_;  // in the allocator
};

// Decoded text of a v2 value: the raw bytes when they hold no escape, else Unescape(raw). Empty for
// "" nulls. `scratch` holds the decoded copy when one is needed.
std::string_view V2TextSearched(const hl7v2::Value& value, std::string& scratch);
// Inline for the common case: a value of a segment without escapes declares no escape character
// (CachedSegment::Split), and the maps read a hundred values per message.
inline std::string_view V2Text(const hl7v2::Value& value, std::string& scratch) {
  const std::string_view raw = value.raw();
  if (value.encoding().escape == '\0') {
    const bool null = raw.size() == 2 && raw[0] == '"' && raw[1] == '"';
    return raw.empty() || null ? std::string_view() : raw;  // as !value.HasValue() below
  }
  return V2TextSearched(value, scratch);
}

// value.Component(n) and value.Subcomponent(n) (same results, levels and reach rules), found in
// one pass over the bytes: hl7v2::Value's accessors call memchr for each delimiter, twice over
// for a field (its first repetition, then the component), and the maps read ~60 a message.
hl7v2::Value ComponentOf(const hl7v2::Value& value, std::size_t n);
hl7v2::Value SubcomponentOf(const hl7v2::Value& value, std::size_t n);

// ---- dates and times ----------------------------------------------------------------------------
enum class FhirTimeType { kDate, kDateTime, kInstant };

// DT/DTM/TS text (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) -> FHIR date, dateTime or instant,
// keeping the precision given (seconds are zero-filled where FHIR's format requires them) and the
// time zone (or `rule` when the sender gave none). nullopt for empty text and for an instant asked
// of a value without a time of day; kInvalidValue (location empty) for text that is not a valid v2
// date/time.
core::Result<std::optional<std::string>> V2TimeToFhir(std::string_view v2, FhirTimeType type,
                                                      LocalTimeRule rule);

// A DT/DTM/TS value (its first component) as a FHIR date/dateTime/instant JSON string; nothing for
// an empty value, and nothing for a malformed one, reported through ctx.Lossy() at `location`.
void WriteTime(V2MapContext& ctx, JsonText& out, const hl7v2::Value& value, FhirTimeType type,
               const char* location);
// A Period {start, end} of two DTM/TS values ({} when both are empty).
void WritePeriod(V2MapContext& ctx, JsonText& out, const hl7v2::Value& start,
                 const hl7v2::Value& end, const char* location);

// True when `v2` carries a time of day (more than 8 digits before any offset).
bool HasTimeOfDay(std::string_view v2);

// ---- numbers ------------------------------------------------------------------------------------
// v2 NM text -> a FHIR decimal ("+05.50" -> "5.50", ".5" -> "0.5"); nullopt when not a number.
std::optional<std::string> CanonicalDecimal(std::string_view nm);

// ---- codes --------------------------------------------------------------------------------------
// A Coding {system, code, display} ({} when all three are empty).
void WriteCoding(JsonText& out, std::string_view system, std::string_view code,
                 std::string_view display);
// WriteCoding(out, ctx.SystemUri(v2_system), code, display), with the system member written from
// JSON kept with the cached URI instead of escaped again.
void WriteV2Coding(V2MapContext& ctx, JsonText& out, std::string_view v2_system,
                   std::string_view code, std::string_view display);
// CE/CWE/CNE -> CodeableConcept: the primary (1-3) and alternate (4-6) codings with their systems
// translated by table 0396 (or, when CWE-3 / CWE-6 is empty, the v2.7+ coding system OID in
// CWE-14 / CWE-17), each followed by its translation from any local concept map, and the
// original text (CWE-9, else the first text when no code is given). `text_if_none` is the text
// when the CWE gives none (a CodeableConcept of only that text when the CWE is empty).
void WriteCweCodeableConcept(V2MapContext& ctx, JsonText& out, const hl7v2::Value& cwe,
                             std::string_view text_if_none = {});
// A coded v2 value through a vocabulary table: the mapped FHIR coding, followed by the original v2
// coding when it differs; an unmapped code keeps only its v2 coding (system from `v2_table`, e.g.
// "HL70004"). Only the text when there is no code.
void WriteTableCodeableConcept(V2MapContext& ctx, JsonText& out, KnownTable table,
                               std::string_view code, std::string_view display,
                               std::string_view v2_table);
// The mapped FHIR code for a required-binding `code` element, or nullptr.
const CodeMapRow* MapCode(V2MapContext& ctx, KnownTable table, std::string_view code);
// The member `key` (without quotes) of the object being written: the mapped code of `code`, or,
// when unmapped, "_key" with kOriginalCodeExtensionUrl and the v2 code, so it is never dropped.
void WriteMappedCode(V2MapContext& ctx, JsonText& out, std::string_view key, KnownTable table,
                     std::string_view code, std::string_view v2_table);

// ---- identifiers and names ----------------------------------------------------------------------
// HD -> system URI: HD-2 as urn:oid: when HD-3 is ISO (or HD-2 is an OID), HD-2 as is when a URI,
// else the assigning-authority table for HD-1. Empty when none applies.
// The view lives as long as the context (kept in its pool, or a table's own string).
std::string_view HdToSystem(V2MapContext& ctx, const hl7v2::Value& hd);
// What an Identifier is made of, read first and written after (the Patient puts the NHS number
// first and leaves out repeated identifiers).
struct IdentifierFacts {
  std::string value;
  std::string_view system;  // empty when none is known; a literal, a table's or the context's
  std::string type;         // table 0203 code, or empty
  hl7v2::Value assigner;    // HD: its first part is assigner.display when no system is known
  bool has_period = false;
  hl7v2::Value start, end;
  const char* period_location = nullptr;
};
// CX -> facts (value CX-1, system from CX-4, type CX-5, period CX-7/8, assigner display CX-4.1
// when no system is known); false when CX-1 is empty. An NHS number (CX-4 NHS, or CX-5 NH on 10
// digits) loses its spaces and must pass Modulus 11: otherwise the context fails with
// kInvalidValue at `location` (the value is never quoted) and false is returned.
bool ReadCx(V2MapContext& ctx, const hl7v2::Value& cx, const std::string& location,
            IdentifierFacts& facts);
// The Identifier: `first_members` (JSON members, e.g. an extension, or empty) first;
// `type_if_none` (table 0203) is Identifier.type, written last, when the facts have no type.
void WriteIdentifier(V2MapContext& ctx, JsonText& out, const IdentifierFacts& facts,
                     std::string_view first_members = {}, std::string_view type_if_none = {});
// EI -> Identifier (EI-1 value, EI-2/3/4 as HD); `type_code` (table 0203), when given, is
// Identifier.type, written first.
void WriteEiIdentifier(V2MapContext& ctx, JsonText& out, const hl7v2::Value& ei,
                       std::string_view type_code = {});
// XPN -> HumanName (nothing for a name that is only a use code or period).
void WriteHumanName(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xpn);
// XAD -> Address (nothing without a line, city, district, state, postal code or country).
void WriteAddress(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xad);
// XTN -> ContactPoint; `default_use` ("home"/"work") applies when XTN-2 gives none.
void WriteContactPoint(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xtn,
                       std::string_view default_use);
// The members of the resources several segments point at, written after the caller's
// {"resourceType":...,"id":...; each returns false, having written nothing, when there is nothing
// to say (the resource is then left out).
// XCN -> Practitioner (identifier, name).
bool WritePractitioner(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xcn);
// XON -> Organization (name, identifier with the ODS system for ODS-like codes).
bool WriteXonOrganization(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xon);
// HD -> Organization (a sending/receiving facility: ODS code, OID or name).
bool WriteHdOrganization(V2MapContext& ctx, JsonText& out, const hl7v2::Value& hd);
// True for text shaped like an ODS organisation code (3 to 6 upper-case letters or digits).
bool LooksLikeOdsCode(std::string_view text);

// ---- values -------------------------------------------------------------------------------------
// NM + units (CWE) -> Quantity {value, unit, system, code}; nothing when `nm` is not a number.
void WriteNmQuantity(V2MapContext& ctx, JsonText& out, std::string_view nm,
                     const hl7v2::Value& units);
// Units CWE -> the Quantity members unit/system/code, written into the object being written.
void WriteUnits(V2MapContext& ctx, JsonText& out, const hl7v2::Value& units);
// SN -> a valueQuantity (with comparator), valueRange or valueRatio member of the object being
// written, or valueString when it fits none. Returns false (nothing written) when SN is empty.
bool WriteSnValue(V2MapContext& ctx, JsonText& out, const hl7v2::Value& sn,
                  const hl7v2::Value& units);
// ED -> Attachment (contentType from ED-2/ED-3, data base64 from ED-4/ED-5); nothing when empty
// or when the data does not match its encoding (reported through ctx.Lossy()).
void WriteEdAttachment(V2MapContext& ctx, JsonText& out, const hl7v2::Value& ed);
// RP -> Attachment (url RP-1, contentType from RP-3/RP-4 where it names a MIME type); nothing
// without a pointer. An application id (RP-2) or a type that names no MIME type has no place in
// an Attachment: the segment is then kept verbatim too (ctx.KeepVerbatim()).
void WriteRpAttachment(V2MapContext& ctx, JsonText& out, const hl7v2::Value& rp);

}  // namespace tb::mappings
