#pragma once

#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "tests/fuzz/fuzz_check.h"

namespace tb::fuzz {

// Pseudonymised data: no Identifier anywhere in `value` still carries an NHS number.
inline void CheckNoNhsNumberSystem(const rapidjson::Value& value) {
  constexpr std::string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";
  if (value.IsObject()) {
    const auto system = fhir::FindString(value, "system");
    Check(!system || *system != kNhsNumberSystem || !value.HasMember("value"));
    for (const auto& member : value.GetObject()) {
      CheckNoNhsNumberSystem(member.value);
    }
  } else if (value.IsArray()) {
    for (const rapidjson::Value& item : value.GetArray()) {
      CheckNoNhsNumberSystem(item);
    }
  }
}

}  // namespace tb::fuzz
