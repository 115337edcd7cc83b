// mappings_dump OUTDIR FILE... - the v2 -> FHIR output of every ER7 FILE under four option sets,
// and of 2,000 deterministic mutations of them, and the FHIR -> v2 output of every *.json FILE
// (ADT and automatic choice, fixed timestamp), written to OUTDIR so that two builds can be
// compared byte for byte (mappings/tools/compare_outputs.sh). A refactoring or optimisation of
// the mappers must leave every byte of these unchanged, errors included.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mappings/fhir_to_v2.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

namespace {

using tb::mappings::LocalTimeRule;
using tb::mappings::V2ToFhirOptions;

struct OptionSet {
  const char* name;
  V2ToFhirOptions options;
};

std::vector<OptionSet> OptionSets() {
  std::vector<OptionSet> sets(4);
  sets[0].name = "default";
  sets[1].name = "strict";
  sets[1].options.strict = true;
  sets[2].name = "utc-unmapped-off";
  sets[2].options.local_time = LocalTimeRule::kUtc;
  sets[2].options.keep_unmapped_segments = false;
  sets[3].name = "date-only";
  sets[3].options.local_time = LocalTimeRule::kDateOnly;
  return sets;
}

std::string ErrorText(const tb::core::Error& error) {
  return "ERROR " + std::to_string(static_cast<int>(error.code)) + " at " + error.location + ": " +
         error.message;
}

// FHIR -> v2 of one JSON file: as ADT, and as the mapper chooses (ORU for reports).
std::string FhirOutcome(const std::string& input) {
  std::string out;
  for (const auto kind :
       {tb::mappings::FhirToV2Message::kAdt, tb::mappings::FhirToV2Message::kAuto}) {
    tb::mappings::FhirToV2Options options;
    options.message = kind;
    options.timestamp = "20240101000000+0000";
    auto er7 = tb::mappings::MapFhirToV2(input, options);
    out += er7 ? *er7 : ErrorText(er7.error());
    out += "\n==\n";
  }
  return out;
}

// The output, or the error (code, location and message: they are part of the contract too).
std::string Outcome(const std::string& input, const tb::mappings::MappingTables& tables,
                    const V2ToFhirOptions& options) {
  auto json = tb::mappings::MapV2ToFhir(input, tables, options);
  if (json) {
    return std::move(*json);
  }
  return ErrorText(json.error());
}

// Edits that reach the mapper's corners: delimiters, escapes, truncation, repeated chunks.
std::string Mutate(std::string text, std::mt19937& rng) {
  static constexpr char kBytes[] = "|^~\\&\r\n\"#0123456789+-.XHNT ";
  const auto edits = 1 + rng() % 5;
  for (std::mt19937::result_type e = 0; e < edits && !text.empty(); ++e) {
    const std::size_t pos = rng() % text.size();
    switch (rng() % 5) {
      case 0:
        text[pos] = kBytes[rng() % (sizeof(kBytes) - 1)];
        break;
      case 1:
        text.insert(pos, rng() % 2 == 0 ? "\\X0D\\" : "\\.br\\");
        break;
      case 2:
        text.resize(std::max<std::size_t>(pos, 8));
        break;
      case 3:
        text.insert(pos,
                    text.substr(pos, std::min<std::size_t>(text.size() - pos, 1 + rng() % 48)));
        break;
      default:
        text.erase(pos, 1);
        break;
    }
  }
  return text;
}

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mappings_dump OUTDIR FILE...\n");
    return 2;
  }
  auto tables = tb::mappings::BuiltinMappingTables();
  if (!tables) {
    std::fprintf(stderr, "tables failed to load\n");
    return 1;
  }
  const std::filesystem::path out_dir = argv[1];
  std::filesystem::create_directories(out_dir);
  const std::vector<OptionSet> sets = OptionSets();
  std::vector<std::string> inputs;  // those that map: mutations of them reach the segment maps
  for (int i = 2; i < argc; ++i) {
    const std::string input = Read(argv[i]);
    std::string name = argv[i];
    const bool json = name.ends_with(".json");
    for (char& c : name) {
      if (c == '/') {
        c = '_';
      }
    }
    if (json) {
      std::ofstream(out_dir / (name + ".v2.out"), std::ios::binary) << FhirOutcome(input);
      continue;
    }
    for (const OptionSet& set : sets) {
      const std::string outcome = Outcome(input, **tables, set.options);
      std::ofstream(out_dir / (name + "." + set.name + ".out"), std::ios::binary) << outcome;
      if (&set == &sets.front() && !outcome.starts_with("ERROR")) {
        inputs.push_back(input);
      }
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no input maps\n");
    return 1;
  }
  std::mt19937 rng(20261123U);
  for (const OptionSet& set : sets) {
    std::ofstream out(out_dir / (std::string("mutations.") + set.name + ".out"), std::ios::binary);
    for (int i = 0; i < 500; ++i) {
      const std::string input = Mutate(inputs[rng() % inputs.size()], rng);
      out << "== case " << i << "\n" << Outcome(input, **tables, set.options) << "\n";
    }
  }
  std::printf("%d files x %zu option sets, 2000 mutations of the %zu that map -> %s\n", argc - 2,
              sets.size(), inputs.size(), out_dir.c_str());
  return 0;
}
