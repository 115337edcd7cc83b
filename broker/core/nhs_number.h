#pragma once

#include <string_view>

namespace tb::core {

inline constexpr std::string_view kNhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number";
inline constexpr std::string_view kOdsCodeSystem = "https://fhir.nhs.uk/Id/ods-organization-code";

// True when `text` is exactly 10 ASCII digits whose tenth is the Modulus 11 check digit of the
// first nine (NHS Data Dictionary). A computed check of 10 makes the number invalid.
bool IsValidNhsNumber(std::string_view text);

}  // namespace tb::core
