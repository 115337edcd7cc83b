#include "adapters/fhir/bundle.h"

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"

namespace tb::fhir {
namespace {

using core::ErrorCode;
using core::MakeError;

rapidjson::Document Parse(std::string_view text) {
  auto document = ParseJson(text);
  EXPECT_TRUE(document.has_value());
  return std::move(*document);
}

TEST(BundleBuilder, BuildsSearchsetWithMatchIncludeAndOutcome) {
  BundleBuilder builder(BundleType::kSearchset);
  builder.SetId("b1").SetTimestamp("2026-01-02T03:04:05Z").SetTotal(1).AddLink(
      "self", "https://broker/fhir/Patient?identifier=x");
  {
    // The source documents go away before Build(): the Bundle must own its copies.
    rapidjson::Document patient = Parse(R"({"resourceType":"Patient","id":"p1"})");
    rapidjson::Document org = Parse(R"({"resourceType":"Organization","id":"o1"})");
    builder.AddResource(patient, "https://rj1/fhir/Patient/p1");
    builder.AddResource(org, "https://rj1/fhir/Organization/o1", SearchMode::kInclude);
  }
  builder.AddOutcome({Issue{IssueSeverity::kWarning,
                            MakeError(ErrorCode::kTimeout, "trust RXX timed out")}});
  EXPECT_EQ(builder.entry_count(), 3U);

  EXPECT_EQ(builder.BuildJson(),
            R"({"resourceType":"Bundle","id":"b1","type":"searchset",)"
            R"("timestamp":"2026-01-02T03:04:05Z","total":1,)"
            R"("link":[{"relation":"self","url":"https://broker/fhir/Patient?identifier=x"}],)"
            R"("entry":[)"
            R"({"fullUrl":"https://rj1/fhir/Patient/p1","resource":{"resourceType":"Patient",)"
            R"("id":"p1"},"search":{"mode":"match"}},)"
            R"({"fullUrl":"https://rj1/fhir/Organization/o1","resource":{)"
            R"("resourceType":"Organization","id":"o1"},"search":{"mode":"include"}},)"
            R"({"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning",)"
            R"("code":"timeout","details":{"text":"trust RXX timed out"}}]},)"
            R"("search":{"mode":"outcome"}}]})");
  // Build() leaves the builder empty and reusable.
  EXPECT_EQ(builder.entry_count(), 0U);
  EXPECT_EQ(builder.BuildJson(), R"({"resourceType":"Bundle","type":"searchset"})");
}

TEST(BundleBuilder, CollectionEntriesHaveNoSearchElement) {
  rapidjson::Document patient = Parse(R"({"resourceType":"Patient"})");
  BundleBuilder builder(BundleType::kCollection);
  builder.AddResource(patient, "urn:uuid:4d7a9f5e-0000-4000-8000-000000000001");
  EXPECT_EQ(builder.BuildJson(),
            R"({"resourceType":"Bundle","type":"collection","entry":[)"
            R"({"fullUrl":"urn:uuid:4d7a9f5e-0000-4000-8000-000000000001",)"
            R"("resource":{"resourceType":"Patient"}}]})");
}

TEST(BundleBuilder, TransactionResponseEntriesCarryResponse) {
  BundleBuilder builder(BundleType::kTransactionResponse);
  BundleEntry entry;
  entry.response = EntryResponse{"201 Created", "Patient/p1/_history/1", "W/\"1\"",
                                 "2026-01-02T03:04:05Z"};
  builder.AddEntry(entry);
  BundleEntry failed;
  failed.response = EntryResponse{"404 Not Found", "", "", ""};
  builder.AddEntry(failed);
  EXPECT_EQ(builder.BuildJson(),
            R"({"resourceType":"Bundle","type":"transaction-response","entry":[)"
            R"({"response":{"status":"201 Created","location":"Patient/p1/_history/1",)"
            R"("etag":"W/\"1\"","lastModified":"2026-01-02T03:04:05Z"}},)"
            R"({"response":{"status":"404 Not Found"}}]})");
}

TEST(BundleBuilder, MessageBundleAndScores) {
  rapidjson::Document header = Parse(R"({"resourceType":"MessageHeader"})");
  BundleBuilder builder(BundleType::kMessage);
  BundleEntry entry;
  entry.resource = &header;
  entry.search_mode = SearchMode::kMatch;
  entry.search_score = 0.5;
  builder.AddEntry(entry);
  rapidjson::Document bundle = builder.Build();
  EXPECT_EQ(FindString(bundle, "type"), "message");
  const rapidjson::Value& search = bundle["entry"][0]["search"];
  EXPECT_DOUBLE_EQ(search["score"].GetDouble(), 0.5);
}

TEST(BundleBuilder, TypeCodes) {
  EXPECT_STREQ(BundleTypeCode(BundleType::kBatchResponse), "batch-response");
  EXPECT_STREQ(BundleTypeCode(BundleType::kHistory), "history");
  EXPECT_STREQ(BundleTypeCode(BundleType::kDocument), "document");
}

}  // namespace
}  // namespace tb::fhir
