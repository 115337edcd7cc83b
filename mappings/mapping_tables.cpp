#include "mappings/mapping_tables.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

#include "adapters/hl7v2/nhs_number_identifier.h"
#include "broker/core/nhs_number.h"
#include "mappings/embedded_tables.h"

namespace tb::mappings {

namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::array<std::string_view, static_cast<std::size_t>(KnownTable::kCount)> kKnownNames = {
    "0001-administrative-gender",
    "0002-marital-status",
    "0003-encounter-status",
    "0004-encounter-class",
    "0007-admission-type",
    "0052-diagnosis-role",
    "0063-relationship",
    "0078-interpretation",
    "0085-observation-status",
    "0123-diagnostic-report-status",
    "0127-allergy-category",
    "0127-allergy-type",
    "0128-allergy-criticality",
    "0128-reaction-severity",
    "0131-contact-role",
    "0190-address-use",
    "0190-address-type",
    "0200-name-use",
    "0201-telecom-use",
    "0202-telecom-system",
    "0203-identifier-type",
    "0396-coding-system",
    "assigning-authority",
    "nhs-number-verification-status",
    "0038-service-request-status",
    "0119-service-request-status",
};

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string_view KnownTableName(KnownTable table) {
  return kKnownNames[static_cast<std::size_t>(table)];
}

MappingTables::MappingTables() { Resolve(); }
MappingTables::MappingTables(const MappingTables& other)
    : tables_(other.tables_), local_names_(other.local_names_) {
  Resolve();
}
MappingTables& MappingTables::operator=(const MappingTables& other) {
  if (this != &other) {
    tables_ = other.tables_;
    local_names_ = other.local_names_;
    Resolve();
  }
  return *this;
}
MappingTables::MappingTables(MappingTables&& other) noexcept
    : tables_(std::move(other.tables_)), local_names_(std::move(other.local_names_)) {
  Resolve();
  other.Resolve();
}
MappingTables& MappingTables::operator=(MappingTables&& other) noexcept {
  if (this != &other) {
    tables_ = std::move(other.tables_);
    local_names_ = std::move(other.local_names_);
    Resolve();
    other.Resolve();
  }
  return *this;
}
MappingTables::~MappingTables() = default;

const CodeMap* MappingTables::Find(std::string_view name) const {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

void MappingTables::Add(CodeMap map, bool shipped) {
  auto it = tables_.find(map.name());
  if (it != tables_.end()) {
    it->second.Merge(map);
  } else {
    if (!shipped) {
      local_names_.push_back(map.name());
      std::sort(local_names_.begin(), local_names_.end());
    }
    std::string name = map.name();
    tables_.emplace(std::move(name), std::move(map));
  }
  Resolve();
}

void MappingTables::Resolve() {
  static std::atomic<std::uint64_t> next_generation{1};
  generation_ = next_generation.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < known_.size(); ++i) {
    const CodeMap* found = Find(kKnownNames[i]);
    known_[i] = found != nullptr ? found : &empty_;
  }
  local_.clear();
  for (const std::string& name : local_names_) {
    if (const CodeMap* found = Find(name)) {
      local_.push_back(found);
    }
  }
  // The namespace ids whose first row (the one FindV2 answers) maps to the NHS number system.
  nhs_number_namespaces_.clear();
  const CodeMap& authorities = Get(KnownTable::kAssigningAuthority);
  for (const CodeMapRow& row : authorities.rows()) {
    if (row.fhir_code == core::kNhsNumberSystem && authorities.FindV2(row.v2_code) == &row &&
        std::find(nhs_number_namespaces_.begin(), nhs_number_namespaces_.end(), row.v2_code) ==
            nhs_number_namespaces_.end()) {
      nhs_number_namespaces_.push_back(row.v2_code);
    }
  }
}

bool MappingTables::FindCodingSystemUri(std::string_view v2_name, std::string_view& uri,
                                        std::string_view& hl7_digits) const {
  hl7_digits = {};
  if (v2_name.empty()) {
    return false;
  }
  if (const CodeMapRow* row = Get(KnownTable::kCodingSystem).FindV2(v2_name)) {
    uri = row->fhir_code;
    return true;
  }
  // HL7nnnn (and HL7nnnnn for user-defined tables) -> terminology.hl7.org v2 code systems.
  if (v2_name.size() >= 7 && v2_name.size() <= 8 && v2_name.starts_with("HL7") &&
      std::all_of(v2_name.begin() + 3, v2_name.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    hl7_digits = v2_name.substr(3);
  }
  return false;
}

std::string MappingTables::CodingSystemUri(std::string_view v2_name) const {
  if (v2_name.empty()) {
    return {};
  }
  std::string_view table_uri;
  std::string_view hl7_digits;
  if (FindCodingSystemUri(v2_name, table_uri, hl7_digits)) {
    return std::string(table_uri);
  }
  if (!hl7_digits.empty()) {
    return std::string(kHl7TableSystemPrefix) + std::string(hl7_digits);
  }
  if (hl7v2::LooksLikeUri(v2_name)) {
    return std::string(v2_name);
  }
  if (hl7v2::LooksLikeOid(v2_name)) {
    return "urn:oid:" + std::string(v2_name);
  }
  std::string uri(kBrokerCodingSystemPrefix);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : v2_name) {
    if (IsUnreserved(c)) {
      uri.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      uri.push_back('%');
      uri.push_back(kHex[byte >> 4]);
      uri.push_back(kHex[byte & 0x0F]);
    }
  }
  return uri;
}

core::Result<const MappingTables*> BuiltinMappingTables() {
  static std::once_flag once;
  static MappingTables* tables = nullptr;
  static core::Error* error = nullptr;
  std::call_once(once, [] {
    auto built = std::make_unique<MappingTables>();
    for (std::size_t i = 0; i < internal::kEmbeddedTableCount; ++i) {
      const internal::EmbeddedTable& embedded = internal::kEmbeddedTables[i];
      core::Result<CodeMap> map = ParseCodeMapCsv(embedded.csv, embedded.name);
      if (!map) {
        error = new core::Error(std::move(map).error());  // lives until exit
        error->code = ErrorCode::kInternal;
        return;
      }
      built->Add(std::move(*map), /*shipped=*/true);
    }
    tables = built.release();  // lives until exit
  });
  if (tables == nullptr) {
    return *error;
  }
  return static_cast<const MappingTables*>(tables);
}

core::Result<MappingTables> LoadMappingTables(const std::filesystem::path& dir) {
  core::Result<const MappingTables*> builtin = BuiltinMappingTables();
  if (!builtin) {
    return builtin.error();
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return MakeError(ErrorCode::kConfig, "mapping tables folder does not exist", dir.string());
  }
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() == ".csv" && it->is_regular_file(ec)) {
      files.push_back(path);
    }
  }
  if (ec) {
    return MakeError(ErrorCode::kConfig, "cannot list mapping tables folder", dir.string());
  }
  std::sort(files.begin(), files.end());
  MappingTables tables = **builtin;
  for (const auto& path : files) {
    core::Result<CodeMap> map = ReadCodeMapFile(path);
    if (!map) {
      return map.error();
    }
    tables.Add(std::move(*map), /*shipped=*/false);
  }
  return tables;
}

}  // namespace tb::mappings
