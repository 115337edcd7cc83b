// Counts and paging answered by the broker: result-control parameters, pages of a filtered
// searchset, and the page cache (owner binding, expiry, bounds).
#include "broker/policy/paging.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::Json;

class ManualClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return now; }
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

std::vector<fhir::SearchParam> Params(std::vector<std::pair<std::string, std::string>> pairs) {
  std::vector<fhir::SearchParam> params;
  for (auto& [name, value] : pairs) {
    params.push_back(fhir::SearchParam{name, "", value});
  }
  return params;
}

TEST(ResultControl, TakesCountSummaryAndTotalAndLeavesTheRest) {
  auto params = Params(
      {{"category", "laboratory"}, {"_count", "2"}, {"_total", "accurate"}, {"_summary", "true"}});
  auto control = TakeResultControl(params);
  ASSERT_TRUE(control);
  EXPECT_TRUE(control->has_count);
  EXPECT_EQ(control->count, 2u);
  EXPECT_FALSE(control->summary_count);
  EXPECT_FALSE(control->total_none);
  ASSERT_EQ(params.size(), 2u);  // the trusts are asked for the resources
  EXPECT_EQ(params[0].name, "category");
  EXPECT_EQ(params[1].name, "_summary");

  auto summary = Params({{"_summary", "count"}, {"_total", "none"}});
  control = TakeResultControl(summary);
  ASSERT_TRUE(control);
  EXPECT_TRUE(control->summary_count);
  EXPECT_TRUE(control->total_none);
  EXPECT_TRUE(summary.empty());

  auto zero = Params({{"_count", "0"}});
  control = TakeResultControl(zero);
  ASSERT_TRUE(control);
  EXPECT_TRUE(control->summary_count);
}

TEST(ResultControl, RefusesBadValues) {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"_count", "-1"},
                                                        {"_count", "ten"},
                                                        {"_count", ""},
                                                        {"_count", "1001"},
                                                        {"_total", "exact"}}) {
    auto params = Params({{name, value}});
    auto control = TakeResultControl(params);
    ASSERT_FALSE(control) << name << "=" << value;
    EXPECT_EQ(control.error().code, core::ErrorCode::kInvalidValue);
    EXPECT_EQ(control.error().location, name);
  }
  auto twice = Params({{"_count", "1"}, {"_count", "2"}});
  EXPECT_FALSE(TakeResultControl(twice));
}

// Five Observations (o0..o4), a Patient included by o3, and a partial-result warning.
std::string Searchset() {
  std::string json = R"({"resourceType": "Bundle", "id": "b1", "type": "searchset", "total": 5,
    "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [{"severity":
      "warning", "code": "timeout"}]}, "search": {"mode": "outcome"}})";
  for (int i = 0; i < 5; ++i) {
    json += R"(, {"resource": {"resourceType": "Observation", "id": "o)" + std::to_string(i) +
            R"(", "status": "final", "code": {"text": "x"}, "subject": {"reference": ")" +
            (i == 3 ? "Patient/p1" : "Patient/p9") + R"("}}, "search": {"mode": "match"}})";
  }
  json += R"(, {"resource": {"resourceType": "Patient", "id": "p1"},
                "search": {"mode": "include"}}]})";
  return json;
}

std::vector<std::string> Ids(const rapidjson::Value& page) {
  std::vector<std::string> ids;
  if (page.HasMember("entry")) {
    for (const auto& entry : page["entry"].GetArray()) {
      const auto& resource = entry["resource"];
      ids.emplace_back(resource.HasMember("id") ? resource["id"].GetString()
                                                : resource["resourceType"].GetString());
    }
  }
  return ids;
}

std::string Link(const rapidjson::Value& page, std::string_view relation) {
  for (const auto& link : page["link"].GetArray()) {
    if (std::string_view(link["relation"].GetString()) == relation) {
      return link["url"].GetString();
    }
  }
  return {};
}

TEST(Paging, PagesSliceTheMatchesAndCarryTheFilteredTotalAndLinks) {
  rapidjson::Document full = Json(Searchset());
  RequestContext context;
  context.requester_ods = "RGT";
  context.scopes = ScopeSet::Parse({"system/*.rs"}).value();
  ReleasePolicy release;
  release.request = &context;
  FilterReport report;
  PageSpec spec{0, 2, "/fhir/_page?token=t", false};

  rapidjson::Document first = BuildPage(full, spec, release, report);
  EXPECT_EQ(Ids(first), (std::vector<std::string>{"OperationOutcome", "o0", "o1"}));
  EXPECT_EQ(first["total"].GetUint64(), 5u);
  EXPECT_EQ(Link(first, "next"), "/fhir/_page?token=t&offset=2");
  EXPECT_EQ(Link(first, "previous"), "");

  spec.offset = 2;
  rapidjson::Document second = BuildPage(full, spec, release, report);
  // p1 is included by o3, which is on this page.
  EXPECT_EQ(Ids(second), (std::vector<std::string>{"o2", "o3", "p1"}));
  EXPECT_EQ(Link(second, "previous"), "/fhir/_page?token=t&offset=0");
  EXPECT_EQ(Link(second, "next"), "/fhir/_page?token=t&offset=4");

  spec.offset = 4;
  rapidjson::Document last = BuildPage(full, spec, release, report);
  EXPECT_EQ(Ids(last), (std::vector<std::string>{"o4"}));  // p1 is not linked to this page
  EXPECT_EQ(Link(last, "next"), "");
  EXPECT_EQ(report.removed.size(), 1u);

  spec.total_none = true;
  EXPECT_FALSE(BuildPage(full, spec, release, report).HasMember("total"));
}

TEST(Paging, APageIsFilteredAgainWithTheGivenPolicy) {
  rapidjson::Document full = Json(Searchset());
  RequestContext context;
  context.requester_ods = "RGT";
  context.scopes = ScopeSet::Parse({"system/Patient.rs"}).value();  // no Observations
  ReleasePolicy release;
  release.request = &context;
  FilterReport report;
  rapidjson::Document page = BuildPage(full, PageSpec{2, 2, "/x?t", false}, release, report);
  EXPECT_EQ(Ids(page), std::vector<std::string>{});
  EXPECT_EQ(report.removed.size(), 3u);  // o2, o3, and p1 which no kept match references
}

TEST(Paging, CountOnlyKeepsTheNumberOfMatches) {
  rapidjson::Document bundle = Json(Searchset());
  MakeCountOnly(bundle);
  EXPECT_FALSE(bundle.HasMember("entry"));
  EXPECT_EQ(bundle["total"].GetUint64(), 5u);
}

CachedSearch Search(std::string owner, std::size_t bytes = 10) {
  CachedSearch search;
  search.owner = std::move(owner);
  search.bundle_json = std::string(bytes, 'x');
  search.count = 2;
  return search;
}

TEST(PageCache, OnlyTheOwnerGetsItsSearchUntilItExpires) {
  ManualClock clock;
  PageCache cache(PageCache::Settings{}, clock);
  auto token = cache.Put(Search("RJ1"));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->size(), 32u);
  EXPECT_NE(cache.Get(*token, "RJ1"), nullptr);
  EXPECT_EQ(cache.Get(*token, "RGT"), nullptr);
  EXPECT_EQ(cache.Get("00000000000000000000000000000000", "RJ1"), nullptr);
  auto other = cache.Put(Search("RJ1"));
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *token);
  clock.now += std::chrono::minutes(6);
  EXPECT_EQ(cache.Get(*token, "RJ1"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(PageCache, IsBoundedInEntriesAndBytes) {
  ManualClock clock;
  PageCache::Settings settings;
  settings.max_entries = 2;
  settings.max_bytes = 100;
  PageCache cache(settings, clock);
  auto first = cache.Put(Search("RJ1"));
  auto second = cache.Put(Search("RJ1"));
  auto third = cache.Put(Search("RJ1"));
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get(*first, "RJ1"), nullptr);  // the oldest went
  EXPECT_NE(cache.Get(*third, "RJ1"), nullptr);
  auto big = cache.Put(Search("RJ1", 95));
  ASSERT_TRUE(big);
  EXPECT_EQ(cache.size(), 1u);
  auto too_big = cache.Put(Search("RJ1", 101));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, core::ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace tb::policy
