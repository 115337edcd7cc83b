#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

// The parts of a FHIR R4 TestScript (JSON) that the runner executes, read into plain structs.
// Elements the runner does not execute are kept as names in `unsupported`, so that the report
// can say "skipped: unsupported" instead of passing silently.
namespace tb::conformance {

// The operation type code (testscript-operation-codes) that marks the HL7 v2 extension step:
// send the fixture named by `sourceId` (ER7 text) over MLLP/TLS and keep the ACK as the response.
inline constexpr std::string_view kHl7v2SendCode = "hl7v2-send";

struct Variable {
  std::string name;
  std::string default_value;
  std::string expression;    // FHIRPath against source_id (or the last response)
  std::string path;          // a FHIRPath-compatible path (XPath is not supported)
  std::string header_field;  // a response header of source_id (or the last response)
  std::string source_id;
};

struct Fixture {
  std::string id;
  std::string reference;  // "#contained-id" or a file path relative to the script
  bool autocreate = false;
  bool autodelete = false;
};

struct RequestHeader {
  std::string field;
  std::string value;
};

struct Operation {
  std::string type_system;
  std::string type_code;  // read, search, create, ..., a custom operation, or hl7v2-send
  std::string resource;   // resource type
  std::string label;
  std::string description;
  std::string accept;        // MIME type or the STU3 shorthands json / xml
  std::string content_type;  // idem
  bool encode_request_url = true;
  std::string method;  // delete get options patch post put head; empty = from the type
  std::string params;  // "/id" or "?name=value"
  std::vector<RequestHeader> request_headers;
  std::string request_id;
  std::string response_id;
  std::string source_id;                 // the body (a fixture or an earlier response)
  std::string target_id;                 // whose id to use in the URL
  std::string url;                       // absolute, or relative to the target base
  std::vector<std::string> unsupported;  // element names present but not executed
};

struct Assert {
  std::string label;
  std::string description;
  std::string direction;  // "response" (default) or "request"
  std::string compare_to_source_id;
  std::string compare_to_source_expression;
  std::string compare_to_source_path;
  std::string content_type;
  std::string expression;
  std::string header_field;
  std::string minimum_id;
  std::string op;  // operator; empty = equals
  std::string path;
  std::string request_method;
  std::string request_url;
  std::string resource;
  std::string response;  // okay, created, ...
  std::string response_code;
  std::string source_id;
  std::optional<std::string> value;
  bool warning_only = false;
  std::vector<std::string> unsupported;
};

struct Action {
  std::optional<Operation> operation;
  std::optional<Assert> assertion;
};

struct Test {
  std::string id;
  std::string name;
  std::string description;
  std::vector<Action> actions;
};

struct TestScript {
  std::filesystem::path file;  // where it was read from (fixtures resolve against its folder)
  std::string id;
  std::string name;
  std::string title;
  std::vector<Variable> variables;
  std::vector<Fixture> fixtures;
  std::vector<Action> setup;
  std::vector<Test> tests;
  std::vector<Action> teardown;
  // Contained resources by id, as compact JSON (fixtures "#id").
  std::vector<std::pair<std::string, std::string>> contained;
  std::vector<std::string> unsupported;  // top-level elements not executed (profile, origin...)

  // "title", else "name", else "id", else the file name.
  std::string DisplayName() const;
};

// Reads one TestScript from JSON text. Errors: kInvalidValue (not JSON, not a TestScript, an
// action that is neither operation nor assert) with a FHIRPath location such as
// "TestScript.test[1].action[0]".
core::Result<TestScript> ParseTestScript(std::string_view json, const std::filesystem::path& file);

// A file, or every *.json file of a folder (recursively, sorted by path) whose resourceType is
// TestScript; other JSON files (fixtures) are left for the scripts to reference. Errors:
// kNotFound (no such path, or a folder without a TestScript), kInvalidValue (a file that does not
// parse; the message names the file).
core::Result<std::vector<TestScript>> LoadSuite(const std::filesystem::path& path);

}  // namespace tb::conformance
