#pragma once

#include <cstddef>
#include <string_view>

// The CSV files of mappings/tables, compiled into the library by mappings/CMakeLists.txt
// (generated embedded_tables.cpp in the build tree). Internal to tb::mappings.
namespace tb::mappings::internal {

struct EmbeddedTable {
  std::string_view name;  // file stem; "fhir_to_v2/<stem>" for the FHIR -> v2 folder
  std::string_view csv;
};

extern const EmbeddedTable kEmbeddedTables[];
extern const std::size_t kEmbeddedTableCount;

}  // namespace tb::mappings::internal
