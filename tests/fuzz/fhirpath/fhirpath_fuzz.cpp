// Fuzzes FHIRPath: the conformance runner compiles the expressions of TestScripts that testers
// write and evaluates them against what a server under test answers. The input is an expression,
// evaluated against the FHIR example Patient (the resource of most official test cases) as
// context and %resource, with a %answer variable.
//
// Checked, besides no crash, sanitizer report or hang: Compile either fails or gives an expression
// whose evaluation (and the singleton-boolean rule) fails or succeeds as a value; nothing throws.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/fhirpath/fhirpath.h"
#include "adapters/fhir/json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb;
using tb::fuzz::Check;

const rapidjson::Document& Patient() {
  static const rapidjson::Document patient = [] {
    std::ifstream in(TB_FHIRPATH_CONTEXT_FILE, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = fhir::ParseJson(text);
    Check(parsed.has_value());
    return std::move(*parsed);
  }();
  return patient;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const rapidjson::Document& patient = Patient();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto expression = fhirpath::Expression::Compile(text);
  if (!expression) {
    Check(!expression.error().message.empty());
    return 0;
  }
  fhirpath::Environment environment;
  environment.variables.emplace("answer", fhirpath::Evaluate("name.given", patient).value());
  (void)fhirpath::Evaluate(*expression, patient, environment);
  (void)fhirpath::EvaluateBoolean(*expression, patient, environment);
  return 0;
}
