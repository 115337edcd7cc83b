#include "broker/app/fhir_api.h"

#include <chrono>
#include <utility>
#include <vector>

#include "adapters/fhir/capability_statement.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/core/log.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

// The clinical types a transfer team asks trusts for by patient; each is searched the same way.
constexpr std::string_view kPatientCompartmentTypes[] = {
    "AllergyIntolerance", "Condition",    "DiagnosticReport",  "DocumentReference",
    "Encounter",          "Immunization", "MedicationRequest", "MedicationStatement",
    "Observation",        "Procedure",    "ServiceRequest"};

core::HttpResponse JsonResponse(int status, std::string body) {
  core::HttpResponse response;
  response.status = status;
  response.headers.Set("Content-Type", std::string(kFhirJson));
  response.body = std::move(body);
  return response;
}

const core::Logger& Log() {
  static const core::Logger log("tb.fhir_api");
  return log;
}

bool IsSearchableType(std::string_view type) {
  if (type == "Patient") {
    return true;
  }
  for (std::string_view known : kPatientCompartmentTypes) {
    if (known == type) {
      return true;
    }
  }
  return false;
}

std::string BuildCapabilityStatement(const BrokerConfig& config) {
  fhir::CapabilitySpec spec;
  spec.software_name = "trustbridge";
  spec.software_version = "0.1.0";
  spec.implementation_description =
      "trustbridge federated FHIR broker " + config.broker_id + " (ODS " + config.broker_ods + ")";
  spec.date = "2026-11-23";
  spec.publisher = config.broker_name.empty() ? config.broker_id : config.broker_name;
  spec.security_description =
      "Mutual TLS (1.2 minimum, 1.3 preferred) is required on every connection. The client "
      "certificate's subject CN identifies the participant; unregistered certificates get 403.";
  const fhir::SearchParamSpec nhs_identifier{
      "identifier", "token", "http://hl7.org/fhir/SearchParameter/Patient-identifier",
      "https://fhir.nhs.uk/Id/nhs-number|<NHS number>: searched at every trust that holds the "
      "patient (record locator) and at peer brokers; each entry's meta.source names its trust"};
  fhir::ResourceSpec patient;
  patient.type = "Patient";
  patient.interactions = {"search-type"};
  patient.search_params = {nhs_identifier};
  patient.operations = {{"everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                         "By identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>: the whole "
                         "record from every trust, failures flagged as OperationOutcome entries"}};
  spec.resources.push_back(std::move(patient));
  for (std::string_view type : kPatientCompartmentTypes) {
    fhir::ResourceSpec resource;
    resource.type = std::string(type);
    resource.interactions = {"search-type"};
    resource.search_params = {
        {"patient", "reference", "",
         "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>, federated"}};
    spec.resources.push_back(std::move(resource));
  }
  auto statement = fhir::BuildCapabilityStatement(spec);
  // The spec is ours and fixed: failing here is a bug caught by the metadata tests.
  return statement ? fhir::ToJson(*statement) : fhir::ToOperationOutcomeJson(statement.error());
}

}  // namespace

FhirApi::FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory,
                 routing::FederatedQuery* federation, BlockingExecutor blocking)
    : config_(config),
      directory_(directory),
      federation_(federation),
      blocking_(std::move(blocking)),
      capability_statement_(BuildCapabilityStatement(config)) {}

core::HttpResponse FhirApi::RenderError(const core::Error& error) {
  return JsonResponse(fhir::HttpStatus(error), fhir::ToOperationOutcomeJson(error));
}

void FhirApi::Handle(core::HttpRequest request, net::Responder respond) const {
  // Identity comes from the verified certificate only.
  const routing::Participant* participant = directory_.FindByCertCn(request.peer.subject_cn);
  const routing::Peer* peer =
      participant == nullptr ? directory_.FindPeerByCertCn(request.peer.subject_cn) : nullptr;
  if (participant == nullptr && peer == nullptr) {
    Log().Warn("unknown_participant",
               {{"conn", "c" + std::to_string(request.connection_id)},
                {"peer_cn", request.peer.subject_cn},
                {"request_id", std::string(request.headers.Get("X-Request-ID"))}});
    respond(RenderError(MakeError(ErrorCode::kForbidden,
                                  "the client certificate does not identify a registered "
                                  "participant")));
    return;
  }
  std::string requester = participant != nullptr ? participant->ods : peer->id;

  const std::string_view path = request.Path();
  if (path == "/fhir/metadata") {
    if (request.method != "GET" && request.method != "HEAD") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "metadata is read-only")));
      return;
    }
    respond(JsonResponse(200, capability_statement_));
    return;
  }
  if (path.rfind("/fhir/", 0) != 0) {
    respond(RenderError(MakeError(ErrorCode::kNotFound, "the FHIR API is under /fhir")));
    return;
  }
  std::string_view rest = path.substr(6);
  if (rest == "Patient/$everything") {
    if (request.method != "GET" && request.method != "POST") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "use GET or POST")));
      return;
    }
    Federate(std::move(request), routing::FederatedKind::kEverything, "Patient",
             std::move(requester), std::move(respond));
    return;
  }
  const bool post_search = rest.ends_with("/_search");
  const std::string type(post_search ? rest.substr(0, rest.size() - 8) : rest);
  if (IsSearchableType(type)) {
    if (post_search ? request.method != "POST" : request.method != "GET") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed,
                                    post_search ? "_search takes POST" : "search takes GET")));
      return;
    }
    Federate(std::move(request), routing::FederatedKind::kSearch, type, std::move(requester),
             std::move(respond));
    return;
  }
  respond(RenderError(
      MakeError(ErrorCode::kNotFound, "no such endpoint; see /fhir/metadata for what is served")));
}

void FhirApi::Federate(core::HttpRequest request, routing::FederatedKind kind, std::string type,
                       std::string requester, net::Responder respond) const {
  if (federation_ == nullptr) {
    respond(RenderError(MakeError(ErrorCode::kUnsupportedMessage, "federation is not running")));
    return;
  }
  // Parameters from the query string and, for POST, the form body (NHS numbers belong there).
  auto params = fhir::ParseQueryString(request.Query());
  if (!params) {
    respond(RenderError(params.error()));
    return;
  }
  if (request.method == "POST" && !request.body.empty()) {
    auto form = fhir::ParseFormBody(request.body);
    if (!form) {
      respond(RenderError(form.error()));
      return;
    }
    params->insert(params->end(), form->begin(), form->end());
  }
  auto search = routing::ParseFederatedSearch(type, kind, *params);
  if (!search) {
    respond(RenderError(search.error()));
    return;
  }
  auto hops = routing::ParseHopHeaders(request.headers);
  if (!hops) {
    respond(RenderError(hops.error()));
    return;
  }
  search->requester_ods = requester;
  search->request_id = std::string(request.headers.Get(routing::kRequestIdHeader));
  search->purpose_of_use = std::string(request.headers.Get(routing::kPurposeOfUseHeader));
  search->break_glass_reason = std::string(request.headers.Get(routing::kBreakGlassReasonHeader));
  search->hops = hops->hops;
  search->visited = std::move(hops->visited);

  const auto started = std::chrono::steady_clock::now();
  blocking_([this, search = std::move(*search), requester = std::move(requester), started,
             respond = std::move(respond)]() mutable {
    const std::string type_logged =
        search.kind == routing::FederatedKind::kEverything ? "$everything" : search.resource_type;
    const std::string request_id = search.request_id;
    federation_->Run(std::move(search), [requester, type_logged, request_id, started,
                                         respond = std::move(respond)](
                                            core::Result<routing::FederatedResult> result) {
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - started)
                               .count();
      if (!result) {
        Log().Info("federated_query",
                   {{"requester", requester},
                    {"type", type_logged},
                    {"request_id", request_id},
                    {"outcome", std::string(core::Info(result.error().code).name)},
                    {"ms", std::to_string(elapsed)}});
        respond(RenderError(result.error()));
        return;
      }
      Log().Info("federated_query", {{"requester", requester},
                                     {"type", type_logged},
                                     {"request_id", request_id},
                                     {"targets", std::to_string(result->targets.size())},
                                     {"total", std::to_string(result->total)},
                                     {"partial", result->partial ? "true" : "false"},
                                     {"ms", std::to_string(elapsed)}});
      respond(JsonResponse(200, std::move(result->bundle_json)));
    });
  });
}

}  // namespace tb::app
