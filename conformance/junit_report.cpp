#include <cstdio>

#include "conformance/masking.h"
#include "conformance/reports.h"

namespace tb::conformance {
namespace {

std::string Xml(std::string_view text) { return MaskedMarkup(text, Markup::kXml); }

std::string Seconds(std::chrono::milliseconds duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(duration.count()) / 1000.0);
  return buffer;
}

std::string ActionName(const ActionResult& action) {
  if (!action.label.empty()) {
    return action.label;
  }
  return action.kind;
}

std::string FailureText(const ActionResult& action) {
  std::string text = action.kind + " " + ActionName(action);
  if (!action.description.empty()) {
    text += ": " + action.description;
  }
  text += "\n" + action.message;
  if (!action.actual.empty()) {
    text += "\nactual: " + MaskedExcerpt(action.actual, 2048);
  }
  if (!action.request.summary.empty()) {
    text += "\nrequest: " + action.request.summary;
  }
  return text;
}

}  // namespace

std::string RenderJUnit(const std::vector<ScriptResult>& results) {
  std::size_t total = 0;
  std::size_t total_failures = 0;
  std::size_t total_errors = 0;
  std::size_t total_skipped = 0;
  std::string suites;
  for (const ScriptResult& script : results) {
    std::size_t tests = 0;
    std::size_t failures = 0;
    std::size_t errors = 0;
    std::size_t skipped = 0;
    std::string body;
    for (const TestResult& test : script.tests) {
      const Outcome overall = test.Overall();
      const bool bad = overall == Outcome::kFail || overall == Outcome::kError;
      if (test.phase != "test" && !bad) {
        continue;  // a setup or teardown that went well is not a test case
      }
      ++tests;
      body += "    <testcase classname=\"" + Xml(script.name) + "\" name=\"" +
              Xml(test.phase == "test" ? test.name : test.phase) + "\" time=\"" +
              Seconds(test.duration) + "\">\n";
      if (const ActionResult* failure = test.FirstFailure()) {
        const bool error = failure->outcome == Outcome::kError;
        const std::string element = error ? "error" : "failure";
        std::string message = ActionName(*failure);
        if (!failure->description.empty()) {
          message += ": " + failure->description;
        }
        std::string text;
        for (const ActionResult& action : test.actions) {
          if (action.outcome == Outcome::kFail || action.outcome == Outcome::kError) {
            text += FailureText(action) + "\n\n";
          }
        }
        body += "      <" + element + " message=\"" + Xml(message) + "\" type=\"" +
                (error ? "error" : "assert") + "\">" + Xml(text) + "</" + element + ">\n";
        (error ? errors : failures) += 1;
      } else if (overall == Outcome::kSkip) {
        std::string why;
        for (const ActionResult& action : test.actions) {
          if (action.outcome == Outcome::kSkip) {
            why = ActionName(action) + ": " + action.message;
            break;
          }
        }
        body += "      <skipped message=\"" + Xml(why) + "\"/>\n";
        ++skipped;
      }
      std::string out;
      for (const ActionResult& action : test.actions) {
        out += std::string(OutcomeName(action.outcome)) + "  " + action.kind + " " +
               ActionName(action) + ": " + action.message + "\n";
      }
      body += "      <system-out>" + Xml(out) + "</system-out>\n    </testcase>\n";
    }
    suites += "  <testsuite name=\"" + Xml(script.name) + "\" file=\"" + Xml(script.file) +
              "\" tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
              "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
              "\" time=\"" + Seconds(script.duration) + "\">\n" + body + "  </testsuite>\n";
    total += tests;
    total_failures += failures;
    total_errors += errors;
    total_skipped += skipped;
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"trustbridge "
         "conformance\" tests=\"" +
         std::to_string(total) + "\" failures=\"" + std::to_string(total_failures) +
         "\" errors=\"" + std::to_string(total_errors) + "\" skipped=\"" +
         std::to_string(total_skipped) + "\">\n" + suites + "</testsuites>\n";
}

std::string RenderText(const std::vector<ScriptResult>& results) {
  std::string text;
  for (const ScriptResult& script : results) {
    text += script.name + " (" + script.file + ")\n";
    for (const TestResult& test : script.tests) {
      const Outcome overall = test.Overall();
      if (test.phase != "test" && overall == Outcome::kPass) {
        continue;
      }
      text += "  " + std::string(OutcomeName(overall)) + "  " +
              (test.phase == "test" ? test.name : test.phase) + "\n";
      for (const ActionResult& action : test.actions) {
        if (action.outcome != Outcome::kPass) {
          text += "        " + std::string(OutcomeName(action.outcome)) + " " + action.kind + " " +
                  ActionName(action) + ": " + action.message +
                  (action.actual.empty() ? "" : " (actual: " + action.actual + ")") + "\n";
        }
      }
    }
  }
  const RunSummary summary = Summarise(results);
  text += std::to_string(summary.tests) + " tests: " + std::to_string(summary.passed) +
          " passed, " + std::to_string(summary.failed) + " failed, " +
          std::to_string(summary.skipped) + " skipped, " + std::to_string(summary.warnings) +
          " warnings\n";
  return MaskNhsNumbers(text);
}

}  // namespace tb::conformance
