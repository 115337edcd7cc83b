#include "broker/app/journey_api.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/app/access_record.h"
#include "broker/app/search_paging.h"
#include "broker/core/clock.h"
#include "broker/core/nhs_number.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kJourney = "Patient/$journey";

// Records per page: a patient's journey grows with every read of their record, so it is paged
// like the ledger's searches (`_count`, `_cursor`), oldest first.
constexpr std::size_t kDefaultRecords = 500;
constexpr std::size_t kMaxRecords = 1000;

struct JourneyRequest {
  std::string nhs_number;
  std::int64_t after_seq = 0;
  std::size_t limit = kDefaultRecords;
};

// `identifier=https://fhir.nhs.uk/Id/nhs-number|N` exactly once, and optionally `_count` (records
// per page, at most kMaxRecords) and `_cursor` (the last seq of the page before).
core::Result<JourneyRequest> ParseJourney(const std::vector<fhir::SearchParam>& params) {
  JourneyRequest journey;
  for (const fhir::SearchParam& param : params) {
    if (param.name == "_count" || param.name == "_cursor") {
      auto number = NonNegativeNumber(param);
      if (!number) {
        return std::move(number).error();
      }
      if (param.name == "_count") {
        journey.limit = std::min(static_cast<std::size_t>(*number), kMaxRecords);
      } else {
        journey.after_seq = *number;
      }
      continue;
    }
    if (param.name != "identifier") {
      return MakeError(ErrorCode::kInvalidValue, "$journey takes identifier, _count and _cursor",
                       param.name);
    }
    if (!journey.nhs_number.empty()) {
      return MakeError(ErrorCode::kInvalidValue, "identifier given twice", "identifier");
    }
    auto nhs = fhir::NhsNumberFromIdentifierToken(param.value);
    if (!nhs) {
      return nhs.error();
    }
    journey.nhs_number = std::string(*nhs);
  }
  if (journey.nhs_number.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing,
                     "identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number> is required",
                     "identifier");
  }
  return journey;
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
      if (auto found = ParseJourney(*params); found) {
        hop_context.nhs_number = std::move(found->nhs_number);
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
  auto journey = ParseJourney(*params);
  if (!journey) {
    respond(fhir::ErrorResponse(journey.error()));
    return;
  }
  HopContext hop_context = HopContext::Of(request, broker_ods_, who.ods, std::string(kJourney));
  hop_context.nhs_number = journey->nhs_number;
  // A next link repeats the request's own query (for a POST, the identifier stays in the form:
  // POST the same form to the link).
  const std::string host(core::UsableHost(request.headers));
  std::string base =
      (host.empty() ? std::string() : "https://" + host) + "/fhir/" + std::string(kJourney);
  blocking_([this, hop_context = std::move(hop_context), journey = std::move(*journey),
             base = std::move(base), query = QueryWithoutCursor(request.Query()),
             respond = std::move(respond)]() {
    // One more than a page tells whether there is a next one.
    auto records = ledger_->Journey(hop_context.nhs_number, journey.after_seq,
                                    journey.limit == 0 ? 0 : journey.limit + 1);
    if (!records) {
      respond(fhir::ErrorResponse(records.error()));
      return;
    }
    const bool more = records->size() > journey.limit;
    if (more) {
      records->resize(journey.limit);
    }
    rapidjson::Document bundle(rapidjson::kObjectType);
    auto& allocator = bundle.GetAllocator();
    bundle.AddMember("resourceType", "Bundle", allocator);
    bundle.AddMember("type", "searchset", allocator);
    bundle.AddMember(
        "link",
        PagingLinks(base, query, more && !records->empty() ? records->back().seq : 0, allocator),
        allocator);
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
    if (journey.after_seq == 0 && !more) {  // the whole journey: its count is known
      bundle.AddMember("total", entries.Size(), allocator);
    }
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
