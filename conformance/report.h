#pragma once

#include <chrono>
#include <string>
#include <vector>

// What a run produced: per script, per test (setup and teardown included), per action. The
// report writers and the command's exit status read only this.
namespace tb::conformance {

enum class Outcome {
  kPass,
  kFail,     // an assert did not hold, or an operation could not be performed
  kWarning,  // a warningOnly assert did not hold
  kSkip,     // not run: unsupported element, or an earlier setup failure
  kError,    // the step itself is broken (bad FHIRPath, missing fixture, transport failure)
};

std::string_view OutcomeName(Outcome outcome);  // "pass", "fail", "warning", "skip", "error"

// A request or response as sent/received, for the reports (masked when rendered).
struct Exchange {
  std::string summary;  // "GET https://host/fhir/Patient?..." or "MLLP 127.0.0.1:2575"
  std::string headers;  // one "Name: value" per line
  std::string body;
};

struct ActionResult {
  std::string kind;         // "operation" or "assert"
  std::string label;        // the element's label, else a generated one ("assert 3")
  std::string description;  // the element's description
  Outcome outcome = Outcome::kPass;
  std::string message;  // why it failed or was skipped; what was checked when it passed
  std::string actual;   // the value found, when there is one
  Exchange request;     // operations only
  Exchange response;
  int status = 0;  // HTTP status of an operation (0: none / MLLP)
};

struct TestResult {
  std::string phase;  // "setup", "test" or "teardown"
  std::string name;
  std::string description;
  std::vector<ActionResult> actions;
  std::chrono::milliseconds duration{0};

  // kFail/kError if any action failed or errored, else kSkip if any was skipped (or all were),
  // else kWarning if any warned, else kPass.
  Outcome Overall() const;
  // The first failing (or erroring) action, or nullptr.
  const ActionResult* FirstFailure() const;
};

struct ScriptResult {
  std::string name;
  std::string file;
  std::vector<TestResult> tests;  // setup first, then each test, then teardown
  std::chrono::milliseconds duration{0};
};

struct RunSummary {
  std::size_t tests = 0;  // TestScript tests (not setup/teardown)
  std::size_t passed = 0;
  std::size_t failed = 0;  // includes errors; setup/teardown failures count as one each
  std::size_t skipped = 0;
  std::size_t warnings = 0;  // warning-only asserts that did not hold
};

RunSummary Summarise(const std::vector<ScriptResult>& results);

// 0 when no non-warning assert failed and no step erred, 1 otherwise.
int ExitStatus(const std::vector<ScriptResult>& results);

}  // namespace tb::conformance
