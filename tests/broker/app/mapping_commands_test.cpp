// `trustbridge map` and `trustbridge validate` as a user runs them, on the demo messages.
#include "broker/app/mapping_commands.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/broker/app/run_command.h"
#include "tests/support/temp_dir.h"

namespace tb::app {
namespace {

std::string Demo(const std::string& name) {
  return std::string(TB_SOURCE_DIR) + "/config/demo/messages/" + name;
}

TEST(MapCommand, V2ToFhirPrintsAValidBundleThatMapsBackToV2) {
  testing::CommandOutput mapped =
      testing::RunCommand(MapCommand, {"v2-to-fhir", Demo("adt_a01.hl7")});
  ASSERT_EQ(mapped.code, 0) << mapped.err;
  EXPECT_NE(mapped.out.find("\"resourceType\": \"Bundle\""), std::string::npos);
  EXPECT_NE(mapped.out.find("https://fhir.nhs.uk/Id/nhs-number"), std::string::npos);

  testing::TempDir dir;
  testing::WriteFile(dir / "bundle.json", mapped.out);
  testing::CommandOutput valid =
      testing::RunCommand(ValidateCommand, {(dir / "bundle.json").string()});
  EXPECT_EQ(valid.code, 0) << valid.out << valid.err;
  EXPECT_NE(valid.out.find(": valid"), std::string::npos);

  testing::CommandOutput back =
      testing::RunCommand(MapCommand, {"fhir-to-v2", (dir / "bundle.json").string(), "--control-id",
                                       "BACK0001", "--sending-facility", "X26"});
  ASSERT_EQ(back.code, 0) << back.err;
  EXPECT_EQ(back.out.rfind("MSH|^~\\&|TRUSTBRIDGE|X26|", 0), 0u) << back.out;
  EXPECT_NE(back.out.find("|BACK0001|"), std::string::npos);
  EXPECT_NE(back.out.find("9449305552^^^NHS^NH"), std::string::npos);
  EXPECT_EQ(back.out.find('\r'), std::string::npos);  // lines for the terminal unless --cr
}

TEST(MapCommand, BadNhsNumberFailsWithItsLocation) {
  testing::CommandOutput run =
      testing::RunCommand(MapCommand, {"v2-to-fhir", Demo("adt_a08_bad_nhs_number.hl7")});
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("PID-3"), std::string::npos) << run.err;
  EXPECT_TRUE(run.out.empty());
}

TEST(MapCommand, UsageErrorsExitTwo) {
  EXPECT_EQ(testing::RunCommand(MapCommand, {"sideways", Demo("adt_a01.hl7")}).code, 2);
  EXPECT_EQ(testing::RunCommand(MapCommand, {"v2-to-fhir", "/nonexistent/file.hl7"}).code, 2);
  EXPECT_EQ(
      testing::RunCommand(MapCommand, {"fhir-to-v2", Demo("adt_a01.hl7"), "--trigger", "A99"}).code,
      2);
}

TEST(ValidateCommand, ReportsEachProblemWithItsLocation) {
  testing::TempDir dir;
  testing::WriteFile(dir / "bad.json", R"({"resourceType": "Patient", "identifier": [
      {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9449305553"}]})");
  testing::WriteFile(dir / "notjson.json", "{ nope");
  testing::CommandOutput run = testing::RunCommand(
      ValidateCommand, {(dir / "bad.json").string(), (dir / "notjson.json").string()});
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.out.find("bad.json: Patient.identifier[0].value"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("notjson.json: "), std::string::npos) << run.out;
}

}  // namespace
}  // namespace tb::app
