#include "broker/policy/filter.h"

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::CaseName;
using testing::Json;

constexpr std::string_view kNhsNumber = "9434765919";
constexpr std::string_view kHivLoinc = "75622-1";  // HIV 1 and 2 tests - Meaningful Use set

std::string PatientJson() {
  return R"({"resourceType": "Patient", "id": "p1", "identifier": [{"system":
      "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kNhsNumber) + R"("}]})";
}

std::string ObservationJson(std::string_view id, std::string_view category,
                            std::string_view loinc) {
  return R"({"resourceType": "Observation", "id": ")" + std::string(id) +
         R"(", "status": "final", "category": [{"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/observation-category", "code": ")" +
         std::string(category) + R"("}]}], "code": {"coding": [{"system": "http://loinc.org",
      "code": ")" +
         std::string(loinc) + R"("}]}, "subject": {"reference": "Patient/p1"}})";
}

std::string Entry(const std::string& resource, std::string_view mode = "match") {
  return R"({"fullUrl": "https://trust.example/fhir/X", "resource": )" + resource +
         R"(, "search": {"mode": ")" + std::string(mode) + R"("}})";
}

std::string OutcomeEntry() {
  return Entry(R"({"resourceType": "OperationOutcome", "issue": [{"severity": "warning",
      "code": "timeout", "diagnostics": "trust RGT timed out"}]})",
               "outcome");
}

std::string SearchsetJson(const std::vector<std::string>& entries, std::size_t total,
                          bool next_link = false) {
  std::string json = R"({"resourceType": "Bundle", "id": "b1", "type": "searchset", "total": )" +
                     std::to_string(total) +
                     R"(, "link": [{"relation": "self", "url": "https://broker/fhir/Observation"})";
  if (next_link) {
    json += R"(, {"relation": "next", "url": "https://broker/fhir/Observation?page=2"})";
  }
  json += "]";
  if (!entries.empty()) {
    json += R"(, "entry": [)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      json += (i > 0 ? "," : "") + entries[i];
    }
    json += "]";
  }
  return json + "}";
}

std::string ConsentJson(std::string_view id, std::string_view provision) {
  return R"({"resourceType": "Consent", "id": ")" + std::string(id) + R"(", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kNhsNumber) + R"("}}, "provision": )" + std::string(provision) + "}";
}

const std::string kDenyHiv = R"({"type": "deny", "securityLabel": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})";
const std::string kDenyRgt = R"({"type": "deny", "actor": [{"role": {"text": "recipient"},
    "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
    "value": "RGT"}}}]})";
const std::string kOptOut = R"({"type": "deny", "purpose": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]})";

RequestContext Context(std::string ods, std::vector<std::string> scopes,
                       std::string purpose = "TREAT", std::string reason = "") {
  RequestContext context;
  context.requester_ods = std::move(ods);
  context.purpose = std::move(purpose);
  context.break_glass_reason = std::move(reason);
  context.scopes = ScopeSet::Parse(scopes).value();
  return context;
}

SensitivityTable HivTable() {
  return SensitivityTable::ParseCsv("code_system,code,label\nhttp://loinc.org," +
                                    std::string(kHivLoinc) + ",HIV\n")
      .value();
}

std::vector<Consent> Consents(const std::vector<std::string>& provisions) {
  std::vector<Consent> out;
  for (std::size_t i = 0; i < provisions.size(); ++i) {
    out.push_back(ParseConsentJson(ConsentJson("c" + std::to_string(i), provisions[i])).value());
  }
  return out;
}

std::vector<std::string> EntryIds(const rapidjson::Value& bundle) {
  std::vector<std::string> ids;
  const rapidjson::Value* entries = fhir::FindArray(bundle, "entry");
  if (entries == nullptr) {
    return ids;
  }
  for (const rapidjson::Value& entry : entries->GetArray()) {
    const rapidjson::Value& resource = entry["resource"];
    ids.push_back(std::string(fhir::FindString(resource, "resourceType").value_or("")) + "/" +
                  std::string(fhir::FindString(resource, "id").value_or("")));
  }
  return ids;
}

// ---- table: what each requester sees ------------------------------------------------------------

struct FilterCase {
  std::string name;
  RequestContext context;
  std::vector<std::string> consents;  // provisions
  std::vector<std::string> expected_ids;
  std::uint64_t expected_total;
  std::size_t removed;
  std::size_t break_glass;
};

void PrintTo(const FilterCase& c, std::ostream* os) { *os << c.name; }

class FilterBundleTable : public ::testing::TestWithParam<FilterCase> {};

TEST_P(FilterBundleTable, KeepsOnlyWhatMayBeSeen) {
  const FilterCase& c = GetParam();
  rapidjson::Document bundle = Json(
      SearchsetJson({Entry(PatientJson()), Entry(ObservationJson("lab1", "laboratory", "2345-7")),
                     Entry(ObservationJson("hiv1", "laboratory", kHivLoinc)),
                     Entry(ObservationJson("vs1", "vital-signs", "8867-4")), OutcomeEntry()},
                    4));
  const std::vector<Consent> consents = Consents(c.consents);
  const SensitivityTable table = HivTable();
  ReleasePolicy policy;
  policy.request = &c.context;
  policy.consents = &consents;
  policy.table = &table;
  const FilterReport report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), c.expected_ids);
  EXPECT_EQ(bundle["total"].GetUint64(), c.expected_total);
  EXPECT_EQ(report.removed.size(), c.removed);
  EXPECT_EQ(report.break_glass.size(), c.break_glass);
}

const std::string kLabScope =
    "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
    "observation-category|laboratory";

INSTANTIATE_TEST_SUITE_P(
    Response, FilterBundleTable,
    ::testing::Values(
        FilterCase{"everything_granted",
                   Context("RJ1", {"system/*.rs"}),
                   {},
                   {"Patient/p1", "Observation/lab1", "Observation/hiv1", "Observation/vs1",
                    "OperationOutcome/"},
                   4,
                   0,
                   0},
        FilterCase{"lab_only_scope",
                   Context("RJ1", {kLabScope}),
                   {},
                   {"Observation/lab1", "Observation/hiv1", "OperationOutcome/"},
                   2,
                   2,
                   0},
        FilterCase{"hiv_label_withheld_rest_flows",
                   Context("RJ1", {"system/*.rs"}),
                   {kDenyHiv},
                   {"Patient/p1", "Observation/lab1", "Observation/vs1", "OperationOutcome/"},
                   3,
                   1,
                   0},
        FilterCase{"organisation_refused",
                   Context("RGT", {"system/*.rs"}),
                   {kDenyRgt},
                   {"OperationOutcome/"},
                   0,
                   4,
                   0},
        FilterCase{"organisation_breaks_glass",
                   Context("RGT", {"system/*.rs"}, "ETREAT", "Unconscious in ED"),
                   {kDenyRgt},
                   {"Patient/p1", "Observation/lab1", "Observation/hiv1", "Observation/vs1",
                    "OperationOutcome/"},
                   4,
                   0,
                   4},
        FilterCase{"other_organisation_unaffected",
                   Context("RJ1", {"system/*.rs"}),
                   {kDenyRgt},
                   {"Patient/p1", "Observation/lab1", "Observation/hiv1", "Observation/vs1",
                    "OperationOutcome/"},
                   4,
                   0,
                   0},
        FilterCase{"research_of_opted_out_patient",
                   Context("RJ1", {"system/*.rs"}, "HRESCH"),
                   {kOptOut},
                   {"OperationOutcome/"},
                   0,
                   4,
                   0},
        FilterCase{"research_without_opt_out",
                   Context("RJ1", {"system/*.rs"}, "HRESCH"),
                   {kDenyHiv},
                   {"Patient/p1", "Observation/lab1", "Observation/vs1", "OperationOutcome/"},
                   3,
                   1,
                   0}),
    CaseName<FilterCase>);

TEST(FilterBundle, RemovalsSayWhyWithoutPhi) {
  rapidjson::Document bundle = Json(
      SearchsetJson({Entry(PatientJson()), Entry(ObservationJson("hiv1", "laboratory", kHivLoinc)),
                     R"({"fullUrl": "urn:uuid:1"})"},
                    2));
  const RequestContext context = Context("RJ1", {"system/Observation.rs"});
  const std::vector<Consent> consents = Consents({kDenyHiv});
  const SensitivityTable table = HivTable();
  ReleasePolicy policy{&context, &consents, &table, {}, false, {}};
  const FilterReport report = FilterBundle(bundle, policy);
  ASSERT_EQ(report.removed.size(), 3U);
  EXPECT_EQ(report.removed[0].resource_type, "Patient");
  EXPECT_EQ(report.removed[0].reason, WithholdReason::kScope);
  EXPECT_EQ(report.removed[1].id, "hiv1");
  EXPECT_EQ(report.removed[1].reason, WithholdReason::kConsent);
  EXPECT_EQ(report.removed[1].detail, "deny: Consent/c0 Consent.provision");
  EXPECT_EQ(report.removed[2].reason, WithholdReason::kNotAResource);
  for (const Removal& removal : report.removed) {
    EXPECT_EQ(removal.detail.find(kNhsNumber), std::string::npos);
  }
}

// ReleasePolicy::patient: what a trust sent about someone else (a server that ignored the
// search's identifier) is withheld, with the resources that point at that patient's record at the
// same trust; the patient asked about, a Patient with no NHS number and another trust's p2 stay.
TEST(FilterBundle, ResourcesOfAnotherPatientAreWithheld) {
  const auto sourced = [](std::string resource, std::string_view source) {
    resource.insert(resource.size() - 1,
                    R"(, "meta": {"source": ")" + std::string(source) + R"("})");
    return resource;
  };
  const std::string other_patient =
      R"({"resourceType": "Patient", "id": "p2", "identifier": [{"system":
          "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}]})";
  std::string of_p2 = ObservationJson("o2", "laboratory", "2345-7");
  of_p2.replace(of_p2.find("Patient/p1"), 10, "Patient/p2");
  std::string by_identifier = ObservationJson("o3", "laboratory", "2345-7");
  by_identifier.replace(by_identifier.find(R"({"reference": "Patient/p1"})"), 27,
                        R"({"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                            "value": "9000000009"}})");
  rapidjson::Document bundle = Json(SearchsetJson(
      {Entry(sourced(PatientJson(), "RGT")), Entry(sourced(other_patient, "RGT")),
       Entry(sourced(of_p2, "RGT")), Entry(sourced(by_identifier, "RGT")),
       Entry(sourced(ObservationJson("o4", "laboratory", "2345-7"), "RGT")),
       Entry(sourced(R"({"resourceType": "Patient", "id": "p3"})", "RGT")),
       Entry(sourced(ObservationJson("o5", "laboratory", "2345-7")
                         .replace(ObservationJson("o5", "laboratory", "2345-7").find("Patient/p1"),
                                  10, "Patient/p2"),
                     "RXH"))},
      7));
  const RequestContext context = Context("RJ1", {"system/*.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  policy.patient = kNhsNumber;
  const FilterReport report = FilterBundle(bundle, policy);
  std::vector<std::string> withheld;
  for (const Removal& removal : report.removed) {
    EXPECT_EQ(removal.reason, WithholdReason::kOtherPatient);
    withheld.push_back(removal.resource_type + "/" + removal.id);
  }
  EXPECT_EQ(withheld, (std::vector<std::string>{"Patient/p2", "Observation/o2", "Observation/o3"}));
  EXPECT_EQ(bundle["total"].GetUint64(), 4u);  // p1, o4, p3 and RXH's o5
  EXPECT_EQ(WithholdReasonCode(WithholdReason::kOtherPatient), "other-patient");
  // Not asked to check: everything stays.
  rapidjson::Document unchecked = Json(SearchsetJson({Entry(other_patient)}, 1));
  policy.patient = {};
  EXPECT_TRUE(FilterBundle(unchecked, policy).removed.empty());
}

// A lab Observation whose `contained` holds `resources` (JSON objects, comma-separated).
std::string ContainingObservation(std::string_view id, const std::string& resources) {
  std::string json = ObservationJson(id, "laboratory", "2345-7");
  json.insert(json.size() - 1, R"(, "contained": [)" + resources + "]");
  return json;
}

const std::string kContainedCondition =
    R"({"resourceType": "Condition", "id": "cond", "code": {"coding": [{"system":
        "http://snomed.info/sct", "code": "86406008"}]}, "subject": {"reference": "#pat"}})";
const std::string kContainedOtherPatient =
    R"({"resourceType": "Patient", "id": "pat", "identifier": [{"system":
        "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}]})";
const std::string kDenyConditions = R"({"type": "deny", "class": [{"system":
    "http://hl7.org/fhir/resource-types", "code": "Condition"}]})";

// A resource inside another (contained, here) passes scopes, consent and the patient check like
// an entry, or its container is withheld with the reason. Until 2026-11 only the container was
// judged: a lab Observation released under `Observation.rs?category=laboratory` carried a
// Condition the requester had no scope for and the patient had refused, and another patient's
// Patient.
TEST(FilterBundle, ContainedResourcesAreJudgedLikeEntries) {
  const std::string json =
      SearchsetJson({Entry(ContainingObservation("o1", kContainedCondition)),
                     Entry(ContainingObservation("o2", kContainedOtherPatient)),
                     Entry(ObservationJson("o3", "laboratory", "2345-7"))},
                    3);
  const auto withheld = [](const FilterReport& report) {
    std::vector<std::string> out;
    for (const Removal& removal : report.removed) {
      out.push_back(removal.resource_type + "/" + removal.id + " " +
                    std::string(WithholdReasonCode(removal.reason)) + " " + removal.embedded_type);
    }
    return out;
  };

  // No Condition scope: the Condition's container goes for scope.
  const RequestContext lab_only = Context("RJ1", {kLabScope});
  ReleasePolicy policy{&lab_only, nullptr, nullptr, {}, false, {}};
  policy.patient = kNhsNumber;
  rapidjson::Document bundle = Json(json);
  FilterReport report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/o3"}));
  EXPECT_EQ(bundle["total"].GetUint64(), 1U);
  EXPECT_EQ(withheld(report), (std::vector<std::string>{"Observation/o1 scope Condition",
                                                        "Observation/o2 other-patient Patient"}));

  // Condition scope, but the patient denies class Condition: withheld for consent, naming the
  // deciding provision for the audit.
  const RequestContext with_conditions =
      Context("RJ1", {kLabScope, "system/Condition.rs", "system/Patient.rs"});
  const std::vector<Consent> consents = Consents({kDenyConditions});
  policy.request = &with_conditions;
  policy.consents = &consents;
  bundle = Json(json);
  report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/o3"}));
  EXPECT_EQ(withheld(report), (std::vector<std::string>{"Observation/o1 consent Condition",
                                                        "Observation/o2 other-patient Patient"}));
  EXPECT_EQ(report.removed[0].detail, "deny: Consent/c0 Consent.provision");

  // Break-glass releases the container, and the audit records the overridden provision for it.
  const RequestContext glass =
      Context("RJ1", {kLabScope, "system/Condition.rs"}, "ETREAT", "Unconscious in ED");
  policy.request = &glass;
  bundle = Json(json);
  report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/o1", "Observation/o3"}));
  ASSERT_EQ(report.break_glass.size(), 1U);
  EXPECT_EQ(report.break_glass[0].id, "o1");
  EXPECT_EQ(report.break_glass[0].consent_id, "c0");

  // Allowed and not refused: the container is released whole.
  policy.request = &with_conditions;
  policy.consents = nullptr;
  bundle = Json(json);
  report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/o1", "Observation/o3"}));
  EXPECT_EQ(withheld(report), (std::vector<std::string>{"Observation/o2 other-patient Patient"}));
}

// Any resource inside another is judged, wherever it sits (a Bundle's entries, a resource in an
// OperationOutcome's contained), and one that is not a resource withholds its container.
TEST(CheckResource, EveryEmbeddedResourceIsJudged) {
  const RequestContext context = Context("RJ1", {"system/Bundle.rs", "system/Observation.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  rapidjson::Document document = Json(R"({"resourceType": "Bundle", "id": "doc", "type":
      "collection", "entry": [{"resource": )" +
                                      ObservationJson("o1", "laboratory", "2345-7") +
                                      R"(}, {"resource": )" + kContainedCondition + "}]}");
  ResourceVerdict verdict = CheckResource(document, policy);
  EXPECT_FALSE(verdict.released);
  EXPECT_EQ(verdict.removal.reason, WithholdReason::kScope);
  EXPECT_EQ(verdict.removal.embedded_type, "Condition");

  rapidjson::Document not_a_resource =
      Json(ContainingObservation("o1", R"({"resourceType": 7, "id": "x"})"));
  verdict = CheckResource(not_a_resource, policy);
  EXPECT_FALSE(verdict.released);
  EXPECT_EQ(verdict.removal.reason, WithholdReason::kNotAResource);

  rapidjson::Document outcome = Json(SearchsetJson(
      {Entry(ObservationJson("o2", "laboratory", "2345-7")),
       Entry(R"({"resourceType": "OperationOutcome", "contained": [)" + kContainedCondition +
                 R"(], "issue": [{"severity": "warning", "code": "timeout"}]})",
             "outcome")},
      1));
  const FilterReport report = FilterBundle(outcome, policy);
  EXPECT_EQ(EntryIds(outcome), (std::vector<std::string>{"Observation/o2"}));
  ASSERT_EQ(report.removed.size(), 1U);
  EXPECT_EQ(report.removed[0].resource_type, "OperationOutcome");
}

// A resource its source marked SUBSETTED (a trust honouring _summary or _elements) may lack the
// codes and labels a consent denies by, so it is withheld, as is its container when contained.
TEST(FilterBundle, SubsettedResourcesAreWithheld) {
  const std::string subsetted_condition =
      R"({"resourceType": "Condition", "id": "c1", "meta": {"tag": [{"system":
          "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}]},
          "subject": {"reference": "Patient/p1"}})";
  rapidjson::Document bundle = Json(SearchsetJson(
      {Entry(subsetted_condition), Entry(ContainingObservation("o1", subsetted_condition)),
       Entry(ObservationJson("o2", "laboratory", "2345-7"))},
      3));
  const RequestContext context = Context("RJ1", {"system/*.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  const FilterReport report = FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/o2"}));
  ASSERT_EQ(report.removed.size(), 2U);
  EXPECT_EQ(report.removed[0].reason, WithholdReason::kSubsetted);
  EXPECT_EQ(report.removed[0].resource_type, "Condition");
  EXPECT_EQ(report.removed[1].reason, WithholdReason::kSubsetted);
  EXPECT_EQ(report.removed[1].embedded_type, "Condition");
  EXPECT_EQ(WithholdReasonCode(WithholdReason::kSubsetted), "subsetted");
}

// A requester whose every match was withheld gets exactly what an empty search gives.
TEST(FilterBundle, DenialLooksLikeEmptiness) {
  rapidjson::Document withheld =
      Json(SearchsetJson({Entry(ObservationJson("lab1", "laboratory", "2345-7")),
                          Entry(ObservationJson("vs1", "vital-signs", "8867-4"))},
                         2));
  rapidjson::Document empty = Json(SearchsetJson({}, 0));
  const RequestContext context = Context("RGT", {"system/*.rs"});
  const std::vector<Consent> consents = Consents({kDenyRgt});
  ReleasePolicy policy{&context, &consents, nullptr, {}, false, {}};
  FilterBundle(withheld, policy);
  FilterBundle(empty, policy);
  EXPECT_EQ(fhir::ToJson(withheld), fhir::ToJson(empty));
  EXPECT_FALSE(withheld.HasMember("entry"));
}

TEST(FilterBundle, TotalIsDroppedWhenMorePagesFollow) {
  rapidjson::Document bundle =
      Json(SearchsetJson({Entry(ObservationJson("lab1", "laboratory", "2345-7")),
                          Entry(ObservationJson("vs1", "vital-signs", "8867-4"))},
                         40, true));
  const RequestContext context = Context("RJ1", {kLabScope});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  const FilterReport report = FilterBundle(bundle, policy);
  EXPECT_FALSE(bundle.HasMember("total"));
  EXPECT_EQ(report.kept, 1U);
}

TEST(FilterBundle, IncludedEntriesDoNotCountTowardsTotal) {
  rapidjson::Document bundle = Json(SearchsetJson(
      {Entry(ObservationJson("lab1", "laboratory", "2345-7")), Entry(PatientJson(), "include")},
      1));
  const RequestContext context = Context("RJ1", {"system/*.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  FilterBundle(bundle, policy);
  EXPECT_EQ(bundle["total"].GetUint64(), 1U);
  EXPECT_EQ(EntryIds(bundle).size(), 2U);
}

TEST(FilterBundle, TotalIsDroppedOnALaterPage) {
  std::string json = SearchsetJson({Entry(ObservationJson("lab1", "laboratory", "2345-7"))}, 40);
  json.replace(json.find(R"("relation": "self")"), 18, R"("relation": "previous")");
  rapidjson::Document bundle = Json(json);
  const RequestContext context = Context("RJ1", {"system/*.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  FilterBundle(bundle, policy);
  EXPECT_FALSE(bundle.HasMember("total"));
}

// _include of the subject: kept with its match, dropped when every match is withheld, so the
// include cannot reveal that there were matches.
TEST(FilterBundle, IncludesFollowTheirMatches) {
  const std::string json = SearchsetJson(
      {Entry(ObservationJson("vs1", "vital-signs", "8867-4")), Entry(PatientJson(), "include")}, 1);
  rapidjson::Document kept = Json(json);
  const RequestContext everything = Context("RJ1", {"system/*.rs"});
  ReleasePolicy policy{&everything, nullptr, nullptr, {}, false, {}};
  FilterBundle(kept, policy);
  EXPECT_EQ(EntryIds(kept), (std::vector<std::string>{"Observation/vs1", "Patient/p1"}));

  rapidjson::Document orphaned = Json(json);
  const RequestContext lab_only = Context("RJ1", {kLabScope, "system/Patient.r"});
  policy.request = &lab_only;
  const FilterReport report = FilterBundle(orphaned, policy);
  EXPECT_FALSE(orphaned.HasMember("entry"));
  EXPECT_EQ(orphaned["total"].GetUint64(), 0U);
  ASSERT_EQ(report.removed.size(), 2U);
  EXPECT_EQ(report.removed[1].reason, WithholdReason::kUnreferencedInclude);
  rapidjson::Document empty = Json(SearchsetJson({}, 0));
  FilterBundle(empty, policy);
  EXPECT_EQ(fhir::ToJson(orphaned), fhir::ToJson(empty));
}

// _revinclude: a Provenance pointing at a kept match stays; one pointing at a withheld match goes.
TEST(FilterBundle, RevincludesFollowTheirMatches) {
  const auto provenance = [](std::string_view id, std::string_view target) {
    return R"({"resourceType": "Provenance", "id": ")" + std::string(id) +
           R"(", "target": [{"reference": "https://trust.example/fhir/Observation/)" +
           std::string(target) + R"(/_history/1"}], "recorded": "2026-01-01T00:00:00Z",
           "agent": [{"who": {"display": "x"}}]})";
  };
  rapidjson::Document bundle = Json(SearchsetJson(
      {Entry(ObservationJson("lab1", "laboratory", "2345-7")),
       Entry(ObservationJson("vs1", "vital-signs", "8867-4")),
       Entry(provenance("pv1", "lab1"), "include"), Entry(provenance("pv2", "vs1"), "include")},
      2));
  const RequestContext context = Context("RJ1", {kLabScope, "system/Provenance.rs"});
  ReleasePolicy policy{&context, nullptr, nullptr, {}, false, {}};
  FilterBundle(bundle, policy);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"Observation/lab1", "Provenance/pv1"}));
  EXPECT_EQ(bundle["total"].GetUint64(), 1U);
}

TEST(FilterBundle, AddsTableLabelsWhenAsked) {
  rapidjson::Document bundle =
      Json(SearchsetJson({Entry(ObservationJson("hiv1", "laboratory", kHivLoinc))}, 1));
  const RequestContext context = Context("RJ1", {"system/*.rs"});
  const SensitivityTable table = HivTable();
  ReleasePolicy policy{&context, nullptr, &table, {}, true, {}};
  FilterBundle(bundle, policy);
  const rapidjson::Value& resource = bundle["entry"][0]["resource"];
  const std::vector<Coding> labels = SecurityLabels(resource);
  ASSERT_EQ(labels.size(), 1U);
  EXPECT_EQ(labels[0].code, "HIV");
}

TEST(CheckResource, SingleReadRefusedByConsent) {
  const RequestContext context = Context("RGT", {"system/*.rs"});
  const std::vector<Consent> consents = Consents({kDenyRgt});
  ReleasePolicy policy{&context, &consents, nullptr, {}, false, {}};
  rapidjson::Document patient = Json(PatientJson());
  const ResourceVerdict verdict = CheckResource(patient, policy);
  EXPECT_FALSE(verdict.released);
  EXPECT_EQ(verdict.removal.reason, WithholdReason::kConsent);
}

// A patient's refusal of one organisation stops its $everything before anything is fetched,
// until it breaks glass with a reason; a label-based deny only defers to the response check.
TEST(CheckIngress, RefusalOfOrganisationIsFinalUntilBreakGlass) {
  const std::vector<Consent> consents = Consents({kDenyRgt, kDenyHiv});
  const Decision refused = CheckIngress(Context("RGT", {"system/*.rs"}), consents, "", {});
  EXPECT_FALSE(refused.permitted());
  EXPECT_TRUE(refused.final);

  const Decision glass = CheckIngress(
      Context("RGT", {"system/*.rs"}, "ETREAT", "Unconscious in ED"), consents, "", {});
  EXPECT_TRUE(glass.permitted());
  EXPECT_TRUE(glass.break_glass_used);

  const Decision other = CheckIngress(Context("RJ1", {"system/*.rs"}), consents, "", {});
  EXPECT_TRUE(other.permitted());
  EXPECT_FALSE(other.final);  // HIV-labelled results are filtered on the way back
}

// A peer broker asking on behalf of an organisation: the patient's deny of that organisation
// holds at the peer, and a deny of the peer itself holds too.
TEST(CheckIngress, PeerRequestIsRefusedWhenTheOriginalRequesterIsDenied) {
  const std::vector<Consent> consents = Consents({kDenyRgt});
  RequestContext via_peer = Context("broker-a", {"system/*.rs"});
  EXPECT_TRUE(CheckIngress(via_peer, consents, "", {}).permitted());
  via_peer.on_behalf_of = "RGT";
  const Decision refused = CheckIngress(via_peer, consents, "", {});
  EXPECT_FALSE(refused.permitted());
  EXPECT_TRUE(refused.final);
  EXPECT_EQ(refused.consent_id, "c0");

  RequestContext peer_denied = Context("RGT", {"system/*.rs"});  // the peer itself is RGT
  peer_denied.on_behalf_of = "RJ1";
  EXPECT_FALSE(CheckIngress(peer_denied, consents, "", {}).permitted());

  RequestContext glass = Context("broker-a", {"system/*.rs"}, "ETREAT", "Unconscious in ED");
  glass.on_behalf_of = "RGT";
  const Decision released = CheckIngress(glass, consents, "", {});
  EXPECT_TRUE(released.permitted());
  EXPECT_TRUE(released.break_glass_used);  // so the release is audited as break-glass
}

TEST(CheckResource, PeerResponseIsFilteredForTheOriginalRequester) {
  const std::vector<Consent> consents = Consents({kDenyHiv, kDenyRgt});
  RequestContext context = Context("broker-a", {"system/*.rs"});
  context.on_behalf_of = "RJ1";
  const SensitivityTable table = HivTable();
  ReleasePolicy policy{&context, &consents, &table, {}, false, {}};
  EXPECT_TRUE(CheckResource(Json(ObservationJson("o1", "laboratory", "1234-5")), policy).released);
  EXPECT_FALSE(
      CheckResource(Json(ObservationJson("o2", "laboratory", kHivLoinc)), policy).released);
  context.on_behalf_of = "RGT";
  const ResourceVerdict verdict =
      CheckResource(Json(ObservationJson("o1", "laboratory", "1234-5")), policy);
  EXPECT_FALSE(verdict.released);
  EXPECT_EQ(verdict.removal.reason, WithholdReason::kConsent);
}

// What the ledger gets: counts by reason, type and provision; no ids.
TEST(Summarise, GroupsRemovalsAndBreakGlassReleasesWithCounts) {
  rapidjson::Document bundle = Json(
      SearchsetJson({Entry(PatientJson()), Entry(ObservationJson("o1", "laboratory", kHivLoinc)),
                     Entry(ObservationJson("o2", "laboratory", kHivLoinc)),
                     Entry(ObservationJson("o3", "vital-signs", "8867-4"))},
                    4));
  const RequestContext context = Context("RGT", {"system/Observation.rs?category=laboratory"});
  const std::vector<Consent> consents = Consents({kDenyHiv});
  const SensitivityTable table = HivTable();
  ReleasePolicy policy{&context, &consents, &table, {}, false, {}};
  const FilterSummary summary = Summarise(FilterBundle(bundle, policy));
  ASSERT_EQ(summary.withheld.size(), 3U);
  EXPECT_EQ(summary.withheld[0].reason, WithholdReason::kConsent);
  EXPECT_EQ(summary.withheld[0].resource_type, "Observation");
  EXPECT_EQ(summary.withheld[0].count, 2U);
  EXPECT_EQ(summary.withheld[0].detail, "deny: Consent/c0 Consent.provision");
  EXPECT_EQ(summary.withheld[1].reason, WithholdReason::kScope);
  EXPECT_EQ(summary.withheld[1].resource_type, "Observation");
  EXPECT_EQ(summary.withheld[1].count, 1U);
  EXPECT_EQ(summary.withheld[2].resource_type, "Patient");
  EXPECT_TRUE(summary.break_glass.empty());

  rapidjson::Document again =
      Json(SearchsetJson({Entry(ObservationJson("o1", "laboratory", kHivLoinc)),
                          Entry(ObservationJson("o2", "laboratory", kHivLoinc))},
                         2));
  const RequestContext glass = Context("RJ1", {"system/*.rs"}, "ETREAT", "Unconscious in ED");
  ReleasePolicy glass_policy{&glass, &consents, &table, {}, false, {}};
  const FilterSummary released = Summarise(FilterBundle(again, glass_policy));
  EXPECT_TRUE(released.withheld.empty());
  ASSERT_EQ(released.break_glass.size(), 1U);
  EXPECT_EQ(released.break_glass[0].resource_type, "Observation");
  EXPECT_EQ(released.break_glass[0].consent_id, "c0");
  EXPECT_EQ(released.break_glass[0].count, 2U);
}

// ---- sensitivity table --------------------------------------------------------------------------

TEST(SensitivityTable, ParsesCsvAndJson) {
  core::Result<SensitivityTable> csv = SensitivityTable::ParseCsv(
      "code_system,code,label\n# HIV tests\nhttp://loinc.org,75622-1,HIV\r\n\n"
      "http://snomed.info/sct,35489007,http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY\n");
  ASSERT_TRUE(csv.has_value()) << csv.error().message;
  ASSERT_EQ(csv->rules().size(), 2U);
  EXPECT_EQ(csv->rules()[0].label, (Coding{std::string(kActCodeSystem), "HIV"}));
  EXPECT_EQ(csv->rules()[1].label.code, "PSY");

  core::Result<SensitivityTable> json = SensitivityTable::ParseJson(
      R"({"rules": [{"system": "http://loinc.org", "code": "75622-1", "label": "HIV"}]})");
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(json->rules().size(), 1U);
}

TEST(SensitivityTable, RefusesMalformedRows) {
  core::Result<SensitivityTable> csv =
      SensitivityTable::ParseCsv("http://loinc.org,75622-1,HIV\nhttp://loinc.org,,HIV\n");
  ASSERT_FALSE(csv.has_value());
  EXPECT_EQ(csv.error().location, "line 2");
  EXPECT_FALSE(SensitivityTable::ParseCsv("a,b\n").has_value());
  EXPECT_FALSE(SensitivityTable::ParseCsv("a,b,c,d\n").has_value());
  EXPECT_FALSE(SensitivityTable::ParseCsv("a,b,sys|\n").has_value());
  EXPECT_FALSE(
      SensitivityTable::ParseJson(R"({"rules": [{"system": "a", "code": "b"}]})").has_value());
}

TEST(SensitivityTable, FindsCodesAnywhereExceptMeta) {
  rapidjson::Document resource = Json(R"({"resourceType": "Observation",
      "meta": {"security": [{"system": "x", "code": "N"}]},
      "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]},
      "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]}}]})");
  const ResourceFacts facts = FactsOf(resource, HivTable());
  EXPECT_EQ(facts.codes.size(), 2U);
  ASSERT_EQ(facts.security_labels.size(), 2U);  // N from meta, HIV from the table
  EXPECT_EQ(facts.security_labels[1].code, "HIV");
}

}  // namespace
}  // namespace tb::policy
