// Micro benchmarks for broker/policy: the checks that run on every request and on every resource
// of every response. Data is built in code (a lab Observation, a patient with a few consents).
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "adapters/fhir/json.h"
#include "broker/policy/consent.h"
#include "broker/policy/filter.h"
#include "broker/policy/pseudonymise.h"
#include "broker/policy/scope.h"

namespace {

using tb::policy::AccessRequest;
using tb::policy::Consent;
using tb::policy::Interaction;
using tb::policy::ScopeSet;

const char* const kObservation = R"({"resourceType": "Observation", "id": "lab1",
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
  "subject": {"reference": "Patient/p1"},
  "valueQuantity": {"value": 5.4, "unit": "mmol/L"}})";

ScopeSet Scopes() {
  return ScopeSet::Parse({"system/Patient.r", "system/Encounter.rs", "system/Condition.rs",
                          "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
                          "observation-category|laboratory"})
      .value();
}

std::vector<Consent> Consents() {
  const std::string envelope = R"({"resourceType": "Consent", "id": "ID", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": "9434765919"}}, "provision": PROVISION})";
  const std::vector<std::string> provisions = {
      R"({"type": "deny", "purpose": [{"system":
          "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]})",
      R"({"type": "deny", "securityLabel": [{"system":
          "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})",
      R"({"type": "deny", "actor": [{"role": {"text": "r"}, "reference": {"identifier": {"system":
          "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RGT"}}}], "provision": [
          {"type": "permit", "class": [{"system": "http://hl7.org/fhir/resource-types",
                                        "code": "Observation"}]}]})"};
  std::vector<Consent> consents;
  for (std::size_t i = 0; i < provisions.size(); ++i) {
    std::string json = envelope;
    json.replace(json.find("ID"), 2, "c" + std::to_string(i));
    json.replace(json.find("PROVISION"), 9, provisions[i]);
    consents.push_back(tb::policy::ParseConsentJson(json).value());
  }
  return consents;
}

void BM_ParseScope(benchmark::State& state) {
  for (auto _ : state) {
    auto scope = tb::policy::ParseScope(
        "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
        "observation-category|laboratory");
    benchmark::DoNotOptimize(scope);
  }
}
BENCHMARK(BM_ParseScope);

void BM_ScopeAllowsRequest(benchmark::State& state) {
  const ScopeSet scopes = Scopes();
  for (auto _ : state) {
    benchmark::DoNotOptimize(scopes.Allows(Interaction::kSearch, "Observation"));
  }
}
BENCHMARK(BM_ScopeAllowsRequest);

void BM_ScopeAllowsResource(benchmark::State& state) {
  const ScopeSet scopes = Scopes();
  const rapidjson::Document resource = tb::fhir::ParseJson(kObservation).value();
  for (auto _ : state) {
    benchmark::DoNotOptimize(scopes.AllowsResource(resource));
  }
}
BENCHMARK(BM_ScopeAllowsResource);

void BM_ConsentEvaluate(benchmark::State& state) {
  const std::vector<Consent> consents = Consents();
  AccessRequest request;
  request.requester_ods = "RGT";
  request.resource_type = "Observation";
  request.codes = std::vector<tb::policy::Coding>{{"http://loinc.org", "2345-7"}};
  request.security_labels = std::vector<tb::policy::Coding>{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(tb::policy::Evaluate(consents, request));
  }
}
BENCHMARK(BM_ConsentEvaluate);

// Scope + labels + consent for one resource, as the response filter does it.
void BM_CheckResource(benchmark::State& state) {
  const std::vector<Consent> consents = Consents();
  const rapidjson::Document resource = tb::fhir::ParseJson(kObservation).value();
  const tb::policy::SensitivityTable table =
      tb::policy::SensitivityTable::ParseCsv("http://loinc.org,75622-1,HIV\n").value();
  tb::policy::RequestContext context;
  context.requester_ods = "RGT";
  context.scopes = Scopes();
  const tb::policy::ReleasePolicy policy{&context, &consents, &table, {}, false, {}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(tb::policy::CheckResource(resource, policy));
  }
}
BENCHMARK(BM_CheckResource);

void BM_Pseudonymise(benchmark::State& state) {
  const auto pseudonymiser =
      tb::policy::Pseudonymiser::Create("0123456789abcdef0123456789abcdef").value();
  const std::string patient = R"({"resourceType": "Patient", "id": "p1",
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    "name": [{"family": "Smith", "given": ["Ann"]}], "birthDate": "1980-05-12",
    "address": [{"line": ["1 Acacia Avenue"], "postalCode": "LS1 1AA"}]})";
  for (auto _ : state) {
    state.PauseTiming();
    rapidjson::Document document = tb::fhir::ParseJson(patient).value();
    state.ResumeTiming();
    benchmark::DoNotOptimize(
        tb::policy::Pseudonymise(document, document.GetAllocator(), pseudonymiser));
  }
}
BENCHMARK(BM_Pseudonymise);

}  // namespace

BENCHMARK_MAIN();
