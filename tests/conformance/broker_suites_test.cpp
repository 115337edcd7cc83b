// End to end: `trustbridge conformance run` (the command itself, and the real `trustbridge`
// binary as a child process) against a real broker and two simulated trusts started here, over
// mutual TLS and MLLP/TLS: the shipped suites pass (also against the demo's own configuration),
// and TestScripts written by hand with one deliberately failing assert give exactly that failure.
#include <regex>

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "broker/app/conformance_command.h"
#include "broker/app/flags.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/broker_process.h"
#include "tests/support/child_process.h"

namespace tb::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kShared = "9990001235";          // held by RGT and RXH
constexpr std::string_view kConsentPatient = "9990001308";  // held by RGT and RXH

// The demo's shape: RJ1 is the requester (Patient, Observation, Encounter, Consent; may break
// glass), RGT and RXH are simulated trusts.
std::string BrokerConfig(std::uint16_t rgt_port, std::uint16_t rxh_port) {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1",
        "scopes": ["system/Patient.rs", "system/Observation.rs", "system/Encounter.rs",
                   "system/Consent.crus"],
        "purposes": ["TREAT", "ETREAT"], "break_glass": true },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir", "scopes": ["system/*.rs"] },
      { "ods": "RXH", "cert_cn": "RXH", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rxh_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ],
    "federation": { "deadline_ms": 10000 }
  })";
}

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class ConformanceAgainstBroker : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = StartTrust("RGT", DemoPatients("RGT"));
    rxh_ = StartTrust("RXH", DemoPatients("RXH"));
    broker_ = std::make_unique<RunningBroker>(BrokerConfig(rgt_->fhir_port(), rxh_->fhir_port()));
    for (std::string_view nhs_number : {kShared, kConsentPatient}) {
      AnnounceByAdt(*broker_, "RGT", nhs_number);
      AnnounceByAdt(*broker_, "RXH", nhs_number);
    }
  }

  // The arguments of `trustbridge conformance run` as RJ1 with the given suite and extra flags
  // (after "conformance").
  std::vector<std::string> RunArgs(const fs::path& suite, const std::vector<std::string>& extra) {
    const TestPki& pki = TestPki::Get();
    std::vector<std::string> args = {
        "run",
        "--suite",
        suite.string(),
        "--target",
        "https://127.0.0.1:" + std::to_string(broker_->fhir_port()) + "/fhir",
        "--mllp",
        "127.0.0.1:" + std::to_string(broker_->mllp_port()),
        "--cert",
        pki.Cert("RJ1").string(),
        "--key",
        pki.Key("RJ1").string(),
        "--ca",
        pki.CaCert().string(),
        "--junit",
        (dir_ / "junit.xml").string(),
        "--html",
        (dir_ / "report.html").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Runs ConformanceCommand in this process.
  CommandRun Run(const fs::path& suite, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = RunArgs(suite, extra);
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    app::Flags flags = app::Flags::Parse(static_cast<int>(argv.size()), argv.data());
    EXPECT_TRUE(flags.error().empty()) << flags.error();
    std::ostringstream out;
    std::ostringstream err;
    CommandRun run;
    run.exit_code = app::ConformanceCommand(flags, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  // Runs the real `trustbridge conformance run ...` binary (main, the subcommand table, flag
  // parsing, the files it writes) as a child process; stdout and stderr both land in `out`.
  CommandRun RunBinary(const fs::path& suite, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {TrustbridgeBinary().string(), "conformance"};
    for (std::string& arg : RunArgs(suite, extra)) {
      argv.push_back(std::move(arg));
    }
    const fs::path output = dir_ / ("cli-" + std::to_string(++binary_runs_) + ".out");
    CommandRun run;
    run.exit_code = RunToCompletion(argv, output, std::chrono::seconds(120));
    run.out = ReadFile(output);
    return run;
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_;
  TempDir dir_;
  int binary_runs_ = 0;
};

std::size_t Count(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1)) {
    ++count;
  }
  return count;
}

// Any standalone run of ten digits (an NHS number) left in a report.
bool HasTenDigitRun(const std::string& text) {
  static const std::regex kTenDigits("(^|[^0-9])[0-9]{10}([^0-9]|$)");
  return std::regex_search(text, kTenDigits);
}

TEST_F(ConformanceAgainstBroker, ShippedSuitesPassAgainstTheBroker) {
  const CommandRun run = Run(fs::path(TB_SOURCE_DIR) / "conformance/suites");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  // Every test of every script ran and passed, warnings included.
  EXPECT_NE(run.out.find("18 tests: 18 passed, 0 failed, 0 skipped, 0 warnings"), std::string::npos)
      << run.out;
  const std::string junit = ReadFile(dir_ / "junit.xml");
  EXPECT_NE(junit.find("tests=\"18\" failures=\"0\" errors=\"0\" skipped=\"0\""), std::string::npos)
      << junit;
  EXPECT_EQ(Count(junit, "pass  assert"), 73U) << junit;
  // Eight scripts, one <testsuite> each.
  EXPECT_EQ(Count(junit, "<testsuite "), 8U);
  EXPECT_FALSE(HasTenDigitRun(junit));
  const std::string html = ReadFile(dir_ / "report.html");
  EXPECT_FALSE(HasTenDigitRun(html));
  EXPECT_NE(html.find("**********"), std::string::npos);  // masked, not dropped
  // Running again gives the same answers (duplicates, consent withdrawn in teardown).
  const CommandRun again = Run(fs::path(TB_SOURCE_DIR) / "conformance/suites/broker");
  EXPECT_EQ(again.exit_code, 0) << again.out;
}

// docs/conformance.md tells testers to run the shipped suites against the demo broker
// (scripts/run-demo.sh). This runs them against config/demo/broker.json itself - its
// participants, scopes, purposes, sensitivity table and payload encryption - with only what
// the demo makes at run time replaced: ports, the PKI, the keys and the store.
class ConformanceAgainstDemoConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0), {}, true);
    rxh_ = StartTrust("RXH", DemoPatients("RXH"), std::chrono::milliseconds(0), {}, true);
    const fs::path demo = fs::path(TB_SOURCE_DIR) / "config/demo";
    rapidjson::Document config;
    config.Parse(ReadFile(demo / "broker.json").c_str());
    ASSERT_FALSE(config.HasParseError());
    auto& alloc = config.GetAllocator();
    auto set = [&alloc](rapidjson::Value& object, const char* name, const std::string& value) {
      ASSERT_TRUE(object.HasMember(name)) << name;
      object[name].SetString(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), alloc);
    };
    const TestPki& pki = TestPki::Get();
    set(config["listen"], "fhir", "127.0.0.1:0");
    set(config["listen"], "mllp", "127.0.0.1:0");
    set(config["tls"], "cert", pki.Cert("broker-a").string());
    set(config["tls"], "key", pki.Key("broker-a").string());
    set(config["tls"], "ca", pki.CaCert().string());
    set(config["tls"], "crl", pki.Crl().string());
    set(config["store"], "url", "sqlite:var/tb.db");
    set(config["store"], "payload_key_file", "payload.key");
    set(config["policy"], "sensitivity_table", (demo / "sensitivity-labels.csv").string());
    set(config["policy"], "pseudonym_key_file", "pseudonym.key");
    for (auto& participant : config["participants"].GetArray()) {
      const std::string ods = participant["ods"].GetString();
      const simtrust::SimulatedTrust* trust =
          ods == "RGT" ? rgt_.get() : (ods == "RXH" ? rxh_.get() : nullptr);
      if (trust != nullptr) {
        set(participant, "fhir_base",
            "https://127.0.0.1:" + std::to_string(trust->fhir_port()) + "/fhir");
        set(participant, "mllp", "127.0.0.1:" + std::to_string(trust->mllp_port()));
      }
    }
    const std::string key_hex(64, 'a');
    broker_ = std::make_unique<RunningBroker>(
        fhir::ToJson(config), std::vector<std::pair<std::string, std::string>>{
                                  {"payload.key", key_hex}, {"pseudonym.key", key_hex}});
    // What run-demo.sh does once the broker listens: each trust announces its patients with
    // `trustbridge send-hl7` (exit 0 only when every message is acknowledged AA or CA).
    for (const std::string ods : {"RGT", "RXH"}) {
      const fs::path output = dir_ / ("announce-" + ods + ".out");
      EXPECT_EQ(RunToCompletion({TrustbridgeBinary().string(), "send-hl7", "--to",
                                 "127.0.0.1:" + std::to_string(broker_->mllp_port()), "--cert",
                                 pki.Cert(ods).string(), "--key", pki.Key(ods).string(), "--ca",
                                 pki.CaCert().string(),
                                 (demo / "messages" / ("announce_" + ods + ".hl7")).string()},
                                output),
                0)
          << ReadFile(output);
    }
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_;
  TempDir dir_;
};

TEST_F(ConformanceAgainstDemoConfig, ShippedSuitesPassAgainstTheDemoBroker) {
  // The command of docs/conformance.md, through the binary, as RJ1.
  const TestPki& pki = TestPki::Get();
  const fs::path output = dir_ / "conformance.out";
  const int exit_code = RunToCompletion(
      {TrustbridgeBinary().string(), "conformance", "run", "--suite",
       (fs::path(TB_SOURCE_DIR) / "conformance/suites").string(), "--target",
       "https://127.0.0.1:" + std::to_string(broker_->fhir_port()) + "/fhir", "--mllp",
       "127.0.0.1:" + std::to_string(broker_->mllp_port()), "--cert", pki.Cert("RJ1").string(),
       "--key", pki.Key("RJ1").string(), "--ca", pki.CaCert().string(), "--junit",
       (dir_ / "junit.xml").string(), "--html", (dir_ / "report.html").string()},
      output);
  const std::string out = ReadFile(output);
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find("18 tests: 18 passed, 0 failed, 0 skipped, 0 warnings"), std::string::npos)
      << out;
  EXPECT_FALSE(HasTenDigitRun(ReadFile(dir_ / "junit.xml")));
  EXPECT_FALSE(HasTenDigitRun(ReadFile(dir_ / "report.html")));
}

// The issue's "done when": a TestScript written outside the project (variables, an NHS-number
// search, FHIRPath asserts and one deliberately failing assert) against a live broker over
// mutual TLS: JUnit with exactly that one failure, an HTML report without unmasked NHS numbers,
// a non-zero exit.
TEST_F(ConformanceAgainstBroker, HandWrittenScriptWithOneWrongAssertFailsExactlyThere) {
  WriteFile(dir_ / "tester/patient-lookup.json", R"js({
    "resourceType": "TestScript", "id": "tester-lookup", "name": "TesterLookup",
    "title": "A tester's own lookup", "status": "draft", "url": "urn:example:tester-lookup",
    "variable": [
      {"name": "nhs", "defaultValue": "0000000000"},
      {"name": "family", "expression": "Bundle.entry.resource.where(resourceType = 'Patient').name.family.first()",
       "sourceId": "found"}
    ],
    "test": [
      {"id": "lookup", "name": "finds the patient by NHS number", "action": [
        {"operation": {"type": {"code": "search"}, "resource": "Patient", "responseId": "found",
                       "params": "?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}"}},
        {"assert": {"label": "ok", "response": "okay"}},
        {"assert": {"label": "bundle", "resource": "Bundle"}},
        {"assert": {"label": "patients", "expression": "Bundle.entry.resource.where(resourceType = 'Patient').count()",
                    "operator": "greaterThan", "value": "0"}},
        {"assert": {"label": "nhs-number", "expression": "Bundle.entry.resource.where(resourceType = 'Patient').identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').value",
                    "value": "${nhs}"}}]},
      {"id": "family", "name": "the family name is the one the tester expects", "action": [
        {"operation": {"type": {"code": "search"}, "resource": "Patient",
                       "params": "?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}"}},
        {"assert": {"label": "status", "response": "okay"}},
        {"assert": {"label": "same-family", "expression": "Bundle.entry.resource.where(resourceType = 'Patient').name.family",
                    "value": "${family}"}},
        {"assert": {"label": "deliberately-wrong", "description": "the tester expects another patient",
                    "expression": "Bundle.entry.resource.where(resourceType = 'Patient').identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').value",
                    "value": "9990001308"}},
        {"assert": {"label": "warning", "headerField": "X-Not-Sent", "warningOnly": true}}]}
    ]})js");
  const CommandRun run =
      Run(dir_ / "tester/patient-lookup.json", {"--var", "nhs=" + std::string(kShared)});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  const std::string junit = ReadFile(dir_ / "junit.xml");
  EXPECT_EQ(Count(junit, "<testcase "), 2U) << junit;
  EXPECT_EQ(Count(junit, "<failure "), 1U) << junit;
  EXPECT_EQ(Count(junit, "<error "), 0U) << junit;
  EXPECT_NE(junit.find("failures=\"1\" errors=\"0\" skipped=\"0\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("<failure message=\"deliberately-wrong: the tester expects another "
                       "patient\""),
            std::string::npos)
      << junit;
  EXPECT_NE(junit.find("actual: **********"), std::string::npos) << junit;
  EXPECT_FALSE(HasTenDigitRun(junit)) << junit;
  const std::string html = ReadFile(dir_ / "report.html");
  EXPECT_FALSE(HasTenDigitRun(html));
  EXPECT_NE(html.find("deliberately-wrong"), std::string::npos);
  EXPECT_NE(run.out.find("2 tests: 1 passed, 1 failed, 0 skipped, 1 warnings"), std::string::npos)
      << run.out;
}

// The same "done when" through the real `trustbridge` binary, with a script kept as a file the
// way a tester would keep it (tests/conformance/external/patient-lookup.json: no trustbridge
// extension; variables from --var, a response expression, a path and a header; an NHS-number
// search; FHIRPath asserts; compareToSourceId; one wrong assert and one failing warning).
TEST_F(ConformanceAgainstBroker, ExternalScriptThroughTheBinaryFailsExactlyOnce) {
  const fs::path script =
      fs::path(TB_SOURCE_DIR) / "tests/conformance/external/patient-lookup.json";
  const CommandRun run = RunBinary(script, {"--var", "nhs=" + std::string(kShared)});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.out.find("2 tests: 1 passed, 1 failed, 0 skipped, 1 warnings"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("deliberately-wrong"), std::string::npos) << run.out;
  EXPECT_FALSE(HasTenDigitRun(run.out)) << run.out;

  const std::string junit = ReadFile(dir_ / "junit.xml");
  EXPECT_NE(junit.find("tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""), std::string::npos)
      << junit;
  EXPECT_EQ(Count(junit, "<testcase "), 2U) << junit;
  EXPECT_EQ(Count(junit, "<failure "), 1U) << junit;
  EXPECT_EQ(Count(junit, "<error "), 0U) << junit;
  EXPECT_EQ(Count(junit, "<skipped"), 0U) << junit;
  EXPECT_NE(junit.find("<failure message=\"deliberately-wrong: the tester expects another "
                       "patient\""),
            std::string::npos)
      << junit;
  // Every other assert ran and passed: 7 in the first test, 4 in the second.
  EXPECT_EQ(Count(junit, "pass  assert"), 11U) << junit;
  EXPECT_NE(junit.find("actual: **********"), std::string::npos) << junit;
  EXPECT_FALSE(HasTenDigitRun(junit)) << junit;

  const std::string html = ReadFile(dir_ / "report.html");
  EXPECT_NE(html.find("deliberately-wrong"), std::string::npos);
  EXPECT_NE(html.find("**********"), std::string::npos);  // masked, not dropped
  EXPECT_FALSE(HasTenDigitRun(html));

  // With the right expectation (the wrong assert now names the patient searched for) the same
  // script passes: the one failure came from that assert and nothing else.
  WriteFile(dir_ / "fixed.json",
            std::regex_replace(ReadFile(script), std::regex("9990001308"), std::string(kShared)));
  const CommandRun fixed = RunBinary(dir_ / "fixed.json", {"--var", "nhs=" + std::string(kShared)});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out;
  EXPECT_NE(fixed.out.find("2 tests: 2 passed, 0 failed, 0 skipped, 1 warnings"), std::string::npos)
      << fixed.out;
}

TEST_F(ConformanceAgainstBroker, BinaryUsageErrorsExitTwo) {
  const std::string binary = TrustbridgeBinary().string();
  // No --target.
  EXPECT_EQ(RunToCompletion({binary, "conformance", "run", "--suite", "x.json"}, dir_ / "a.out"), 2)
      << ReadFile(dir_ / "a.out");
  EXPECT_NE(ReadFile(dir_ / "a.out").find("--target"), std::string::npos);
  // A subcommand that does not exist.
  EXPECT_EQ(RunToCompletion({binary, "conformance", "walk"}, dir_ / "b.out"), 2)
      << ReadFile(dir_ / "b.out");
}

TEST_F(ConformanceAgainstBroker, UsageErrorsExitTwo) {
  EXPECT_EQ(Run(dir_ / "no-such-suite").exit_code, 2);
  const CommandRun bad_var = Run(
      fs::path(TB_SOURCE_DIR) / "conformance/suites/broker/metadata.json", {"--var", "novalue"});
  EXPECT_EQ(bad_var.exit_code, 2);
  EXPECT_NE(bad_var.err.find("name=value"), std::string::npos);
}

}  // namespace
}  // namespace tb::testing
