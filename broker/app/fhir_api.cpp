#include "broker/app/fhir_api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/fhir/operation_outcome.h"
#include "broker/core/log.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

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

}  // namespace

FhirApi::FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory)
    : config_(config), directory_(directory), capability_statement_(BuildCapabilityStatement()) {}

core::HttpResponse FhirApi::RenderError(const core::Error& error) {
  return JsonResponse(fhir::HttpStatus(error), fhir::ToOperationOutcomeJson(error));
}

std::string FhirApi::BuildCapabilityStatement() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto field = [&w](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  field("resourceType", "CapabilityStatement");
  field("id", "trustbridge");
  field("status", "active");
  field("date", "2026-11-23");
  field("kind", "instance");
  field("publisher", config_.broker_name.empty() ? config_.broker_id : config_.broker_name);
  w.Key("software");
  w.StartObject();
  field("name", "trustbridge");
  field("version", "0.1.0");
  w.EndObject();
  w.Key("implementation");
  w.StartObject();
  field("description", "trustbridge federated FHIR broker " + config_.broker_id + " (ODS " +
                           config_.broker_ods + ")");
  w.EndObject();
  field("fhirVersion", "4.0.1");
  w.Key("format");
  w.StartArray();
  w.String("application/fhir+json");
  w.EndArray();
  w.Key("rest");
  w.StartArray();
  w.StartObject();
  field("mode", "server");
  w.Key("security");
  w.StartObject();
  w.Key("cors");
  w.Bool(false);
  w.Key("service");
  w.StartArray();
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  w.StartObject();
  field("system", "http://terminology.hl7.org/CodeSystem/restful-security-service");
  field("code", "Certificates");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndArray();
  field("description",
        "Mutual TLS (1.2 minimum, 1.3 preferred) is required on every connection. The client "
        "certificate's subject CN identifies the participant; unregistered certificates get "
        "403.");
  w.EndObject();
  // Resources and operations are listed here as the broker learns them; so far it serves only
  // this statement (FHIR forbids empty arrays, so none are written).
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

void FhirApi::Handle(core::HttpRequest request, net::Responder respond) const {
  // Identity comes from the verified certificate only.
  const routing::Participant* participant = directory_.FindByCertCn(request.peer.subject_cn);
  const routing::Peer* peer =
      participant == nullptr ? directory_.FindPeerByCertCn(request.peer.subject_cn) : nullptr;
  if (participant == nullptr && peer == nullptr) {
    Log().Warn("unknown_participant", {{"conn", "c" + std::to_string(request.connection_id)},
                                       {"peer_cn", request.peer.subject_cn},
                                       {"request_id", std::string(request.headers.Get("X-Request-ID"))}});
    respond(RenderError(MakeError(ErrorCode::kForbidden,
                                  "the client certificate does not identify a registered "
                                  "participant")));
    return;
  }

  const std::string_view path = request.Path();
  if (path == "/fhir/metadata") {
    if (request.method != "GET" && request.method != "HEAD") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "metadata is read-only")));
      return;
    }
    respond(JsonResponse(200, capability_statement_));
    return;
  }
  if (path.rfind("/fhir", 0) != 0) {
    respond(RenderError(MakeError(ErrorCode::kNotFound, "the FHIR API is under /fhir")));
    return;
  }
  respond(RenderError(
      MakeError(ErrorCode::kNotFound, "no such endpoint; see /fhir/metadata for what is served")));
}

}  // namespace tb::app
