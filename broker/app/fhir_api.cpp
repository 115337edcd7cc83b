#include "broker/app/fhir_api.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/capability_statement.h"
#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/app/access_record.h"
#include "broker/app/ledger_search_api.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/no_wait_reads.h"
#include "broker/core/whole_number.h"
#include "broker/policy/filter.h"
#include "broker/policy/scope.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

// The clinical types a transfer team asks trusts for by patient; each is searched the same way.
constexpr std::string_view kPatientCompartmentTypes[] = {
    "AllergyIntolerance", "Condition",    "DiagnosticReport",  "DocumentReference",
    "Encounter",          "Immunization", "MedicationRequest", "MedicationStatement",
    "Observation",        "Procedure",    "ServiceRequest"};

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
                         "record from every trust, failures flagged as OperationOutcome entries"},
                        {"journey", "https://trustbridge.nhs.uk/fhir/OperationDefinition/journey",
                         "By identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>: the "
                         "patient's data journey, Provenance and AuditEvent from the audit ledger "
                         "(needs search on both), oldest first, paged: _count records a page "
                         "(default 500, at most 1000), next link with _cursor"}};
  spec.resources.push_back(std::move(patient));
  fhir::ResourceSpec consent;
  consent.type = "Consent";
  consent.interactions = {"read", "create", "update", "search-type"};
  consent.search_params = {{"patient", "reference", "",
                            "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>"}};
  consent.documentation =
      "Patient privacy consents (deny/permit by actor, purpose, class, security label, period); "
      "they apply from the next request, at every hop";
  spec.resources.push_back(std::move(consent));
  for (fhir::ResourceSpec& audit : LedgerSearchApi::CapabilityResources()) {
    spec.resources.push_back(std::move(audit));
  }
  for (std::string_view type : kPatientCompartmentTypes) {
    fhir::ResourceSpec resource;
    resource.type = std::string(type);
    resource.interactions = {"search-type"};
    resource.search_params = {
        {"patient", "reference", "",
         "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>, federated"}};
    spec.resources.push_back(std::move(resource));
  }
  spec.system_operations.push_back(
      {"process-message", "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
       "Publish a FHIR message Bundle (synchronous messaging): stored, then routed by "
       "MessageHeader.destination or to the trusts holding the patient; answered after commit"});
  auto statement = fhir::BuildCapabilityStatement(spec);
  // The spec is ours and fixed: failing here is a bug caught by the metadata tests.
  return statement ? fhir::ToJson(*statement) : fhir::ToOperationOutcomeJson(statement.error());
}

// Records `hops` in order without blocking a thread (Ledger::AppendAllAsync: queued together, so
// group commit puts them, and other requests' records, in one transaction) and calls `then` once:
// Ok when every record is durable, else the failure (logged). `then` runs on the ledger's
// committer thread (at once without a ledger), so it only hands a ready response to the server.
void RecordHops(ledger::Ledger* ledger, const std::vector<ledger::HopRecord>& hops,
                std::function<void(core::Status)> then) {
  if (ledger == nullptr || hops.empty()) {
    then(core::Ok());
    return;
  }
  ledger->AppendAllAsync(hops, [request_id = hops.front().request_id, records = hops.size(),
                                then = std::move(then)](core::Status recorded) {
    if (!recorded) {
      Log().Error("ledger_append_failed",
                  {{"request_id", request_id},
                   {"records", std::to_string(records)},
                   {"code", std::string(core::Info(recorded.error().code).name)}});
    }
    then(std::move(recorded));
  });
}

// Answers a request that released data once its audit records are durable: a disclosure is
// never left unrecorded. If they cannot be written, 503 and nothing is released.
void RespondWhenRecorded(ledger::Ledger* ledger, const std::vector<ledger::HopRecord>& hops,
                         core::HttpResponse response, net::Responder respond) {
  RecordHops(ledger, hops,
             [response = std::move(response),
              respond = std::move(respond)](core::Status recorded) mutable {
               if (!recorded) {
                 respond(FhirApi::RenderError(
                     MakeError(ErrorCode::kStorage,
                               "the audit record of this answer could not be written, so "
                               "nothing was released; try again later")));
                 return;
               }
               respond(std::move(response));
             });
}

// Answers a refusal (or an answer that holds no data) after its audit record is written; it
// goes out even when that fails (the failure is logged), since it discloses nothing.
void RespondAfterRecording(ledger::Ledger* ledger, const std::vector<ledger::HopRecord>& hops,
                           core::HttpResponse response, net::Responder respond) {
  RecordHops(ledger, hops,
             [response = std::move(response), respond = std::move(respond)](core::Status) mutable {
               respond(std::move(response));
             });
}

// The answer's own record: what was released and withheld, and for break-glass the reason.
ledger::HopRecord AnswerHop(const HopContext& context, std::int64_t time_ms,
                            std::string_view decision, std::size_t released, std::size_t withheld) {
  ledger::HopRecord answer = MakeHop(context, ledger::HopKind::kResponse, time_ms);
  answer.destination_ods = context.recipient;
  answer.consent_decision = std::string(decision);
  answer.outcome_detail =
      "released=" + std::to_string(released) + " withheld=" + std::to_string(withheld);
  if (!context.break_glass_reason.empty()) {
    answer.outcome_detail += " break-glass reason: " + context.break_glass_reason;
  }
  return answer;
}

// What the response filter did, for the ledger: a refusal record per withheld (reason, type,
// deciding provision) and a break-glass record per released (type, overridden provision), each
// with its count. No ids, no content.
void AppendFilterHops(const HopContext& context, std::int64_t time_ms,
                      const policy::FilterSummary& summary, std::vector<ledger::HopRecord>& hops) {
  for (const policy::WithheldGroup& group : summary.withheld) {
    ledger::HopRecord hop = MakeHop(context, ledger::HopKind::kRefusal, time_ms);
    hop.destination_ods = context.recipient;
    if (group.reason == policy::WithholdReason::kConsent) {
      hop.consent_decision = group.detail;
    }
    hop.outcome = ledger::HopOutcome::kMinorFailure;
    hop.outcome_detail = "withheld " + std::string(policy::WithholdReasonCode(group.reason)) + " " +
                         (group.resource_type.empty() ? "entry" : group.resource_type) +
                         " count=" + std::to_string(group.count);
    hops.push_back(std::move(hop));
  }
  for (const policy::BreakGlassGroup& group : summary.break_glass) {
    ledger::HopRecord hop = MakeHop(context, ledger::HopKind::kResponse, time_ms);
    hop.destination_ods = context.recipient;
    hop.consent_decision =
        "permit: break-glass over Consent/" + group.consent_id + " " + group.provision_path;
    hop.outcome_detail =
        "break-glass released " + group.resource_type + " count=" + std::to_string(group.count);
    hops.push_back(std::move(hop));
  }
}

// The hops of one federated request: a query hop per trust or peer asked (with its outcome),
// what the filter withheld and released by break-glass, and the response to the requester; or,
// without a result, one refusal.
std::vector<ledger::HopRecord> FederationHops(const HopContext& context,
                                              std::chrono::system_clock::time_point now,
                                              const routing::FederatedResult* result,
                                              std::string_view decision, std::size_t released,
                                              const policy::FilterSummary* summary) {
  const std::int64_t time_ms = core::ToUnixMs(now);
  std::vector<ledger::HopRecord> hops;
  if (result == nullptr) {
    ledger::HopRecord refusal = MakeHop(context, ledger::HopKind::kRefusal, time_ms);
    refusal.destination_ods = context.recipient;
    refusal.consent_decision = std::string(decision);
    refusal.outcome = ledger::HopOutcome::kMinorFailure;
    refusal.outcome_detail = "refused consent: nothing fetched";
    if (!context.break_glass_reason.empty()) {
      refusal.outcome_detail += " break-glass reason: " + context.break_glass_reason;
    }
    hops.push_back(std::move(refusal));
    return hops;
  }
  for (const routing::TargetOutcome& target : result->targets) {
    ledger::HopRecord hop = MakeHop(context, ledger::HopKind::kQuery, time_ms);
    hop.destination_ods = target.id;
    hop.source_ods = target.id;
    const bool ok = target.status == routing::TargetStatus::kOk;
    hop.outcome = ok ? ledger::HopOutcome::kSuccess : ledger::HopOutcome::kMinorFailure;
    hop.outcome_detail = ok ? "matches=" + std::to_string(target.matches) +
                                  (target.more_pages ? " more pages not fetched" : "")
                            : (target.error ? std::string(core::Info(target.error->code).name)
                                            : std::string("not queried"));
    hops.push_back(std::move(hop));
  }
  std::size_t withheld = 0;
  if (summary != nullptr) {
    AppendFilterHops(context, time_ms, *summary, hops);
    for (const policy::WithheldGroup& group : summary->withheld) {
      withheld += group.count;
    }
  }
  hops.push_back(AnswerHop(context, time_ms, decision, released, withheld));
  return hops;
}

// A certificate subject as the audit record keeps it: printable ASCII ('?' for anything else),
// at most 64 characters (X.509's upper bound for a CN), whatever bytes the name holds.
std::string CertificateNameForRecord(std::string_view cn) {
  std::string out;
  for (const char c : cn.substr(0, 64)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

// A request refused before anything was fetched (purpose, break-glass, scopes, includes, a
// requester header from a participant): the refusal record, without PHI beyond the patient.
ledger::HopRecord RefusalHop(const HopContext& context, std::int64_t time_ms,
                             std::string_view reason, const core::Error& error) {
  // The messages of these errors are the broker's own and never echo a header or parameter.
  return AccessRefusalHop(context,
                          "refused " + std::string(reason) + " (" +
                              std::to_string(fhir::HttpStatus(error)) + " " +
                              std::string(core::Info(error.code).name) + "): " + error.message,
                          time_ms);
}

// "https://<Host>/fhir/auth/token": the URL a client reached the token endpoint at, which its
// assertion's aud must name. Empty without a usable Host header.
std::string TokenUrl(const core::HttpRequest& request) {
  const std::string_view host = core::UsableHost(request.headers);
  return host.empty() ? std::string() : "https://" + std::string(host) + "/fhir/auth/token";
}

core::HttpResponse OAuthJson(int status, std::string body) {
  core::HttpResponse response;
  response.status = status;
  response.headers.Set("Content-Type", "application/json");
  response.headers.Set("Cache-Control", "no-store");
  response.headers.Set("Pragma", "no-cache");
  response.body = std::move(body);
  return response;
}

// RFC 6749 section 5.2: {"error", "error_description"}; 401 for invalid_client.
core::HttpResponse OAuthError(const core::Error& error) {
  rapidjson::Document body(rapidjson::kObjectType);
  auto& allocator = body.GetAllocator();
  const std::string code = error.location.empty() ? "invalid_request" : error.location;
  body.AddMember("error", rapidjson::Value(code.c_str(), allocator), allocator);
  body.AddMember("error_description", rapidjson::Value(error.message.c_str(), allocator),
                 allocator);
  const int status = error.code == ErrorCode::kInternal ? 500
                     : code == "invalid_client"         ? 401
                                                        : 400;
  return OAuthJson(status, fhir::ToJson(body));
}

// GET /fhir/.well-known/smart-configuration (SMART App Launch 2.0, Backend Services subset).
core::HttpResponse SmartConfiguration(const core::HttpRequest& request) {
  rapidjson::Document body(rapidjson::kObjectType);
  auto& allocator = body.GetAllocator();
  const std::string url = TokenUrl(request);
  body.AddMember("token_endpoint", rapidjson::Value(url.c_str(), allocator), allocator);
  const auto strings = [&](std::initializer_list<const char*> values) {
    rapidjson::Value array(rapidjson::kArrayType);
    for (const char* value : values) {
      array.PushBack(rapidjson::StringRef(value), allocator);
    }
    return array;
  };
  body.AddMember("grant_types_supported", strings({"client_credentials"}), allocator);
  body.AddMember("token_endpoint_auth_methods_supported", strings({"private_key_jwt"}), allocator);
  body.AddMember("token_endpoint_auth_signing_alg_values_supported",
                 strings({"ES256", "ES384", "RS256", "RS384"}), allocator);
  body.AddMember("capabilities",
                 strings({"client-confidential-asymmetric", "permission-v1", "permission-v2"}),
                 allocator);
  body.AddMember("tls_client_certificate_bound_access_tokens", true, allocator);
  core::HttpResponse response;
  response.status = 200;
  response.headers.Set("Content-Type", "application/json");
  response.body = fhir::ToJson(body);
  return response;
}

// The bearer token of a request, verified against the certificate it came over (401 when there
// is none and one is required, or when the broker issues none).
core::Result<policy::BearerGrant> CheckBearer(const policy::TokenService* tokens,
                                              const core::HttpRequest& request,
                                              const policy::ScopeSet& configured) {
  if (tokens == nullptr) {
    return MakeError(ErrorCode::kUnauthenticated, "this broker issues no access tokens");
  }
  if (!request.headers.Has("Authorization")) {
    return MakeError(ErrorCode::kUnauthenticated, "an access token is required");
  }
  return tokens->Verify(request.headers.Get("Authorization"), request.peer.subject_cn,
                        request.peer.fingerprint_sha256, configured);
}

}  // namespace

FhirApi::FhirApi(const BrokerConfig& config, const routing::ParticipantDirectory& directory,
                 routing::FederatedQuery* federation, BlockingExecutor blocking,
                 PolicyServices policy)
    : config_(config),
      directory_(directory),
      federation_(federation),
      blocking_(std::move(blocking)),
      capability_statement_(BuildCapabilityStatement(config)),
      policy_(policy) {
  static const core::SystemClock system_clock;
  if (policy_.clock == nullptr) {
    policy_.clock = &system_clock;
  }
  if (policy_.consents != nullptr) {
    consent_store_ = std::make_unique<RecordsConsentStore>(*policy_.consents, *policy_.clock);
  }
  consent_api_ = std::make_unique<ConsentApi>(policy_.consents, *policy_.clock, blocking_,
                                              policy_.ledger, config_.broker_ods);
  pages_ = std::make_unique<policy::PageCache>(policy::PageCache::Settings{}, *policy_.clock);
  journey_api_ = std::make_unique<JourneyApi>(policy_.ledger, blocking_, config_.broker_ods);
  // Scopes were validated when the config was loaded (ValidatePolicyConfig); a scope that still
  // fails here is dropped, which can only narrow access.
  auto parse = [](const std::vector<std::string>& texts) {
    std::vector<policy::Scope> scopes;
    for (const std::string& text : texts) {
      if (auto scope = policy::ParseScope(text); scope) {
        scopes.push_back(std::move(*scope));
      }
    }
    return policy::ScopeSet(std::move(scopes));
  };
  for (const routing::Participant& participant : directory_.participants()) {
    policies_.emplace(participant.cert_cn, policy::ParticipantPolicy{
                                               participant.ods, participant.purposes,
                                               participant.break_glass, parse(participant.scopes)});
  }
  for (const routing::Peer& peer : directory_.peers()) {
    policies_.emplace(peer.cert_cn,
                      policy::ParticipantPolicy{peer.id, {}, false, parse(peer.scopes)});
  }
}

core::HttpResponse FhirApi::RenderError(const core::Error& error) {
  return fhir::ErrorResponse(error);
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
    const core::Error error = MakeError(
        ErrorCode::kForbidden, "the client certificate does not identify a registered participant");
    if (policy_.ledger == nullptr) {
      respond(RenderError(error));
      return;
    }
    // Recorded like the MLLP and $process-message refusals of an unknown certificate: a CA this
    // broker trusts issued it, so its subject is what an IG officer needs to follow it up. No
    // organisation to name; the path is not kept (it may hold a resource id).
    const HopContext context = HopContext::Of(request, config_.broker_ods, "", "");
    RespondAfterRecording(
        policy_.ledger,
        {RefusalHop(context, core::ToUnixMs(policy_.clock->Now()),
                    "unknown-certificate CN=" + CertificateNameForRecord(request.peer.subject_cn),
                    error)},
        RenderError(error), std::move(respond));
    return;
  }
  const auto found = policies_.find(request.peer.subject_cn);
  if (found == policies_.end()) {  // cannot happen: built from the same directory
    respond(RenderError(MakeError(ErrorCode::kForbidden, "no policy for this participant")));
    return;
  }
  const policy::ParticipantPolicy& who = found->second;

  const std::string_view path = request.Path();
  if (path == "/fhir/metadata") {
    if (request.method != "GET" && request.method != "HEAD") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "metadata is read-only")));
      return;
    }
    respond(fhir::JsonResponse(200, capability_statement_));
    return;
  }
  if (path.rfind("/fhir/", 0) != 0) {
    respond(RenderError(MakeError(ErrorCode::kNotFound, "the FHIR API is under /fhir")));
    return;
  }
  // SMART Backend Services (docs/policy.md, "Access tokens"): discovery and the token endpoint
  // need the certificate only; anywhere else a bearer token, when sent, narrows the scopes.
  if (path == "/fhir/.well-known/smart-configuration" || path == "/fhir/auth/token") {
    if (policy_.tokens == nullptr) {
      respond(RenderError(MakeError(ErrorCode::kNotFound, "this broker issues no access tokens")));
      return;
    }
    if (path == "/fhir/auth/token") {
      ServeToken(std::move(request), who, std::move(respond));
    } else {
      respond(SmartConfiguration(request));
    }
    return;
  }
  std::optional<policy::ParticipantPolicy> narrowed;
  if (request.headers.Has("Authorization") || config_.policy.require_tokens) {
    auto grant = CheckBearer(policy_.tokens, request, who.scopes);
    if (!grant) {
      Log().Info("token_refused", {{"requester", who.ods},
                                   {"request_id", std::string(request.headers.Get("X-Request-ID"))},
                                   {"reason", grant.error().message}});
      core::HttpResponse refused = RenderError(grant.error());
      refused.headers.Set("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      respond(std::move(refused));
      return;
    }
    narrowed = who;
    narrowed->scopes = std::move(grant->scopes);
  }
  HandleAuthorised(std::move(request), narrowed ? *narrowed : who, peer != nullptr,
                   std::move(respond));
}

void FhirApi::HandleAuthorised(core::HttpRequest request, const policy::ParticipantPolicy& who,
                               bool is_peer, net::Responder respond) const {
  const std::string_view path = request.Path();
  if (ConsentApi::Handles(path)) {
    consent_api_->Handle(std::move(request), who.scopes, who.ods, std::move(respond));
    return;
  }
  if (JourneyApi::Handles(path)) {
    journey_api_->Handle(std::move(request), who, std::move(respond));
    return;
  }
  if (LedgerSearchApi::Handles(path)) {
    LedgerSearchApi(policy_.ledger, blocking_, config_.broker_ods)
        .Handle(std::move(request), who, std::move(respond));
    return;
  }
  if (path == "/fhir/_page") {
    if (request.method != "GET") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "_page takes GET")));
      return;
    }
    ServePage(std::move(request), who, std::move(respond));
    return;
  }
  std::string_view rest = path.substr(6);
  if (rest == "Patient/$everything") {
    if (request.method != "GET" && request.method != "POST") {
      respond(RenderError(MakeError(ErrorCode::kMethodNotAllowed, "use GET or POST")));
      return;
    }
    Federate(std::move(request), routing::FederatedKind::kEverything, "Patient", who, is_peer,
             std::move(respond));
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
    Federate(std::move(request), routing::FederatedKind::kSearch, type, who, is_peer,
             std::move(respond));
    return;
  }
  respond(RenderError(
      MakeError(ErrorCode::kNotFound, "no such endpoint; see /fhir/metadata for what is served")));
}

namespace {

// "_include=Observation:subject:Patient" -> the type it would pull in ("Patient"), or "" when
// the target is not named (the filter then judges each included resource). "_revinclude=
// Provenance:target" -> "Provenance".
std::string IncludedType(const fhir::SearchParam& param) {
  const std::string& value = param.value;
  const std::size_t first = value.find(':');
  if (param.name == "_revinclude") {
    return value.substr(0, first);
  }
  if (first == std::string::npos) {
    return {};
  }
  const std::size_t second = value.find(':', first + 1);
  return second == std::string::npos ? std::string() : value.substr(second + 1);
}

// The constraints of `scope` as search parameters ("category=laboratory"), so a trust is asked
// only for what the requester may see.
std::vector<fhir::SearchParam> ConstraintParams(const policy::Scope& scope) {
  std::vector<fhir::SearchParam> params;
  for (const policy::ScopeConstraint& constraint : scope.constraints) {
    std::string value;
    for (const policy::ScopeToken& token : constraint.any_of) {
      if (!value.empty()) {
        value += ',';
      }
      if (token.system) {
        value += *token.system + "|";
      }
      value += token.code;
    }
    params.push_back(fhir::SearchParam{constraint.param, "", std::move(value)});
  }
  return params;
}

// "consent=2,scope=5" and "Observation=5,Patient=2" for the log (no ids, no PHI).
std::string Counts(const std::map<std::string, std::size_t>& counts) {
  std::string text;
  for (const auto& [key, count] : counts) {
    text += (text.empty() ? "" : ",") + key + "=" + std::to_string(count);
  }
  return text;
}

}  // namespace

void FhirApi::Federate(core::HttpRequest request, routing::FederatedKind kind, std::string type,
                       const policy::ParticipantPolicy& who, bool is_peer,
                       net::Responder respond) const {
  if (federation_ == nullptr) {
    respond(RenderError(MakeError(ErrorCode::kUnsupportedMessage, "federation is not running")));
    return;
  }
  const std::string type_logged =
      kind == routing::FederatedKind::kEverything ? "$everything" : type;
  const std::string request_id(request.headers.Get(routing::kRequestIdHeader));

  // Parameters from the query string and, for POST, the form body (NHS numbers belong there);
  // read first so that a refusal below names the patient in the ledger.
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
  HopContext hop_context;
  hop_context.broker_ods = config_.broker_ods;
  hop_context.requester = who.ods;
  hop_context.recipient = who.ods;
  hop_context.address = request.peer.remote_address;
  hop_context.request_id = request_id;
  hop_context.query = type_logged;

  // Every refusal is logged (without PHI) and recorded in the ledger before it is answered.
  auto refuse = [&](const core::Error& error, std::string_view reason) {
    // The patient the refused query names, read from the parameters only when refusing (an
    // accepted search takes it from ParseFederatedSearch below).
    hop_context.nhs_number = PatientNamedIn(*params);
    Log().Info("policy_refused", {{"requester", hop_context.requester},
                                  {"type", type_logged},
                                  {"request_id", request_id},
                                  {"reason", std::string(reason)},
                                  {"outcome", std::string(core::Info(error.code).name)}});
    if (policy_.ledger == nullptr) {
      respond(RenderError(error));
      return;
    }
    RespondAfterRecording(
        policy_.ledger,
        {RefusalHop(hop_context, core::ToUnixMs(policy_.clock->Now()), reason, error)},
        RenderError(error), std::move(respond));
  };

  // Only a peer broker may say on whose behalf it asks (identity comes from certificates).
  if (!is_peer && request.headers.Has(routing::kRequesterHeader)) {
    refuse(MakeError(ErrorCode::kForbidden,
                     "X-Trustbridge-Requester is accepted from peer brokers only",
                     std::string(routing::kRequesterHeader)),
           "requester-header");
    return;
  }
  // The same for the hop headers: from a participant they would drop peers from the fan-out
  // without the OperationOutcome that flags a missing part (partial answers are never silent),
  // and ignoring them instead would let a peer registered as a participant by mistake loop.
  for (const std::string_view header :
       {routing::kHopsHeader, routing::kVisitedHeader, routing::kDeadlineHeader}) {
    if (!is_peer && request.headers.Has(header)) {
      refuse(MakeError(ErrorCode::kForbidden,
                       std::string(header) + " is accepted from peer brokers only",
                       std::string(header)),
             "hop-header");
      return;
    }
  }

  // 1. Purpose of use and break-glass, against the participant's config (identity: certificate).
  policy::PolicyHeaders headers;
  if (request.headers.Has(routing::kPurposeOfUseHeader)) {
    headers.purpose_of_use = request.headers.Get(routing::kPurposeOfUseHeader);
  }
  if (request.headers.Has(routing::kBreakGlassReasonHeader)) {
    headers.break_glass_reason = request.headers.Get(routing::kBreakGlassReasonHeader);
  }
  policy::ParticipantPolicy effective = who;
  std::string on_behalf_of;
  if (is_peer) {
    // A peer broker checked its own requester's purpose and break-glass right and passes them
    // on; this broker applies the peer's scopes and the patient's consents, for the peer and for
    // the original requester it names.
    auto purpose = policy::ParsePurposeOfUse(headers.purpose_of_use);
    if (!purpose) {
      refuse(purpose.error(), "purpose");
      return;
    }
    if (request.headers.Has(routing::kRequesterHeader)) {
      auto named = routing::ParseRequesterHeader(request.headers.Get(routing::kRequesterHeader));
      if (!named) {
        refuse(named.error(), "requester-header");
        return;
      }
      if (named->purpose != *purpose) {
        refuse(MakeError(ErrorCode::kInvalidValue,
                         "X-Trustbridge-Requester names another purpose than X-Purpose-Of-Use",
                         std::string(routing::kRequesterHeader)),
               "requester-header");
        return;
      }
      on_behalf_of = named->ods;
      hop_context.requester = on_behalf_of;  // the answer still goes to the peer (recipient)
    }
    effective.purposes = {*purpose};
    effective.break_glass = true;
  }
  auto context = policy::BuildRequestContext(effective, headers);
  if (!context) {
    refuse(context.error(), "purpose");
    return;
  }
  context->on_behalf_of = on_behalf_of;
  hop_context.purpose = context->purpose;
  hop_context.break_glass_reason = context->break_glass_reason;
  if (policy::RequiresPseudonymisation(context->purpose) && policy_.pseudonymiser == nullptr) {
    refuse(MakeError(ErrorCode::kForbidden,
                     "secondary use is not enabled on this broker (no pseudonym key)"),
           "no-pseudonym-key");
    return;
  }

  // Counts and pages are the broker's: trusts are asked for the resources only.
  auto control = policy::TakeResultControl(*params);
  if (!control) {
    respond(RenderError(control.error()));
    return;
  }

  // 3. The interaction and type against the scopes; includes may not pull in other types.
  const policy::ScopeSet& scopes = context->scopes;
  if (kind == routing::FederatedKind::kSearch ? !scopes.Allows(policy::Interaction::kSearch, type)
                                              : scopes.GrantedTypes().empty()) {
    refuse(MakeError(ErrorCode::kForbidden,
                     kind == routing::FederatedKind::kSearch
                         ? "the participant's scopes do not allow search on " + type
                         : std::string("the participant's scopes grant no resource type")),
           "scope");
    return;
  }
  for (const fhir::SearchParam& param : *params) {
    if (param.name != "_include" && param.name != "_revinclude") {
      continue;
    }
    const std::string included = IncludedType(param);
    if (!included.empty() && !scopes.GrantsType(included)) {
      refuse(MakeError(ErrorCode::kForbidden,
                       "the participant's scopes do not allow " + param.name + " of " + included,
                       param.name),
             "scope");
      return;
    }
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
  // 4. Ask each trust only for what the requester may see: one constrained grant on the type
  // becomes search parameters the requester did not set itself.
  if (kind == routing::FederatedKind::kSearch &&
      !scopes.AllowsUnconstrained(policy::Interaction::kSearch, type)) {
    const auto matching = scopes.Matching(policy::Interaction::kSearch, type);
    if (matching.size() == 1) {
      for (fhir::SearchParam& param : ConstraintParams(*matching.front())) {
        bool present = false;
        for (const fhir::SearchParam& existing : search->params) {
          present = present || existing.name == param.name;
        }
        if (!present) {
          search->params.push_back(std::move(param));
        }
      }
    }
  }
  search->requester_ods = who.ods;
  // Peers further on evaluate consent for the original requester too; a peer that named nobody
  // is passed on as is (the next broker then knows only this one).
  search->original_requester = is_peer ? on_behalf_of : who.ods;
  search->request_id = request_id;
  search->purpose_of_use = context->purpose;
  search->break_glass_reason = context->break_glass_reason;
  search->hops = hops->hops;
  search->visited = std::move(hops->visited);
  search->time_left = hops->time_left;
  search->as_document = true;  // step 6 filters the DOM: no text written and parsed again

  const auto started = std::chrono::steady_clock::now();
  hop_context.nhs_number = search->nhs_number;
  const std::string nhs_number = search->nhs_number;
  // What follows step 5's reads (below): the consents, and the trusts holding the patient when
  // they were read with them (else Run reads those).
  auto proceed = [this, search = std::move(*search), context = std::move(*context), type_logged,
                  request_id, started, hop_context = std::move(hop_context), control = *control,
                  owner = request.peer.subject_cn, respond = std::move(respond)](
                     core::Result<std::vector<policy::Consent>> loaded,
                     std::optional<std::vector<core::LocatorEntry>> holders) mutable {
    const std::string requester = search.requester_ods;
    const auto now = policy_.clock->Now();
    if (!loaded) {
      Log().Error("consents_unavailable",
                  {{"request_id", request_id},
                   {"outcome", std::string(core::Info(loaded.error().code).name)}});
      respond(RenderError(loaded.error()));
      return;
    }
    auto consents = std::make_shared<std::vector<policy::Consent>>(std::move(*loaded));
    search.holders = std::move(holders);
    const policy::Decision ingress = policy::CheckIngress(
        context, *consents,
        search.kind == routing::FederatedKind::kEverything ? "" : search.resource_type, now);
    const bool refused = !ingress.permitted();
    if (refused) {
      // A certain deny: answered exactly as a search that found no data (docs/policy.md,
      // section 6). Such a search still flags the trusts and peers that are down, late or
      // failing, so a refusal answered without them (an empty searchset, as before) showed the
      // consent whenever one was down. So the same targets are chosen and only checked for
      // reachability (their capability statement: nothing about the patient is asked for or
      // fetched), and the result goes through the same steps below as any answer.
      Log().Info("policy_refused", {{"requester", requester},
                                    {"type", type_logged},
                                    {"request_id", request_id},
                                    {"purpose", context.purpose},
                                    {"reason", "consent"},
                                    {"decision", policy::Describe(ingress)}});
      search.reachability_only = true;
    } else if (ingress.break_glass_used) {
      Log().Info("break_glass", {{"requester", requester},
                                 {"type", type_logged},
                                 {"request_id", request_id},
                                 {"decision", policy::Describe(ingress)}});
    }
    auto shared_context = std::make_shared<policy::RequestContext>(std::move(context));
    federation_->Run(std::move(search), [this, requester, type_logged, request_id, started, now,
                                         refused, consents, shared_context, hop_context, control,
                                         owner, decision = std::string(policy::Describe(ingress)),
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
      // 6. On the merged Bundle (on the blocking pool, the merge executor; for answers of a few
      // KB on the I/O thread that received the last one: CPU work bounded by
      // merge_on_arrival_bytes, nothing here waits): labels
      // from the sensitivity table, scopes and consents per resource, total recounted, then
      // pseudonymisation for secondary purposes.
      // The merge hands the Bundle over as a DOM (search.as_document: no text written and
      // parsed again); its resources live in the answers' documents, which result->document
      // holds while `bundle` is used. Whatever is kept beyond this call (a cached search, the
      // answer) is written out as text.
      if (!result->document || !result->document->bundle.IsObject()) {
        respond(RenderError(MakeError(ErrorCode::kInternal, "merged Bundle missing")));
        return;
      }
      rapidjson::Document& bundle = result->document->bundle;
      policy::ReleasePolicy release;
      release.request = shared_context.get();
      release.consents = consents.get();
      release.patient = hop_context.nhs_number;
      release.table = policy_.table;
      release.at_time = now;
      release.add_labels = policy_.table != nullptr;
      const policy::FilterReport report = policy::FilterBundle(bundle, release);
      std::map<std::string, std::size_t> reasons;
      std::map<std::string, std::size_t> types;
      for (const policy::Removal& removal : report.removed) {
        ++reasons[std::string(policy::WithholdReasonCode(removal.reason))];
        ++types[removal.resource_type.empty() ? "?" : removal.resource_type];
      }
      if (!report.removed.empty() || !report.break_glass.empty()) {
        Log().Info("policy_filtered",
                   {{"requester", requester},
                    {"type", type_logged},
                    {"request_id", request_id},
                    {"purpose", shared_context->purpose},
                    {"removed", std::to_string(report.removed.size())},
                    {"reasons", Counts(reasons)},
                    {"types", Counts(types)},
                    {"break_glass_released", std::to_string(report.break_glass.size())}});
      }
      // Counts and pages from the filtered result (docs/policy.md, "Counts and paging").
      if (control.summary_count) {
        policy::MakeCountOnly(bundle);
      } else if (control.has_count && policy::CountMatches(bundle) > control.count) {
        policy::CachedSearch cached;
        cached.owner = owner;
        cached.context = *shared_context;
        cached.nhs_number = hop_context.nhs_number;
        cached.query = type_logged;
        cached.bundle_json = fhir::ToJson(bundle);
        cached.count = control.count;
        cached.total_none = control.total_none;
        auto token = pages_->Put(std::move(cached));
        if (!token) {
          respond(RenderError(token.error()));
          return;
        }
        policy::FilterReport page_report;
        rapidjson::Document page = policy::BuildPage(
            bundle,
            policy::PageSpec{0, control.count, "/fhir/_page?token=" + *token, control.total_none},
            release, page_report);
        bundle.Swap(page);
      } else if (control.total_none) {
        bundle.EraseMember("total");
      }
      if (policy::RequiresPseudonymisation(shared_context->purpose)) {
        const policy::PseudonymisationReport pseudo =
            policy::Pseudonymise(bundle, bundle.GetAllocator(), *policy_.pseudonymiser);
        Log().Info("pseudonymised",
                   {{"requester", requester},
                    {"request_id", request_id},
                    {"purpose", shared_context->purpose},
                    {"identifiers", std::to_string(pseudo.identifiers_replaced)},
                    {"ids", std::to_string(pseudo.ids_replaced)},
                    {"elements_removed", std::to_string(pseudo.elements_removed)}});
      }
      const auto total =
          bundle.HasMember("total") && bundle["total"].IsUint64() ? bundle["total"].GetUint64() : 0;
      const auto failed = std::count_if(result->targets.begin(), result->targets.end(),
                                        [](const routing::TargetOutcome& target) {
                                          return target.status == routing::TargetStatus::kFailed ||
                                                 target.status == routing::TargetStatus::kTimedOut;
                                        });
      Log().InfoBatched("federated_query", {{"requester", requester},
                                            {"type", type_logged},
                                            {"request_id", request_id},
                                            {"targets", std::to_string(result->targets.size())},
                                            {"failed", std::to_string(failed)},
                                            {"total", std::to_string(total)},
                                            {"withheld", std::to_string(report.removed.size())},
                                            {"partial", result->partial ? "true" : "false"},
                                            {"ms", std::to_string(elapsed)}});
      const policy::FilterSummary summary = policy::Summarise(report);
      // The answer's text is about as long as the answers it was merged from (filtering only
      // shortens it): given that room at once instead of growing from a few hundred bytes, which
      // reallocated and copied it three times for a 1.5 KB answer.
      std::size_t expected_bytes = 1024;
      for (const routing::JudgedAnswer& answer : result->document->answers) {
        expected_bytes += answer.body_bytes + answer.next_pages_bytes;
      }
      std::string answer_json;
      answer_json.reserve(expected_bytes);
      fhir::AppendJson(answer_json, bundle);
      if (refused) {
        // Only the reachability flags: the refusal is what the ledger records (nothing fetched,
        // so no query hops), and the answer goes out even if that record fails (it discloses
        // nothing the requester may not see).
        RespondAfterRecording(policy_.ledger,
                              FederationHops(hop_context, now, nullptr, decision, 0, nullptr),
                              fhir::JsonResponse(200, std::move(answer_json)), std::move(respond));
        return;
      }
      RespondWhenRecorded(policy_.ledger,
                          FederationHops(hop_context, now, &*result, decision, total, &summary),
                          fhir::JsonResponse(200, std::move(answer_json)), std::move(respond));
    });
  };
  // 5. The patient's consents and the trusts holding the patient, read now (a Consent stored a
  // moment ago applies): here on the I/O thread when the store answers without waiting (SQLite:
  // a few microseconds, and two thread hand-offs per read saved), else on the blocking pool,
  // which reads the consents again (and Run the locator).
  if (auto read = ReadPatientWithoutWaiting(nhs_number)) {
    proceed(std::move(read->consents), std::move(read->holders));
    return;
  }
  blocking_([this, nhs_number, proceed = std::move(proceed)]() mutable {
    proceed(LoadConsents(nhs_number), std::nullopt);
  });
}

std::optional<FhirApi::PatientReads> FhirApi::ReadPatientWithoutWaiting(
    const std::string& nhs_number) const {
  core::NoWaitReads attempt;
  auto consents = LoadConsents(nhs_number);
  if (!consents || attempt.blocked()) {
    return std::nullopt;
  }
  auto holders = federation_->Holders(nhs_number);
  if (!holders || attempt.blocked()) {
    return std::nullopt;
  }
  return PatientReads{std::move(*consents), std::move(*holders)};
}

core::Result<std::vector<policy::Consent>> FhirApi::LoadConsents(
    const std::string& nhs_number) const {
  if (consent_store_ == nullptr) {
    return std::vector<policy::Consent>{};
  }
  return consent_store_->GetByNhsNumber(nhs_number);
}

void FhirApi::ServePage(core::HttpRequest request, const policy::ParticipantPolicy& who,
                        net::Responder respond) const {
  auto params = fhir::ParseQueryString(request.Query());
  if (!params) {
    respond(RenderError(params.error()));
    return;
  }
  std::string token;
  std::size_t offset = 0;
  for (const fhir::SearchParam& param : *params) {
    if (param.name == "token") {
      token = param.value;
    } else if (param.name == "offset") {
      const std::optional<std::size_t> parsed = core::ParseWholeNumber<std::size_t>(param.value);
      if (!parsed) {
        respond(RenderError(
            MakeError(ErrorCode::kInvalidValue, "offset must be a whole number", "offset")));
        return;
      }
      offset = *parsed;
    }
  }
  // Unknown, expired and someone else's tokens look the same.
  std::shared_ptr<const policy::CachedSearch> search = pages_->Get(token, request.peer.subject_cn);
  if (search == nullptr) {
    respond(RenderError(MakeError(ErrorCode::kNotFound, "no such page (unknown or expired)")));
    return;
  }
  const std::string request_id(request.headers.Get(routing::kRequestIdHeader));
  HopContext hop_context;
  hop_context.broker_ods = config_.broker_ods;
  hop_context.requester = who.ods;
  hop_context.recipient = who.ods;
  hop_context.address = request.peer.remote_address;
  hop_context.purpose = search->context.purpose;
  hop_context.nhs_number = search->nhs_number;
  hop_context.request_id = request_id;
  hop_context.query = search->query + " page";
  hop_context.break_glass_reason = search->context.break_glass_reason;
  blocking_([this, search, token, offset, request_id, hop_context = std::move(hop_context),
             respond = std::move(respond)]() mutable {
    const auto now = policy_.clock->Now();
    // The consents as they are now: one written while the requester pages applies.
    std::vector<policy::Consent> consents;
    if (consent_store_ != nullptr) {
      auto loaded = consent_store_->GetByNhsNumber(search->nhs_number);
      if (!loaded) {
        respond(RenderError(loaded.error()));
        return;
      }
      consents = std::move(*loaded);
    }
    rapidjson::Document full;
    full.Parse(search->bundle_json.c_str(), search->bundle_json.size());
    if (full.HasParseError() || !full.IsObject()) {
      respond(RenderError(MakeError(ErrorCode::kInternal, "cached Bundle is not JSON")));
      return;
    }
    policy::ReleasePolicy release;
    release.request = &search->context;
    release.consents = &consents;
    release.patient = search->nhs_number;
    release.table = policy_.table;
    release.at_time = now;
    // The whole result again, so the total and the offsets reflect the current consents.
    policy::FilterReport report = policy::FilterBundle(full, release);
    policy::FilterReport page_report;
    rapidjson::Document page = policy::BuildPage(
        full,
        policy::PageSpec{offset, search->count, "/fhir/_page?token=" + token, search->total_none},
        release, page_report);
    report.removed.insert(report.removed.end(), page_report.removed.begin(),
                          page_report.removed.end());
    if (policy::RequiresPseudonymisation(search->context.purpose) &&
        policy_.pseudonymiser != nullptr) {
      policy::Pseudonymise(page, page.GetAllocator(), *policy_.pseudonymiser);
    }
    const std::size_t released = policy::CountMatches(page);
    Log().Info("page_served", {{"requester", hop_context.requester},
                               {"request_id", request_id},
                               {"offset", std::to_string(offset)},
                               {"released", std::to_string(released)},
                               {"withheld", std::to_string(report.removed.size())}});
    const std::int64_t time_ms = core::ToUnixMs(now);
    std::vector<ledger::HopRecord> hops;
    AppendFilterHops(hop_context, time_ms, policy::Summarise(report), hops);
    hops.push_back(AnswerHop(hop_context, time_ms, "permit", released, report.removed.size()));
    RespondWhenRecorded(policy_.ledger, hops, fhir::JsonResponse(200, fhir::ToJson(page)),
                        std::move(respond));
  });
}

void FhirApi::ServeToken(core::HttpRequest request, const policy::ParticipantPolicy& who,
                         net::Responder respond) const {
  if (request.method != "POST") {
    respond(OAuthError(MakeError(ErrorCode::kMethodNotAllowed, "the token endpoint takes POST",
                                 "invalid_request")));
    return;
  }
  auto form = fhir::ParseFormBody(request.body);
  if (!form) {
    respond(OAuthError(MakeError(ErrorCode::kInvalidValue,
                                 "the body must be application/x-www-form-urlencoded",
                                 "invalid_request")));
    return;
  }
  policy::TokenRequest token_request;
  for (const fhir::SearchParam& field : *form) {
    std::string* target = field.name == "grant_type" ? &token_request.grant_type
                          : field.name == "client_assertion_type"
                              ? &token_request.client_assertion_type
                          : field.name == "client_assertion" ? &token_request.client_assertion
                          : field.name == "scope"            ? &token_request.scope
                                                             : nullptr;
    if (target != nullptr) {
      if (!target->empty() || !field.modifier.empty()) {
        respond(OAuthError(
            MakeError(ErrorCode::kInvalidValue, field.name + " is repeated", "invalid_request")));
        return;
      }
      *target = field.value;
    }
  }
  policy::TokenCaller caller{request.peer.subject_cn, request.peer.fingerprint_sha256,
                             TokenUrl(request), &who.scopes};
  if (caller.token_url.empty()) {
    respond(OAuthError(
        MakeError(ErrorCode::kInvalidValue, "a Host header is required", "invalid_request")));
    return;
  }
  // Signature checks and signing on the blocking pool, off the I/O threads.
  blocking_([this, token_request = std::move(token_request), caller = std::move(caller),
             ods = who.ods, respond = std::move(respond)]() {
    auto issued = policy_.tokens->Issue(token_request, caller);
    if (!issued) {
      Log().Info("token_refused", {{"requester", ods},
                                   {"error", issued.error().location},
                                   {"reason", issued.error().message}});
      respond(OAuthError(issued.error()));
      return;
    }
    Log().Info("token_issued", {{"requester", ods},
                                {"scope", issued->scope},
                                {"expires_in", std::to_string(issued->expires_in)}});
    rapidjson::Document body(rapidjson::kObjectType);
    auto& allocator = body.GetAllocator();
    body.AddMember("access_token", rapidjson::Value(issued->access_token.c_str(), allocator),
                   allocator);
    body.AddMember("token_type", "bearer", allocator);
    body.AddMember("expires_in", issued->expires_in, allocator);
    body.AddMember("scope", rapidjson::Value(issued->scope.c_str(), allocator), allocator);
    respond(OAuthJson(200, fhir::ToJson(body)));
  });
}

}  // namespace tb::app
