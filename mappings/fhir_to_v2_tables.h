#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/result.h"

namespace tb::mappings {

// What one FHIR (system, code) becomes in HL7 v2: a row of a reverse code map.
struct V2Code {
  std::string system;   // CSV column v2_system: a table ("HL70001") or coding-system name ("LN")
  std::string code;     // v2_code
  std::string display;  // v2_display
};

// Names of the built-in reverse maps (files mappings/tables/fhir_to_v2/<name>.csv).
namespace fhir_to_v2_map {
inline constexpr std::string_view kGender = "administrative-gender";           // PID-8, 0001
inline constexpr std::string_view kMaritalStatus = "marital-status";           // PID-16, 0002
inline constexpr std::string_view kEncounterClass = "encounter-class";         // PV1-2, 0004
inline constexpr std::string_view kEncounterPriority = "encounter-priority";   // PV1-4, 0007
inline constexpr std::string_view kInterpretation = "interpretation";          // OBX-8, 0078
inline constexpr std::string_view kObservationStatus = "observation-status";   // OBX-11, 0085
inline constexpr std::string_view kReportStatus = "diagnostic-report-status";  // OBR-25, 0123
inline constexpr std::string_view kRelationship = "relationship";              // NK1-3, 0063
inline constexpr std::string_view kNameUse = "name-use";                       // XPN-7, 0200
inline constexpr std::string_view kAddressUse = "address-use";                 // XAD-7, 0190
inline constexpr std::string_view kTelecomUse = "telecom-use";                 // XTN-2, 0201
inline constexpr std::string_view kTelecomSystem = "telecom-system";           // XTN-3, 0202
inline constexpr std::string_view kCodingSystem = "coding-system";             // CWE-3, 0396
inline constexpr std::string_view kIdentifierSystem = "identifier-system";     // CX-4 / CX-5
inline constexpr std::string_view kNhsNumberVerification = "nhs-number-verification-status";
}  // namespace fhir_to_v2_map

// The reverse (FHIR -> v2) code maps, as data. Every map is a CSV with the columns
//   v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display
// (the same format as the v2 -> FHIR tables in mappings/tables), read right to left: a lookup by
// (fhir_system, fhir_code) gives the v2 columns. '#' starts a comment line; RFC 4180 quoting is
// accepted. The built-in maps are embedded in the library (fhir_to_v2_tables_data.cpp, generated
// by mappings/tables/fhir_to_v2/embed.py), so a deployed binary needs no source tree.
//
// Local maps: Load(dir) reads every *.csv in a trust's folder. A file named like a built-in map
// adds rows to it, and its rows win over built-in rows with the same (fhir_system, fhir_code).
// A file with any other name is a translation map: Translate() looks codings up in all of them
// (in file-name order), e.g. a trust's LOINC -> local lab code map.
//
// Thread-safety: immutable after loading; any number of threads may look up concurrently.
// Ownership: MapFhirToV2 borrows the tables through FhirToV2Options::tables.
class FhirToV2Tables {
 public:
  // The embedded built-in maps, parsed once on first use. A test checks they parse and match the
  // CSV files in the source tree.
  static const FhirToV2Tables& Builtin();

  // Built-in maps plus every *.csv in `local_dir`. Errors: kConfig when the folder cannot be read,
  // kInvalidValue (location "<file>:<line>") for a malformed CSV.
  static core::Result<FhirToV2Tables> Load(const std::filesystem::path& local_dir);

  // Adds (or overrides) the rows of one CSV under map `name`. kInvalidValue with location
  // "<name>:<line>" for a missing header, a wrong column count or an unterminated quote.
  core::Status AddCsv(std::string_view name, std::string_view csv);

  // The row for (fhir_system, fhir_code) in map `map`, or nullptr.
  const V2Code* Find(std::string_view map, std::string_view fhir_system,
                     std::string_view fhir_code) const;
  // The first translation-map row (maps not named like a built-in) for the coding, or nullptr.
  const V2Code* Translate(std::string_view fhir_system, std::string_view fhir_code) const;

  bool HasMap(std::string_view map) const { return maps_.find(map) != maps_.end(); }
  std::size_t RowCount(std::string_view map) const;

 private:
  using Rows = std::unordered_map<std::string, V2Code>;  // key: fhir_system '\x1f' fhir_code
  std::map<std::string, Rows, std::less<>> maps_;
};

namespace internal {

// One embedded CSV file: its map name (file stem) and text.
struct EmbeddedCsv {
  std::string_view name;
  std::string_view text;
};

// The built-in maps as embedded at build time (generated file fhir_to_v2_tables_data.cpp).
std::span<const EmbeddedCsv> FhirToV2EmbeddedCsvs();

// Splits CSV text into rows of fields (RFC 4180 quoting), skipping blank and '#' lines. Each row
// carries its 1-based line number. kInvalidValue at "<name>:<line>" for an unterminated quote.
struct CsvRow {
  std::size_t line = 0;
  std::vector<std::string> fields;
};
core::Result<std::vector<CsvRow>> ParseCsv(std::string_view name, std::string_view text);

}  // namespace internal

}  // namespace tb::mappings
