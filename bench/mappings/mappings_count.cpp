// Maps one ER7 file N times (parse + map + Bundle JSON, as the benchmark does) and prints the
// Bundle size. For instruction counts, which the machine's load does not change:
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null mappings_count FILE 100   (and 200)
// instructions per message = (Ir at 200 - Ir at 100) / 100 (the difference drops the start-up).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: mappings_count FILE COUNT\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string input = text.str();
  auto tables = tb::mappings::BuiltinMappingTables();
  if (!tables) {
    std::fprintf(stderr, "tables failed to load\n");
    return 1;
  }
  const long count = std::strtol(argv[2], nullptr, 10);
  std::size_t bytes = 0;
  for (long i = 0; i < count; ++i) {
    auto json = tb::mappings::MapV2ToFhir(input, **tables);
    if (!json) {
      std::fprintf(stderr, "mapping failed: %s\n", json.error().message.c_str());
      return 1;
    }
    bytes = json->size();
  }
  std::printf("%zu bytes per Bundle\n", bytes);
  return 0;
}
