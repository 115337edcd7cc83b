#include "adapters/fhir/http_response.h"

#include <utility>

#include "adapters/fhir/operation_outcome.h"
#include "broker/core/log.h"

namespace tb::fhir {

core::HttpResponse JsonResponse(int status, std::string body) {
  core::HttpResponse response;
  response.status = status;
  response.headers.Set("Content-Type", std::string(kFhirJsonContentType));
  response.body = std::move(body);
  return response;
}

std::string_view PublicErrorText(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kStorage:
      return "the broker's storage is unavailable; try again later";
    case core::ErrorCode::kInternal:
    case core::ErrorCode::kConfig:
      return "internal error";
    default:
      return {};
  }
}

core::HttpResponse ErrorResponse(const core::Error& error) {
  const std::string_view public_text = PublicErrorText(error.code);
  if (public_text.empty()) {
    return JsonResponse(HttpStatus(error), ToOperationOutcomeJson(error));
  }
  // The message of a storage or internal error is for operators: libpq's, for one, names the
  // database host and user. It goes to the log; the client gets the code and a fixed text.
  static const core::Logger log("tb.fhir");
  log.Warn("error_detail_withheld", {{"code", std::string(core::Info(error.code).name)},
                                     {"location", error.location},
                                     {"detail", error.message}});
  core::Error withheld = core::MakeError(error.code, std::string(public_text));
  return JsonResponse(HttpStatus(error), ToOperationOutcomeJson(withheld));
}

}  // namespace tb::fhir
