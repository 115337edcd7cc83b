#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/result.h"

// Code maps as data: one CSV file = one CodeMap from HL7 v2 codes to FHIR codings (and back).
// Shared by both directions of the mapping engine: v2 -> FHIR looks up FindV2, FHIR -> v2 looks up
// FindFhir on the same tables.
//
// CSV format (RFC 4180 quoting; lines starting with '#' and blank lines are ignored):
//   v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display
//   HL70001,F,Female,http://hl7.org/fhir/administrative-gender,female,Female
// The header row is required and names exactly these six columns in this order.
//
// Thread-safety: a CodeMap is a plain value; const access from any number of threads is safe.
// Errors never quote file content (codes can be local identifiers).
namespace tb::mappings {

// One row of a code map.
struct CodeMapRow {
  std::string v2_system;  // e.g. "HL70001"; for local maps, the CWE-3 coding system name
  std::string v2_code;
  std::string v2_display;
  std::string fhir_system;  // e.g. "http://hl7.org/fhir/administrative-gender"
  std::string fhir_code;
  std::string fhir_display;
};

class CodeMap {
 public:
  CodeMap() = default;
  explicit CodeMap(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  const std::vector<CodeMapRow>& rows() const { return rows_; }
  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }

  // Adds a row; a row with the same v2_system and v2_code as an existing one replaces it (so a
  // later, local file overrides a shipped one).
  void Add(CodeMapRow row);
  // Adds every row of `overlay` as above.
  void Merge(const CodeMap& overlay);

  // v2 -> FHIR: the row for `v2_code` (first match in any v2 system), or nullptr.
  const CodeMapRow* FindV2(std::string_view v2_code) const;
  // v2 -> FHIR restricted to one v2 system (exact match), or nullptr.
  const CodeMapRow* FindV2(std::string_view v2_system, std::string_view v2_code) const;
  // The FHIR Coding of `row` (a row of this map) as compact JSON, its strings escaped once when
  // the row was added: {"system":...,"code":...,"display":...} without the empty members, as
  // the v2 -> FHIR mapper writes a Coding.
  std::string_view FhirCodingJson(const CodeMapRow& row) const {
    return coding_json_[static_cast<std::size_t>(&row - rows_.data())];
  }
  // FHIR -> v2: the first row (in file order) with this FHIR system and code, or nullptr. An empty
  // `fhir_system` matches any system.
  const CodeMapRow* FindFhir(std::string_view fhir_system, std::string_view fhir_code) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // FindV2(code) is the v2 -> FHIR mapper's lookup (dozens per message): an open-addressing
  // index of v2_code -> its first row, probed with an inline hash, instead of the
  // std::unordered_map below (std::hash calls out, then walks a bucket list).
  struct FirstRowSlot {
    std::uint32_t hash = 0;  // the top half of the 64-bit hash
    std::uint32_t row = 0;   // index into rows_ + 1; 0 = empty slot
  };
  static std::uint64_t CodeHash(std::string_view code);
  void IndexFirstRow(std::size_t index);
  std::vector<FirstRowSlot> first_row_;  // a power of two, at most half full
  std::size_t first_row_count_ = 0;

  std::string name_;
  std::vector<CodeMapRow> rows_;
  std::vector<std::string> coding_json_;  // FhirCodingJson, by row
  // v2_code -> indexes into rows_ (usually one).
  std::unordered_map<std::string, std::vector<std::size_t>, Hash, std::equal_to<>> by_v2_;
  std::unordered_map<std::string, std::vector<std::size_t>, Hash, std::equal_to<>> by_fhir_code_;
};

// Generic CSV reader (RFC 4180: quoted fields, "" inside quotes, CRLF or LF line ends). Lines
// starting with '#' outside quotes and blank lines are skipped. kInvalidValue (location
// "line N") for an unterminated quote or text after a closing quote.
core::Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

// Parses one code map in the format above. `name` becomes CodeMap::name() and prefixes error
// locations ("0001-administrative-gender line 7"). kInvalidValue for a missing/wrong header, a
// row with a number of columns other than six, or a row without v2_code or fhir_code.
core::Result<CodeMap> ParseCodeMapCsv(std::string_view csv_text, std::string_view name);

// Reads `path` and parses it; the name is the file's stem. kConfig when the file cannot be read.
core::Result<CodeMap> ReadCodeMapFile(const std::filesystem::path& path);

}  // namespace tb::mappings
