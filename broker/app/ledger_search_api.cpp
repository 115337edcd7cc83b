#include "broker/app/ledger_search_api.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/app/access_record.h"
#include "broker/app/search_paging.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/consent.h"
#include "broker/policy/scope.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::size_t kDefaultCount = 50;
constexpr std::size_t kMaxCount = 500;

const core::Logger& Log() {
  static const core::Logger log("tb.ledger_search");
  return log;
}

core::Error Invalid(std::string message, const std::string& parameter) {
  return MakeError(ErrorCode::kInvalidValue, std::move(message), parameter);
}

// AuditEvent.type (DICOM) and subtype codes -> the hop kinds that carry them (records.cpp).
std::vector<std::string> KindsOfType(std::string_view code) {
  if (code == "110107") {
    return {"inbound"};
  }
  if (code == "110106") {
    return {"delivery", "response"};
  }
  if (code == "110112") {
    return {"query"};
  }
  if (code == "110113") {
    return {"refusal"};
  }
  if (code == "110101") {
    return {"audit-access"};
  }
  return {};
}

std::vector<std::string> KindsOfSubtype(std::string_view code) {
  if (code == "search-type") {
    return {"query", "response", "audit-access"};
  }
  return {};
}

// Narrows `kinds` (nullopt: any) to those also in `allowed`.
void Intersect(std::optional<std::vector<std::string>>& kinds,
               const std::vector<std::string>& allowed) {
  if (!kinds) {
    kinds = allowed;
    return;
  }
  std::erase_if(*kinds, [&](const std::string& kind) {
    return std::find(allowed.begin(), allowed.end(), kind) == allowed.end();
  });
}

// The codes of a token parameter (comma = OR); a system, when given, must be `system`.
core::Result<std::vector<std::string>> TokenCodes(const fhir::SearchParam& param,
                                                  std::string_view system) {
  std::vector<std::string> codes;
  for (const std::string& value : fhir::SplitValues(param.value)) {
    fhir::Token token = fhir::ParseToken(value);
    if (token.system && !token.system->empty() && *token.system != system) {
      return Invalid("unknown code system", param.name);
    }
    codes.push_back(std::move(token.code));
  }
  return codes;
}

// Narrows [from, to] (inclusive ms) by one FHIR date parameter: eq (default), ge, gt, le, lt.
core::Status ApplyDate(const fhir::SearchParam& param, core::LedgerQuery& query) {
  std::string_view value = param.value;
  std::string_view prefix = "eq";
  if (value.size() > 2 && value[0] >= 'a' && value[0] <= 'z') {
    prefix = value.substr(0, 2);
    value.remove_prefix(2);
  }
  const std::optional<policy::TimeInterval> interval = policy::ParseFhirDateTime(value);
  if (!interval) {
    return Invalid("expected [eq|ge|gt|le|lt]YYYY[-MM[-DD[Thh:mm:ss[.fff]Z]]]", param.name);
  }
  const std::int64_t begin = core::ToUnixMs(interval->begin);
  const std::int64_t end = core::ToUnixMs(interval->end);  // exclusive
  const auto at_least = [&](std::int64_t from) {
    query.from_ms = std::max(query.from_ms.value_or(from), from);
  };
  const auto at_most = [&](std::int64_t to) {
    query.to_ms = std::min(query.to_ms.value_or(to), to);
  };
  if (prefix == "eq") {
    at_least(begin);
    at_most(end - 1);
  } else if (prefix == "ge") {
    at_least(begin);
  } else if (prefix == "gt") {
    at_least(end);
  } else if (prefix == "le") {
    at_most(end - 1);
  } else if (prefix == "lt") {
    at_most(begin - 1);
  } else {
    return Invalid("date prefixes are eq, ge, gt, le and lt", param.name);
  }
  return core::Ok();
}

// The search request as a ledger query, or the 400 to answer.
core::Result<core::LedgerQuery> ParseSearch(std::string_view type,
                                            const std::vector<fhir::SearchParam>& params) {
  const bool audit_event = type == "AuditEvent";
  core::LedgerQuery query;
  query.limit = kDefaultCount;
  std::optional<std::vector<std::string>> kinds;
  for (const fhir::SearchParam& param : params) {
    const std::string& name = param.name;
    const bool plain = param.modifier.empty();
    if (name == "patient" && param.modifier == "identifier") {
      auto nhs = fhir::NhsNumberFromIdentifierToken(param.value);
      if (!nhs) {
        return nhs.error();
      }
      if (!query.nhs_number.empty() && query.nhs_number != *nhs) {
        return Invalid("two different patients", name);
      }
      query.nhs_number = std::move(*nhs);
    } else if (name == "agent" && (plain || param.modifier == "identifier")) {
      const fhir::Token token = fhir::ParseToken(param.value);
      if (param.modifier == "identifier" && token.system != std::string(ledger::kOdsSystem)) {
        return Invalid(std::string("agent:identifier takes ") + std::string(ledger::kOdsSystem) +
                           "|<ODS code>",
                       name);
      }
      std::string ods = plain ? fhir::UnescapeSearchValue(param.value) : token.code;
      if (ods.rfind("Organization/", 0) == 0) {
        ods.erase(0, 13);
      }
      if (ods.empty() || ods.find(',') != std::string::npos) {
        return Invalid("agent takes one ODS code", name);
      }
      query.agent = std::move(ods);
    } else if (name == "target" && plain && !audit_event) {
      query.target = fhir::UnescapeSearchValue(param.value);
    } else if (plain && (name == "date" || (name == "recorded" && !audit_event))) {
      BROKER_RETURN_IF_ERROR(ApplyDate(param, query));
    } else if (name == "outcome" && plain && audit_event) {
      auto codes = TokenCodes(param, "http://terminology.hl7.org/CodeSystem/audit-event-outcome");
      if (!codes) {
        return std::move(codes).error();
      }
      if (codes->size() != 1) {
        return Invalid("outcome takes one code", name);
      }
      auto outcome =
          ledger::OutcomeFromNumber(std::all_of(codes->front().begin(), codes->front().end(),
                                                [](char c) { return c >= '0' && c <= '9'; }) &&
                                            !codes->front().empty() && codes->front().size() < 3
                                        ? std::stoll(codes->front())
                                        : -1);
      if (!outcome) {
        return Invalid("outcome is 0, 4, 8 or 12", name);
      }
      query.outcome = ledger::OutcomeNumber(*outcome);
    } else if ((name == "type" || name == "subtype") && plain && audit_event) {
      const bool is_type = name == "type";
      auto codes = TokenCodes(param, is_type ? "http://dicom.nema.org/resources/ontology/DCM"
                                             : "http://hl7.org/fhir/restful-interaction");
      if (!codes) {
        return std::move(codes).error();
      }
      std::vector<std::string> any;
      for (const std::string& code : *codes) {
        for (std::string& kind : is_type ? KindsOfType(code) : KindsOfSubtype(code)) {
          any.push_back(std::move(kind));
        }
      }
      Intersect(kinds, any);
    } else if (name == "_count" && plain) {
      auto count = NonNegativeNumber(param);
      if (!count) {
        return std::move(count).error();
      }
      query.limit = std::min(static_cast<std::size_t>(*count), kMaxCount);
    } else if (name == "_sort" && plain) {
      if (param.value == "-date" || (!audit_event && param.value == "-recorded")) {
        query.newest_first = true;
      } else if (param.value == "date" || (!audit_event && param.value == "recorded")) {
        query.newest_first = false;
      } else {
        return Invalid(audit_event ? "_sort is date or -date" : "_sort is recorded or -recorded",
                       name);
      }
    } else if (name == "_cursor" && plain) {
      auto cursor = NonNegativeNumber(param);
      if (!cursor) {
        return std::move(cursor).error();
      }
      query.after_seq = *cursor;
    } else {
      return Invalid(
          "unsupported search parameter for " + std::string(type) + " (see /fhir/metadata)",
          name + (plain ? "" : ":" + param.modifier));
    }
  }
  if (kinds) {
    if (kinds->empty()) {  // codes that no hop carries: nothing can match
      query.limit = 0;
    }
    query.kinds = std::move(*kinds);
  }
  return query;
}

// The searchset of `records` (one more than asked means there is a next page).
std::string RenderBundle(std::string_view type, const std::vector<core::LedgerRecord>& records,
                         std::size_t limit, const std::string& base, const std::string& query) {
  const char* member = type == "AuditEvent" ? "audit_event" : "provenance";
  rapidjson::Document bundle(rapidjson::kObjectType);
  auto& allocator = bundle.GetAllocator();
  bundle.AddMember("resourceType", "Bundle", allocator);
  bundle.AddMember("type", "searchset", allocator);
  const std::size_t shown = std::min(records.size(), limit);
  rapidjson::Value links = PagingLinks(
      base, query, records.size() > limit && shown > 0 ? records[shown - 1].seq : 0, allocator);
  bundle.AddMember("link", links, allocator);
  rapidjson::Value entries(rapidjson::kArrayType);
  for (std::size_t i = 0; i < shown; ++i) {
    const core::LedgerRecord& record = records[i];
    auto parsed = ledger::ParseEntry(record);
    if (!parsed || !parsed->HasMember(member)) {  // `audit verify` names it
      Log().Warn("unreadable_ledger_entry", {{"seq", std::to_string(record.seq)}});
      continue;
    }
    rapidjson::Value resource((*parsed)[member], allocator);
    const std::string id = std::to_string(record.seq);
    resource.RemoveMember("id");
    resource.AddMember("id", fhir::StringValue(id, allocator), allocator);
    rapidjson::Value entry(rapidjson::kObjectType);
    entry.AddMember("fullUrl", fhir::StringValue(base + "/" + id, allocator), allocator);
    entry.AddMember("resource", resource, allocator);
    rapidjson::Value search(rapidjson::kObjectType);
    search.AddMember("mode", "match", allocator);
    entry.AddMember("search", search, allocator);
    entries.PushBack(entry, allocator);
  }
  bundle.AddMember("entry", entries, allocator);
  return fhir::ToJson(bundle);
}

}  // namespace

std::vector<fhir::ResourceSpec> LedgerSearchApi::CapabilityResources() {
  const fhir::SearchParamSpec patient{
      "patient", "reference", "",
      "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number> (an invalid one is 400)"};
  const fhir::SearchParamSpec agent{
      "agent", "reference", "",
      "<ODS code> or agent:identifier=https://fhir.nhs.uk/Id/ods-organization-code|<ODS code>: "
      "the requester, source or destination trust"};
  const std::string paging =
      " from the tamper-evident audit ledger; newest first (_sort=date: oldest first), _count "
      "up to 500 with next links; needs a scope granting search on the type";
  fhir::ResourceSpec provenance;
  provenance.type = "Provenance";
  provenance.interactions = {"search-type"};
  provenance.search_params = {
      patient,
      agent,
      {"target", "reference", "", "the produced resource's reference, e.g. Bundle/<id>"},
      {"recorded", "date", "", "when the ledger recorded the hop; eq, ge, gt, le, lt (also date)"}};
  provenance.documentation =
      "One Provenance per hop (inbound, delivery, query, response, refusal, audit-access)" + paging;
  fhir::ResourceSpec audit_event;
  audit_event.type = "AuditEvent";
  audit_event.interactions = {"search-type"};
  audit_event.search_params = {
      patient,
      agent,
      {"date", "date", "", "recorded; eq, ge, gt, le, lt"},
      {"outcome", "token", "", "0, 4, 8 or 12"},
      {"type", "token", "", "DICOM 110106, 110107, 110112, 110113, 110101 (audit trail read)"},
      {"subtype", "token", "",
       "search-type (federated queries, their responses, reads of the audit trail)"}};
  audit_event.documentation = "One AuditEvent per hop" + paging;
  return {std::move(provenance), std::move(audit_event)};
}

void LedgerSearchApi::Handle(core::HttpRequest request, const policy::ParticipantPolicy& who,
                             net::Responder respond) const {
  const std::string type(request.Path().substr(6));  // "/fhir/" + type
  if (request.method != "GET") {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "search takes GET")));
    return;
  }
  if (ledger_ == nullptr) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kUnsupportedMessage, "no audit ledger")));
    return;
  }
  ledger::Ledger* ledger = ledger_;
  HopContext hop_context = HopContext::Of(request, broker_ods_, who.ods, type);
  hop_context.nhs_number = PatientNamedIn(request.Query());
  if (!who.scopes.AllowsUnconstrained(policy::Interaction::kSearch, type)) {
    blocking_([ledger, hop_context = std::move(hop_context), type, respond = std::move(respond)]() {
      RecordAccess(*ledger, AccessRefusalHop(hop_context, "forbidden: no search scope on " + type,
                                             core::ToUnixMs(std::chrono::system_clock::now())));
      respond(fhir::ErrorResponse(MakeError(ErrorCode::kForbidden, "searching " + type +
                                                                       " needs a scope "
                                                                       "granting search on it")));
    });
    return;
  }
  auto params = fhir::ParseQueryString(request.Query());
  if (!params) {
    respond(fhir::ErrorResponse(params.error()));
    return;
  }
  auto query = ParseSearch(type, *params);
  if (!query) {
    respond(fhir::ErrorResponse(query.error()));
    return;
  }
  const std::string host(core::UsableHost(request.headers));
  std::string base = (host.empty() ? std::string() : "https://" + host) + "/fhir/" + type;
  blocking_([ledger, type, hop_context = std::move(hop_context), query = std::move(*query),
             base = std::move(base), query_string = QueryWithoutCursor(request.Query()),
             respond = std::move(respond)]() mutable {
    const std::size_t limit = query.limit;
    if (limit > 0) {
      ++query.limit;  // one more tells whether there is a next page
    }
    auto records = ledger->Search(query);
    if (!records) {
      respond(fhir::ErrorResponse(records.error()));
      return;
    }
    const std::size_t released = limit > 0 && records->size() > limit ? limit : records->size();
    // Who saw whose audit trail is itself recorded (IHE ATNA's "audit log used").
    RespondWhenAccessRecorded(
        ledger,
        ReadHop(hop_context, released, core::ToUnixMs(std::chrono::system_clock::now()),
                ledger::HopKind::kAuditAccess),
        fhir::JsonResponse(200, RenderBundle(type, *records, limit, base, query_string)), respond);
  });
}

}  // namespace tb::app
