#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

namespace tb::conformance {

// TestScript assert operators (R4 assert-operator-codes) applied to what was found (`actual`: the
// items of a FHIRPath result, a header value, a status code...; empty = nothing found) and the
// assert's value. `equals` (the default when `op` is empty) and `contains` hold when any item
// matches; `notEquals`/`notContains`/`notIn` when none does; `in`/`notIn` take a comma-separated
// list; `greaterThan`/`lessThan` compare the first item as numbers when both sides are numbers,
// else as text; `empty`/`notEmpty` ignore `expected`. `eval` is the caller's (it needs FHIRPath).
// Returns whether the assert holds; kInvalidValue for an unknown operator.
core::Result<bool> ApplyOperator(std::string_view op, const std::vector<std::string>& actual,
                                 std::string_view expected);

// "okay" -> 200, "created" -> 201, ... (assert-response-code-types); 0 when unknown.
int ResponseCodeFor(std::string_view response);

// The MIME type for an accept/contentType code: "json" -> application/fhir+json,
// "xml" -> application/fhir+xml, anything else as it is.
std::string MimeTypeFor(std::string_view code);

// The media type of a Content-Type value without parameters, lower-cased
// ("application/fhir+json; charset=utf-8" -> "application/fhir+json").
std::string MediaType(std::string_view content_type);

}  // namespace tb::conformance
