#include "conformance/masking.h"
#include "conformance/reports.h"

namespace tb::conformance {
namespace {

std::string Html(std::string_view text) { return MaskedMarkup(text, Markup::kHtml); }

constexpr std::size_t kBodyExcerptBytes = 4096;
constexpr std::size_t kActualBytes = 2048;  // an expression may yield whole resources

std::string Badge(Outcome outcome) {
  const std::string name(OutcomeName(outcome));
  return "<span class=\"badge " + name + "\">" + name + "</span>";
}

std::string ExchangeBlock(std::string_view title, const Exchange& exchange) {
  if (exchange.summary.empty()) {
    return {};
  }
  std::string html =
      "<details><summary>" + std::string(title) + ": " + Html(exchange.summary) + "</summary><pre>";
  html += Html(exchange.headers);
  if (!exchange.body.empty()) {
    html += "\n" + Html(MaskedExcerpt(exchange.body, kBodyExcerptBytes));
  }
  return html + "</pre></details>";
}

constexpr std::string_view kStyle = R"(
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:2em}h3{font-size:1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.badge{display:inline-block;padding:0 .5em;border-radius:.3em;color:#fff;font-size:.85em}
.pass{background:#2e7d32}.fail{background:#c62828}.error{background:#6a1b9a}
.warning{background:#ef6c00}.skip{background:#607d8b}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;word-break:break-all;max-height:30em;
overflow:auto}details{margin:.2em 0}.muted{color:#666}
)";

}  // namespace

std::string RenderHtml(const std::vector<ScriptResult>& results, const std::string& target) {
  const RunSummary summary = Summarise(results);
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>trustbridge conformance report</title><style>" +
      std::string(kStyle) + "</style></head><body>\n<h1>trustbridge conformance report</h1>\n";
  html += "<p>Target: <code>" + Html(target) + "</code>. " + std::to_string(summary.tests) +
          " tests: " + std::to_string(summary.passed) + " passed, " +
          std::to_string(summary.failed) + " failed, " + std::to_string(summary.skipped) +
          " skipped, " + std::to_string(summary.warnings) +
          " warnings. NHS numbers are masked.</p>\n";
  html += "<table><tr><th>script</th><th>test</th><th>outcome</th></tr>\n";
  for (const ScriptResult& script : results) {
    for (const TestResult& test : script.tests) {
      if (test.phase != "test" && test.Overall() == Outcome::kPass) {
        continue;
      }
      html += "<tr><td>" + Html(script.name) + "</td><td>" +
              Html(test.phase == "test" ? test.name : test.phase) + "</td><td>" +
              Badge(test.Overall()) + "</td></tr>\n";
    }
  }
  html += "</table>\n";
  for (const ScriptResult& script : results) {
    html += "<h2>" + Html(script.name) + " <span class=\"muted\">" + Html(script.file) +
            "</span></h2>\n";
    for (const TestResult& test : script.tests) {
      if (test.phase != "test" && test.actions.empty()) {
        continue;
      }
      html += "<h3>" + Badge(test.Overall()) + " " +
              Html(test.phase == "test" ? test.name : test.phase) + "</h3>\n";
      if (!test.description.empty()) {
        html += "<p class=\"muted\">" + Html(test.description) + "</p>\n";
      }
      html += "<table><tr><th>outcome</th><th>step</th><th>detail</th></tr>\n";
      for (const ActionResult& action : test.actions) {
        html += "<tr><td>" + Badge(action.outcome) + "</td><td>" + Html(action.kind) + " " +
                Html(action.label) + "</td><td>";
        if (!action.description.empty()) {
          html += Html(action.description) + "<br>";
        }
        html += "<code>" + Html(action.message) + "</code>";
        if (!action.actual.empty()) {
          html +=
              "<br>actual: <code>" + Html(MaskedExcerpt(action.actual, kActualBytes)) + "</code>";
        }
        html += ExchangeBlock("request", action.request);
        html += ExchangeBlock("response", action.response);
        html += "</td></tr>\n";
      }
      html += "</table>\n";
    }
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace tb::conformance
