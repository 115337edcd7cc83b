// Fuzzes ParseJson with tight limits, checks that whatever it accepts serialises and parses back
// to the same text, and runs the search parameter parser over the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  tb::fhir::JsonLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_depth = 32;

  auto document = tb::fhir::ParseJson(text, limits);
  if (document.has_value()) {
    const std::string once = tb::fhir::ToJson(*document);
    tb::fhir::JsonLimits relaxed = limits;
    relaxed.max_bytes = once.size() + 1;
    auto again = tb::fhir::ParseJson(once, relaxed);
    // The writer produces nothing the reader does not read back.
    tb::fuzz::Check(again.has_value() && tb::fhir::ToJson(*again) == once);
    (void)tb::fhir::FindString(*document, "resourceType");
    (void)tb::fhir::GetArray(*document, "entry");
  } else {
    // Every rejection renders as valid OperationOutcome JSON.
    const std::string outcome = tb::fhir::ToOperationOutcomeJson(document.error());
    tb::fuzz::Check(tb::fhir::ParseJson(outcome).has_value());
  }

  auto params = tb::fhir::ParseQueryString(text);
  if (params.has_value()) {
    for (const auto& param : *params) {
      (void)tb::fhir::ParseToken(param.value);
      (void)tb::fhir::SplitValues(param.value);
      (void)tb::fhir::NhsNumberFromIdentifierToken(param.value);
    }
  }
  return 0;
}
