// Throughput of the v2 -> FHIR mapping. Target: ADT^A01 -> Bundle JSON at 100,000 messages per
// second or more on one core (Release build, taskset -c 1); ORU^R01 with 10 OBX reported beside.
// Each iteration parses the ER7 text, maps it and serialises the Bundle, as the broker does.
#include <fstream>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

namespace {

std::string ReadData(const char* name) {
  std::ifstream in(std::string(TB_MAPPINGS_BENCH_DATA) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void MapBench(benchmark::State& state, const std::string& input) {
  auto tables = tb::mappings::BuiltinMappingTables();
  if (!tables) {
    state.SkipWithError("tables failed to load");
    return;
  }
  std::size_t out_bytes = 0;
  for (auto _ : state) {
    auto json = tb::mappings::MapV2ToFhir(input, **tables);
    if (!json) {
      state.SkipWithError("mapping failed");
      break;
    }
    out_bytes = json->size();
    benchmark::DoNotOptimize(json->data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
  state.counters["bundle_bytes"] = static_cast<double>(out_bytes);
}

void BM_AdtA01ToBundleJson(benchmark::State& state) {
  static const std::string input = ReadData("adt_a01.hl7");
  MapBench(state, input);
}
BENCHMARK(BM_AdtA01ToBundleJson);

void BM_OruR01With10ObxToBundleJson(benchmark::State& state) {
  static const std::string input = ReadData("oru_r01_10obx.hl7");
  MapBench(state, input);
}
BENCHMARK(BM_OruR01With10ObxToBundleJson);

// Reference floor: only serialising an already-built Bundle DOM of the ADT^A01's size with
// RapidJSON's Writer (no parsing, no mapping). Shows how much of the mapping cost is JSON output.
void BM_SerialiseAdtBundleDomOnly(benchmark::State& state) {
  auto tables = tb::mappings::BuiltinMappingTables();
  auto json = tb::mappings::MapV2ToFhir(ReadData("adt_a01.hl7"), **tables);
  if (!json) {
    state.SkipWithError("mapping failed");
    return;
  }
  rapidjson::Document doc;
  doc.Parse(json->data(), json->size());
  for (auto _ : state) {
    rapidjson::StringBuffer buffer(nullptr, 16 * 1024);
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    doc.Accept(writer);
    benchmark::DoNotOptimize(buffer.GetString());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SerialiseAdtBundleDomOnly);

}  // namespace

BENCHMARK_MAIN();
