#include "conformance/test_script.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace tb::conformance {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kScript = R"js({
  "resourceType": "TestScript", "id": "s1", "name": "Example", "title": "An example",
  "variable": [{"name": "nhs", "defaultValue": "9990001235"},
               {"name": "loc", "headerField": "Location", "sourceId": "created"},
               {"name": "family", "expression": "Patient.name.family", "sourceId": "patient"}],
  "fixture": [{"id": "patient", "autocreate": true, "autodelete": true,
               "resource": {"reference": "#p1"}},
              {"id": "adt", "resource": {"reference": "adt.hl7"}}],
  "contained": [{"resourceType": "Patient", "id": "p1", "name": [{"family": "Hughes"}]}],
  "setup": {"action": [{"operation": {"type": {"code": "create"}, "resource": "Patient",
                                      "sourceId": "patient", "responseId": "created"}}]},
  "test": [{"id": "t1", "name": "read", "description": "reads it",
            "action": [
              {"operation": {"type": {"system": "http://terminology.hl7.org/CodeSystem/testscript-operation-codes",
                                      "code": "read"},
                             "resource": "Patient", "params": "/${id}", "encodeRequestUrl": false,
                             "requestHeader": [{"field": "X-Purpose-Of-Use", "value": "TREAT"}],
                             "origin": 1}},
              {"assert": {"label": "ok", "response": "okay", "warningOnly": true}},
              {"assert": {"expression": "Patient.id", "operator": "notEmpty",
                          "validateProfileId": "p"}},
              {"assert": {"navigationLinks": false, "resource": "Patient", "value": "x"}}]}],
  "teardown": {"action": [{"operation": {"type": {"code": "delete"}, "resource": "Patient",
                                         "targetId": "created"}}]}
})js";

TEST(ConformanceTestScript, ReadsVariablesFixturesActionsAndWhatItCannotRun) {
  auto script = ParseTestScript(kScript, "/suites/example.json");
  ASSERT_TRUE(script) << script.error().message;
  EXPECT_EQ(script->DisplayName(), "An example");
  ASSERT_EQ(script->variables.size(), 3U);
  EXPECT_EQ(script->variables[0].default_value, "9990001235");
  EXPECT_EQ(script->variables[1].header_field, "Location");
  EXPECT_EQ(script->variables[2].expression, "Patient.name.family");
  ASSERT_EQ(script->fixtures.size(), 2U);
  EXPECT_TRUE(script->fixtures[0].autocreate);
  EXPECT_EQ(script->fixtures[0].reference, "#p1");
  ASSERT_EQ(script->contained.size(), 1U);
  EXPECT_EQ(script->contained[0].first, "p1");
  ASSERT_EQ(script->setup.size(), 1U);
  EXPECT_EQ(script->setup[0].operation->response_id, "created");
  ASSERT_EQ(script->tests.size(), 1U);
  const conformance::Test& test = script->tests[0];
  ASSERT_EQ(test.actions.size(), 4U);
  const Operation& read = *test.actions[0].operation;
  EXPECT_EQ(read.type_code, "read");
  EXPECT_FALSE(read.encode_request_url);
  ASSERT_EQ(read.request_headers.size(), 1U);
  EXPECT_EQ(read.request_headers[0].field, "X-Purpose-Of-Use");
  EXPECT_EQ(read.unsupported, std::vector<std::string>{"origin"});
  EXPECT_TRUE(test.actions[1].assertion->warning_only);
  EXPECT_EQ(test.actions[2].assertion->unsupported, std::vector<std::string>{"validateProfileId"});
  EXPECT_TRUE(test.actions[3].assertion->unsupported.empty());  // navigationLinks: false
  EXPECT_EQ(test.actions[3].assertion->value, "x");
  ASSERT_EQ(script->teardown.size(), 1U);
  EXPECT_EQ(script->teardown[0].operation->target_id, "created");
}

TEST(ConformanceTestScript, RefusesWhatIsNotATestScript) {
  EXPECT_FALSE(ParseTestScript("{", "bad.json"));
  auto patient = ParseTestScript(R"js({"resourceType": "Patient"})js", "p.json");
  ASSERT_FALSE(patient);
  EXPECT_NE(patient.error().message.find("not a TestScript"), std::string::npos);
  auto action = ParseTestScript(
      R"js({"resourceType": "TestScript", "test": [{"action": [{"operation": {}}, {}]}]})js",
      "a.json");
  ASSERT_FALSE(action);
  EXPECT_EQ(action.error().location, "TestScript.test[0].action[1]");
}

TEST(ConformanceTestScript, LoadsAFolderOfScriptsAndSkipsItsFixtures) {
  testing::TempDir dir;
  testing::WriteFile(dir / "b.json", R"js({"resourceType": "TestScript", "name": "b"})js");
  testing::WriteFile(dir / "sub/a.json", R"js({"resourceType": "TestScript", "name": "a"})js");
  testing::WriteFile(dir / "fixtures/patient.json", R"js({"resourceType": "Patient"})js");
  testing::WriteFile(dir / "notes.txt", "not json");
  auto suite = LoadSuite(dir.path());
  ASSERT_TRUE(suite) << suite.error().message;
  ASSERT_EQ(suite->size(), 2U);
  EXPECT_EQ((*suite)[0].name, "b");  // sorted by path: b.json < sub/a.json
  EXPECT_EQ((*suite)[1].name, "a");
  EXPECT_EQ((*suite)[1].file, dir / "sub/a.json");

  auto missing = LoadSuite(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  testing::TempDir empty;
  EXPECT_FALSE(LoadSuite(empty.path()));
  // A single file that is not a TestScript is refused, not skipped.
  EXPECT_FALSE(LoadSuite(dir / "fixtures/patient.json"));
}

TEST(ConformanceTestScript, ReadsTheCrucibleExampleScripts) {
  // Third-party TestScripts (fhir-crucible/testscript-engine) parse with their fixtures listed.
  const fs::path dir = fs::path(TB_SHARED_TESTDATA_DIR) / "conformance/testscripts-crucible";
  if (!fs::exists(dir)) {
    GTEST_SKIP() << "shared testdata not present";
  }
  auto search = LoadSuite(dir / "search_testscript.json");
  ASSERT_TRUE(search) << search.error().message;
  const TestScript& script = (*search)[0];
  EXPECT_EQ(script.fixtures.size(), 1U);
  EXPECT_EQ(script.fixtures[0].reference, "fixtures/Patient/example.json");
  EXPECT_FALSE(script.tests.empty());
  EXPECT_FALSE(script.setup.empty());
  auto invalid = LoadSuite(dir / "spec-examples/invalid_json.json");
  EXPECT_FALSE(invalid);
  auto non_resource = LoadSuite(dir / "spec-examples/non_resource.json");
  EXPECT_FALSE(non_resource);
}

}  // namespace
}  // namespace tb::conformance
