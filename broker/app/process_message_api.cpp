#include "broker/app/process_message_api.h"

#include <cctype>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/validate.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

// FHIR JSON: application/fhir+json, or application/json (which FHIR servers also accept),
// with any parameters (charset, fhirVersion).
bool IsFhirJson(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back())) != 0) {
    media.remove_suffix(1);
  }
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front())) != 0) {
    media.remove_prefix(1);
  }
  return core::EqualsIgnoreCase(media, "application/fhir+json") ||
         core::EqualsIgnoreCase(media, "application/json");
}

// The base URL the response names as its source: the Host the client addressed, which is how
// the client reaches this broker.
std::string BaseUrl(const core::HttpRequest& request, const std::string& broker_id) {
  const std::string_view host = core::UsableHost(request.headers);
  return host.empty() ? "urn:trustbridge:" + broker_id : "https://" + std::string(host) + "/fhir";
}

}  // namespace

ProcessMessageApi::ProcessMessageApi(const routing::ParticipantDirectory& directory,
                                     core::InboundStore& store, core::RecordLocator* locator,
                                     ledger::Ledger* ledger, const core::Clock& clock,
                                     BlockingExecutor blocking, ProcessMessageSettings settings,
                                     std::function<void()> on_stored)
    : clock_(clock),
      blocking_(std::move(blocking)),
      settings_(std::move(settings)),
      on_stored_(std::move(on_stored)),
      directory_(directory),
      store_(store),
      locator_(locator),
      ledger_(ledger) {}

routing::FhirMessageIngest* ProcessMessageApi::Ingest(core::Error& error) const {
  std::call_once(ingest_once_, [this] {
    routing::FhirMessageIngestSettings ingest;
    ingest.broker_ods = settings_.broker_ods;
    ingest.limits.max_bytes = settings_.max_body_bytes;
    if (settings_.validate) {
      auto validator = fhir::DefaultValidator();
      if (!validator) {
        ingest_error_ = MakeError(ErrorCode::kInternal, "the FHIR validator is not available");
        log_.Error("validator_unavailable",
                   {{"code", std::string(core::Info(validator.error().code).name)}});
        return;
      }
      ingest.validator = *validator;
    }
    ingest_ = std::make_unique<routing::FhirMessageIngest>(directory_, store_, locator_, clock_,
                                                           std::move(ingest), ledger_);
  });
  error = ingest_error_;
  return ingest_.get();
}

void ProcessMessageApi::Handle(core::HttpRequest request, net::Responder respond) const {
  if (request.method != "POST") {
    core::HttpResponse response = fhir::ErrorResponse(
        MakeError(ErrorCode::kMethodNotAllowed, "$process-message takes POST with a message"));
    response.headers.Set("Allow", "POST");
    respond(std::move(response));
    return;
  }
  if (!IsFhirJson(request.headers.Get("Content-Type"))) {
    respond(fhir::JsonResponse(
        415,
        fhir::ToOperationOutcomeJson(MakeError(
            ErrorCode::kInvalidValue, "the body must be application/fhir+json", "Content-Type"))));
    return;
  }
  if (request.body.size() > settings_.max_body_bytes) {
    respond(
        fhir::ErrorResponse(MakeError(ErrorCode::kTooLarge, "the message is larger than allowed")));
    return;
  }
  // Storage, locator and ledger block: the pool does the work, then answers.
  blocking_([this, request = std::move(request), respond = std::move(respond)]() mutable {
    core::Error unavailable;
    routing::FhirMessageIngest* ingest = Ingest(unavailable);
    if (ingest == nullptr) {
      respond(fhir::ErrorResponse(unavailable));  // fail closed: nothing unchecked is stored
      return;
    }
    const routing::FhirMessageIngestResult result =
        ingest->Ingest(request.body, request.peer, BaseUrl(request, settings_.broker_id));
    core::HttpResponse response = Answer(request, result);
    log_.Info(
        "fhir_message",
        {{"conn", "c" + std::to_string(request.connection_id)},
         {"request_id", std::string(request.headers.Get("X-Request-ID"))},
         {"sender", result.sender},
         {"cert_cn", request.peer.subject_cn},
         {"type", result.message_type},
         {"outcome", result.outcome},
         {"code", result.errors.empty() ? std::string()
                                        : std::string(core::Info(result.errors.front().code).name)},
         {"location", result.errors.empty() ? std::string() : result.errors.front().location},
         {"status", std::to_string(response.status)},
         {"message_id", std::to_string(result.message_id)},
         {"destinations", std::to_string(result.destinations.size())},
         {"bytes", std::to_string(request.body.size())}});
    // Only queued deliveries need the delivery worker (as for MLLP ingest).
    if (result.outcome == "stored" && !result.destinations.empty() && on_stored_) {
      on_stored_();
    }
    respond(std::move(response));
  });
}

core::HttpResponse ProcessMessageApi::Answer(const core::HttpRequest& request,
                                             const routing::FhirMessageIngestResult& result) const {
  const bool ok = result.accepted();
  int status = 200;
  std::vector<fhir::Issue> issues;
  if (ok) {
    // The code is a placeholder: an information issue gets issue.code "informational" below.
    const core::Error said =
        MakeError(ErrorCode::kInvalidValue,
                  result.outcome == "duplicate"
                      ? "message already received: acknowledged again, not routed again"
                      : "message stored: delivery to its destinations follows");
    issues.push_back(fhir::Issue{fhir::IssueSeverity::kInformation, said});
  } else {
    const std::vector<core::Error>& errors = result.errors;
    const core::Error fallback = MakeError(ErrorCode::kInternal, "the message was not accepted");
    status = fhir::HttpStatus(errors.empty() ? fallback : errors.front());
    if (errors.empty()) {
      issues.push_back(fhir::Issue{fhir::IssueSeverity::kError, fallback});
    }
    for (const core::Error& error : errors) {
      issues.push_back(fhir::Issue{fhir::IssueSeverity::kError, error});
    }
    if (!result.has_header()) {
      return fhir::JsonResponse(status, fhir::ToOperationOutcomeJson(issues));
    }
  }

  // The response message (FHIR messaging): a MessageHeader answering the request's, and the
  // OperationOutcome it points at for the details.
  const std::string base = BaseUrl(request, settings_.broker_id);
  const std::string header_id = ids_.Next();
  const std::string outcome_id = ids_.Next();
  rapidjson::Document header(rapidjson::kObjectType);
  auto& allocator = header.GetAllocator();
  header.AddMember("resourceType", "MessageHeader", allocator);
  header.AddMember("id", fhir::StringValue(header_id, allocator), allocator);
  if (!result.event_code.empty()) {
    rapidjson::Value coding(rapidjson::kObjectType);
    if (!result.event_system.empty()) {
      coding.AddMember("system", fhir::StringValue(result.event_system, allocator), allocator);
    }
    coding.AddMember("code", fhir::StringValue(result.event_code, allocator), allocator);
    header.AddMember("eventCoding", coding, allocator);
  } else {
    header.AddMember("eventUri", fhir::StringValue(result.event_uri, allocator), allocator);
  }
  rapidjson::Value source(rapidjson::kObjectType);
  source.AddMember("name", fhir::StringValue("trustbridge " + settings_.broker_id, allocator),
                   allocator);
  source.AddMember("endpoint", fhir::StringValue(base, allocator), allocator);
  header.AddMember("source", source, allocator);
  rapidjson::Value response(rapidjson::kObjectType);
  response.AddMember("identifier", fhir::StringValue(result.header_id, allocator), allocator);
  response.AddMember("code",
                     rapidjson::StringRef(ok              ? "ok"
                                          : status >= 500 ? "transient-error"
                                                          : "fatal-error"),
                     allocator);
  rapidjson::Value details(rapidjson::kObjectType);
  details.AddMember("reference", fhir::StringValue("OperationOutcome/" + outcome_id, allocator),
                    allocator);
  response.AddMember("details", details, allocator);
  header.AddMember("response", response, allocator);

  rapidjson::Document outcome_doc(rapidjson::kObjectType);
  rapidjson::Value outcome = fhir::MakeOperationOutcome(issues, outcome_doc.GetAllocator());
  if (ok && outcome.HasMember("issue") && outcome["issue"].IsArray()) {
    for (auto& issue : outcome["issue"].GetArray()) {
      if (issue.HasMember("code")) {
        issue["code"].SetString("informational", outcome_doc.GetAllocator());
      }
    }
  }
  outcome.AddMember("id", fhir::StringValue(outcome_id, outcome_doc.GetAllocator()),
                    outcome_doc.GetAllocator());

  fhir::BundleBuilder bundle(fhir::BundleType::kMessage);
  bundle.SetId(ids_.Next());
  bundle.SetTimestamp(core::FormatInstant(clock_.Now()));
  bundle.AddResource(header, base + "/MessageHeader/" + header_id);
  bundle.AddResource(outcome, base + "/OperationOutcome/" + outcome_id);
  return fhir::JsonResponse(status, bundle.BuildJson());
}

}  // namespace tb::app
