#include "mappings/code_map.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <utility>

#include "adapters/fhir/json_string.h"

namespace tb::mappings {

namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::array<std::string_view, 6> kHeader = {"v2_system",   "v2_code",   "v2_display",
                                                     "fhir_system", "fhir_code", "fhir_display"};

std::string LineLocation(std::size_t line) { return "line " + std::to_string(line); }

// The bytes WriteCoding (v2_to_fhir_datatypes.h) writes for the row's FHIR coding.
std::string CodingJson(const CodeMapRow& row) {
  std::string json = "{";
  const auto member = [&json](std::string_view quoted_key, std::string_view text) {
    if (!text.empty()) {
      if (json.size() > 1) {
        json.push_back(',');
      }
      json.append(quoted_key);
      fhir::AppendJsonString(json, text);
    }
  };
  member("\"system\":", row.fhir_system);
  member("\"code\":", row.fhir_code);
  member("\"display\":", row.fhir_display);
  json.push_back('}');
  return json;
}

}  // namespace

void CodeMap::Add(CodeMapRow row) {
  auto it = by_v2_.find(row.v2_code);
  if (it != by_v2_.end()) {
    for (std::size_t index : it->second) {
      if (rows_[index].v2_system == row.v2_system) {
        // Replace in place; re-index the FHIR side.
        auto& old_list = by_fhir_code_[rows_[index].fhir_code];
        std::erase(old_list, index);
        by_fhir_code_[row.fhir_code].push_back(index);
        coding_json_[index] = CodingJson(row);
        rows_[index] = std::move(row);
        return;
      }
    }
  }
  const std::size_t index = rows_.size();
  const bool new_code = it == by_v2_.end();
  by_v2_[row.v2_code].push_back(index);
  by_fhir_code_[row.fhir_code].push_back(index);
  coding_json_.push_back(CodingJson(row));
  rows_.push_back(std::move(row));
  if (new_code) {
    IndexFirstRow(index);
  }
}

std::uint64_t CodeMap::CodeHash(std::string_view code) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char c : code) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return hash;
}

void CodeMap::IndexFirstRow(std::size_t index) {
  if ((first_row_count_ + 1) * 2 > first_row_.size()) {
    // Rebuild at twice the size from the first row of every code (the rows' order is kept, so
    // "first" stays the lowest index).
    std::vector<FirstRowSlot> old = std::move(first_row_);
    first_row_.assign(std::max<std::size_t>(16, old.size() * 2), FirstRowSlot{});
    first_row_count_ = 0;
    for (const FirstRowSlot& slot : old) {
      if (slot.row != 0) {
        IndexFirstRow(slot.row - 1);
      }
    }
  }
  const std::uint64_t hash = CodeHash(rows_[index].v2_code);
  const std::size_t mask = first_row_.size() - 1;
  std::size_t at = static_cast<std::size_t>(hash) & mask;
  while (first_row_[at].row != 0) {
    at = (at + 1) & mask;
  }
  first_row_[at] =
      FirstRowSlot{static_cast<std::uint32_t>(hash >> 32), static_cast<std::uint32_t>(index + 1)};
  ++first_row_count_;
}

void CodeMap::Merge(const CodeMap& overlay) {
  for (const CodeMapRow& row : overlay.rows()) {
    Add(row);
  }
}

const CodeMapRow* CodeMap::FindV2(std::string_view v2_code) const {
  if (first_row_.empty()) {
    return nullptr;
  }
  const std::uint64_t hash = CodeHash(v2_code);
  const auto top = static_cast<std::uint32_t>(hash >> 32);
  const std::size_t mask = first_row_.size() - 1;
  for (std::size_t at = static_cast<std::size_t>(hash) & mask;; at = (at + 1) & mask) {
    const FirstRowSlot& slot = first_row_[at];
    if (slot.row == 0) {
      return nullptr;
    }
    if (slot.hash == top) {
      const CodeMapRow& row = rows_[slot.row - 1];
      if (row.v2_code == v2_code) {
        return &row;
      }
    }
  }
}

const CodeMapRow* CodeMap::FindV2(std::string_view v2_system, std::string_view v2_code) const {
  auto it = by_v2_.find(v2_code);
  if (it == by_v2_.end()) {
    return nullptr;
  }
  for (std::size_t index : it->second) {
    if (rows_[index].v2_system == v2_system) {
      return &rows_[index];
    }
  }
  return nullptr;
}

const CodeMapRow* CodeMap::FindFhir(std::string_view fhir_system,
                                    std::string_view fhir_code) const {
  auto it = by_fhir_code_.find(fhir_code);
  if (it == by_fhir_code_.end()) {
    return nullptr;
  }
  const CodeMapRow* best = nullptr;
  for (std::size_t index : it->second) {
    if (fhir_system.empty() || rows_[index].fhir_system == fhir_system) {
      if (best == nullptr || &rows_[index] < best) {
        best = &rows_[index];
      }
    }
  }
  return best;
}

core::Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = text.size();
  // A UTF-8 byte order mark is tolerated.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    i = 3;
  }
  while (i < n) {
    // At the start of a line.
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') {
        ++i;
      }
      ++i;
      ++line;
      continue;
    }
    if (text[i] == '#') {
      while (i < n && text[i] != '\n') {
        ++i;
      }
      continue;
    }
    const std::size_t row_line = line;
    std::vector<std::string> row;
    std::string field;
    bool row_done = false;
    while (!row_done) {
      field.clear();
      if (i < n && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') {
            ++line;
          }
          field.push_back(c);
          ++i;
        }
        if (!closed) {
          return MakeError(ErrorCode::kInvalidValue, "unterminated quoted CSV field",
                           LineLocation(row_line));
        }
        if (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
          return MakeError(ErrorCode::kInvalidValue, "text after a closing quote in CSV",
                           LineLocation(line));
        }
      } else {
        while (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
          field.push_back(text[i]);
          ++i;
        }
      }
      row.push_back(field);
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      // End of line or input.
      if (i < n && text[i] == '\r') {
        ++i;
      }
      if (i < n && text[i] == '\n') {
        ++i;
      }
      ++line;
      row_done = true;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

core::Result<CodeMap> ParseCodeMapCsv(std::string_view csv_text, std::string_view name) {
  auto prefix = [&](const core::Error& e) {
    return MakeError(e.code, e.message, std::string(name) + " " + e.location);
  };
  core::Result<std::vector<std::vector<std::string>>> parsed = ParseCsv(csv_text);
  if (!parsed) {
    return prefix(parsed.error());
  }
  const auto& rows = *parsed;
  if (rows.empty()) {
    return MakeError(ErrorCode::kInvalidValue, "code map has no header row", std::string(name));
  }
  const auto& header = rows.front();
  bool header_ok = header.size() == kHeader.size();
  for (std::size_t c = 0; header_ok && c < kHeader.size(); ++c) {
    header_ok = header[c] == kHeader[c];
  }
  if (!header_ok) {
    return MakeError(ErrorCode::kInvalidValue,
                     "code map header must be v2_system,v2_code,v2_display,fhir_system,fhir_code,"
                     "fhir_display",
                     std::string(name));
  }
  CodeMap map{std::string(name)};
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = std::string(name) + " row " + std::to_string(r);
    if (row.size() != kHeader.size()) {
      return MakeError(ErrorCode::kInvalidValue,
                       "code map row has " + std::to_string(row.size()) + " columns, not 6", where);
    }
    if (row[1].empty() || row[4].empty()) {
      return MakeError(ErrorCode::kInvalidValue, "code map row without v2_code or fhir_code",
                       where);
    }
    map.Add(CodeMapRow{row[0], row[1], row[2], row[3], row[4], row[5]});
  }
  return map;
}

core::Result<CodeMap> ReadCodeMapFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kConfig, "cannot read code map file", path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return MakeError(ErrorCode::kConfig, "cannot read code map file", path.string());
  }
  core::Result<CodeMap> map = ParseCodeMapCsv(text.str(), path.stem().string());
  if (!map) {
    core::Error error = std::move(map).error();
    error.code = ErrorCode::kConfig;
    error.location = path.string() + ": " + error.location;
    return error;
  }
  return map;
}

}  // namespace tb::mappings
