#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/error.h"

// OperationOutcome rendering of core::Error: the FHIR wire form of every broker error (STYLE.md
// section 4). The HTTP status and issue.code come from error_codes.def, so they never drift from
// the v2 ACK rendering of the same error.
//
// Rendering rules for one issue:
//   severity        from Issue::severity ("error" for the single-Error overloads)
//   code            core::Info(error.code).issue_code
//   details.text    error.message (which by contract carries no PHI)
//   expression      [error.location] when it is a FHIRPath (e.g. "Patient.birthDate[0]")
//   location        [error.location] otherwise (a v2 position "PID-3", a JSON pointer, an offset)
// Thread-safety: all functions are reentrant.
namespace tb::fhir {

enum class IssueSeverity { kFatal, kError, kWarning, kInformation };

// "fatal" | "error" | "warning" | "information"
const char* SeverityCode(IssueSeverity severity);

struct Issue {
  IssueSeverity severity = IssueSeverity::kError;
  core::Error error;
};

// A complete OperationOutcome resource as compact JSON.
std::string ToOperationOutcomeJson(const core::Error& error);
std::string ToOperationOutcomeJson(const std::vector<Issue>& issues);
// All with the same severity.
std::string ToOperationOutcomeJson(const std::vector<core::Error>& errors,
                                   IssueSeverity severity = IssueSeverity::kError);

// The OperationOutcome as a value allocated in `allocator`, e.g. a Bundle's, for embedding as a
// Bundle entry (search.mode "outcome") or Bundle.entry.response.outcome.
rapidjson::Value MakeOperationOutcome(const std::vector<Issue>& issues,
                                      rapidjson::Document::AllocatorType& allocator);
rapidjson::Value MakeOperationOutcome(const core::Error& error, IssueSeverity severity,
                                      rapidjson::Document::AllocatorType& allocator);

// The HTTP status for a response carrying this error (error_codes.def).
int HttpStatus(const core::Error& error);
// The status of the first fatal/error issue, or 200 when there is none (warnings only).
int HttpStatus(const std::vector<Issue>& issues);

// True when `location` reads as a FHIRPath expression and so belongs in issue.expression.
bool IsFhirPathLocation(std::string_view location);

}  // namespace tb::fhir
