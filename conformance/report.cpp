#include "conformance/report.h"

namespace tb::conformance {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kWarning:
      return "warning";
    case Outcome::kSkip:
      return "skip";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

Outcome TestResult::Overall() const {
  bool skipped = actions.empty();
  bool warned = false;
  for (const ActionResult& action : actions) {
    if (action.outcome == Outcome::kError) {
      return Outcome::kError;
    }
  }
  for (const ActionResult& action : actions) {
    switch (action.outcome) {
      case Outcome::kFail:
        return Outcome::kFail;
      case Outcome::kSkip:
        skipped = true;
        break;
      case Outcome::kWarning:
        warned = true;
        break;
      default:
        break;
    }
  }
  if (skipped) {
    return Outcome::kSkip;
  }
  return warned ? Outcome::kWarning : Outcome::kPass;
}

const ActionResult* TestResult::FirstFailure() const {
  for (const ActionResult& action : actions) {
    if (action.outcome == Outcome::kFail || action.outcome == Outcome::kError) {
      return &action;
    }
  }
  return nullptr;
}

RunSummary Summarise(const std::vector<ScriptResult>& results) {
  RunSummary summary;
  for (const ScriptResult& script : results) {
    for (const TestResult& test : script.tests) {
      for (const ActionResult& action : test.actions) {
        if (action.outcome == Outcome::kWarning) {
          ++summary.warnings;
        }
      }
      const Outcome overall = test.Overall();
      const bool failed = overall == Outcome::kFail || overall == Outcome::kError;
      if (test.phase != "test") {
        summary.failed += failed ? 1 : 0;
        continue;
      }
      ++summary.tests;
      if (failed) {
        ++summary.failed;
      } else if (overall == Outcome::kSkip) {
        ++summary.skipped;
      } else {
        ++summary.passed;
      }
    }
  }
  return summary;
}

int ExitStatus(const std::vector<ScriptResult>& results) {
  return Summarise(results).failed == 0 ? 0 : 1;
}

}  // namespace tb::conformance
