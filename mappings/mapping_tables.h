#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "mappings/code_map.h"

// The set of code maps the mapping engine uses: the tables shipped in mappings/tables/*.csv
// (embedded in the library at build time, so an installed binary needs no source tree), plus a
// trust's local CSV files loaded from a folder at start.
//
// Local files: a CSV whose name (stem) equals a shipped table's overrides and extends that table
// row by row (same v2_system + v2_code replaces). A CSV with any other name is a *local concept
// map*: its rows translate CE/CWE codings whose coding system (CWE-3) equals v2_system, e.g.
//   WINPATH,HB,Haemoglobin,http://loinc.org,718-7,Hemoglobin [Mass/volume] in Blood
// and the translation is added next to the original coding (which is always kept).
// Tables shipped under mappings/tables/fhir_to_v2/ are named "fhir_to_v2/<stem>".
//
// Thread-safety: immutable after loading; share one instance (const) between threads.
namespace tb::mappings {

// The system CodingSystemUri gives a v2 coding system it knows no URI for: this prefix and the
// name, percent-encoded (FHIR -> v2 takes the name back out for CWE-3).
inline constexpr std::string_view kBrokerCodingSystemPrefix = "urn:trustbridge:v2-coding-system:";

// Tables the v2 -> FHIR mapper looks up on every message, resolved once when loading.
enum class KnownTable : std::uint8_t {
  kAdministrativeGender,  // 0001-administrative-gender
  kMaritalStatus,         // 0002-marital-status
  kEventEncounterStatus,  // 0003-encounter-status
  kEncounterClass,        // 0004-encounter-class
  kAdmissionType,         // 0007-admission-type
  kDiagnosisRole,         // 0052-diagnosis-role
  kRelationship,          // 0063-relationship
  kInterpretation,        // 0078-interpretation
  kObservationStatus,     // 0085-observation-status
  kReportStatus,          // 0123-diagnostic-report-status
  kAllergyCategory,       // 0127-allergy-category
  kAllergyType,           // 0127-allergy-type
  kAllergyCriticality,    // 0128-allergy-criticality
  kReactionSeverity,      // 0128-reaction-severity
  kContactRole,           // 0131-contact-role
  kAddressUse,            // 0190-address-use
  kAddressType,           // 0190-address-type
  kNameUse,               // 0200-name-use
  kTelecomUse,            // 0201-telecom-use
  kTelecomSystem,         // 0202-telecom-system
  kIdentifierType,        // 0203-identifier-type
  kCodingSystem,          // 0396-coding-system
  kAssigningAuthority,    // assigning-authority
  kNhsNumberStatus,       // nhs-number-verification-status
  kOrderStatus,           // 0038-service-request-status
  kOrderControlStatus,    // 0119-service-request-status
  kCount
};

// The file stem of a known table ("0001-administrative-gender").
std::string_view KnownTableName(KnownTable table);

class MappingTables {
 public:
  MappingTables();
  MappingTables(const MappingTables& other);
  MappingTables& operator=(const MappingTables& other);
  MappingTables(MappingTables&&) noexcept;
  MappingTables& operator=(MappingTables&&) noexcept;
  ~MappingTables();

  // A table by name, or nullptr.
  const CodeMap* Find(std::string_view name) const;
  // A known table; an empty map if it is missing (never null).
  const CodeMap& Get(KnownTable table) const { return *known_[static_cast<std::size_t>(table)]; }
  // Every table, by name.
  const std::map<std::string, CodeMap, std::less<>>& tables() const { return tables_; }
  // The local concept maps (names not shipped), in name order.
  const std::vector<const CodeMap*>& local_concept_maps() const { return local_; }

  // Adds a table: merged into a table of the same name, else added (as a local concept map when
  // `shipped` is false).
  void Add(CodeMap map, bool shipped);

  // The FHIR system URI for a v2 coding system name (CWE-3): table 0396, then "HL7nnnn" ->
  // http://terminology.hl7.org/CodeSystem/v2-nnnn, a URI or OID as such, else
  // "urn:trustbridge:v2-coding-system:" + the name (percent-encoded). Empty for an empty name.
  std::string CodingSystemUri(std::string_view v2_name) const;
  // The same URI without building a string where it can: the 0396 row's URI, or, for "HL7nnnn"
  // (when 0396 has no row for it), `hl7_table_prefix` + the digits are the URI (empty view).
  // Returns true and sets `uri` for a 0396 row; returns false with `hl7_digits` set for an HL7
  // table name; false with `hl7_digits` empty when only CodingSystemUri knows.
  bool FindCodingSystemUri(std::string_view v2_name, std::string_view& uri,
                           std::string_view& hl7_digits) const;
  static constexpr std::string_view kHl7TableSystemPrefix =
      "http://terminology.hl7.org/CodeSystem/v2-";

  // A number no other state of any MappingTables in the process had: it changes with every change
  // to the tables (and on copy and move), so a cache keyed by it (the v2 -> FHIR mapper's
  // per-thread coding-system URIs) never answers for other tables.
  std::uint64_t generation() const { return generation_; }

  // The assigning-authority namespace ids (HD-1) this table maps to the NHS number system: what
  // hl7v2::ClaimedNhsNumber needs to read identifiers as the mapping writes them. The shipped
  // table's are hl7v2::DefaultNhsNumberNamespaces().
  const std::vector<std::string>& nhs_number_namespaces() const { return nhs_number_namespaces_; }

 private:
  void Resolve();

  std::map<std::string, CodeMap, std::less<>> tables_;
  std::vector<std::string> local_names_;
  std::vector<const CodeMap*> local_;
  std::array<const CodeMap*, static_cast<std::size_t>(KnownTable::kCount)> known_{};
  CodeMap empty_;
  std::vector<std::string> nhs_number_namespaces_;
  std::uint64_t generation_ = 0;
};

// The shipped tables only. Parsed once per process (the embedded text is compiled in); the
// reference lives until exit. A shipped table that does not parse is a build defect, reported as
// kInternal on every call.
core::Result<const MappingTables*> BuiltinMappingTables();

// The shipped tables plus every *.csv directly in `dir` (sorted by name, so loading is
// deterministic). Errors: kConfig when `dir` is not a readable folder or a file cannot be read or
// parsed (location: the file path and row).
core::Result<MappingTables> LoadMappingTables(const std::filesystem::path& dir);

}  // namespace tb::mappings
