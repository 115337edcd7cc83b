#include "mappings/fhir_to_v2_tables.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace tb::mappings {

namespace {

constexpr std::array<std::string_view, 6> kHeader = {"v2_system",   "v2_code",   "v2_display",
                                                     "fhir_system", "fhir_code", "fhir_display"};

constexpr std::array<std::string_view, 15> kBuiltinNames = {fhir_to_v2_map::kRelationship,
                                                            fhir_to_v2_map::kGender,
                                                            fhir_to_v2_map::kMaritalStatus,
                                                            fhir_to_v2_map::kEncounterClass,
                                                            fhir_to_v2_map::kEncounterPriority,
                                                            fhir_to_v2_map::kInterpretation,
                                                            fhir_to_v2_map::kObservationStatus,
                                                            fhir_to_v2_map::kReportStatus,
                                                            fhir_to_v2_map::kNameUse,
                                                            fhir_to_v2_map::kAddressUse,
                                                            fhir_to_v2_map::kTelecomUse,
                                                            fhir_to_v2_map::kTelecomSystem,
                                                            fhir_to_v2_map::kCodingSystem,
                                                            fhir_to_v2_map::kIdentifierSystem,
                                                            fhir_to_v2_map::kNhsNumberVerification};

bool IsBuiltinName(std::string_view name) {
  return std::find(kBuiltinNames.begin(), kBuiltinNames.end(), name) != kBuiltinNames.end();
}

std::string Key(std::string_view system, std::string_view code) {
  std::string key;
  key.reserve(system.size() + code.size() + 1);
  key.append(system);
  key.push_back('\x1f');
  key.append(code);
  return key;
}

std::string Where(std::string_view name, std::size_t line) {
  return std::string(name) + ":" + std::to_string(line);
}

}  // namespace

namespace internal {

core::Result<std::vector<CsvRow>> ParseCsv(std::string_view name, std::string_view text) {
  std::vector<CsvRow> rows;
  std::size_t line = 1;
  std::size_t i = 0;
  // A UTF-8 byte order mark is tolerated (spreadsheets write one).
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    i = 3;
  }
  while (i < text.size()) {
    const std::size_t row_line = line;
    // Skip comment and blank lines.
    if (text[i] == '#' || text[i] == '\n' || text[i] == '\r') {
      const std::size_t end = text.find('\n', i);
      i = end == std::string_view::npos ? text.size() : end + 1;
      ++line;
      continue;
    }
    CsvRow row;
    row.line = row_line;
    std::string field;
    bool done = false;
    while (!done) {
      if (i < text.size() && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (text[i] == '\n') {
            ++line;
          }
          field.push_back(text[i]);
          ++i;
        }
        if (!closed) {
          return core::MakeError(core::ErrorCode::kInvalidValue, "unterminated quoted CSV field",
                                 Where(name, row_line));
        }
      }
      // Unquoted part (or what follows a closing quote, kept as data).
      while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        field.push_back(text[i]);
        ++i;
      }
      row.fields.push_back(std::move(field));
      field.clear();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      // End of row: "\r\n", "\n" or end of text.
      if (i < text.size() && text[i] == '\r') {
        ++i;
      }
      if (i < text.size() && text[i] == '\n') {
        ++i;
      }
      ++line;
      done = true;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace internal

const FhirToV2Tables& FhirToV2Tables::Builtin() {
  static const FhirToV2Tables* const kTables = [] {
    auto* tables = new FhirToV2Tables();
    for (const internal::EmbeddedCsv& csv : internal::FhirToV2EmbeddedCsvs()) {
      // The embedded files are checked by fhir_to_v2_tables_test; a bad row here is a build bug,
      // and the map is then simply missing that row.
      (void)tables->AddCsv(csv.name, csv.text);
    }
    return tables;
  }();
  return *kTables;
}

core::Result<FhirToV2Tables> FhirToV2Tables::Load(const std::filesystem::path& local_dir) {
  FhirToV2Tables tables = Builtin();
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(local_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() == ".csv") {
      files.push_back(it->path());
    }
  }
  if (ec) {
    return core::MakeError(core::ErrorCode::kConfig, "cannot read the local code map folder",
                           local_dir.string());
  }
  std::sort(files.begin(), files.end());
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return core::MakeError(core::ErrorCode::kConfig, "cannot read a local code map",
                             file.string());
    }
    std::ostringstream text;
    text << in.rdbuf();
    BROKER_RETURN_IF_ERROR(tables.AddCsv(file.stem().string(), text.str()));
  }
  return tables;
}

core::Status FhirToV2Tables::AddCsv(std::string_view name, std::string_view csv) {
  core::Result<std::vector<internal::CsvRow>> rows = internal::ParseCsv(name, csv);
  if (!rows) {
    return std::move(rows).error();
  }
  if (rows->empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "code map has no header row",
                           Where(name, 1));
  }
  const internal::CsvRow& header = rows->front();
  if (header.fields.size() != kHeader.size() ||
      !std::equal(kHeader.begin(), kHeader.end(), header.fields.begin())) {
    return core::MakeError(
        core::ErrorCode::kInvalidValue,
        "code map header must be v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display",
        Where(name, header.line));
  }
  Rows parsed;
  for (auto it = std::next(rows->begin()); it != rows->end(); ++it) {
    if (it->fields.size() != kHeader.size()) {
      return core::MakeError(core::ErrorCode::kInvalidValue, "code map row needs 6 columns",
                             Where(name, it->line));
    }
    if (it->fields[1].empty() || it->fields[4].empty()) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "code map row needs v2_code and fhir_code", Where(name, it->line));
    }
    // First row wins within one file (a reverse map lists the preferred v2 code first).
    parsed.try_emplace(Key(it->fields[3], it->fields[4]),
                       V2Code{it->fields[0], it->fields[1], it->fields[2]});
  }
  Rows& target = maps_[std::string(name)];
  for (auto& [key, code] : parsed) {
    target.insert_or_assign(key, std::move(code));
  }
  return core::Ok();
}

const V2Code* FhirToV2Tables::Find(std::string_view map, std::string_view fhir_system,
                                   std::string_view fhir_code) const {
  const auto found = maps_.find(map);
  if (found == maps_.end()) {
    return nullptr;
  }
  const auto row = found->second.find(Key(fhir_system, fhir_code));
  return row == found->second.end() ? nullptr : &row->second;
}

const V2Code* FhirToV2Tables::Translate(std::string_view fhir_system,
                                        std::string_view fhir_code) const {
  const std::string key = Key(fhir_system, fhir_code);
  for (const auto& [name, rows] : maps_) {
    if (IsBuiltinName(name)) {
      continue;
    }
    const auto row = rows.find(key);
    if (row != rows.end()) {
      return &row->second;
    }
  }
  return nullptr;
}

std::size_t FhirToV2Tables::RowCount(std::string_view map) const {
  const auto found = maps_.find(map);
  return found == maps_.end() ? 0 : found->second.size();
}

}  // namespace tb::mappings
