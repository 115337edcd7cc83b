#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/http_types.h"
#include "broker/core/result.h"
#include "conformance/report.h"
#include "conformance/test_script.h"

// Internal to the runner: what one TestScript run has seen so far, and the assert checker that
// reads it. Not part of the library's public API.
namespace tb::conformance::internal {

// A fixture, a request sent or a response received.
struct Payload {
  bool hl7 = false;    // ER7 text (a v2 fixture or an ACK), not FHIR JSON
  std::string method;  // requests
  std::string url;     // requests
  int status = 0;      // HTTP responses
  core::HttpHeaders headers;
  std::string body;
  std::shared_ptr<const rapidjson::Document> json;  // the body parsed, when it is JSON
  std::string created_id;  // an autocreated fixture: the id the server gave it

  // Sets `body` and parses it as JSON when it looks like JSON.
  void SetBody(std::string text);
};

// The state the asserts read.
struct RunState {
  std::map<std::string, Payload, std::less<>> sources;  // fixtures, responseId, requestId
  Payload last_request;
  Payload last_response;
  bool have_response = false;  // an operation of this run got an answer

  const Payload* Find(std::string_view id) const;
};

// Evaluates `expression` against a payload: FHIRPath over a JSON body, or an HL7 v2 path
// ("MSA-1", "ERR-3.1") over an ER7 one. Items as strings (FHIRPath toString forms).
// Errors: kInvalidValue (syntax, evaluation error, body that is not JSON).
core::Result<std::vector<std::string>> EvaluateItems(std::string_view expression,
                                                     const Payload& payload);
// FHIRPath boolean evaluation (empty -> false), for `eval` and value-less expression asserts.
core::Result<bool> EvaluateCondition(std::string_view expression, const Payload& payload);

// Checks one assert (already substituted) against the state. Sets outcome, message and actual
// (warningOnly is applied by the caller).
ActionResult CheckAssert(const Assert& assertion, const RunState& state);

}  // namespace tb::conformance::internal
