// The runner against in-process servers with real mutual TLS: an HTTPS server answering from a
// table of canned responses (and recording what it was sent), and an MLLP/TLS server that ACKs.
#include "conformance/runner.h"

#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/server.h"
#include "adapters/net/https_server.h"
#include "adapters/net/tls_context.h"
#include "conformance/reports.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb::conformance {
namespace {

using testing::TestPki;

core::HttpResponse Json(int status, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  core::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.Set("Content-Type", "application/fhir+json; charset=utf-8");
  for (auto& [name, value] : headers) {
    response.headers.Set(name, value);
  }
  return response;
}

constexpr std::string_view kPatient =
    R"js({"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"},
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990001235"}],
        "name": [{"use": "official", "family": "Hughes", "given": ["Amelia"]}],
        "gender": "female", "birthDate": "1984-03-12"})js";

class ConformanceRunner : public ::testing::Test {
 protected:
  ConformanceRunner() : work_(io_.get_executor()) {
    const TestPki& pki = TestPki::Get();
    auto server_tls = net::MakeServerContext(
        {pki.Cert(TestPki::kBrokerA), pki.Key(TestPki::kBrokerA), pki.CaCert(), {}});
    EXPECT_TRUE(server_tls);
    https_ = std::make_unique<net::HttpsServer>(
        io_, *server_tls, net::HttpServerSettings{},
        [this](core::HttpRequest request, net::Responder respond) {
          respond(Answer(std::move(request)));
        },
        [](const core::Error& error) { return Json(400, error.message); });
    mllp_ = std::make_unique<mllp::MllpServer>(
        io_, *server_tls, mllp::MllpServerSettings{},
        [](mllp::FrameRequest frame, mllp::ReplyFn reply) { reply(Ack(frame.payload)); });
    auto https_port = https_->Start();
    auto mllp_port = mllp_->Start();
    EXPECT_TRUE(https_port && mllp_port);
    https_port_ = https_port ? *https_port : 0;
    mllp_port_ = mllp_port ? *mllp_port : 0;
    thread_ = std::thread([this] { io_.run(); });

    TlsTransportSettings settings;
    settings.base_url = "https://127.0.0.1:" + std::to_string(https_port_) + "/fhir";
    settings.mllp = core::HostPort{"127.0.0.1", mllp_port_};
    settings.tls = {pki.Cert(TestPki::kRj1), pki.Key(TestPki::kRj1), pki.CaCert(), {}};
    settings.timeout = std::chrono::seconds(20);
    auto transport = MakeTlsTransport(settings);
    EXPECT_TRUE(transport) << (transport ? "" : transport.error().message);
    transport_ = std::move(*transport);
  }

  ~ConformanceRunner() override {
    transport_.reset();
    https_->Stop();
    mllp_->Stop();
    work_.reset();
    thread_.join();
  }

  // An ACK: AE with ERR-3 102 when the message has a ZBD segment, else AA; MSA-2 echoes MSH-10.
  static std::string Ack(const std::string& payload) {
    auto message = hl7v2::Message::Parse(payload);
    const std::string control = message ? message->Get("MSH-10").Decoded() : "";
    const bool bad = payload.find("\rZBD|") != std::string::npos;
    std::string ack = "MSH|^~\\&|SIM|SIM|PAS|RJ1|20261123100000||ACK|A" + control + "|P|2.4\rMSA|" +
                      (bad ? "AE" : "AA") + "|" + control + "\r";
    if (bad) {
      ack += "ERR||PID^1^3|102^Data type error^HL70357|E\r";
    }
    return ack;
  }

  core::HttpResponse Answer(core::HttpRequest request) {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    const std::string key = request.method + " " + request.target;
    for (const auto& [route, response] : routes_) {
      if (route == key) {
        return response;
      }
    }
    return Json(404, R"js({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                      "code": "not-found"}]})js");
  }

  void Route(std::string key, core::HttpResponse response) {
    std::lock_guard lock(mutex_);
    routes_.emplace_back(std::move(key), std::move(response));
  }

  std::vector<core::HttpRequest> Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  // Writes the script (and files beside it) and runs it.
  ScriptResult Run(std::string_view json,
                   std::vector<std::pair<std::string, std::string>> files = {},
                   RunOptions options = {}) {
    testing::WriteFile(dir_ / "script.json", std::string(json));
    for (const auto& [name, text] : files) {
      testing::WriteFile(dir_ / name, text);
    }
    auto script = ParseTestScript(json, dir_ / "script.json");
    EXPECT_TRUE(script) << (script ? "" : script.error().message);
    Runner runner(*transport_, std::move(options));
    return runner.Run(*script);
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpsServer> https_;
  std::unique_ptr<mllp::MllpServer> mllp_;
  std::uint16_t https_port_ = 0;
  std::uint16_t mllp_port_ = 0;
  std::thread thread_;
  std::unique_ptr<Transport> transport_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, core::HttpResponse>> routes_;
  std::vector<core::HttpRequest> requests_;
  testing::TempDir dir_;
};

// The outcomes of one test's actions, as "kind:label=outcome".
std::vector<std::string> Outcomes(const TestResult& test) {
  std::vector<std::string> outcomes;
  for (const ActionResult& action : test.actions) {
    outcomes.push_back(action.label + "=" + std::string(OutcomeName(action.outcome)));
  }
  return outcomes;
}

const TestResult& TestNamed(const ScriptResult& result, std::string_view name) {
  for (const TestResult& test : result.tests) {
    if (test.name == name) {
      return test;
    }
  }
  ADD_FAILURE() << "no test " << name;
  return result.tests.front();
}

std::string Describe(const TestResult& test) {
  std::string text;
  for (const ActionResult& action : test.actions) {
    text += action.label + " " + std::string(OutcomeName(action.outcome)) + ": " + action.message +
            " [" + action.actual + "]\n";
  }
  return text;
}

TEST_F(ConformanceRunner, EachOperationTypeSendsTheRequestItDescribes) {
  Route("POST /fhir/Patient",
        Json(201, std::string(kPatient), {{"Location", "https://x/fhir/Patient/p1/_history/1"}}));
  Route("GET /fhir/Patient/p1", Json(200, std::string(kPatient)));
  Route("PUT /fhir/Patient/p1", Json(200, std::string(kPatient)));
  Route("GET /fhir/Patient/p1/_history/1", Json(200, std::string(kPatient)));
  Route("GET /fhir/Patient/p1/_history",
        Json(200, R"js({"resourceType": "Bundle", "type": "history"})js"));
  Route("GET /fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9990001235",
        Json(200, R"js({"resourceType": "Bundle", "type": "searchset", "total": 1})js"));
  Route("GET /fhir/metadata", Json(200, R"js({"resourceType": "CapabilityStatement"})js"));
  Route("POST /fhir",
        Json(200, R"js({"resourceType": "Bundle", "type": "transaction-response"})js"));
  Route("GET /fhir/Patient/$everything?identifier=x",
        Json(200, R"js({"resourceType": "Bundle", "type": "searchset"})js"));
  Route("DELETE /fhir/Patient/p1", Json(204, ""));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript", "name": "operations",
    "fixture": [{"id": "patient", "resource": {"reference": "patient.json"}},
                {"id": "tx", "resource": {"reference": "#tx"}}],
    "contained": [{"resourceType": "Bundle", "id": "tx", "type": "transaction"}],
    "variable": [{"name": "nhs", "defaultValue": "9990001235"}],
    "test": [{"name": "all", "action": [
      {"operation": {"type": {"code": "create"}, "resource": "Patient", "sourceId": "patient",
                     "responseId": "created", "label": "create"}},
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "targetId": "created",
                     "label": "read"}},
      {"operation": {"type": {"code": "update"}, "resource": "Patient", "targetId": "created",
                     "sourceId": "patient", "label": "update"}},
      {"operation": {"type": {"code": "vread"}, "resource": "Patient", "params": "/p1/_history/1",
                     "label": "vread"}},
      {"operation": {"type": {"code": "history"}, "resource": "Patient", "targetId": "created",
                     "label": "history"}},
      {"operation": {"type": {"code": "search"}, "resource": "Patient",
                     "params": "?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}",
                     "label": "search"}},
      {"operation": {"type": {"code": "capabilities"}, "label": "capabilities"}},
      {"operation": {"type": {"code": "transaction"}, "sourceId": "tx", "label": "transaction"}},
      {"operation": {"type": {"code": "batch"}, "sourceId": "tx", "label": "batch"}},
      {"operation": {"type": {"code": "everything"}, "resource": "Patient",
                     "params": "?identifier=x", "label": "everything"}},
      {"operation": {"type": {"code": "delete"}, "resource": "Patient", "targetId": "created",
                     "label": "delete"}}]}]})js",
                                  {{"patient.json", std::string(kPatient)}});
  const TestResult& test = TestNamed(result, "all");
  EXPECT_EQ(test.Overall(), Outcome::kPass) << Describe(test);
  const std::vector<core::HttpRequest> sent = Requests();
  std::vector<std::string> lines;
  for (const core::HttpRequest& request : sent) {
    lines.push_back(request.method + " " + request.target);
  }
  EXPECT_EQ(lines,
            (std::vector<std::string>{
                "POST /fhir/Patient", "GET /fhir/Patient/p1", "PUT /fhir/Patient/p1",
                "GET /fhir/Patient/p1/_history/1", "GET /fhir/Patient/p1/_history",
                "GET /fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9990001235",
                "GET /fhir/metadata", "POST /fhir", "POST /fhir",
                "GET /fhir/Patient/$everything?identifier=x", "DELETE /fhir/Patient/p1"}));
  ASSERT_EQ(sent.size(), 11U);
  EXPECT_EQ(sent[0].headers.Get("Content-Type"), "application/fhir+json");
  EXPECT_EQ(sent[0].headers.Get("Accept"), "application/fhir+json");
  EXPECT_NE(sent[0].body.find("Hughes"), std::string::npos);
  EXPECT_NE(sent[7].body.find("transaction"), std::string::npos);
  EXPECT_TRUE(sent[1].body.empty());
}

TEST_F(ConformanceRunner, EachAssertTypePassesAndFailsOnWhatItChecks) {
  Route("GET /fhir/Patient/p1",
        Json(200, std::string(kPatient), {{"ETag", "W/\"1\""}, {"X-Request-ID", "abc"}}));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript", "name": "asserts",
    "fixture": [{"id": "minimum", "resource": {"reference": "#min"}},
                {"id": "expected", "resource": {"reference": "#exp"}}],
    "contained": [{"resourceType": "Patient", "id": "min", "name": [{"family": "Hughes"}]},
                  {"resourceType": "Patient", "id": "exp", "gender": "female"}],
    "test": [
     {"name": "pass", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/p1",
                     "requestHeader": [{"field": "X-Purpose-Of-Use", "value": "TREAT"}]}},
      {"assert": {"label": "response", "response": "okay"}},
      {"assert": {"label": "responseCode", "responseCode": "200,201", "operator": "in"}},
      {"assert": {"label": "contentType", "contentType": "json"}},
      {"assert": {"label": "resource", "resource": "Patient"}},
      {"assert": {"label": "header", "headerField": "ETag", "value": "W/\"1\""}},
      {"assert": {"label": "headerPresent", "headerField": "X-Request-ID"}},
      {"assert": {"label": "expression", "expression": "Patient.name.where(use = 'official').family",
                  "value": "Hughes"}},
      {"assert": {"label": "exists", "expression": "Patient.identifier.exists()"}},
      {"assert": {"label": "eval", "expression": "Patient.name.count() = 1", "operator": "eval"}},
      {"assert": {"label": "path", "path": "Patient.birthDate", "value": "1984-03-12"}},
      {"assert": {"label": "greater", "path": "Patient.meta.versionId", "operator": "greaterThan",
                  "value": "0"}},
      {"assert": {"label": "compare", "expression": "Patient.gender", "compareToSourceId": "expected",
                  "compareToSourceExpression": "Patient.gender"}},
      {"assert": {"label": "minimum", "minimumId": "minimum"}},
      {"assert": {"label": "requestMethod", "requestMethod": "get"}},
      {"assert": {"label": "requestURL", "requestURL": "/Patient/p1", "operator": "contains"}},
      {"assert": {"label": "requestHeader", "direction": "request",
                  "headerField": "X-Purpose-Of-Use", "value": "TREAT"}},
      {"assert": {"label": "fixture", "sourceId": "expected", "expression": "Patient.gender",
                  "value": "female"}},
      {"assert": {"label": "empty", "expression": "Patient.deceased", "operator": "empty"}}]},
     {"name": "fail", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/p1"}},
      {"assert": {"label": "response", "response": "notFound"}},
      {"assert": {"label": "responseCode", "responseCode": "201"}},
      {"assert": {"label": "contentType", "contentType": "xml"}},
      {"assert": {"label": "resource", "resource": "Bundle"}},
      {"assert": {"label": "header", "headerField": "Last-Modified"}},
      {"assert": {"label": "expression", "expression": "Patient.name.family", "value": "Smith"}},
      {"assert": {"label": "eval", "expression": "Patient.gender = 'male'", "operator": "eval"}},
      {"assert": {"label": "compare", "expression": "Patient.birthDate",
                  "compareToSourceId": "expected", "compareToSourceExpression": "Patient.gender"}},
      {"assert": {"label": "minimum", "minimumId": "expected", "operator": "equals",
                  "sourceId": "minimum"}},
      {"assert": {"label": "warning", "response": "created", "warningOnly": true}},
      {"assert": {"label": "badFhirPath", "expression": "Patient.name.(", "value": "x"}}]}]})js");
  const TestResult& pass = TestNamed(result, "pass");
  EXPECT_EQ(pass.Overall(), Outcome::kPass) << Describe(pass);
  const TestResult& fail = TestNamed(result, "fail");
  EXPECT_EQ(Outcomes(fail),
            (std::vector<std::string>{"read=pass", "response=fail", "responseCode=fail",
                                      "contentType=fail", "resource=fail", "header=fail",
                                      "expression=fail", "eval=fail", "compare=fail",
                                      "minimum=fail", "warning=warning", "badFhirPath=error"}))
      << Describe(fail);
  EXPECT_EQ(fail.actions[1].actual, "200");
  EXPECT_EQ(fail.actions[6].actual, "Hughes");
  EXPECT_EQ(fail.actions[9].actual, ".gender");
}

TEST_F(ConformanceRunner, VariablesComeFromDefaultsCommandLineResponsesAndHeaders) {
  Route("POST /fhir/Patient",
        Json(201, std::string(kPatient), {{"Location", "Patient/p1/_history/1"}}));
  Route("GET /fhir/Patient/p1/_history/1", Json(200, std::string(kPatient)));
  Route("GET /fhir/Patient/p1", Json(200, std::string(kPatient)));
  Route("GET /fhir/Patient?family=Hughes&gender=female&given=Amelia",
        Json(200, R"js({"resourceType": "Bundle", "type": "searchset", "total": 1})js"));
  constexpr std::string_view kScript = R"js({
    "resourceType": "TestScript", "name": "variables",
    "fixture": [{"id": "patient", "resource": {"reference": "#p"}}],
    "contained": [{"resourceType": "Patient", "id": "p", "gender": "female"}],
    "variable": [{"name": "family", "expression": "Patient.name.family", "sourceId": "read"},
                 {"name": "gender", "path": "Patient.gender", "sourceId": "patient"},
                 {"name": "given", "defaultValue": "Nobody"},
                 {"name": "location", "headerField": "Location", "sourceId": "created"},
                 {"name": "total", "expression": "Bundle.total"}],
    "test": [{"name": "flow", "action": [
      {"operation": {"type": {"code": "create"}, "resource": "Patient", "sourceId": "patient",
                     "responseId": "created"}},
      {"operation": {"url": "${location}", "label": "byLocation", "encodeRequestUrl": false,
                     "responseId": "read"}},
      {"assert": {"label": "location", "requestURL": "Patient/p1/_history/1", "operator": "contains"}},
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/p1",
                     "responseId": "read"}},
      {"operation": {"type": {"code": "search"}, "resource": "Patient",
                     "params": "?family=${family}&gender=${gender}&given=${given}"}},
      {"assert": {"label": "total", "expression": "Bundle.total", "value": "${total}"}},
      {"assert": {"label": "status", "response": "okay"}}]},
     {"name": "unknown", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/${nope}"}}]}]})js";
  RunOptions options;
  options.variables["given"] = "Amelia";
  const ScriptResult result = Run(kScript, {}, options);
  const TestResult& flow = TestNamed(result, "flow");
  EXPECT_EQ(flow.Overall(), Outcome::kPass) << Describe(flow);
  const TestResult& unknown = TestNamed(result, "unknown");
  ASSERT_EQ(unknown.actions.size(), 1U);
  EXPECT_EQ(unknown.actions[0].outcome, Outcome::kError);
  EXPECT_NE(unknown.actions[0].message.find("${nope}"), std::string::npos);

  // Without --var the default applies, and the search is not the one routed: 404.
  const ScriptResult defaulted = Run(kScript);
  EXPECT_NE(TestNamed(defaulted, "flow").Overall(), Outcome::kPass);
  const std::vector<core::HttpRequest> sent = Requests();
  EXPECT_EQ(sent.back().target, "/fhir/Patient?family=Hughes&gender=female&given=Nobody");
}

TEST_F(ConformanceRunner, VariableWithoutAValueNamesTheFlagToGiveIt) {
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript", "variable": [{"name": "nhsNumber"}],
    "test": [{"name": "t", "action": [
      {"operation": {"type": {"code": "search"}, "resource": "Patient",
                     "params": "?identifier=${nhsNumber}"}}]}]})js");
  const TestResult& test = TestNamed(result, "t");
  ASSERT_EQ(test.actions.size(), 1U);
  EXPECT_EQ(test.actions[0].outcome, Outcome::kError);
  EXPECT_NE(test.actions[0].message.find("--var nhsNumber="), std::string::npos);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(ConformanceRunner, UnsupportedElementsAreSkippedNeverPassed) {
  Route("GET /fhir/metadata", Json(200, R"js({"resourceType": "CapabilityStatement"})js"));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript", "modifierExtension": [{"url": "x"}],
    "test": [
     {"name": "assert", "action": [
      {"operation": {"type": {"code": "capabilities"}}},
      {"assert": {"label": "ok", "response": "okay"}},
      {"assert": {"label": "profile", "validateProfileId": "p"}},
      {"assert": {"label": "xpath", "path": "fhir:CapabilityStatement/fhir:status"}}]},
     {"name": "operation", "action": [
      {"operation": {"type": {"code": "capabilities"}, "origin": 1, "label": "withOrigin"}},
      {"assert": {"label": "after", "response": "okay"}}]}]})js");
  const TestResult& asserts = TestNamed(result, "assert");
  EXPECT_EQ(Outcomes(asserts), (std::vector<std::string>{"capabilities=pass", "ok=pass",
                                                         "profile=skip", "xpath=skip"}));
  EXPECT_EQ(asserts.Overall(), Outcome::kSkip);
  EXPECT_NE(asserts.actions[2].message.find("unsupported: validateProfileId"), std::string::npos);
  const TestResult& operation = TestNamed(result, "operation");
  EXPECT_EQ(Outcomes(operation), (std::vector<std::string>{"withOrigin=skip", "after=skip"}));
  EXPECT_EQ(result.tests.front().phase, "setup");
  EXPECT_EQ(result.tests.front().Overall(), Outcome::kSkip);  // modifierExtension
  EXPECT_EQ(ExitStatus({result}), 0);
}

TEST_F(ConformanceRunner, FailedSetupSkipsTheTestsAndStillRunsTeardown) {
  Route("DELETE /fhir/Patient/p9", Json(204, ""));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript",
    "fixture": [{"id": "missing", "resource": {"reference": "no-such-file.json"}}],
    "setup": {"action": [{"operation": {"type": {"code": "capabilities"}}},
                         {"assert": {"label": "up", "response": "okay"}}]},
    "test": [{"name": "t", "action": [{"operation": {"type": {"code": "capabilities"}}}]}],
    "teardown": {"action": [{"operation": {"type": {"code": "delete"}, "resource": "Patient",
                                           "params": "/p9"}}]}})js");
  ASSERT_EQ(result.tests.size(), 3U);
  EXPECT_EQ(result.tests[0].Overall(), Outcome::kError);
  EXPECT_NE(result.tests[0].actions[0].message.find("no-such-file.json"), std::string::npos);
  EXPECT_EQ(result.tests[1].Overall(), Outcome::kSkip);
  EXPECT_EQ(result.tests[2].Overall(), Outcome::kPass);
  EXPECT_EQ(Requests().back().method, "DELETE");
  EXPECT_EQ(ExitStatus({result}), 1);
}

TEST_F(ConformanceRunner, AutocreateAndAutodeleteUseTheServersId) {
  Route("POST /fhir/Patient",
        Json(201, std::string(kPatient), {{"Location", "https://x/fhir/Patient/srv7/_history/1"}}));
  Route("GET /fhir/Patient/srv7", Json(200, std::string(kPatient)));
  Route("DELETE /fhir/Patient/srv7", Json(204, ""));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript",
    "fixture": [{"id": "pat", "autocreate": true, "autodelete": true,
                 "resource": {"reference": "#p"}}],
    "contained": [{"resourceType": "Patient", "id": "p"}],
    "test": [{"name": "t", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "targetId": "pat"}},
      {"assert": {"response": "okay"}}]}]})js");
  EXPECT_EQ(ExitStatus({result}), 0) << Describe(result.tests[0]) << Describe(result.tests[1]);
  std::vector<std::string> lines;
  for (const core::HttpRequest& request : Requests()) {
    lines.push_back(request.method + " " + request.target);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"POST /fhir/Patient", "GET /fhir/Patient/srv7",
                                             "DELETE /fhir/Patient/srv7"}));
}

TEST_F(ConformanceRunner, Hl7v2StepSendsTheFixtureOverMllpAndAssertsOnTheAck) {
  const std::string good =
      "MSH|^~\\&|PAS|RJ1|TB|X26|20261123100000||ADT^A28|CTRL${suffix}|P|2.4\n"
      "PID|1||9990001235^^^NHS^NH||HUGHES^AMELIA\n";
  const std::string bad =
      "MSH|^~\\&|PAS|RJ1|TB|X26|20261123100000||ADT^A28|CTRL2|P|2.4\r\nZBD|1\r\n";
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript",
    "variable": [{"name": "suffix", "defaultValue": "1"}],
    "fixture": [{"id": "good", "resource": {"reference": "good.hl7"}},
                {"id": "bad", "resource": {"reference": "messages/bad.hl7"}}],
    "test": [{"name": "v2", "action": [
      {"operation": {"type": {"system": "urn:trustbridge:conformance", "code": "hl7v2-send"},
                     "sourceId": "good", "responseId": "ack1"}},
      {"assert": {"label": "aa", "path": "MSA-1", "value": "AA"}},
      {"assert": {"label": "echo", "path": "MSA-2", "value": "CTRL1"}},
      {"operation": {"type": {"code": "hl7v2-send"}, "sourceId": "bad"}},
      {"assert": {"label": "ae", "path": "MSA-1", "operator": "in", "value": "AE,CE"}},
      {"assert": {"label": "err3", "expression": "ERR-3.1", "value": "102"}},
      {"assert": {"label": "earlier", "sourceId": "ack1", "path": "MSA-1", "value": "AA"}},
      {"assert": {"label": "status", "response": "okay"}},
      {"assert": {"label": "wrong", "path": "MSA-1", "value": "AA"}}]}]})js",
                                  {{"good.hl7", good}, {"messages/bad.hl7", bad}});
  const TestResult& test = TestNamed(result, "v2");
  EXPECT_EQ(Outcomes(test), (std::vector<std::string>{"hl7v2-send=pass", "aa=pass", "echo=pass",
                                                      "hl7v2-send=pass", "ae=pass", "err3=pass",
                                                      "earlier=pass", "status=skip", "wrong=fail"}))
      << Describe(test);
  EXPECT_EQ(test.actions[8].actual, "AE");
  EXPECT_NE(test.actions[0].request.body.find("CTRL1|P"), std::string::npos);
  EXPECT_EQ(test.actions[0].request.body.find('\n'), std::string::npos);  // canonical \r
}

TEST_F(ConformanceRunner, TransportFailuresAreErrorsAndLaterAssertsFail) {
  TlsTransportSettings settings;
  settings.base_url = "https://127.0.0.1:1/fhir";  // nothing listens on port 1
  const TestPki& pki = TestPki::Get();
  settings.tls = {pki.Cert(TestPki::kRj1), pki.Key(TestPki::kRj1), pki.CaCert(), {}};
  settings.timeout = std::chrono::seconds(5);
  auto transport = MakeTlsTransport(settings);
  ASSERT_TRUE(transport);
  auto script = ParseTestScript(R"js({"resourceType": "TestScript", "test": [{"name": "t",
      "action": [{"operation": {"type": {"code": "capabilities"}}},
                 {"assert": {"label": "ok", "response": "okay"}},
                 {"operation": {"type": {"code": "hl7v2-send"}, "sourceId": "none"}}]}]})js",
                                "t.json");
  ASSERT_TRUE(script);
  Runner runner(**transport, {});
  const ScriptResult result = runner.Run(*script);
  const TestResult& test = result.tests[1];
  ASSERT_EQ(test.actions.size(), 3U);
  EXPECT_EQ(test.actions[0].outcome, Outcome::kError);
  EXPECT_EQ(test.actions[1].outcome, Outcome::kFail);
  EXPECT_NE(test.actions[1].message.find("no response"), std::string::npos);
  EXPECT_EQ(test.actions[2].outcome, Outcome::kError);
  EXPECT_EQ(ExitStatus({result}), 1);
  EXPECT_FALSE(MakeTlsTransport({"http://127.0.0.1:1/fhir", {}, settings.tls, {}}));
}

// The server under test is not trusted: JSON nested past the parser's bound, a body that is not
// what its Content-Type says, and a long text against a regex end as failed or erring asserts
// with a message, and the reports still render.
TEST_F(ConformanceRunner, HostileResponsesFailAssertsAndNeverCrash) {
  Route("GET /fhir/Patient/deep", Json(200, std::string(200000, '[') + std::string(200000, ']')));
  Route("GET /fhir/Patient/notjson", Json(200, "{\"resourceType\": \"Patient\", \"id\": "));
  Route("GET /fhir/Patient/long",
        Json(200,
             "{\"resourceType\": \"Patient\", \"id\": \"long\", \"text\": {\"status\": "
             "\"generated\", \"div\": \"" +
                 std::string(100000, 'a') + "\"}}"));
  const ScriptResult result = Run(R"js({
    "resourceType": "TestScript", "name": "hostile",
    "test": [
     {"name": "deep", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/deep"}},
      {"assert": {"label": "status", "response": "okay"}},
      {"assert": {"label": "resource", "resource": "Patient"}},
      {"assert": {"label": "expression", "expression": "Patient.id", "value": "deep"}}]},
     {"name": "notjson", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/notjson"}},
      {"assert": {"label": "resource", "resource": "Patient"}},
      {"assert": {"label": "expression", "expression": "Patient.id", "value": "x"}}]},
     {"name": "long", "action": [
      {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/long"}},
      {"assert": {"label": "matches", "expression": "Patient.text.div.matches('.*b')",
                  "value": "false"}},
      {"assert": {"label": "length", "expression": "Patient.text.div.length()",
                  "value": "100000"}}]}]})js");
  const TestResult& deep = TestNamed(result, "deep");
  EXPECT_EQ(Outcomes(deep)[1], "status=pass") << Describe(deep);
  EXPECT_EQ(Outcomes(deep)[2], "resource=fail") << Describe(deep);
  EXPECT_NE(Outcomes(deep)[3], "expression=pass") << Describe(deep);
  const TestResult& notjson = TestNamed(result, "notjson");
  EXPECT_EQ(Outcomes(notjson)[1], "resource=fail") << Describe(notjson);
  EXPECT_NE(Outcomes(notjson)[2], "expression=pass") << Describe(notjson);
  const TestResult& long_text = TestNamed(result, "long");
  EXPECT_EQ(long_text.Overall(), Outcome::kPass) << Describe(long_text);
  EXPECT_EQ(ExitStatus({result}), 1);
  const std::string html = RenderHtml({result}, "https://127.0.0.1/fhir");
  EXPECT_LT(html.size(), 200000U);  // bodies are excerpts, not the whole response
  EXPECT_NE(RenderJUnit({result}).find("<failure "), std::string::npos);
}

TEST_F(ConformanceRunner, ThirdPartyScriptsRunToAReportedResult) {
  // fhir-crucible's example TestScripts (XML accept headers, navigationLinks, Location
  // variables) against a server that answers 404 to everything: every test runs its actions
  // to an outcome, the tests that expect a resource fail (or are skipped after a failed setup),
  // and so does the run. (Tests that
  // expect 404 for a missing id rightly pass.)
  const std::filesystem::path dir =
      std::filesystem::path(TB_SHARED_TESTDATA_DIR) / "conformance/testscripts-crucible";
  if (!std::filesystem::exists(dir)) {
    GTEST_SKIP() << "shared testdata not present";
  }
  for (const char* name : {"read_testscript.json", "search_testscript.json",
                           "update_testscript.json", "history_testscript.json"}) {
    auto suite = LoadSuite(dir / name);
    ASSERT_TRUE(suite) << name << ": " << suite.error().message;
    Runner runner(*transport_, {});
    const ScriptResult result = runner.Run(suite->front());
    EXPECT_EQ(ExitStatus({result}), 1) << name << "\n" << RenderText({result});
    std::size_t failed = 0;
    for (const TestResult& test : result.tests) {
      if (test.phase == "test") {
        EXPECT_FALSE(test.actions.empty()) << name << ": " << test.name;
        failed += test.Overall() != Outcome::kPass ? 1 : 0;
      }
    }
    EXPECT_GT(failed, 0U) << name;
  }
}

}  // namespace
}  // namespace tb::conformance
