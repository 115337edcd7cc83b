#include "adapters/fhir/http_response.h"

#include <utility>

#include "adapters/fhir/operation_outcome.h"

namespace tb::fhir {

core::HttpResponse JsonResponse(int status, std::string body) {
  core::HttpResponse response;
  response.status = status;
  response.headers.Set("Content-Type", std::string(kFhirJsonContentType));
  response.body = std::move(body);
  return response;
}

core::HttpResponse ErrorResponse(const core::Error& error) {
  return JsonResponse(HttpStatus(error), ToOperationOutcomeJson(error));
}

}  // namespace tb::fhir
