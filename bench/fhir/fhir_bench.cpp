// Micro benchmarks for adapters/fhir. data/patient.json is shared/perf-kit/patient.json
// (a 1.5 kB UK Core Patient); the Bundle is 50 copies of it built with BundleBuilder.
#include <fstream>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/validate.h"

namespace {

std::string ReadPatient() {
  std::ifstream file(std::string(TB_FHIR_BENCH_DATA) + "/patient.json", std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const std::string& PatientJson() {
  static const std::string text = ReadPatient();
  return text;
}

rapidjson::Document BuildBundle(const rapidjson::Value& patient, int entries) {
  tb::fhir::BundleBuilder builder(tb::fhir::BundleType::kSearchset);
  builder.SetTotal(static_cast<std::uint64_t>(entries));
  for (int i = 0; i < entries; ++i) {
    builder.AddResource(patient, "https://trust.example.nhs.uk/fhir/Patient/" + std::to_string(i));
  }
  return builder.Build();
}

const std::string& BundleJson() {
  static const std::string text = [] {
    auto patient = tb::fhir::ParseJson(PatientJson());
    return tb::fhir::ToJson(BuildBundle(*patient, 50));
  }();
  return text;
}

void BM_ParsePatient(benchmark::State& state) {
  const std::string& text = PatientJson();
  for (auto _ : state) {
    auto document = tb::fhir::ParseJson(text);
    benchmark::DoNotOptimize(document);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_ParsePatient);

void BM_SerializePatient(benchmark::State& state) {
  auto document = tb::fhir::ParseJson(PatientJson());
  for (auto _ : state) {
    std::string text = tb::fhir::ToJson(*document);
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(PatientJson().size()));
}
BENCHMARK(BM_SerializePatient);

void BM_ParseBundle50(benchmark::State& state) {
  const std::string& text = BundleJson();
  for (auto _ : state) {
    auto document = tb::fhir::ParseJson(text);
    benchmark::DoNotOptimize(document);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_ParseBundle50);

void BM_SerializeBundle50(benchmark::State& state) {
  auto document = tb::fhir::ParseJson(BundleJson());
  for (auto _ : state) {
    std::string text = tb::fhir::ToJson(*document);
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(BundleJson().size()));
}
BENCHMARK(BM_SerializeBundle50);

void BM_BuildBundle50(benchmark::State& state) {
  auto patient = tb::fhir::ParseJson(PatientJson());
  for (auto _ : state) {
    rapidjson::Document bundle = BuildBundle(*patient, 50);
    benchmark::DoNotOptimize(bundle);
  }
}
BENCHMARK(BM_BuildBundle50);

void BM_ValidatePatient(benchmark::State& state) {
  auto validator = tb::fhir::DefaultValidator();
  if (!validator.has_value()) {
    state.SkipWithError("schema did not load");
    return;
  }
  auto document = tb::fhir::ParseJson(PatientJson());
  for (auto _ : state) {
    auto errors = (*validator)->Validate(*document);
    benchmark::DoNotOptimize(errors);
  }
}
BENCHMARK(BM_ValidatePatient);

void BM_ValidateBundle50(benchmark::State& state) {
  auto validator = tb::fhir::DefaultValidator();
  if (!validator.has_value()) {
    state.SkipWithError("schema did not load");
    return;
  }
  auto document = tb::fhir::ParseJson(BundleJson());
  for (auto _ : state) {
    auto errors = (*validator)->Validate(*document);
    benchmark::DoNotOptimize(errors);
  }
}
BENCHMARK(BM_ValidateBundle50);

void BM_LoadSchema(benchmark::State& state) {
  for (auto _ : state) {
    auto validator = tb::fhir::Validator::Load(std::string(tb::fhir::DefaultSchemaPath()));
    benchmark::DoNotOptimize(validator);
  }
}
BENCHMARK(BM_LoadSchema)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
