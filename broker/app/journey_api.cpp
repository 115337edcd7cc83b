#include "broker/app/journey_api.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/app/access_record.h"
#include "broker/core/clock.h"
#include "broker/core/nhs_number.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kJourney = "Patient/$journey";

// The NHS number from `identifier=https://fhir.nhs.uk/Id/nhs-number|N`, exactly once.
core::Result<std::string> NhsNumberFrom(const std::vector<fhir::SearchParam>& params) {
  std::string found;
  for (const fhir::SearchParam& param : params) {
    if (param.name != "identifier") {
      return MakeError(ErrorCode::kInvalidValue, "$journey takes only identifier", param.name);
    }
    if (!found.empty()) {
      return MakeError(ErrorCode::kInvalidValue, "identifier given twice", "identifier");
    }
    auto nhs = fhir::NhsNumberFromIdentifierToken(param.value);
    if (!nhs) {
      return nhs.error();
    }
    found = std::string(*nhs);
  }
  if (found.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing,
                     "identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number> is required",
                     "identifier");
  }
  return found;
}

}  // namespace

void JourneyApi::Handle(core::HttpRequest request, const policy::ParticipantPolicy& who,
                        net::Responder respond) const {
  const policy::ScopeSet& scopes = who.scopes;
  if (request.method != "GET" && request.method != "POST") {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "use GET or POST")));
    return;
  }
  if (ledger_ == nullptr) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kUnsupportedMessage, "no audit ledger")));
    return;
  }
  if (!scopes.AllowsUnconstrained(policy::Interaction::kSearch, "AuditEvent") ||
      !scopes.AllowsUnconstrained(policy::Interaction::kSearch, "Provenance")) {
    // The patient, when the (GET) query names a valid one, so the refusal is in their journey.
    HopContext hop_context = HopContext::Of(request, broker_ods_, who.ods, std::string(kJourney));
    if (auto params = fhir::ParseQueryString(request.Query()); params) {
      if (auto found = NhsNumberFrom(*params); found) {
        hop_context.nhs_number = std::move(*found);
      }
    }
    blocking_([ledger = ledger_, hop_context = std::move(hop_context),
               respond = std::move(respond)]() {
      RecordAccess(*ledger, AccessRefusalHop(
                                hop_context,
                                "forbidden: the journey needs search on AuditEvent and Provenance",
                                core::ToUnixMs(std::chrono::system_clock::now())));
      respond(fhir::ErrorResponse(MakeError(
          ErrorCode::kForbidden, "the journey needs search on AuditEvent and Provenance")));
    });
    return;
  }
  auto params = fhir::ParseQueryString(request.Query());
  if (!params) {
    respond(fhir::ErrorResponse(params.error()));
    return;
  }
  if (request.method == "POST" && !request.body.empty()) {
    auto form = fhir::ParseFormBody(request.body);
    if (!form) {
      respond(fhir::ErrorResponse(form.error()));
      return;
    }
    params->insert(params->end(), form->begin(), form->end());
  }
  auto nhs_number = NhsNumberFrom(*params);
  if (!nhs_number) {
    respond(fhir::ErrorResponse(nhs_number.error()));
    return;
  }
  HopContext hop_context = HopContext::Of(request, broker_ods_, who.ods, std::string(kJourney));
  hop_context.nhs_number = *nhs_number;
  blocking_([this, hop_context = std::move(hop_context), respond = std::move(respond)]() {
    auto records = ledger_->Journey(hop_context.nhs_number);
    if (!records) {
      respond(fhir::ErrorResponse(records.error()));
      return;
    }
    rapidjson::Document bundle(rapidjson::kObjectType);
    auto& allocator = bundle.GetAllocator();
    bundle.AddMember("resourceType", "Bundle", allocator);
    bundle.AddMember("type", "searchset", allocator);
    rapidjson::Value entries(rapidjson::kArrayType);
    for (const core::LedgerRecord& record : *records) {
      auto parsed = ledger::ParseEntry(record);
      if (!parsed) {  // `audit verify` names it; the journey shows what can be read
        continue;
      }
      for (const char* member : {"provenance", "audit_event"}) {
        if (!parsed->HasMember(member)) {
          continue;
        }
        rapidjson::Value resource((*parsed)[member], allocator);
        const std::string id =
            std::to_string(record.seq) + (std::string_view(member) == "provenance" ? "-p" : "-a");
        resource.RemoveMember("id");
        resource.AddMember("id", rapidjson::Value(id.c_str(), allocator), allocator);
        rapidjson::Value entry(rapidjson::kObjectType);
        entry.AddMember("resource", resource, allocator);
        rapidjson::Value search(rapidjson::kObjectType);
        search.AddMember("mode", "match", allocator);
        entry.AddMember("search", search, allocator);
        entries.PushBack(entry, allocator);
      }
    }
    const std::size_t released = entries.Size();
    bundle.AddMember("total", entries.Size(), allocator);
    bundle.AddMember("entry", entries, allocator);
    // Who read whose journey is itself recorded, after the read (so it is not in this answer).
    RespondWhenAccessRecorded(
        ledger_,
        ReadHop(hop_context, released, core::ToUnixMs(std::chrono::system_clock::now()),
                ledger::HopKind::kAuditAccess),
        fhir::JsonResponse(200, fhir::ToJson(bundle)), respond);
  });
}

}  // namespace tb::app
