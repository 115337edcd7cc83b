#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"

// An R4 CapabilityStatement (GET /metadata) built from a plain description of what the server
// really supports. The builder invents nothing: every resource, interaction, search parameter and
// operation in the output comes from the spec the caller fills, so the statement tells the truth
// as long as the caller derives the spec from the routes it actually registers.
// Thread-safety: reentrant.
namespace tb::fhir {

struct SearchParamSpec {
  std::string name;           // "identifier"
  std::string type;           // number|date|string|token|reference|composite|quantity|uri|special
  std::string definition;     // canonical SearchParameter URL; optional
  std::string documentation;  // optional
};

struct OperationSpec {
  std::string name;        // "everything" (no '$')
  std::string definition;  // canonical OperationDefinition URL (required by R4)
  std::string documentation;
};

struct ResourceSpec {
  std::string type;  // "Patient"
  std::string profile;  // canonical StructureDefinition the server validates against; optional
  // read|vread|update|patch|delete|history-instance|history-type|create|search-type
  std::vector<std::string> interactions;
  std::vector<SearchParamSpec> search_params;
  std::vector<OperationSpec> operations;
  std::string documentation;
};

struct CapabilitySpec {
  std::string software_name;
  std::string software_version;
  std::string implementation_description;
  std::string implementation_url;  // the FHIR base URL; optional
  std::string date;                // FHIR dateTime of this statement (from an injected Clock)
  std::string publisher;           // optional
  std::string status = "active";   // draft|active|retired|unknown
  // How clients authenticate, in words; rendered with the "Certificates" security service
  // (mutual TLS) unless `certificates` is false.
  std::string security_description;
  bool certificates = true;
  std::vector<ResourceSpec> resources;
  std::vector<std::string> system_interactions;  // transaction|batch|search-system|history-system
  std::vector<OperationSpec> system_operations;   // e.g. process-message
};

// The CapabilityStatement (kind "instance", fhirVersion 4.0.1, format application/fhir+json,
// rest.mode "server"). kInvalidValue, located in the spec, when a code is not an R4 code
// (interaction, search parameter type, status) or a required field is empty.
core::Result<rapidjson::Document> BuildCapabilityStatement(const CapabilitySpec& spec);

}  // namespace tb::fhir
