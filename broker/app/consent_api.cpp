#include "broker/app/consent_api.h"

#include <charconv>
#include <chrono>
#include <ctime>
#include <optional>
#include <utility>

#include <rapidjson/document.h>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/app/access_record.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/consent.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;
using policy::Interaction;

constexpr std::string_view kPrefix = "/fhir/Consent";

const core::Logger& Log() {
  static const core::Logger log("tb.consent_api");
  return log;
}

std::string Instant(std::int64_t millis) {
  const auto seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {text, length};
}

// Sets id, meta.versionId and meta.lastUpdated on the Consent (replacing what the client sent).
void Stamp(rapidjson::Document& resource, const std::string& id, std::int64_t version,
           std::int64_t at_ms) {
  auto& alloc = resource.GetAllocator();
  resource.RemoveMember("id");
  resource.AddMember("id", rapidjson::Value(id.c_str(), alloc), alloc);
  resource.RemoveMember("meta");
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("versionId", rapidjson::Value(std::to_string(version).c_str(), alloc), alloc);
  meta.AddMember("lastUpdated", rapidjson::Value(Instant(at_ms).c_str(), alloc), alloc);
  resource.AddMember("meta", meta, alloc);
}

// What the client asked to get back from a create or update (FHIR R4 http.html#ops, the Prefer
// header's `return`): the resource (the default), nothing, or an OperationOutcome.
enum class ReturnPreference { kRepresentation, kMinimal, kOperationOutcome };

ReturnPreference ReturnPreferenceOf(const core::HttpHeaders& headers) {
  if (!headers.Has("Prefer")) {
    return ReturnPreference::kRepresentation;
  }
  // "return=OperationOutcome", possibly among other preferences separated by ',' or ';'.
  const std::string_view prefer = headers.Get("Prefer");
  constexpr std::string_view kReturn = "return=";
  for (std::size_t at = prefer.find(kReturn); at != std::string_view::npos;
       at = prefer.find(kReturn, at + 1)) {
    if (at != 0 && prefer[at - 1] != ' ' && prefer[at - 1] != ',' && prefer[at - 1] != ';') {
      continue;  // part of a longer name
    }
    std::string_view value = prefer.substr(at + kReturn.size());
    value = value.substr(0, value.find_first_of(",; "));
    if (value == "minimal") {
      return ReturnPreference::kMinimal;
    }
    if (value == "OperationOutcome") {
      return ReturnPreference::kOperationOutcome;
    }
    return ReturnPreference::kRepresentation;
  }
  return ReturnPreference::kRepresentation;
}

// The OperationOutcome answering a stored Consent: a warning per element the broker cannot
// evaluate (policy::UnevaluableElements: how such an element decides is in docs/policy.md), or
// one information issue when there is none (an OperationOutcome needs at least one issue).
std::string StoredOutcomeJson(const std::vector<std::string>& unevaluable) {
  if (unevaluable.empty()) {
    return R"({"resourceType":"OperationOutcome","issue":[{"severity":"information",)"
           R"("code":"informational","details":{"text":"Consent stored"}}]})";
  }
  std::vector<core::Error> warnings;
  warnings.reserve(unevaluable.size());
  for (const std::string& path : unevaluable) {
    warnings.push_back(MakeError(ErrorCode::kUnsupportedMessage,
                                 "stored, but the broker cannot evaluate this element: in a deny "
                                 "it counts as matching, in a permit as not matching",
                                 path));
  }
  return fhir::ToOperationOutcomeJson(warnings, fhir::IssueSeverity::kWarning);
}

// The version in an If-Match header: W/"3" (as the broker's ETag) or "3". Nothing if malformed.
std::optional<std::int64_t> ParseIfMatch(std::string_view value) {
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  while (!value.empty() && value.back() == ' ') {
    value.remove_suffix(1);
  }
  if (value.starts_with("W/")) {
    value.remove_prefix(2);
  }
  if (value.size() < 3 || value.front() != '"' || value.back() != '"') {
    return std::nullopt;
  }
  value = value.substr(1, value.size() - 2);
  std::int64_t version = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), version);
  if (ec != std::errc() || end != value.data() + value.size() || version < 1) {
    return std::nullopt;
  }
  return version;
}

std::string_view StatusCode(policy::ConsentStatus status) {
  switch (status) {
    case policy::ConsentStatus::kDraft:
      return "draft";
    case policy::ConsentStatus::kProposed:
      return "proposed";
    case policy::ConsentStatus::kActive:
      return "active";
    case policy::ConsentStatus::kRejected:
      return "rejected";
    case policy::ConsentStatus::kInactive:
      return "inactive";
    case policy::ConsentStatus::kEnteredInError:
      return "entered-in-error";
  }
  return "unknown";
}

}  // namespace

// ---- RecordsConsentStore ------------------------------------------------------------------------

core::Result<std::vector<policy::Consent>> RecordsConsentStore::GetByNhsNumber(
    std::string_view nhs_number) const {
  auto records = records_.GetByNhsNumber(std::string(nhs_number));
  if (!records) {
    return std::move(records).error();
  }
  std::vector<policy::Consent> consents;
  consents.reserve(records->size());
  for (const core::ConsentRecord& record : *records) {
    auto consent = policy::ParseConsentJson(record.json);
    if (!consent) {
      // Validated when stored: a record that no longer parses is a storage fault. Fail closed.
      return MakeError(ErrorCode::kStorage, "a stored consent no longer parses", "consent");
    }
    consent->id = record.id;
    consents.push_back(std::move(*consent));
  }
  return consents;
}

core::Result<policy::Consent> RecordsConsentStore::GetById(std::string_view id) const {
  auto record = records_.GetById(std::string(id));
  if (!record) {
    return std::move(record).error();
  }
  auto consent = policy::ParseConsentJson(record->json);
  if (!consent) {
    return MakeError(ErrorCode::kStorage, "a stored consent no longer parses", "consent");
  }
  consent->id = record->id;
  return consent;
}

core::Status RecordsConsentStore::Put(policy::Consent consent) {
  std::int64_t version = 1;
  std::int64_t created = core::ToUnixMs(clock_.Now());
  if (auto existing = records_.GetById(consent.id); existing) {
    version = existing->version + 1;
    created = existing->created_at_ms;
  }
  core::ConsentRecord record{consent.id,
                             consent.nhs_number,
                             std::string(StatusCode(consent.status)),
                             version,
                             std::move(consent.json),
                             created,
                             core::ToUnixMs(clock_.Now())};
  return records_.Put(record);
}

// ---- ConsentApi ---------------------------------------------------------------------------------

ConsentApi::ConsentApi(core::ConsentRecords* records, const core::Clock& clock,
                       BlockingExecutor blocking, ledger::Ledger* ledger, std::string broker_ods)
    : records_(records),
      clock_(clock),
      blocking_(std::move(blocking)),
      ledger_(ledger),
      broker_ods_(std::move(broker_ods)) {}

void ConsentApi::Handle(core::HttpRequest request, const policy::ScopeSet& scopes,
                        std::string requester, net::Responder respond) const {
  const std::string_view path = request.Path();
  std::string id;
  if (path.size() > kPrefix.size()) {
    id = std::string(path.substr(kPrefix.size() + 1));
  }
  const bool search = id.empty() || id == "_search";
  // The interaction, and the scope permission it needs.
  Interaction interaction = Interaction::kRead;
  if (search && request.method == "POST" && id.empty()) {
    interaction = Interaction::kCreate;
  } else if (search && (request.method == "GET" || request.method == "POST")) {
    interaction = Interaction::kSearch;
  } else if (!search && id.find('/') == std::string::npos && request.method == "GET") {
    interaction = Interaction::kRead;
  } else if (!search && id.find('/') == std::string::npos && request.method == "PUT") {
    interaction = Interaction::kUpdate;
  } else {
    respond(fhir::ErrorResponse(MakeError(
        ErrorCode::kMethodNotAllowed, "Consent supports POST, PUT /{id}, GET /{id} and search")));
    return;
  }
  HopContext hop_context = HopContext::Of(request, broker_ods_, requester, "Consent");
  if (!scopes.Allows(interaction, "Consent")) {
    Log().Info("consent_refused",
               {{"requester", requester},
                {"interaction", std::string(policy::InteractionName(interaction))},
                {"reason", "scope"}});
    const std::string reason = "refused scope (403 kForbidden): Consent " +
                               std::string(policy::InteractionName(interaction));
    auto refused = fhir::ErrorResponse(
        MakeError(ErrorCode::kForbidden, "the participant's scopes do not allow " +
                                             std::string(policy::InteractionName(interaction)) +
                                             " on Consent"));
    if (ledger_ == nullptr) {
      respond(std::move(refused));
      return;
    }
    // The patient, when the query names one, so the refusal shows in their journey.
    hop_context.nhs_number = PatientNamedIn(request.Query());
    blocking_([this, hop_context = std::move(hop_context), reason, refused = std::move(refused),
               respond = std::move(respond)]() mutable {
      RecordAccess(*ledger_, AccessRefusalHop(hop_context, reason, core::ToUnixMs(clock_.Now())));
      respond(std::move(refused));
    });
    return;
  }
  if (records_ == nullptr) {
    respond(fhir::ErrorResponse(
        MakeError(ErrorCode::kUnsupportedMessage, "no consent store is configured")));
    return;
  }

  blocking_([this, request = std::move(request), id = std::move(id), interaction,
             requester = std::move(requester), hop_context = std::move(hop_context),
             respond = std::move(respond)]() mutable {
    const std::int64_t now = core::ToUnixMs(clock_.Now());
    if (interaction == Interaction::kCreate || interaction == Interaction::kUpdate) {
      auto document = fhir::ParseJson(request.body);
      if (!document) {
        respond(fhir::ErrorResponse(document.error()));
        return;
      }
      auto consent = policy::ParseConsent(*document);
      if (!consent) {
        respond(fhir::ErrorResponse(consent.error()));
        return;
      }
      std::int64_t version = 1;
      std::int64_t created = now;
      // If-Match (FHIR R4 http.html#concurrency): the version the client read, on an update.
      std::optional<std::int64_t> if_match;
      if (interaction == Interaction::kUpdate && request.headers.Has("If-Match")) {
        if_match = ParseIfMatch(request.headers.Get("If-Match"));
        if (!if_match) {
          respond(fhir::ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                                "If-Match must be W/\"<versionId>\"", "If-Match")));
          return;
        }
      }
      if (interaction == Interaction::kUpdate) {
        // Const: RapidJSON 1.1's `!=` on non-const member iterators is ambiguous in C++20.
        const rapidjson::Value& body = *document;
        const auto body_id = body.FindMember("id");
        if (body_id != body.MemberEnd() &&
            (!body_id->value.IsString() || body_id->value.GetString() != id)) {
          respond(fhir::ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                                "Consent.id does not match the id in the URL",
                                                "Consent.id")));
          return;
        }
        auto existing = records_->GetById(id);
        if (!existing) {
          respond(fhir::ErrorResponse(
              existing.error().code == ErrorCode::kNotFound
                  ? MakeError(ErrorCode::kNotFound,
                              "no such Consent; create one with POST /fhir/Consent")
                  : existing.error()));
          return;
        }
        // A Consent is about one patient for good: moving it would silently drop that patient's
        // refusal (and their journey would not show why), and hand the other patient a consent
        // they never gave. Refused before anything is recorded or stored.
        if (consent->nhs_number != existing->nhs_number) {
          respond(fhir::ErrorResponse(MakeError(
              ErrorCode::kInvalidValue,
              "Consent.patient cannot change: a stored Consent stays with its patient (create "
              "a new Consent for the other patient, and withdraw this one if it is wrong)",
              "Consent.patient")));
          return;
        }
        if (if_match && *if_match != existing->version) {
          respond(fhir::ErrorResponse(
              MakeError(ErrorCode::kPreconditionFailed,
                        "If-Match names version " + std::to_string(*if_match) +
                            " but the Consent is at version " + std::to_string(existing->version),
                        "If-Match")));
          return;
        }
        version = existing->version + 1;
        created = existing->created_at_ms;
      } else {
        id = ids_.Next();
      }
      Stamp(*document, id, version, now);
      core::ConsentRecord record{
          id,      consent->nhs_number,     std::string(StatusCode(consent->status)),
          version, fhir::ToJson(*document), created,
          now};
      // Recorded before it is stored: a consent never changes without its record (a write that
      // then fails leaves the record of the attempt and a record of the failure).
      hop_context.nhs_number = record.nhs_number;
      const std::string target = "Consent/" + id + "/_history/" + std::to_string(version);
      if (ledger_ != nullptr &&
          !RecordAccess(*ledger_, WriteHop(hop_context, target, record.json,
                                           std::string(policy::InteractionName(interaction)) +
                                               " status=" + record.status,
                                           now))) {
        respond(fhir::ErrorResponse(
            MakeError(ErrorCode::kStorage,
                      "the audit record of this change could not be written, so the Consent "
                      "was not stored; try again later")));
        return;
      }
      // The store writes only over the version read above (compare-and-set): a writer that
      // read the same version and stored first wins, this one is refused (409, or 412 to a
      // client that sent If-Match), so neither change is silently lost.
      if (core::Status stored = records_->Put(record); !stored) {
        if (ledger_ != nullptr) {
          RecordAccess(*ledger_, FailedWriteHop(hop_context, target, stored.error(), now));
        }
        if (stored.error().code == ErrorCode::kConflict) {
          respond(fhir::ErrorResponse(MakeError(
              if_match ? ErrorCode::kPreconditionFailed : ErrorCode::kConflict,
              interaction == Interaction::kCreate
                  ? std::string("a Consent with the new id exists; try again")
                  : "the Consent changed since it was read (another update stored version " +
                        std::to_string(version) + " first); read it again and retry",
              interaction == Interaction::kCreate ? "Consent.id" : "Consent.meta.versionId")));
          return;
        }
        respond(fhir::ErrorResponse(stored.error()));
        return;
      }
      Log().Info("consent_stored",
                 {{"requester", requester},
                  {"interaction", std::string(policy::InteractionName(interaction))},
                  {"consent", id},
                  {"version", std::to_string(version)},
                  {"status", record.status}});
      const int status = interaction == Interaction::kCreate ? 201 : 200;
      core::HttpResponse response;
      switch (ReturnPreferenceOf(request.headers)) {
        case ReturnPreference::kRepresentation:
          response = fhir::JsonResponse(status, std::move(record.json));
          break;
        case ReturnPreference::kMinimal:
          response.status = status;
          break;
        case ReturnPreference::kOperationOutcome:
          response =
              fhir::JsonResponse(status, StoredOutcomeJson(policy::UnevaluableElements(*consent)));
          break;
      }
      response.headers.Set("Location", "Consent/" + id + "/_history/" + std::to_string(version));
      response.headers.Set("ETag", "W/\"" + std::to_string(version) + "\"");
      respond(std::move(response));
      return;
    }
    if (interaction == Interaction::kRead) {
      auto record = records_->GetById(id);
      if (!record) {
        respond(fhir::ErrorResponse(record.error()));
        return;
      }
      hop_context.nhs_number = record->nhs_number;
      core::HttpResponse response = fhir::JsonResponse(200, std::move(record->json));
      response.headers.Set("ETag", "W/\"" + std::to_string(record->version) + "\"");
      RespondWhenAccessRecorded(ledger_, ReadHop(hop_context, 1, now), std::move(response),
                                respond);
      return;
    }
    // Search: by patient NHS number only (every consent is about one patient).
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
    std::optional<std::string> nhs_number;
    for (const fhir::SearchParam& param : *params) {
      if (param.name == "patient" && param.modifier == "identifier") {
        const std::string prefix = std::string(core::kNhsNumberSystem) + "|";
        if (nhs_number || param.value.rfind(prefix, 0) != 0 ||
            !core::IsValidNhsNumber(param.value.substr(prefix.size()))) {
          respond(
              fhir::ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                            "patient:identifier must be one "
                                            "https://fhir.nhs.uk/Id/nhs-number|<valid NHS number>",
                                            "patient:identifier")));
          return;
        }
        nhs_number = param.value.substr(prefix.size());
      } else if (!param.name.starts_with("_")) {
        respond(fhir::ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                              "unsupported Consent search parameter " + param.name,
                                              param.name)));
        return;
      }
    }
    if (!nhs_number) {
      respond(fhir::ErrorResponse(MakeError(ErrorCode::kRequiredFieldMissing,
                                            "search Consent by patient:identifier",
                                            "patient:identifier")));
      return;
    }
    auto records = records_->GetByNhsNumber(*nhs_number);
    if (!records) {
      respond(fhir::ErrorResponse(records.error()));
      return;
    }
    rapidjson::Document bundle(rapidjson::kObjectType);
    auto& alloc = bundle.GetAllocator();
    bundle.AddMember("resourceType", "Bundle", alloc);
    bundle.AddMember("type", "searchset", alloc);
    bundle.AddMember("total", static_cast<std::uint64_t>(records->size()), alloc);
    rapidjson::Value entries(rapidjson::kArrayType);
    for (const core::ConsentRecord& record : *records) {
      rapidjson::Document resource;
      resource.Parse(record.json.c_str(), record.json.size());
      if (resource.HasParseError()) {
        respond(fhir::ErrorResponse(
            MakeError(ErrorCode::kStorage, "a stored consent is not JSON", "consent")));
        return;
      }
      rapidjson::Value entry(rapidjson::kObjectType);
      entry.AddMember("fullUrl", rapidjson::Value(("Consent/" + record.id).c_str(), alloc), alloc);
      entry.AddMember("resource", rapidjson::Value(resource, alloc), alloc);
      rapidjson::Value mode(rapidjson::kObjectType);
      mode.AddMember("mode", "match", alloc);
      entry.AddMember("search", mode, alloc);
      entries.PushBack(entry, alloc);
    }
    if (!entries.Empty()) {
      bundle.AddMember("entry", entries, alloc);
    }
    hop_context.nhs_number = *nhs_number;
    RespondWhenAccessRecorded(ledger_, ReadHop(hop_context, records->size(), now),
                              fhir::JsonResponse(200, fhir::ToJson(bundle)), respond);
  });
}

}  // namespace tb::app
