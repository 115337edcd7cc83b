// Fuzzes the v2 -> FHIR mapping that every inbound ADT and ORU goes through (a sending trust's
// bytes, after the MLLP framer and the ER7 parser). The first byte chooses the options (strict,
// the local time rule, unmapped segments kept), so the input is the message itself.
//
// Checked, besides no crash or sanitizer report:
//  - a mapping that succeeds is a FHIR message Bundle that reads back as JSON, and mapping the
//    same bytes again gives the same text (the mapping is deterministic: ids are derived, never
//    drawn);
//  - every NHS number the Bundle's Patients carry is valid, and the routing key the broker reads
//    from the message (hl7v2::ExtractNhsNumber) is one of them: the edge, the routing and the
//    mapping read NHS numbers the one same way (hl7v2::ClaimedNhsNumber);
//  - every one of them is among the NHS numbers the delivery of the v2 message checks consents
//    for (hl7v2::PatientNhsNumbers): no record reaches a trust past its patient's consent;
//  - that Bundle, mapped back to v2 (what a v2 destination of the same message receives), gives
//    an ER7 message that parses, or a clean error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/nhs_number.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb;

using tb::fuzz::Check;

// The NHS numbers on the Bundle's Patients, each checked valid.
std::vector<std::string> NhsNumbersOfPatients(const rapidjson::Value& bundle) {
  std::vector<std::string> numbers;
  const rapidjson::Value* entries = fhir::FindArray(bundle, "entry");
  for (rapidjson::SizeType i = 0; entries != nullptr && i < entries->Size(); ++i) {
    const rapidjson::Value* resource = fhir::FindObject((*entries)[i], "resource");
    if (resource == nullptr || fhir::FindString(*resource, "resourceType") != "Patient") {
      continue;
    }
    const rapidjson::Value* identifiers = fhir::FindArray(*resource, "identifier");
    for (rapidjson::SizeType j = 0; identifiers != nullptr && j < identifiers->Size(); ++j) {
      if (fhir::FindString((*identifiers)[j], "system") == core::kNhsNumberSystem) {
        const std::string value(fhir::FindString((*identifiers)[j], "value").value_or(""));
        Check(core::IsValidNhsNumber(value));
        numbers.push_back(value);
      }
    }
  }
  return numbers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const mappings::MappingTables* tables = [] {
    auto builtin = mappings::BuiltinMappingTables();
    Check(builtin.has_value());
    return *builtin;
  }();
  if (size == 0 || size > 256 * 1024) {
    return 0;
  }
  const std::string_view er7(reinterpret_cast<const char*>(data), size);
  mappings::V2ToFhirOptions options;
  options.strict = (data[0] & 1u) != 0;
  options.keep_unmapped_segments = (data[0] & 2u) == 0;
  options.local_time =
      (data[0] & 4u) != 0 ? mappings::LocalTimeRule::kUtc : mappings::LocalTimeRule::kEuropeLondon;

  const core::Result<std::string> bundle = mappings::MapV2ToFhir(er7, *tables, options);
  if (!bundle) {
    return 0;
  }
  const core::Result<std::string> twice = mappings::MapV2ToFhir(er7, *tables, options);
  Check(twice.has_value() && *twice == *bundle);
  auto document = fhir::ParseJson(*bundle);
  Check(document.has_value());
  Check(fhir::FindString(*document, "resourceType") == "Bundle");
  Check(fhir::FindString(*document, "type") == "message");
  const std::vector<std::string> numbers = NhsNumbersOfPatients(*document);
  if (auto message = hl7v2::Message::Parse(std::string(er7))) {
    if (const std::optional<std::string> key = hl7v2::ExtractNhsNumber(*message)) {
      Check(std::find(numbers.begin(), numbers.end(), *key) != numbers.end());
    }
    const std::vector<std::string> checked =
        hl7v2::PatientNhsNumbers(*message, tables->nhs_number_namespaces());
    for (const std::string& number : numbers) {
      Check(std::find(checked.begin(), checked.end(), number) != checked.end());
    }
  }

  mappings::FhirToV2Options back;
  back.control_id = "FUZZ1";
  back.timestamp = "20261124000000+0000";
  const core::Result<std::string> v2 = mappings::MapFhirToV2(*document, back);
  if (v2) {
    Check(hl7v2::Message::Parse(*v2).has_value());
  }
  return 0;
}
