// MergeAnswers: the merge rules of a federated answer, as a plain function (no threads, no I/O).
#include "broker/routing/bundle_merge.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/json.h"

namespace tb::routing {
namespace {

UpstreamAnswer Ok(TargetKind kind, std::string id, std::string body, int status = 200) {
  UpstreamAnswer answer;
  answer.kind = kind;
  answer.id = std::move(id);
  core::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  answer.reply = core::Result<core::HttpResponse>(std::move(response));
  answer.latency_ms = 12;
  return answer;
}

UpstreamAnswer Trust(std::string ods, std::string body) {
  return Ok(TargetKind::kTrust, std::move(ods), std::move(body));
}

rapidjson::Document Parse(const std::string& json) {
  auto document = fhir::ParseJson(json);
  EXPECT_TRUE(document.has_value());
  return document ? std::move(*document) : rapidjson::Document();
}

const rapidjson::Value& Entries(const rapidjson::Document& bundle) {
  static const rapidjson::Value kEmpty(rapidjson::kArrayType);
  const rapidjson::Value* entries = fhir::FindArray(bundle, "entry");
  return entries != nullptr ? *entries : kEmpty;
}

std::string ResourceString(const rapidjson::Value& entry, std::string_view name) {
  const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
  const auto value = resource != nullptr ? fhir::FindString(*resource, name) : std::nullopt;
  return value ? std::string(*value) : std::string();
}

std::string Source(const rapidjson::Value& entry) {
  const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
  const rapidjson::Value* meta =
      resource != nullptr ? fhir::FindObject(*resource, "meta") : nullptr;
  const auto value = meta != nullptr ? fhir::FindString(*meta, "source") : std::nullopt;
  return value ? std::string(*value) : std::string();
}

std::string Mode(const rapidjson::Value& entry) {
  const rapidjson::Value* search = fhir::FindObject(entry, "search");
  const auto value = search != nullptr ? fhir::FindString(*search, "mode") : std::nullopt;
  return value ? std::string(*value) : std::string();
}

TEST(MergeAnswers, KeepsFullUrlScoreAndIncludeEntriesButCountsOnlyMatches) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"fullUrl":"https://rj1/fhir/Observation/o1","resource":{"resourceType":"Observation",
     "id":"o1","meta":{"versionId":"3"}},"search":{"mode":"match","score":0.5}},
    {"fullUrl":"https://rj1/fhir/Patient/p1","resource":{"resourceType":"Patient","id":"p1"},
     "search":{"mode":"include"}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  EXPECT_EQ(result.total, 1u);
  EXPECT_FALSE(result.partial);
  const rapidjson::Document bundle = Parse(result.bundle_json);
  const rapidjson::Value& entries = Entries(bundle);
  ASSERT_EQ(entries.Size(), 2u);
  EXPECT_EQ(fhir::FindString(entries[0], "fullUrl"), "https://rj1/fhir/Observation/o1");
  EXPECT_EQ(Mode(entries[0]), "match");
  EXPECT_DOUBLE_EQ(entries[0]["search"]["score"].GetDouble(), 0.5);
  EXPECT_EQ(Mode(entries[1]), "include");
  // meta.source is added beside what meta already held.
  EXPECT_EQ(Source(entries[0]), "RJ1");
  EXPECT_EQ(fhir::FindString(entries[0]["resource"]["meta"], "versionId"), "3");
  ASSERT_EQ(result.targets.size(), 1u);
  EXPECT_EQ(result.targets[0].matches, 1u);
  EXPECT_EQ(result.targets[0].latency_ms, 12);
}

// The merged Bundle is written straight from the answers; it must read exactly as
// fhir::BundleBuilder would write the same entries (member order, numbers, escaping).
TEST(MergeAnswers, WritesTheSameTextAsBundleBuilder) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"fullUrl":"https://rj1/fhir/Observation/o1","resource":{"resourceType":"Observation",
     "id":"o1","valueQuantity":{"value":7.25},"note":[{"text":"caf\u00e9 \"x\"\n"}]},
     "search":{"mode":"match","score":0.125}},
    {"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}}]})"));
  answers.push_back(Trust("RGT", "not json"));
  MergeOptions options;
  options.bundle_id = "req-1";
  options.timestamp = "2026-11-23T19:00:00.000Z";
  const FederatedResult result = MergeAnswers(std::move(answers), {}, options);

  const rapidjson::Document parsed = Parse(result.bundle_json);
  fhir::BundleBuilder builder(fhir::BundleType::kSearchset);
  builder.SetId(options.bundle_id);
  builder.SetTimestamp(options.timestamp);
  builder.SetTotal(result.total);
  for (const rapidjson::Value& entry : Entries(parsed).GetArray()) {
    fhir::BundleEntry copy;
    if (const auto full_url = fhir::FindString(entry, "fullUrl")) {
      copy.full_url = std::string(*full_url);
    }
    copy.resource = &entry["resource"];
    const std::string mode = Mode(entry);
    copy.search_mode = mode == "outcome"   ? fhir::SearchMode::kOutcome
                       : mode == "include" ? fhir::SearchMode::kInclude
                                           : fhir::SearchMode::kMatch;
    if (entry["search"].HasMember("score")) {
      copy.search_score = entry["search"]["score"].GetDouble();
    }
    builder.AddEntry(copy);
  }
  EXPECT_EQ(result.bundle_json, builder.BuildJson());
  ASSERT_EQ(Entries(parsed).Size(), 3u);  // RGT's outcome, then RJ1's two entries
}

TEST(MergeAnswers, SkipsEntriesWithoutAResourceAndRepairsABadMeta) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","entry":[
    {"fullUrl":"urn:x"}, 7, {"resource":"text"},
    {"resource":{"resourceType":"Patient","id":"p1","meta":"oops"}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  const rapidjson::Document bundle = Parse(result.bundle_json);
  ASSERT_EQ(Entries(bundle).Size(), 1u);
  EXPECT_EQ(Source(Entries(bundle)[0]), "RJ1");
  EXPECT_EQ(Mode(Entries(bundle)[0]), "match");  // no search.mode: a match
  EXPECT_EQ(result.total, 1u);
}

TEST(MergeAnswers, ResourcesWithoutIdCollapseOnlyWhenIdentical) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","entry":[
    {"resource":{"resourceType":"Observation","status":"final"}},
    {"resource":{"resourceType":"Observation","status":"final"}},
    {"resource":{"resourceType":"Observation","status":"amended"}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  EXPECT_EQ(result.total, 2u);
}

TEST(MergeAnswers, EntryThatIsNotAnArrayIsAFailedAnswer) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","entry":{}})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  EXPECT_TRUE(result.partial);
  ASSERT_EQ(result.targets.size(), 1u);
  EXPECT_EQ(result.targets[0].status, TargetStatus::kFailed);
  EXPECT_NE(result.bundle_json.find("trust RJ1 did not answer with a FHIR Bundle"),
            std::string::npos);
}

TEST(MergeAnswers, OversizeAnswerIsAFailedAnswer) {
  MergeOptions options;
  options.max_body_bytes = 64;
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RJ1", R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":
    "Patient","id":"p1"}}, {"resource":{"resourceType":"Patient","id":"p2"}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, options);
  ASSERT_EQ(result.targets.size(), 1u);
  EXPECT_EQ(result.targets[0].status, TargetStatus::kFailed);
  EXPECT_EQ(result.total, 0u);
}

TEST(MergeAnswers, MissingRepliesAreTimeoutsQuotingTheDeadline) {
  MergeOptions options;
  options.deadline_ms = 3000;
  UpstreamAnswer silent;
  silent.id = "RGT";
  silent.latency_ms = 3000;
  std::vector<UpstreamAnswer> answers;
  answers.push_back(std::move(silent));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, options);
  ASSERT_EQ(result.targets.size(), 1u);
  EXPECT_EQ(result.targets[0].status, TargetStatus::kTimedOut);
  ASSERT_TRUE(result.targets[0].error.has_value());
  EXPECT_EQ(result.targets[0].error->code, core::ErrorCode::kTimeout);
  const rapidjson::Document bundle = Parse(result.bundle_json);
  ASSERT_EQ(Entries(bundle).Size(), 1u);
  const rapidjson::Value& outcome = Entries(bundle)[0];
  EXPECT_EQ(Mode(outcome), "outcome");
  EXPECT_EQ(ResourceString(outcome, "resourceType"), "OperationOutcome");
  const rapidjson::Value& issue = outcome["resource"]["issue"][0];
  EXPECT_EQ(fhir::FindString(issue, "code"), "timeout");
  EXPECT_EQ(fhir::FindString(issue, "diagnostics"), "trust RGT did not answer within 3000 ms");
  const rapidjson::Value& extension = outcome["resource"]["extension"][0];
  EXPECT_EQ(fhir::FindString(extension, "url"), kSourceExtensionUrl);
  EXPECT_EQ(fhir::FindString(extension["valueIdentifier"], "system"),
            "https://fhir.nhs.uk/Id/ods-organization-code");
}

TEST(MergeAnswers, OutcomesPassedOnTwiceAppearOnce) {
  const std::string peer_body = R"({"resourceType":"Bundle","entry":[
    {"resource":{"resourceType":"OperationOutcome","meta":{"source":"RTH"},
     "issue":[{"severity":"warning","code":"timeout"}]},"search":{"mode":"outcome"}}]})";
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Ok(TargetKind::kPeer, "broker-c", peer_body));
  answers.push_back(Ok(TargetKind::kPeer, "broker-b", peer_body));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  const rapidjson::Document bundle = Parse(result.bundle_json);
  ASSERT_EQ(Entries(bundle).Size(), 1u);
  EXPECT_EQ(Source(Entries(bundle)[0]), "RTH");
  EXPECT_EQ(result.total, 0u);
  // A peer's trust that timed out makes this answer partial too.
  EXPECT_TRUE(result.partial);
  // Targets: peers by id.
  ASSERT_EQ(result.targets.size(), 2u);
  EXPECT_EQ(result.targets[0].id, "broker-b");
}

TEST(MergeAnswers, SameSourceFromTwoPeersKeepsTheFirstPeerByIdAndTheirOrder) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Ok(TargetKind::kPeer, "broker-c", R"({"resourceType":"Bundle","entry":[
    {"resource":{"resourceType":"Patient","id":"z","meta":{"source":"RQ3"}}},
    {"resource":{"resourceType":"Patient","id":"a","meta":{"source":"RQ3"}}}]})"));
  answers.push_back(Ok(TargetKind::kPeer, "broker-b", R"({"resourceType":"Bundle","entry":[
    {"resource":{"resourceType":"Patient","id":"a","meta":{"source":"RQ3"}}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  const rapidjson::Document bundle = Parse(result.bundle_json);
  const rapidjson::Value& entries = Entries(bundle);
  ASSERT_EQ(entries.Size(), 2u);
  EXPECT_EQ(ResourceString(entries[0], "id"), "a");  // from broker-b, first by id
  EXPECT_EQ(ResourceString(entries[1], "id"), "z");
  ASSERT_EQ(result.targets.size(), 2u);
  EXPECT_EQ(result.targets[0].id, "broker-b");
  EXPECT_EQ(result.targets[0].matches, 1u);
  EXPECT_EQ(result.targets[1].matches, 1u);
}

TEST(MergeAnswers, NotQueriedTargetsAreListedAndFlaggedOnlyWhenAsked) {
  TargetOutcome mllp_only;
  mllp_only.id = "R00";
  mllp_only.error = core::MakeError(core::ErrorCode::kUnsupportedMessage, "no FHIR endpoint");
  mllp_only.flag_in_bundle = true;
  TargetOutcome visited;
  visited.kind = TargetKind::kPeer;
  visited.id = "broker-b";
  const FederatedResult result = MergeAnswers({}, {mllp_only, visited}, {});
  ASSERT_EQ(result.targets.size(), 2u);
  EXPECT_EQ(result.targets[0].status, TargetStatus::kNotQueried);
  EXPECT_EQ(result.targets[1].status, TargetStatus::kNotQueried);
  const rapidjson::Document bundle = Parse(result.bundle_json);
  ASSERT_EQ(Entries(bundle).Size(), 1u);
  EXPECT_EQ(Source(Entries(bundle)[0]), "R00");
  EXPECT_EQ(fhir::FindString(Entries(bundle)[0]["resource"]["issue"][0], "severity"),
            "information");
}

// A trust that answers with one page of a longer result (a "next" link) has its entries merged,
// and a warning says the rest is missing: a partial answer is never silent. A "self" link alone
// is a whole result.
TEST(MergeAnswers, AnAnswerLinkingANextPageIsMergedAndFlaggedAsIncomplete) {
  std::vector<UpstreamAnswer> answers;
  answers.push_back(Trust("RGT", R"({"resourceType":"Bundle","type":"searchset",
    "link":[{"relation":"self","url":"https://rgt.example/fhir/Observation?_count=1"},
            {"relation":"next","url":"https://rgt.example/fhir/Observation?_count=1&page=2"}],
    "entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]})"));
  answers.push_back(Trust("RXH", R"({"resourceType":"Bundle","type":"searchset",
    "link":[{"relation":"self","url":"https://rxh.example/fhir/Observation"}],
    "entry":[{"resource":{"resourceType":"Observation","id":"o2"}}]})"));
  const FederatedResult result = MergeAnswers(std::move(answers), {}, {});
  EXPECT_TRUE(result.partial);
  EXPECT_EQ(result.total, 2u);
  ASSERT_EQ(result.targets.size(), 2u);
  EXPECT_EQ(result.targets[0].status, TargetStatus::kOk);
  EXPECT_TRUE(result.targets[0].more_pages);
  EXPECT_EQ(result.targets[0].matches, 1u);
  EXPECT_FALSE(result.targets[1].more_pages);
  const rapidjson::Document bundle = Parse(result.bundle_json);
  ASSERT_EQ(Entries(bundle).Size(), 3u);
  const rapidjson::Value& outcome = Entries(bundle)[0];
  EXPECT_EQ(Mode(outcome), "outcome");
  EXPECT_EQ(Source(outcome), "RGT");
  const rapidjson::Value& issue = outcome["resource"]["issue"][0];
  EXPECT_EQ(fhir::FindString(issue, "severity"), "warning");
  EXPECT_EQ(fhir::FindString(issue, "code"), "incomplete");
  EXPECT_EQ(fhir::FindString(issue, "diagnostics"),
            "trust RGT answered with part of its results; the pages after it are not "
            "included");
  EXPECT_EQ(ResourceString(Entries(bundle)[1], "id"), "o1");
  EXPECT_EQ(ResourceString(Entries(bundle)[2], "id"), "o2");
  EXPECT_FALSE(MergeAnswers({}, {}, {}).partial);
}

TEST(MergeAnswers, EmptyMergeIsAnEmptySearchset) {
  MergeOptions options;
  options.bundle_id = "req-1";
  options.timestamp = "2026-11-23T10:00:00.000Z";
  const FederatedResult result = MergeAnswers({}, {}, options);
  EXPECT_EQ(result.bundle_json, R"({"resourceType":"Bundle","id":"req-1","type":"searchset",)"
                                R"("timestamp":"2026-11-23T10:00:00.000Z","total":0})");
}

// FederatedQuery judges answers as they arrive and merges them later: judging ahead (in any
// order) must give the same Bundle and outcomes as merging the raw answers.
TEST(MergeJudged, JudgingAheadInAnyOrderGivesTheSameResultAsMergeAnswers) {
  const auto answers = [] {
    std::vector<UpstreamAnswer> list;
    list.push_back(Trust("RX9", R"({"resourceType":"Bundle","type":"searchset","entry":[)"
                                R"({"resource":{"resourceType":"Patient","id":"p3"}},)"
                                R"({"resource":{"resourceType":"Patient","id":"p3"}}]})"));
    list.push_back(
        Ok(TargetKind::kPeer, "broker-b",
           R"({"resourceType":"Bundle","type":"searchset","entry":[)"
           R"({"resource":{"resourceType":"Patient","id":"p9","meta":{"source":"RJ1"}}}]})"));
    list.push_back(Trust("RGT", "not json"));
    list.push_back(Trust("RJ1", R"({"resourceType":"Bundle","type":"searchset","entry":[)"
                                R"({"resource":{"resourceType":"Patient","id":"p1"}}]})"));
    UpstreamAnswer silent;
    silent.id = "R00";
    silent.latency_ms = 2000;
    list.push_back(std::move(silent));
    return list;
  };
  MergeOptions options;
  options.deadline_ms = 2000;
  options.bundle_id = "b1";
  const FederatedResult merged = MergeAnswers(answers(), {}, options);

  std::vector<UpstreamAnswer> reversed = answers();
  std::vector<JudgedAnswer> judged;
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) {
    judged.push_back(JudgeAnswer(std::move(*it), options));
  }
  const FederatedResult ahead = MergeJudged(std::move(judged), {}, options);

  EXPECT_EQ(ahead.bundle_json, merged.bundle_json);
  EXPECT_EQ(ahead.total, 3u);
  EXPECT_TRUE(ahead.partial);
  ASSERT_EQ(ahead.targets.size(), merged.targets.size());
  for (std::size_t i = 0; i < ahead.targets.size(); ++i) {
    EXPECT_EQ(ahead.targets[i].id, merged.targets[i].id) << i;
    EXPECT_EQ(ahead.targets[i].status, merged.targets[i].status) << i;
    EXPECT_EQ(ahead.targets[i].matches, merged.targets[i].matches) << i;
    EXPECT_EQ(ahead.targets[i].latency_ms, merged.targets[i].latency_ms) << i;
  }
}

// The merged Bundle handed over as a DOM (MergeOptions::as_document) is the text's Bundle:
// outcomes for failed, silent and flagged targets, passed-on outcomes, duplicates, scores,
// includes, peers, escapes.
TEST(MergeJudged, TheDocumentIsTheSameBundleAsTheText) {
  const auto answers = [] {
    std::vector<UpstreamAnswer> list;
    list.push_back(Trust("RJ1", R"({"resourceType":"Bundle","type":"searchset","entry":[
      {"fullUrl":"https://rj1/fhir/Observation/o1","resource":{"resourceType":"Observation",
       "id":"o1","valueQuantity":{"value":7.25},"note":[{"text":"caf\u00e9 \"x\"\n"}]},
       "search":{"mode":"match","score":1}},
      {"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}},
      {"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}}]})"));
    list.push_back(Trust("RGT", "not json"));
    list.push_back(Ok(TargetKind::kPeer, "broker-b", R"({"resourceType":"Bundle","entry":[
      {"resource":{"resourceType":"OperationOutcome","meta":{"source":"RTH"},
       "issue":[{"severity":"warning","code":"timeout"}]},"search":{"mode":"outcome"}},
      {"resource":{"resourceType":"Patient","id":"p9","meta":{"source":"RQ3"}}}]})"));
    UpstreamAnswer silent;
    silent.id = "R01";
    list.push_back(std::move(silent));
    return list;
  };
  TargetOutcome mllp_only;
  mllp_only.id = "R00";
  mllp_only.error = core::MakeError(core::ErrorCode::kUnsupportedMessage, "no FHIR endpoint");
  mllp_only.flag_in_bundle = true;
  MergeOptions options;
  options.bundle_id = "req-1";
  options.timestamp = "2026-11-23T19:00:00.000Z";
  const auto judge = [&](std::vector<UpstreamAnswer> list) {
    std::vector<JudgedAnswer> judged;
    for (UpstreamAnswer& answer : list) {
      judged.push_back(JudgeAnswer(std::move(answer), options));
    }
    return judged;
  };
  const FederatedResult text = MergeJudged(judge(answers()), {mllp_only}, options);
  MergeOptions as_document = options;
  as_document.as_document = true;
  const FederatedResult document = MergeJudged(judge(answers()), {mllp_only}, as_document);

  ASSERT_NE(document.document, nullptr);
  EXPECT_TRUE(document.bundle_json.empty());
  EXPECT_EQ(text.document, nullptr);
  EXPECT_EQ(fhir::ToJson(document.document->bundle), text.bundle_json);
  EXPECT_EQ(document.total, text.total);
  EXPECT_EQ(document.partial, text.partial);
  // R00, RGT and R01 (ours), RTH's, then o1, p1 (once) and p9.
  ASSERT_EQ(Entries(Parse(text.bundle_json)).Size(), 7u);
}

TEST(MergeJudged, AnEmptyDocumentIsTheSameBundleAsTheText) {
  MergeOptions options;
  options.bundle_id = "req-1";
  const FederatedResult text = MergeJudged({}, {}, options);
  options.as_document = true;
  const FederatedResult document = MergeJudged({}, {}, options);
  ASSERT_NE(document.document, nullptr);
  EXPECT_EQ(fhir::ToJson(document.document->bundle), text.bundle_json);
}

TEST(TargetStatusCode, NamesEveryStatus) {
  EXPECT_STREQ(TargetStatusCode(TargetStatus::kOk), "ok");
  EXPECT_STREQ(TargetStatusCode(TargetStatus::kFailed), "failed");
  EXPECT_STREQ(TargetStatusCode(TargetStatus::kTimedOut), "timeout");
  EXPECT_STREQ(TargetStatusCode(TargetStatus::kNotQueried), "not-queried");
}

}  // namespace
}  // namespace tb::routing
