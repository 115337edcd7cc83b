#include "adapters/fhir/operation_outcome.h"

#include "adapters/fhir/json.h"

namespace tb::fhir {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

bool IsAsciiAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

rapidjson::Value MakeIssue(const Issue& issue, Allocator& allocator) {
  rapidjson::Value value(rapidjson::kObjectType);
  value.AddMember("severity", rapidjson::StringRef(SeverityCode(issue.severity)), allocator);
  const std::string_view issue_code = core::Info(issue.error.code).issue_code;
  value.AddMember("code", StringValue(issue_code, allocator), allocator);
  if (!issue.error.message.empty()) {
    rapidjson::Value details(rapidjson::kObjectType);
    details.AddMember("text", StringValue(issue.error.message, allocator), allocator);
    value.AddMember("details", details, allocator);
  }
  if (!issue.error.location.empty()) {
    rapidjson::Value where(rapidjson::kArrayType);
    where.PushBack(StringValue(issue.error.location, allocator), allocator);
    if (IsFhirPathLocation(issue.error.location)) {
      value.AddMember("expression", where, allocator);
    } else {
      value.AddMember("location", where, allocator);
    }
  }
  return value;
}

bool IsFailure(IssueSeverity severity) {
  return severity == IssueSeverity::kFatal || severity == IssueSeverity::kError;
}

}  // namespace

const char* SeverityCode(IssueSeverity severity) {
  switch (severity) {
    case IssueSeverity::kFatal:
      return "fatal";
    case IssueSeverity::kError:
      return "error";
    case IssueSeverity::kWarning:
      return "warning";
    case IssueSeverity::kInformation:
      return "information";
  }
  return "error";
}

bool IsFhirPathLocation(std::string_view location) {
  // A conservative subset: identifiers joined by '.', with [n] indexes. "PID-3", "offset 12" and
  // JSON pointers fail, and go to issue.location instead.
  if (location.empty() || !IsAsciiAlpha(location.front())) {
    return false;
  }
  for (char c : location) {
    if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && c != '.' && c != '_' && c != '[' && c != ']') {
      return false;
    }
  }
  return true;
}

rapidjson::Value MakeOperationOutcome(const std::vector<Issue>& issues, Allocator& allocator) {
  rapidjson::Value outcome(rapidjson::kObjectType);
  outcome.AddMember("resourceType", "OperationOutcome", allocator);
  rapidjson::Value list(rapidjson::kArrayType);
  for (const Issue& issue : issues) {
    list.PushBack(MakeIssue(issue, allocator), allocator);
  }
  // issue is 1..*: an empty list still says something true rather than producing invalid FHIR.
  if (issues.empty()) {
    list.PushBack(MakeIssue(Issue{IssueSeverity::kInformation,
                                  core::MakeError(core::ErrorCode::kInternal, "no issues")},
                            allocator),
                  allocator);
    list[0]["code"].SetString("informational");
  }
  outcome.AddMember("issue", list, allocator);
  return outcome;
}

rapidjson::Value MakeOperationOutcome(const core::Error& error, IssueSeverity severity,
                                      Allocator& allocator) {
  return MakeOperationOutcome(std::vector<Issue>{Issue{severity, error}}, allocator);
}

std::string ToOperationOutcomeJson(const std::vector<Issue>& issues) {
  rapidjson::Document document;
  rapidjson::Value outcome = MakeOperationOutcome(issues, document.GetAllocator());
  return ToJson(outcome);
}

std::string ToOperationOutcomeJson(const core::Error& error) {
  return ToOperationOutcomeJson(std::vector<Issue>{Issue{IssueSeverity::kError, error}});
}

std::string ToOperationOutcomeJson(const std::vector<core::Error>& errors,
                                   IssueSeverity severity) {
  std::vector<Issue> issues;
  issues.reserve(errors.size());
  for (const core::Error& error : errors) {
    issues.push_back(Issue{severity, error});
  }
  return ToOperationOutcomeJson(issues);
}

int HttpStatus(const core::Error& error) { return core::Info(error.code).http_status; }

int HttpStatus(const std::vector<Issue>& issues) {
  for (const Issue& issue : issues) {
    if (IsFailure(issue.severity)) {
      return HttpStatus(issue.error);
    }
  }
  return 200;
}

}  // namespace tb::fhir
