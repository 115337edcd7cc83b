#include "adapters/fhir/capability_statement.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "adapters/fhir/json.h"

namespace tb::fhir {
namespace {

using Allocator = rapidjson::Document::AllocatorType;
using core::ErrorCode;
using core::MakeError;

constexpr std::array<std::string_view, 9> kTypeInteractions = {
    "read",   "vread",           "update",       "patch",      "delete",
    "create", "history-instance", "history-type", "search-type"};
constexpr std::array<std::string_view, 4> kSystemInteractions = {
    "transaction", "batch", "search-system", "history-system"};
constexpr std::array<std::string_view, 9> kSearchParamTypes = {
    "number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"};
constexpr std::array<std::string_view, 4> kStatuses = {"draft", "active", "retired", "unknown"};

constexpr std::string_view kSecurityServiceSystem =
    "http://terminology.hl7.org/CodeSystem/restful-security-service";

template <std::size_t N>
bool OneOf(const std::array<std::string_view, N>& codes, std::string_view code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

std::string Indexed(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

void AddString(rapidjson::Value& object, const char* name, std::string_view text,
               Allocator& allocator) {
  if (!text.empty()) {
    object.AddMember(rapidjson::StringRef(name), StringValue(text, allocator), allocator);
  }
}

core::Result<rapidjson::Value> MakeInteractions(const std::vector<std::string>& codes,
                                                bool system_level, const std::string& location,
                                                Allocator& allocator) {
  rapidjson::Value list(rapidjson::kArrayType);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const bool known = system_level ? OneOf(kSystemInteractions, codes[i])
                                    : OneOf(kTypeInteractions, codes[i]);
    if (!known) {
      return MakeError(ErrorCode::kInvalidValue, "not an R4 interaction code",
                       Indexed(location, i));
    }
    rapidjson::Value interaction(rapidjson::kObjectType);
    interaction.AddMember("code", StringValue(codes[i], allocator), allocator);
    list.PushBack(interaction, allocator);
  }
  return list;
}

core::Result<rapidjson::Value> MakeOperations(const std::vector<OperationSpec>& operations,
                                              const std::string& location,
                                              Allocator& allocator) {
  rapidjson::Value list(rapidjson::kArrayType);
  for (std::size_t i = 0; i < operations.size(); ++i) {
    const OperationSpec& spec = operations[i];
    if (spec.name.empty() || spec.definition.empty()) {
      return MakeError(ErrorCode::kRequiredFieldMissing,
                       "an operation needs a name and a definition", Indexed(location, i));
    }
    rapidjson::Value operation(rapidjson::kObjectType);
    AddString(operation, "name", spec.name, allocator);
    AddString(operation, "definition", spec.definition, allocator);
    AddString(operation, "documentation", spec.documentation, allocator);
    list.PushBack(operation, allocator);
  }
  return list;
}

core::Result<rapidjson::Value> MakeResource(const ResourceSpec& spec, const std::string& location,
                                            Allocator& allocator) {
  if (spec.type.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "a resource needs a type",
                     location + ".type");
  }
  rapidjson::Value resource(rapidjson::kObjectType);
  AddString(resource, "type", spec.type, allocator);
  AddString(resource, "profile", spec.profile, allocator);
  AddString(resource, "documentation", spec.documentation, allocator);
  if (!spec.interactions.empty()) {
    core::Result<rapidjson::Value> interactions =
        MakeInteractions(spec.interactions, false, location + ".interaction", allocator);
    if (!interactions) {
      return std::move(interactions).error();
    }
    resource.AddMember("interaction", *interactions, allocator);
  }
  if (!spec.search_params.empty()) {
    rapidjson::Value params(rapidjson::kArrayType);
    for (std::size_t i = 0; i < spec.search_params.size(); ++i) {
      const SearchParamSpec& param_spec = spec.search_params[i];
      const std::string param_location = Indexed(location + ".searchParam", i);
      if (param_spec.name.empty()) {
        return MakeError(ErrorCode::kRequiredFieldMissing, "a search parameter needs a name",
                         param_location + ".name");
      }
      if (!OneOf(kSearchParamTypes, param_spec.type)) {
        return MakeError(ErrorCode::kInvalidValue, "not an R4 search parameter type",
                         param_location + ".type");
      }
      rapidjson::Value param(rapidjson::kObjectType);
      AddString(param, "name", param_spec.name, allocator);
      AddString(param, "definition", param_spec.definition, allocator);
      AddString(param, "type", param_spec.type, allocator);
      AddString(param, "documentation", param_spec.documentation, allocator);
      params.PushBack(param, allocator);
    }
    resource.AddMember("searchParam", params, allocator);
  }
  if (!spec.operations.empty()) {
    core::Result<rapidjson::Value> operations =
        MakeOperations(spec.operations, location + ".operation", allocator);
    if (!operations) {
      return std::move(operations).error();
    }
    resource.AddMember("operation", *operations, allocator);
  }
  return resource;
}

}  // namespace

core::Result<rapidjson::Document> BuildCapabilityStatement(const CapabilitySpec& spec) {
  if (spec.software_name.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "software name is required",
                     "CapabilityStatement.software.name");
  }
  if (spec.implementation_description.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "implementation description is required",
                     "CapabilityStatement.implementation.description");
  }
  if (spec.date.empty()) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "date is required",
                     "CapabilityStatement.date");
  }
  if (!OneOf(kStatuses, spec.status)) {
    return MakeError(ErrorCode::kInvalidValue, "not an R4 publication status",
                     "CapabilityStatement.status");
  }

  rapidjson::Document statement;
  statement.SetObject();
  Allocator& allocator = statement.GetAllocator();
  statement.AddMember("resourceType", "CapabilityStatement", allocator);
  AddString(statement, "status", spec.status, allocator);
  AddString(statement, "date", spec.date, allocator);
  AddString(statement, "publisher", spec.publisher, allocator);
  statement.AddMember("kind", "instance", allocator);

  rapidjson::Value software(rapidjson::kObjectType);
  AddString(software, "name", spec.software_name, allocator);
  AddString(software, "version", spec.software_version, allocator);
  statement.AddMember("software", software, allocator);

  rapidjson::Value implementation(rapidjson::kObjectType);
  AddString(implementation, "description", spec.implementation_description, allocator);
  AddString(implementation, "url", spec.implementation_url, allocator);
  statement.AddMember("implementation", implementation, allocator);

  statement.AddMember("fhirVersion", "4.0.1", allocator);
  rapidjson::Value formats(rapidjson::kArrayType);
  formats.PushBack("application/fhir+json", allocator);
  statement.AddMember("format", formats, allocator);

  rapidjson::Value rest(rapidjson::kObjectType);
  rest.AddMember("mode", "server", allocator);
  if (spec.certificates || !spec.security_description.empty()) {
    rapidjson::Value security(rapidjson::kObjectType);
    security.AddMember("cors", false, allocator);
    if (spec.certificates) {
      rapidjson::Value coding(rapidjson::kObjectType);
      coding.AddMember("system", Ref(kSecurityServiceSystem), allocator);
      coding.AddMember("code", "Certificates", allocator);
      coding.AddMember("display", "Certificates", allocator);
      rapidjson::Value codings(rapidjson::kArrayType);
      codings.PushBack(coding, allocator);
      rapidjson::Value service(rapidjson::kObjectType);
      service.AddMember("coding", codings, allocator);
      rapidjson::Value services(rapidjson::kArrayType);
      services.PushBack(service, allocator);
      security.AddMember("service", services, allocator);
    }
    AddString(security, "description", spec.security_description, allocator);
    rest.AddMember("security", security, allocator);
  }

  if (!spec.resources.empty()) {
    rapidjson::Value resources(rapidjson::kArrayType);
    for (std::size_t i = 0; i < spec.resources.size(); ++i) {
      core::Result<rapidjson::Value> resource = MakeResource(
          spec.resources[i], Indexed("CapabilityStatement.rest.resource", i), allocator);
      if (!resource) {
        return std::move(resource).error();
      }
      resources.PushBack(*resource, allocator);
    }
    rest.AddMember("resource", resources, allocator);
  }
  if (!spec.system_interactions.empty()) {
    core::Result<rapidjson::Value> interactions = MakeInteractions(
        spec.system_interactions, true, "CapabilityStatement.rest.interaction", allocator);
    if (!interactions) {
      return std::move(interactions).error();
    }
    rest.AddMember("interaction", *interactions, allocator);
  }
  if (!spec.system_operations.empty()) {
    core::Result<rapidjson::Value> operations = MakeOperations(
        spec.system_operations, "CapabilityStatement.rest.operation", allocator);
    if (!operations) {
      return std::move(operations).error();
    }
    rest.AddMember("operation", *operations, allocator);
  }
  rapidjson::Value rests(rapidjson::kArrayType);
  rests.PushBack(rest, allocator);
  statement.AddMember("rest", rests, allocator);
  return statement;
}

}  // namespace tb::fhir
