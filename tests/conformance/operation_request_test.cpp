#include "conformance/operation_request.h"

#include <gtest/gtest.h>

namespace tb::conformance {
namespace {

constexpr std::string_view kBase = "https://127.0.0.1:8443/fhir";

Operation Op(std::string code, std::string resource = {}, std::string params = {}) {
  Operation op;
  op.type_code = std::move(code);
  op.resource = std::move(resource);
  op.params = std::move(params);
  return op;
}

PlannedRequest Plan(const Operation& op, std::string_view target_id = {}, bool body = false) {
  auto plan = PlanRequest(op, kBase, target_id, body);
  EXPECT_TRUE(plan) << (plan ? "" : plan.error().message);
  return plan ? *plan : PlannedRequest{};
}

TEST(ConformanceRequestPlan, ReadsAndWritesById) {
  PlannedRequest read = Plan(Op("read", "Patient", "/p1"));
  EXPECT_EQ(read.method, "GET");
  EXPECT_EQ(read.url, "https://127.0.0.1:8443/fhir/Patient/p1");
  EXPECT_EQ(Plan(Op("read", "Patient"), "from-target").url,
            "https://127.0.0.1:8443/fhir/Patient/from-target");
  EXPECT_EQ(Plan(Op("vread", "Patient", "/p1/_history/2")).url,
            "https://127.0.0.1:8443/fhir/Patient/p1/_history/2");
  PlannedRequest update = Plan(Op("update", "Patient"), "p1", true);
  EXPECT_EQ(update.method, "PUT");
  EXPECT_EQ(update.url, "https://127.0.0.1:8443/fhir/Patient/p1");
  PlannedRequest remove = Plan(Op("delete", "Patient", "/p1"));
  EXPECT_EQ(remove.method, "DELETE");
  EXPECT_EQ(Plan(Op("patch", "Patient"), "p1", true).method, "PATCH");
}

TEST(ConformanceRequestPlan, ReadWithoutParamsOrTargetIsAnError) {
  auto plan = PlanRequest(Op("read", "Patient"), kBase, {}, false);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().location, "operation.params");
}

TEST(ConformanceRequestPlan, SearchesCreatesHistoryAndCapabilities) {
  PlannedRequest search = Plan(Op("search", "Patient", "?family=Smith"));
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.url, "https://127.0.0.1:8443/fhir/Patient?family=Smith");
  PlannedRequest create = Plan(Op("create", "Patient"), {}, true);
  EXPECT_EQ(create.method, "POST");
  EXPECT_EQ(create.url, "https://127.0.0.1:8443/fhir/Patient");
  EXPECT_EQ(Plan(Op("history", "Patient"), "p1").url,
            "https://127.0.0.1:8443/fhir/Patient/p1/_history");
  EXPECT_EQ(Plan(Op("history", "Patient")).url, "https://127.0.0.1:8443/fhir/Patient/_history");
  EXPECT_EQ(Plan(Op("capabilities")).url, "https://127.0.0.1:8443/fhir/metadata");
  PlannedRequest transaction = Plan(Op("transaction"), {}, true);
  EXPECT_EQ(transaction.method, "POST");
  EXPECT_EQ(transaction.url, "https://127.0.0.1:8443/fhir");
  EXPECT_EQ(Plan(Op("batch"), {}, true).url, "https://127.0.0.1:8443/fhir");
}

TEST(ConformanceRequestPlan, CustomOperationsUseTheirCodeAndTheBodyDecidesTheMethod) {
  PlannedRequest everything = Plan(Op("everything", "Patient", "?identifier=x"));
  EXPECT_EQ(everything.method, "GET");
  EXPECT_EQ(everything.url, "https://127.0.0.1:8443/fhir/Patient/$everything?identifier=x");
  PlannedRequest process = Plan(Op("process-message"), {}, true);
  EXPECT_EQ(process.method, "POST");
  EXPECT_EQ(process.url, "https://127.0.0.1:8443/fhir/$process-message");
  EXPECT_EQ(Plan(Op("validate", "Patient"), "p1", true).url,
            "https://127.0.0.1:8443/fhir/Patient/p1/$validate");
}

TEST(ConformanceRequestPlan, UrlAndMethodOverride) {
  Operation op = Op("search", "Patient", "?ignored=1");
  op.url = "Patient/_search";
  op.method = "post";
  PlannedRequest plan = Plan(op);
  EXPECT_EQ(plan.method, "POST");
  EXPECT_EQ(plan.url, "https://127.0.0.1:8443/fhir/Patient/_search");
  op.url = "https://other:1/fhir/metadata";
  EXPECT_EQ(Plan(op).url, "https://other:1/fhir/metadata");
  Operation bare;
  bare.url = "/metadata";
  EXPECT_EQ(Plan(bare).method, "GET");
  EXPECT_FALSE(PlanRequest(Operation{}, kBase, {}, false));
}

TEST(ConformanceRequestPlan, EncodesOnlyWhatAUrlCannotCarry) {
  Operation op = Op("search", "Patient", "?identifier=https://fhir.nhs.uk/Id/nhs-number|123 4");
  EXPECT_EQ(Plan(op).url,
            "https://127.0.0.1:8443/fhir/Patient?identifier=https://fhir.nhs.uk/Id/"
            "nhs-number%7C123%204");
  op.encode_request_url = false;
  EXPECT_EQ(Plan(op).url,
            "https://127.0.0.1:8443/fhir/Patient?identifier=https://fhir.nhs.uk/Id/"
            "nhs-number|123 4");
  EXPECT_EQ(EncodeRequestUrl("a%7Cb&c=d/e?f"), "a%7Cb&c=d/e?f");
  EXPECT_EQ(EncodeRequestUrl("\xC3\xA9"), "%C3%A9");
}

}  // namespace
}  // namespace tb::conformance
