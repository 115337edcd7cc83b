#include "conformance/reports.h"

#include <gtest/gtest.h>

namespace tb::conformance {
namespace {

ActionResult Action(std::string kind, std::string label, Outcome outcome, std::string message,
                    std::string actual = {}) {
  ActionResult action;
  action.kind = std::move(kind);
  action.label = std::move(label);
  action.outcome = outcome;
  action.message = std::move(message);
  action.actual = std::move(actual);
  return action;
}

// One script: a passing setup, a passing test, a test with one failing assert whose actual value
// and request carry NHS numbers, a warning, a skipped test, and a failed teardown.
std::vector<ScriptResult> Sample() {
  ScriptResult script;
  script.name = "Broker <search> & co";
  script.file = "suites/search.json";
  TestResult setup{
      "setup", "setup", "", {Action("operation", "metadata", Outcome::kPass, "GET -> 200")}, {}};
  TestResult ok{"test", "finds the patient", "", {}, {}};
  ActionResult search = Action("operation", "search", Outcome::kPass, "GET -> 200");
  search.request = {
      "GET https://127.0.0.1:8443/fhir/Patient?identifier=https://fhir.nhs.uk/Id/"
      "nhs-number%7C9990001235",
      "Accept: application/fhir+json\n", ""};
  search.response = {
      "HTTP 200", "Content-Type: application/fhir+json\n",
      R"js({"resourceType":"Bundle","entry":[{"resource":{"identifier":[{"value":"9990001235"}]}}]})js"};
  ok.actions = {search,
                Action("assert", "status", Outcome::kPass, "HTTP status equals '200'", "200")};
  TestResult bad{"test", "deliberate failure", "shows one failure", {}, {}};
  ActionResult failing =
      Action("assert", "nhs", Outcome::kFail,
             "Patient.identifier.value equals '9990001308' does not hold", "9990001235");
  failing.description = "the identifier is the other patient's";
  bad.actions = {search, failing,
                 Action("assert", "warn", Outcome::kWarning, "header Last-Modified notEmpty")};
  TestResult skipped{
      "test",
      "profile check",
      "",
      {Action("assert", "profile", Outcome::kSkip, "unsupported: validateProfileId")},
      {}};
  TestResult teardown{"teardown",
                      "teardown",
                      "",
                      {Action("operation", "delete", Outcome::kError, "DELETE failed: timeout")},
                      {}};
  script.tests = {setup, ok, bad, skipped, teardown};
  return {script};
}

std::size_t Count(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1)) {
    ++count;
  }
  return count;
}

TEST(ConformanceReports, JUnitHasOneCasePerTestAndNamesTheFailure) {
  const std::string xml = RenderJUnit(Sample());
  EXPECT_NE(xml.find("<testsuites name=\"trustbridge conformance\" tests=\"4\" failures=\"1\" "
                     "errors=\"1\" skipped=\"1\">"),
            std::string::npos)
      << xml;
  // Three tests plus the failed teardown; the passing setup is not a case.
  EXPECT_EQ(Count(xml, "<testcase "), 4U);
  EXPECT_EQ(Count(xml, "<failure "), 1U);
  EXPECT_NE(xml.find("<failure message=\"nhs: the identifier is the other patient&apos;s\""),
            std::string::npos);
  EXPECT_NE(xml.find("actual: **********"), std::string::npos);
  EXPECT_NE(xml.find("name=\"teardown\""), std::string::npos);
  EXPECT_NE(xml.find("<error message=\"delete\""), std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"profile: unsupported: validateProfileId\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("Broker &lt;search&gt; &amp; co"), std::string::npos);
  EXPECT_EQ(xml.find("9990001"), std::string::npos) << "an NHS number is not masked";
}

TEST(ConformanceReports, HtmlIsSelfContainedAndMasksNhsNumbers) {
  const std::string html = RenderHtml(Sample(), "https://127.0.0.1:8443/fhir");
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("9990001"), std::string::npos) << "an NHS number is not masked";
  EXPECT_NE(html.find("nhs-number%7C**********"), std::string::npos);
  EXPECT_NE(html.find("the identifier is the other patient's"), std::string::npos);
  EXPECT_NE(html.find("class=\"badge fail\""), std::string::npos);
  EXPECT_NE(html.find("&lt;search&gt;"), std::string::npos);
  EXPECT_NE(html.find("3 tests: 1 passed, 2 failed, 1 skipped, 1 warnings"), std::string::npos)
      << html.substr(0, 800);
}

TEST(ConformanceReports, ExitStatusIgnoresWarningsAndSkipsButNotFailures) {
  std::vector<ScriptResult> results = Sample();
  EXPECT_EQ(ExitStatus(results), 1);
  ScriptResult& script = results[0];
  script.tests.erase(script.tests.begin() + 2);  // the failing test
  EXPECT_EQ(ExitStatus(results), 1);             // the teardown error still counts
  script.tests.pop_back();
  EXPECT_EQ(ExitStatus(results), 0);
  const std::string text = RenderText(results);
  EXPECT_NE(text.find("2 tests: 1 passed, 0 failed, 1 skipped, 0 warnings"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace tb::conformance
