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

// `error` as an OperationOutcome with the HTTP status its code maps to (HttpStatus). For
// kStorage, kInternal and kConfig the client gets PublicErrorText instead of error.message (and
// no location): their messages name hosts, users and paths. The detail is logged (warn,
// tb.fhir, "error_detail_withheld").
core::HttpResponse ErrorResponse(const core::Error& error);
// The fixed text clients get for an error of this code, or "" when error.message is shown.
std::string_view PublicErrorText(core::ErrorCode code);

}  // namespace tb::fhir
