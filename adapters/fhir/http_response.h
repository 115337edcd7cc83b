#pragma once

#include <string>
#include <string_view>

#include "broker/core/error.h"
#include "broker/core/http_types.h"

namespace tb::fhir {

// The media type every FHIR JSON answer carries.
inline constexpr std::string_view kFhirJsonContentType = "application/fhir+json; charset=utf-8";

// A FHIR JSON answer: `body` (a resource) with `status`.
core::HttpResponse JsonResponse(int status, std::string body);

// `error` as an OperationOutcome with the HTTP status its code maps to (HttpStatus).
core::HttpResponse ErrorResponse(const core::Error& error);

}  // namespace tb::fhir
