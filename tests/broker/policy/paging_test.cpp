// Counts and paging answered by the broker: result-control parameters, pages of a filtered
// searchset, and the page cache (owner binding, expiry, bounds).
#include "broker/policy/paging.h"

#include <algorithm>
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
  ASSERT_EQ(params.size(), 1u);  // the trusts are asked for the resources, whole
  EXPECT_EQ(params[0].name, "category");

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

// A trust that honours _summary or _elements returns resources without the elements consent is
// judged on (a Condition without `code` escapes a deny by code), so neither ever reaches a trust;
// the broker answers with full resources. Until 2026-11 every _summary but count and every
// _elements were forwarded.
TEST(TakeResultControl, SubsettingParametersNeverReachTrusts) {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"_summary", "true"},
                                                        {"_summary", "text"},
                                                        {"_summary", "data"},
                                                        {"_summary", "false"},
                                                        {"_summary", "anything"},
                                                        {"_elements", "id,subject"},
                                                        {"_Elements", "id"},
                                                        {"_SUMMARY", "true"}}) {
    auto params = Params({{"code", "http://snomed.info/sct|86406008"}, {name, value}});
    auto control = TakeResultControl(params);
    ASSERT_TRUE(control) << name << "=" << value;
    EXPECT_FALSE(control->summary_count) << name << "=" << value;
    ASSERT_EQ(params.size(), 1u) << name << "=" << value;
    EXPECT_EQ(params[0].name, "code");
  }
  // With a modifier, repeated, or next to _summary=count: dropped all the same.
  std::vector<fhir::SearchParam> params = {{"_elements", "", "id"},
                                           {"_elements", "", "subject"},
                                           {"_summary", "text", "true"},
                                           {"status", "", "final"}};
  auto control = TakeResultControl(params);
  ASSERT_TRUE(control);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].name, "status");
  auto counted = Params({{"_elements", "id"}, {"_summary", "count"}});
  control = TakeResultControl(counted);
  ASSERT_TRUE(control);
  EXPECT_TRUE(control->summary_count);
  EXPECT_TRUE(counted.empty());
  auto twice = Params({{"_summary", "true"}, {"_summary", "count"}});
  EXPECT_FALSE(TakeResultControl(twice));
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

// ---- counts and pages leak nothing (table) ------------------------------------------------------

// Six Observations: h1, h2 HIV-coded lab results; l1, l2 other lab results; v1, v2 vital signs;
// and the Patient, included by l1.
std::string MixedSearchset() {
  const auto observation = [](std::string_view id, std::string_view category,
                              std::string_view loinc) {
    return R"(, {"resource": {"resourceType": "Observation", "id": ")" + std::string(id) +
           R"(", "status": "final", "category": [{"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/observation-category", "code": ")" +
           std::string(category) + R"("}]}], "code": {"coding": [{"system": "http://loinc.org",
      "code": ")" +
           std::string(loinc) +
           R"("}]}, "subject": {"reference": "Patient/p1"}}, "search": {"mode": "match"}})";
  };
  return R"({"resourceType": "Bundle", "id": "b2", "type": "searchset", "total": 6, "entry": [)"
         R"({"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}})" +
         observation("h1", "laboratory", "75622-1") + observation("l1", "laboratory", "2345-7") +
         observation("v1", "vital-signs", "8867-4") + observation("h2", "laboratory", "75622-1") +
         observation("l2", "laboratory", "718-7") + observation("v2", "vital-signs", "8480-6") +
         "]}";
}

std::string ConsentWith(std::string_view provision) {
  return R"({"resourceType": "Consent", "id": "c1", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": "9434765919"}}, "provision": )" +
         std::string(provision) + "}";
}

struct LeakCase {
  std::string name;
  std::vector<std::string> scopes;
  std::string provision;  // the patient's one consent; empty = none
  std::string purpose = "TREAT";
  std::string break_glass_reason;
  std::vector<std::string> released;  // the match ids that may be seen, in order
};

class CountsAndPages : public ::testing::TestWithParam<LeakCase> {};

// For every page size, whether counted, totalled or paged, the requester learns exactly the
// released matches: every total is their number, the pages together are exactly them, and no
// withheld id (or the Patient of a withheld match only) appears anywhere.
TEST_P(CountsAndPages, LeakNothingWithheld) {
  const LeakCase& c = GetParam();
  RequestContext context;
  context.requester_ods = "RGT";
  context.purpose = c.purpose;
  context.break_glass_reason = c.break_glass_reason;
  context.scopes = ScopeSet::Parse(c.scopes).value();
  std::vector<Consent> consents;
  if (!c.provision.empty()) {
    consents.push_back(ParseConsentJson(ConsentWith(c.provision)).value());
  }
  const SensitivityTable table =
      SensitivityTable::ParseCsv("code_system,code,label\nhttp://loinc.org,75622-1,HIV\n").value();
  ReleasePolicy release;
  release.request = &context;
  release.consents = &consents;
  release.table = &table;

  rapidjson::Document filtered = Json(MixedSearchset());
  FilterBundle(filtered, release);
  EXPECT_EQ(filtered["total"].GetUint64(), c.released.size());
  rapidjson::Document count_only;
  count_only.CopyFrom(filtered, count_only.GetAllocator());
  MakeCountOnly(count_only);
  EXPECT_EQ(count_only["total"].GetUint64(), c.released.size());
  EXPECT_FALSE(count_only.HasMember("entry"));

  for (std::size_t size : {1u, 2u, 4u}) {
    std::vector<std::string> seen;
    bool patient_seen = false;
    for (std::size_t offset = 0, guard = 0; guard < 10; offset += size, ++guard) {
      FilterReport report;
      rapidjson::Document page = BuildPage(
          filtered, PageSpec{offset, size, "/fhir/_page?token=t", false}, release, report);
      EXPECT_EQ(page["total"].GetUint64(), c.released.size()) << size << "@" << offset;
      for (const std::string& id : Ids(page)) {
        if (id == "p1") {
          patient_seen = true;
        } else {
          seen.push_back(id);
        }
      }
      if (Link(page, "next").empty()) {
        break;
      }
    }
    EXPECT_EQ(seen, c.released) << "page size " << size;
    // The Patient comes only with l1 (its includer) and only when the scopes grant it.
    const bool l1 = std::find(c.released.begin(), c.released.end(), "l1") != c.released.end();
    if (!l1) {
      EXPECT_FALSE(patient_seen) << "page size " << size;
    }
  }
}

const std::string kDenyHivLabel = R"({"type": "deny", "securityLabel": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})";
const std::string kDenyRgtOrg = R"({"type": "deny", "actor": [{"role": {"text": "recipient"},
    "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
    "value": "RGT"}}}]})";
const std::string kOptOutResearch = R"({"type": "deny", "purpose": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]})";
const std::string kDenyVitalSignsCode = R"({"type": "deny", "code": [{"coding": [{"system":
    "http://loinc.org", "code": "8867-4"}]}]})";

INSTANTIATE_TEST_SUITE_P(
    Table, CountsAndPages,
    ::testing::Values(
        LeakCase{
            "everything", {"system/*.rs"}, "", "TREAT", "", {"h1", "l1", "v1", "h2", "l2", "v2"}},
        LeakCase{"lab_only_scope",
                 {"system/Observation.rs?category=laboratory"},
                 "",
                 "TREAT",
                 "",
                 {"h1", "l1", "h2", "l2"}},
        LeakCase{"hiv_label_denied",
                 {"system/*.rs"},
                 kDenyHivLabel,
                 "TREAT",
                 "",
                 {"l1", "v1", "l2", "v2"}},
        LeakCase{"lab_only_and_hiv_denied",
                 {"system/Observation.rs?category=laboratory"},
                 kDenyHivLabel,
                 "TREAT",
                 "",
                 {"l1", "l2"}},
        LeakCase{"organisation_denied", {"system/*.rs"}, kDenyRgtOrg, "TREAT", "", {}},
        LeakCase{"organisation_breaks_glass",
                 {"system/*.rs"},
                 kDenyRgtOrg,
                 "ETREAT",
                 "unconscious in ED",
                 {"h1", "l1", "v1", "h2", "l2", "v2"}},
        LeakCase{"research_opted_out", {"system/*.rs"}, kOptOutResearch, "HRESCH", "", {}},
        LeakCase{"code_denied",
                 {"system/Observation.rs"},
                 kDenyVitalSignsCode,
                 "TREAT",
                 "",
                 {"h1", "l1", "h2", "l2", "v2"}},
        LeakCase{"type_not_granted", {"system/Patient.rs"}, "", "TREAT", "", {}}),
    testing::CaseName<LeakCase>);

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
