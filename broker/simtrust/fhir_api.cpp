#include "broker/simtrust/fhir_api.h"

#include <algorithm>
#include <optional>
#include <random>
#include <set>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/capability_statement.h"
#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/json_string.h"
#include "adapters/fhir/operation_outcome.h"
#include "adapters/fhir/search_params.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/nhs_number.h"
#include "broker/core/whole_number.h"

namespace tb::simtrust {
namespace {

using core::ErrorCode;
using core::MakeError;

constexpr std::string_view kEverythingDefinition =
    "http://hl7.org/fhir/OperationDefinition/Patient-everything";
constexpr std::string_view kProcessMessageDefinition =
    "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message";

// Clinical types the demo data carries; the CapabilityStatement also lists any other type found.
const std::vector<std::string>& StandardTypes() {
  static const std::vector<std::string> types = {"Patient", "Observation", "Condition",
                                                 "AllergyIntolerance", "Encounter"};
  return types;
}

const core::Logger& Log() {
  static const core::Logger log("tb.simtrust.fhir");
  return log;
}

bool IsResourceType(std::string_view text) {
  return !text.empty() && text.size() <= 64 && text.front() >= 'A' && text.front() <= 'Z' &&
         std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return parts;
}

// Which patients a search is about; nullopt = not restricted.
using PatientSet = std::optional<std::set<std::size_t>>;

void Restrict(PatientSet& current, std::set<std::size_t> allowed) {
  if (!current) {
    current = std::move(allowed);
    return;
  }
  std::set<std::size_t> both;
  std::set_intersection(current->begin(), current->end(), allowed.begin(), allowed.end(),
                        std::inserter(both, both.begin()));
  current = std::move(both);
}

// fhir::SplitValues, without its byte-by-byte copy for the common single value (no ',' to split
// on, no '\\' escape to keep).
std::vector<std::string> SplitValuesOf(std::string_view value) {
  if (value.find_first_of(",\\") == std::string_view::npos) {
    return {std::string(value)};
  }
  return fhir::SplitValues(value);
}

// Patients matching an identifier token list (OR). A token in the NHS number system must carry a
// valid NHS number (else kInvalidValue, answered 400); tokens of other systems match nothing here.
core::Result<std::set<std::size_t>> ByIdentifier(const PatientStore& store,
                                                 std::string_view value) {
  std::set<std::size_t> out;
  for (const std::string& part : SplitValuesOf(value)) {
    const fhir::Token token = fhir::ParseToken(part);
    if (token.system && *token.system != core::kNhsNumberSystem) {
      continue;
    }
    if (!core::IsValidNhsNumber(token.code)) {
      if (!token.system) {
        // A bare code: only an NHS number could match; anything else is a client error.
        return MakeError(ErrorCode::kInvalidValue,
                         "identifier must be https://fhir.nhs.uk/Id/nhs-number|<valid NHS number>",
                         "identifier");
      }
      // In the NHS number system: the error as the broker words it (a valid number, the common
      // case, skips parsing the token a second time).
      auto checked = fhir::NhsNumberFromIdentifierToken(part);
      if (!checked) {
        return checked.error();
      }
    }
    if (const StoredResource* patient = store.FindPatientByNhsNumber(token.code)) {
      out.insert(patient->patient);
    }
  }
  return out;
}

// Patients named by a reference list (OR): "Patient/123", "123" or an absolute URL ending so.
std::set<std::size_t> ByReference(const PatientStore& store, std::string_view value) {
  std::set<std::size_t> out;
  for (const std::string& part : fhir::SplitValues(value)) {
    std::string_view reference = part;
    const auto marker = reference.rfind("Patient/");
    if (marker != std::string_view::npos) {
      reference.remove_prefix(marker + 8);
    }
    if (const StoredResource* patient = store.Find("Patient", reference)) {
      out.insert(patient->patient);
    }
  }
  return out;
}

// True when a CodeableConcept (or an array of them) has a coding matching the token list (OR).
bool MatchesToken(const rapidjson::Value* concepts, std::string_view value) {
  if (concepts == nullptr) {
    return false;
  }
  auto matches_concept = [&](const rapidjson::Value& codeable, const fhir::Token& token) {
    const rapidjson::Value* codings = fhir::FindArray(codeable, "coding");
    if (codings == nullptr) {
      return false;
    }
    for (const auto& coding : codings->GetArray()) {
      const auto system = fhir::FindString(coding, "system");
      const auto code = fhir::FindString(coding, "code");
      const bool system_ok =
          !token.system || (token.system->empty() ? !system.has_value() : system == *token.system);
      const bool code_ok = token.code.empty() || code == token.code;
      if (system_ok && code_ok) {
        return true;
      }
    }
    return false;
  };
  for (const std::string& part : fhir::SplitValues(value)) {
    const fhir::Token token = fhir::ParseToken(part);
    if (concepts->IsArray()) {
      for (const auto& codeable : concepts->GetArray()) {
        if (matches_concept(codeable, token)) {
          return true;
        }
      }
    } else if (matches_concept(*concepts, token)) {
      return true;
    }
  }
  return false;
}

}  // namespace

SimFhirApi::SimFhirApi(SimFhirApiSettings settings, const PatientStore& store,
                       ReceivedLog* received, const core::Clock& clock)
    : settings_(std::move(settings)),
      store_(store),
      received_(received),
      clock_(clock),
      capability_statement_(BuildCapabilityStatement()),
      entry_texts_(BuildEntryTexts()),
      id_prefix_(IdPrefix()) {}

std::unordered_map<const StoredResource*, std::string> SimFhirApi::BuildEntryTexts() const {
  std::unordered_map<const StoredResource*, std::string> texts;
  for (std::size_t patient = 0; patient < store_.patient_count(); ++patient) {
    for (const StoredResource* resource : store_.ForPatient(patient)) {
      // One entry as BundleBuilder::AddResource makes it, written by the same JSON writer.
      fhir::BundleBuilder one(fhir::BundleType::kSearchset);
      one.AddResource(*resource->json,
                      settings_.base_url + "/" + resource->type + "/" + resource->id);
      const rapidjson::Document bundle = one.Build();
      texts.emplace(resource, fhir::ToJson(bundle["entry"][0]));
    }
  }
  return texts;
}

core::HttpResponse SimFhirApi::ErrorResponse(const core::Error& error) {
  return fhir::JsonResponse(fhir::HttpStatus(error), fhir::ToOperationOutcomeJson(error));
}

std::string SimFhirApi::IdPrefix() {
  char prefix[9];
  std::snprintf(prefix, sizeof prefix, "%08x", static_cast<std::uint32_t>(std::random_device{}()));
  return "sim-" + std::string(prefix) + "-";
}

std::string SimFhirApi::NextId() {
  return id_prefix_ + std::to_string(id_counter_.fetch_add(1) + 1);
}

core::HttpResponse SimFhirApi::Handle(const core::HttpRequest& request) {
  if (!settings_.clients.empty() && std::find(settings_.clients.begin(), settings_.clients.end(),
                                              request.peer.subject_cn) == settings_.clients.end()) {
    Log().Warn("client_refused", {{"peer_cn", request.peer.subject_cn}});
    return ErrorResponse(MakeError(
        ErrorCode::kForbidden, "this client certificate is not allowed at trust " + settings_.ods));
  }
  return Dispatch(request);
}

bool SimFhirApi::MayWrite(const core::HttpRequest& request) {
  if (request.method == "GET") {
    return false;
  }
  const std::string_view path = request.Path();
  const auto ends_with = [path](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  return !(request.method == "POST" && (ends_with("/_search") || ends_with("/$everything")));
}

core::HttpResponse SimFhirApi::Dispatch(const core::HttpRequest& request) {
  std::string_view path = request.Path();
  if (path != "/fhir" && path.rfind("/fhir/", 0) != 0) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "no such endpoint; the FHIR base is /fhir"));
  }
  path.remove_prefix(std::min<std::size_t>(path.size(), 6));
  const std::vector<std::string_view> parts = SplitPath(path);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  auto not_allowed = [] {
    return ErrorResponse(
        MakeError(ErrorCode::kMethodNotAllowed, "method not supported on this endpoint"));
  };

  if (parts.empty()) {  // [base]
    return post ? AcceptBundle(request, false) : not_allowed();
  }
  if (parts.size() == 1 && parts[0] == "metadata") {
    return get ? fhir::JsonResponse(200, capability_statement_) : not_allowed();
  }
  if (parts.size() == 1 && parts[0] == "$process-message") {
    return post ? AcceptBundle(request, true) : not_allowed();
  }
  if (parts.size() == 1 && parts[0] == "_page") {
    return get ? Page(request) : not_allowed();
  }
  if (!IsResourceType(parts[0])) {
    return ErrorResponse(MakeError(ErrorCode::kNotFound, "unknown endpoint or resource type"));
  }
  const std::string_view type = parts[0];
  if (parts.size() == 1) {
    return get ? Search(type, request, false) : not_allowed();
  }
  if (parts.size() == 2 && parts[1] == "_search") {
    return post ? Search(type, request, true) : not_allowed();
  }
  if (type == "Patient" && parts.size() == 2 && parts[1] == "$everything") {
    return get || post ? Everything(request, {}, post) : not_allowed();
  }
  if (type == "Patient" && parts.size() == 3 && parts[2] == "$everything") {
    return get || post ? Everything(request, parts[1], post) : not_allowed();
  }
  if (parts.size() == 2 && !parts[1].empty() && parts[1].front() != '$' &&
      parts[1].front() != '_') {
    return get ? Read(type, parts[1]) : not_allowed();
  }
  return ErrorResponse(MakeError(ErrorCode::kNotFound, "unknown endpoint"));
}

namespace {

// The parameters of a search: the query string, plus the form body for POST.
core::Result<std::vector<fhir::SearchParam>> SearchParams(const core::HttpRequest& request,
                                                          bool post) {
  auto params = fhir::ParseQueryString(request.Query());
  if (!params) {
    return params.error();
  }
  if (post && !request.body.empty()) {
    auto form = fhir::ParseFormBody(request.body);
    if (!form) {
      return form.error();
    }
    params->insert(params->end(), form->begin(), form->end());
  }
  return params;
}

}  // namespace

core::HttpResponse SimFhirApi::Search(std::string_view type, const core::HttpRequest& request,
                                      bool post) {
  auto params = SearchParams(request, post);
  if (!params) {
    return ErrorResponse(params.error());
  }
  PatientSet patients;
  std::vector<const fhir::SearchParam*> filters;
  for (const fhir::SearchParam& param : *params) {
    const bool patient_link = param.name == "patient" || param.name == "subject";
    if ((type == "Patient" && param.name == "identifier" && param.modifier.empty()) ||
        (patient_link && param.modifier == "identifier")) {
      auto matched = ByIdentifier(store_, param.value);
      if (!matched) {
        return ErrorResponse(matched.error());
      }
      Restrict(patients, std::move(*matched));
    } else if (patient_link && (param.modifier.empty() || param.modifier == "Patient")) {
      Restrict(patients, ByReference(store_, param.value));
    } else if (param.name == "_id" || param.name == "category" || param.name == "code") {
      filters.push_back(&param);
    }
    // Other parameters (_count, _format, date...) are ignored, as FHIR's lenient handling
    // allows; the simulated trust then returns more, never less, than a real server would.
  }

  std::vector<const StoredResource*> candidates;
  if (patients) {
    for (const std::size_t patient : *patients) {
      auto found = store_.ForPatient(patient, type);
      candidates.insert(candidates.end(), found.begin(), found.end());
    }
  } else {
    candidates = store_.OfType(type);
  }
  std::vector<const StoredResource*> matches;
  for (const StoredResource* resource : candidates) {
    bool keep = true;
    for (const fhir::SearchParam* filter : filters) {
      if (filter->name == "_id") {
        const auto ids = fhir::SplitValues(filter->value);
        keep = keep && std::find(ids.begin(), ids.end(), resource->id) != ids.end();
      } else {
        keep = keep && MatchesToken(fhir::FindMember(*resource->json, filter->name), filter->value);
      }
    }
    if (keep) {
      matches.push_back(resource);
    }
  }
  Log().Debug("search", {{"type", std::string(type)},
                         {"params", std::to_string(params->size())},
                         {"matches", std::to_string(matches.size())}});
  return Searchset(type, matches);
}

core::HttpResponse SimFhirApi::Read(std::string_view type, std::string_view id) {
  const StoredResource* resource = store_.Find(type, id);
  if (resource == nullptr) {
    return ErrorResponse(
        MakeError(ErrorCode::kNotFound, "no " + std::string(type) + " with that id at this trust"));
  }
  return fhir::JsonResponse(200, fhir::ToJson(*resource->json));
}

core::HttpResponse SimFhirApi::Everything(const core::HttpRequest& request,
                                          std::string_view patient_id, bool post) {
  std::vector<const StoredResource*> resources;
  if (!patient_id.empty()) {
    const StoredResource* patient = store_.Find("Patient", patient_id);
    if (patient == nullptr) {
      return ErrorResponse(
          MakeError(ErrorCode::kNotFound, "no Patient with that id at this trust"));
    }
    return Searchset("Patient", store_.ForPatient(patient->patient));
  }
  auto params = SearchParams(request, post);
  if (!params) {
    return ErrorResponse(params.error());
  }
  const fhir::SearchParam* identifier = nullptr;
  for (const fhir::SearchParam& param : *params) {
    if (param.name == "identifier" && param.modifier.empty()) {
      identifier = &param;
    }
  }
  if (identifier == nullptr) {
    return ErrorResponse(MakeError(ErrorCode::kRequiredFieldMissing,
                                   "Patient/$everything needs identifier=" +
                                       std::string(core::kNhsNumberSystem) + "|<NHS number>",
                                   "identifier"));
  }
  auto nhs_number = fhir::NhsNumberFromIdentifierToken(identifier->value);
  if (!nhs_number) {
    return ErrorResponse(nhs_number.error());
  }
  if (const StoredResource* patient = store_.FindPatientByNhsNumber(*nhs_number)) {
    resources = store_.ForPatient(patient->patient);
  }
  return Searchset("Patient", resources);
}

// Searchsets kept for paging (SimFhirApiSettings::page_size): a client that pages through more
// than this many at once finds the oldest gone (404), as with a server's page cache expiring.
constexpr std::size_t kKeptSearchsets = 1024;

core::HttpResponse SimFhirApi::Searchset(std::string_view self_type,
                                         const std::vector<const StoredResource*>& resources) {
  if (settings_.page_size == 0 || resources.size() <= settings_.page_size) {
    return WriteSearchset(self_type, resources, 0, resources.size(), {});
  }
  std::string token = NextId();
  std::string next = NextPageUrl(token, settings_.page_size);
  {
    std::lock_guard lock(pages_mutex_);
    if (paged_.size() >= kKeptSearchsets) {
      paged_.pop_front();
    }
    paged_.push_back(PagedSearchset{std::move(token), std::string(self_type), resources});
  }
  return WriteSearchset(self_type, resources, 0, settings_.page_size, next);
}

core::HttpResponse SimFhirApi::Page(const core::HttpRequest& request) {
  std::string token;
  std::optional<std::size_t> offset;
  if (auto params = fhir::ParseQueryString(request.Query())) {
    for (const fhir::SearchParam& param : *params) {
      if (param.name == "token") {
        token = param.value;
      } else if (param.name == "offset") {
        offset = core::ParseWholeNumber<std::size_t>(param.value);
      }
    }
  }
  std::lock_guard lock(pages_mutex_);
  for (const PagedSearchset& searchset : paged_) {
    if (searchset.token == token && offset && *offset < searchset.resources.size()) {
      const std::size_t count = std::min(settings_.page_size, searchset.resources.size() - *offset);
      const bool more = *offset + count < searchset.resources.size();
      return WriteSearchset(searchset.self_type, searchset.resources, *offset, count,
                            more ? NextPageUrl(token, *offset + count) : std::string());
    }
  }
  return ErrorResponse(MakeError(ErrorCode::kNotFound, "no such page (unknown or expired)"));
}

std::string SimFhirApi::NextPageUrl(const std::string& token, std::size_t offset) const {
  return settings_.base_url + "/_page?token=" + token + "&offset=" + std::to_string(offset);
}

core::HttpResponse SimFhirApi::WriteSearchset(std::string_view self_type,
                                              const std::vector<const StoredResource*>& resources,
                                              std::size_t offset, std::size_t count,
                                              const std::string& next_url) {
  // BundleBuilder's member order and escaping, written straight into the answer (no DOM for the
  // head), with the entries' text written at start.
  const std::size_t end = offset + count;
  std::size_t size = 200 + settings_.base_url.size() + self_type.size() + count + next_url.size();
  for (std::size_t i = offset; i < end; ++i) {
    size += entry_texts_.at(resources[i]).size();
  }
  std::string text;
  text.reserve(size);
  text += R"({"resourceType":"Bundle","id":)";
  fhir::AppendJsonString(text, NextId());
  text += R"(,"type":"searchset","timestamp":)";
  fhir::AppendJsonString(text, core::FormatInstant(clock_.Now()));
  text += R"(,"total":)";
  text += std::to_string(resources.size());
  // The query is left out of the self link: it may carry an NHS number.
  text += R"(,"link":[{"relation":"self","url":)";
  std::string self = settings_.base_url;
  self += '/';
  self += self_type;
  fhir::AppendJsonString(text, self);
  text += '}';
  if (!next_url.empty()) {
    text += R"(,{"relation":"next","url":)";
    fhir::AppendJsonString(text, next_url);
    text += '}';
  }
  text += ']';
  if (count > 0) {
    text += ",\"entry\":[";
    for (std::size_t i = offset; i < end; ++i) {
      if (i > offset) {
        text += ',';
      }
      text += entry_texts_.at(resources[i]);
    }
    text += ']';
  }
  text += '}';
  return fhir::JsonResponse(200, std::move(text));
}

core::HttpResponse SimFhirApi::AcceptBundle(const core::HttpRequest& request, bool message_only) {
  fhir::JsonLimits limits;
  limits.max_bytes = settings_.max_body_bytes;
  auto document = fhir::ParseJson(request.body, limits);
  if (!document) {
    return ErrorResponse(document.error());
  }
  const rapidjson::Value& bundle = *document;
  if (fhir::FindString(bundle, "resourceType") != "Bundle") {
    return ErrorResponse(
        MakeError(ErrorCode::kInvalidValue, "the body must be a Bundle", "Bundle.resourceType"));
  }
  auto bundle_type = fhir::GetString(bundle, "type", "Bundle");
  if (!bundle_type) {
    return ErrorResponse(bundle_type.error());
  }
  const bool is_message = *bundle_type == "message";
  const bool is_batch = *bundle_type == "transaction" || *bundle_type == "batch";
  if (!is_message && (message_only || !is_batch)) {
    return ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                   message_only
                                       ? "$process-message takes a message Bundle"
                                       : "POST [base] takes a message, transaction or batch Bundle",
                                   "Bundle.type"));
  }
  const rapidjson::Value* entries = fhir::FindArray(bundle, "entry");
  static const rapidjson::Value kEmptyArray(rapidjson::kArrayType);
  if (entries == nullptr) {
    entries = &kEmptyArray;
  }

  ReceivedMessage received;
  received.protocol = "fhir";
  received.sender = request.peer.subject_cn;
  received.received_at = clock_.Now();
  received.control_id = std::string(fhir::FindString(bundle, "id").value_or(""));
  received.type = std::string(*bundle_type);
  const rapidjson::Value* header = nullptr;
  rapidjson::SizeType index = 0;
  for (const auto& entry : entries->GetArray()) {
    const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
    const auto type =
        resource != nullptr ? fhir::FindString(*resource, "resourceType") : std::nullopt;
    if (is_message && index == 0) {
      if (type != "MessageHeader") {
        return ErrorResponse(MakeError(ErrorCode::kInvalidValue,
                                       "a message Bundle starts with its MessageHeader",
                                       "Bundle.entry[0].resource"));
      }
      header = resource;
    }
    if (type == "Patient" && received.nhs_number.empty()) {
      received.nhs_number = NhsNumberOf(*resource);
      if (!received.nhs_number.empty() && !core::IsValidNhsNumber(received.nhs_number)) {
        return ErrorResponse(
            MakeError(ErrorCode::kInvalidValue, "invalid NHS number",
                      "Bundle.entry[" + std::to_string(index) + "].resource.identifier"));
      }
    }
    ++index;
  }
  if (is_message) {
    if (header == nullptr) {
      return ErrorResponse(MakeError(ErrorCode::kRequiredFieldMissing,
                                     "a message Bundle needs a MessageHeader", "Bundle.entry"));
    }
    if (received.control_id.empty()) {
      return ErrorResponse(
          MakeError(ErrorCode::kRequiredFieldMissing, "a message Bundle needs an id", "Bundle.id"));
    }
    const rapidjson::Value* coding = fhir::FindObject(*header, "eventCoding");
    const auto code = coding != nullptr ? fhir::FindString(*coding, "code") : std::nullopt;
    const auto uri = fhir::FindString(*header, "eventUri");
    if (!code && !uri) {
      return ErrorResponse(MakeError(ErrorCode::kRequiredFieldMissing,
                                     "the MessageHeader has no event", "MessageHeader.event[x]"));
    }
    received.type = std::string(code ? *code : *uri);
  }

  if (received_ != nullptr) {
    if (core::Status stored = received_->Append(received); !stored) {
      Log().Error("received_log_failed", {{"reason", stored.error().message}});
      return ErrorResponse(stored.error());
    }
  }
  Log().Info("message_received", {{"protocol", "fhir"},
                                  {"type", received.type},
                                  {"control_id", received.control_id},
                                  {"sender", received.sender}});

  if (!is_message) {
    fhir::BundleBuilder reply(*bundle_type == "transaction" ? fhir::BundleType::kTransactionResponse
                                                            : fhir::BundleType::kBatchResponse);
    reply.SetId(NextId());
    for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
      fhir::BundleEntry entry;
      entry.response = fhir::EntryResponse{"200 OK", {}, {}, {}};
      reply.AddEntry(entry);
    }
    return fhir::JsonResponse(200, reply.BuildJson());
  }

  // The response message: a MessageHeader answering the request's (FHIR messaging).
  rapidjson::Document answer(rapidjson::kObjectType);
  auto& allocator = answer.GetAllocator();
  const std::string header_id = NextId();
  answer.AddMember("resourceType", "MessageHeader", allocator);
  answer.AddMember("id", fhir::StringValue(header_id, allocator), allocator);
  if (const rapidjson::Value* coding = fhir::FindObject(*header, "eventCoding")) {
    answer.AddMember("eventCoding", rapidjson::Value(*coding, allocator), allocator);
  } else {
    answer.AddMember(
        "eventUri", rapidjson::Value(*fhir::FindMember(*header, "eventUri"), allocator), allocator);
  }
  rapidjson::Value source(rapidjson::kObjectType);
  source.AddMember("name", fhir::StringValue(settings_.name, allocator), allocator);
  source.AddMember("endpoint", fhir::StringValue(settings_.base_url, allocator), allocator);
  answer.AddMember("source", source, allocator);
  rapidjson::Value response(rapidjson::kObjectType);
  response.AddMember(
      "identifier",
      fhir::StringValue(fhir::FindString(*header, "id").value_or(received.control_id), allocator),
      allocator);
  response.AddMember("code", "ok", allocator);
  answer.AddMember("response", response, allocator);

  fhir::BundleBuilder reply(fhir::BundleType::kMessage);
  reply.SetId(NextId());
  reply.SetTimestamp(core::FormatInstant(clock_.Now()));
  reply.AddResource(answer, settings_.base_url + "/MessageHeader/" + header_id);
  return fhir::JsonResponse(200, reply.BuildJson());
}

std::string SimFhirApi::BuildCapabilityStatement() const {
  fhir::CapabilitySpec spec;
  spec.software_name = "trustbridge simulate-trust";
  spec.software_version = "0.1.0";
  spec.implementation_description =
      settings_.name + " (ODS " + settings_.ods + "): synthetic patients, for demos and tests";
  spec.implementation_url = settings_.base_url;
  spec.date = "2026-01-01";
  spec.publisher = settings_.name;
  spec.security_description = "Mutual TLS: clients present a certificate of the trusted CA.";
  std::set<std::string> types(StandardTypes().begin(), StandardTypes().end());
  const std::set<std::string> held = store_.Types();
  types.insert(held.begin(), held.end());
  for (const std::string& type : types) {
    fhir::ResourceSpec resource;
    resource.type = type;
    resource.interactions = {"read", "search-type"};
    resource.search_params.push_back({"_id", "token", {}, {}});
    if (type == "Patient") {
      resource.search_params.push_back({"identifier", "token",
                                        "http://hl7.org/fhir/SearchParameter/Patient-identifier",
                                        "NHS number: https://fhir.nhs.uk/Id/nhs-number|N"});
      resource.operations.push_back({"everything", std::string(kEverythingDefinition),
                                     "by id, or Patient/$everything?identifier=...|N"});
    } else {
      resource.search_params.push_back(
          {"patient",
           "reference",
           {},
           "also patient:identifier=https://fhir.nhs.uk/Id/nhs-number|N"});
      resource.search_params.push_back({"subject", "reference", {}, {}});
      resource.search_params.push_back({"category", "token", {}, {}});
      resource.search_params.push_back({"code", "token", {}, {}});
    }
    spec.resources.push_back(std::move(resource));
  }
  spec.system_interactions = {"transaction", "batch"};
  spec.system_operations.push_back({"process-message", std::string(kProcessMessageDefinition),
                                    "accepts delivered FHIR messages"});
  auto statement = fhir::BuildCapabilityStatement(spec);
  if (!statement) {
    // The spec above is fixed; this is a bug, not a runtime condition.
    Log().Error("capability_statement_failed", {{"reason", statement.error().message}});
    return fhir::ToOperationOutcomeJson(statement.error());
  }
  return fhir::ToJson(*statement);
}

}  // namespace tb::simtrust
