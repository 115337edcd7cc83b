#include "adapters/fhir/operation_outcome.h"

#include <gtest/gtest.h>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "broker/core/log.h"

namespace tb::fhir {
namespace {

using core::ErrorCode;
using core::MakeError;

struct GoldenCase {
  ErrorCode code;
  const char* location;
  int http_status;
  const char* json;
};

class OperationOutcomeGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(OperationOutcomeGolden, RendersIssueAndStatusFromTheTable) {
  const GoldenCase& c = GetParam();
  const core::Error error = MakeError(c.code, "what went wrong", c.location);
  EXPECT_EQ(ToOperationOutcomeJson(error), c.json);
  EXPECT_EQ(HttpStatus(error), c.http_status);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, OperationOutcomeGolden,
    ::testing::Values(
        GoldenCase{ErrorCode::kInvalidValue, "Patient.birthDate", 400,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"value","details":{"text":"what went wrong"},)"
                   R"("expression":["Patient.birthDate"]}]})"},
        GoldenCase{ErrorCode::kRequiredFieldMissing, "PID-3", 400,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"required","details":{"text":"what went wrong"},)"
                   R"("location":["PID-3"]}]})"},
        GoldenCase{ErrorCode::kUnknownCode, "Patient.identifier[0].extension[0]", 422,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"code-invalid","details":{"text":"what went wrong"},)"
                   R"("expression":["Patient.identifier[0].extension[0]"]}]})"},
        GoldenCase{ErrorCode::kNotFound, "", 404,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"not-found","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kForbidden, "", 403,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"forbidden","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kTooLarge, "offset 12", 413,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"too-long","details":{"text":"what went wrong"},)"
                   R"("location":["offset 12"]}]})"},
        GoldenCase{ErrorCode::kTimeout, "", 504,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"timeout","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kUpstreamUnavailable, "", 503,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"transient","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kUnsupportedMessage, "", 501,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"not-supported","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kPreconditionFailed, "", 412,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"conflict","details":{"text":"what went wrong"}}]})"},
        GoldenCase{ErrorCode::kInternal, "", 500,
                   R"({"resourceType":"OperationOutcome","issue":[{"severity":"error",)"
                   R"("code":"exception","details":{"text":"what went wrong"}}]})"}));

TEST(OperationOutcome, RendersSeveralIssuesWithSeverities) {
  const std::vector<Issue> issues = {
      {IssueSeverity::kError, MakeError(ErrorCode::kInvalidValue, "bad", "Patient.gender")},
      {IssueSeverity::kWarning, MakeError(ErrorCode::kTimeout, "trust RJ1 timed out")},
      {IssueSeverity::kInformation, MakeError(ErrorCode::kNotFound, "no match at RXX")},
  };
  EXPECT_EQ(
      ToOperationOutcomeJson(issues),
      R"({"resourceType":"OperationOutcome","issue":[)"
      R"({"severity":"error","code":"value","details":{"text":"bad"},)"
      R"("expression":["Patient.gender"]},)"
      R"({"severity":"warning","code":"timeout","details":{"text":"trust RJ1 timed out"}},)"
      R"({"severity":"information","code":"not-found","details":{"text":"no match at RXX"}}]})");
  EXPECT_EQ(HttpStatus(issues), 400);
}

TEST(OperationOutcome, StatusIs200WhenOnlyWarnings) {
  const std::vector<Issue> issues = {
      {IssueSeverity::kWarning, MakeError(ErrorCode::kTimeout, "trust RJ1 timed out")}};
  EXPECT_EQ(HttpStatus(issues), 200);
}

TEST(OperationOutcome, RendersErrorListWithOneSeverity) {
  const std::vector<core::Error> errors = {MakeError(ErrorCode::kNotFound, "a"),
                                           MakeError(ErrorCode::kConflict, "b")};
  auto document = ParseJson(ToOperationOutcomeJson(errors, IssueSeverity::kFatal));
  ASSERT_TRUE(document.has_value());
  const rapidjson::Value& issue = (*document)["issue"];
  ASSERT_EQ(issue.Size(), 2U);
  EXPECT_EQ(FindString(issue[0], "severity"), "fatal");
  EXPECT_EQ(FindString(issue[1], "code"), "conflict");
}

TEST(OperationOutcome, EmptyIssueListStillValidFhir) {
  EXPECT_EQ(ToOperationOutcomeJson(std::vector<Issue>{}),
            R"({"resourceType":"OperationOutcome","issue":[{"severity":"information",)"
            R"("code":"informational","details":{"text":"no issues"}}]})");
}

TEST(OperationOutcome, EscapesMessageText) {
  const auto json = ToOperationOutcomeJson(MakeError(ErrorCode::kInternal, "a \"quoted\"\nline"));
  EXPECT_NE(json.find(R"(a \"quoted\"\nline)"), std::string::npos);
  EXPECT_TRUE(ParseJson(json).has_value());
}

TEST(OperationOutcome, EmbedsIntoAnotherDocument) {
  rapidjson::Document bundle;
  bundle.SetObject();
  rapidjson::Value outcome =
      MakeOperationOutcome(MakeError(ErrorCode::kTimeout, "trust RJ1 timed out"),
                           IssueSeverity::kWarning, bundle.GetAllocator());
  bundle.AddMember("outcome", outcome, bundle.GetAllocator());
  EXPECT_EQ(ToJson(bundle),
            R"({"outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"warning",)"
            R"("code":"timeout","details":{"text":"trust RJ1 timed out"}}]}})");
}

TEST(OperationOutcome, ClassifiesLocations) {
  EXPECT_TRUE(IsFhirPathLocation("Patient.identifier[0].value"));
  EXPECT_TRUE(IsFhirPathLocation("identifier"));
  EXPECT_FALSE(IsFhirPathLocation("PID-3"));
  EXPECT_FALSE(IsFhirPathLocation("/entry/0"));
  EXPECT_FALSE(IsFhirPathLocation("offset 4"));
  EXPECT_FALSE(IsFhirPathLocation(""));
}

// A storage or internal error's message is for operators (libpq's names the database host and
// user): the client's OperationOutcome gets a fixed text, the log gets the detail. Before, the
// message reached details.text.
TEST(ErrorResponse, WithholdsTheDetailOfStorageAndInternalErrors) {
  std::vector<std::string> lines;
  core::SetLogSink([&lines](std::string_view line) { lines.emplace_back(line); });
  const std::string detail =
      "connection to server at \"db.rj1.nhs.internal\" (10.1.2.3), port 5432 failed: FATAL: "
      "password authentication failed for user \"trustbridge\"";
  for (const ErrorCode code : {ErrorCode::kStorage, ErrorCode::kInternal, ErrorCode::kConfig}) {
    const core::HttpResponse response = ErrorResponse(MakeError(code, detail, "store"));
    EXPECT_EQ(response.status, core::Info(code).http_status);
    EXPECT_EQ(response.body.find("db.rj1"), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find("trustbridge"), std::string::npos) << response.body;
    EXPECT_NE(response.body.find(std::string(PublicErrorText(code))), std::string::npos)
        << response.body;
    EXPECT_NE(response.body.find(std::string(core::Info(code).issue_code)), std::string::npos);
  }
  core::FlushLog();
  core::SetLogSink(nullptr);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("error_detail_withheld"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("db.rj1.nhs.internal"), std::string::npos) << lines[0];

  // Errors about the request keep their message: it tells the client what to fix.
  const core::HttpResponse invalid =
      ErrorResponse(MakeError(ErrorCode::kInvalidValue, "birthDate is not a date", "Patient"));
  EXPECT_NE(invalid.body.find("birthDate is not a date"), std::string::npos);
}

}  // namespace
}  // namespace tb::fhir
