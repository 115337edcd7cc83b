#include "broker/policy/consent.h"

#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/policy/consent_store.h"
#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::CaseName;

constexpr std::string_view kNhsNumber = "9434765919";

// A Consent around `provision` (a JSON object text, or "" for none).
std::string ConsentJson(std::string_view id, std::string_view status, std::string_view provision) {
  std::string json = R"({"resourceType": "Consent", "id": ")" + std::string(id) +
                     R"(", "status": ")" + std::string(status) + R"(",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": ")" +
                     std::string(kNhsNumber) + R"("}})";
  if (!provision.empty()) {
    json += R"(, "provision": )" + std::string(provision);
  }
  json += "}";
  return json;
}

std::string Actor(std::string_view ods) {
  return R"({"role": {"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": ")" +
         std::string(ods) + R"("}}})";
}

std::string Class(std::string_view type) {
  return R"({"system": "http://hl7.org/fhir/resource-types", "code": ")" + std::string(type) +
         R"("})";
}

std::string Purpose(std::string_view code) {
  return R"({"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": ")" +
         std::string(code) + R"("})";
}

std::string Label(std::string_view code) {
  return R"({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": ")" +
         std::string(code) + R"("})";
}

TimePoint At(std::string_view instant) { return ParseFhirDateTime(instant).value().begin; }

Coding HivLabel() { return Coding{std::string(kActCodeSystem), "HIV"}; }
Coding PsyLabel() { return Coding{std::string(kActCodeSystem), "PSY"}; }
Coding Snomed(std::string code) { return Coding{"http://snomed.info/sct", std::move(code)}; }

// ---- evaluation table ---------------------------------------------------------------------------

struct EvalCase {
  std::string name;
  std::vector<std::string> consents;  // Consent JSON
  std::string requester = "RJ1";
  std::string purpose = "TREAT";
  std::string type = "Observation";
  std::optional<std::vector<Coding>> codes = std::vector<Coding>{};
  std::optional<std::vector<Coding>> labels = std::vector<Coding>{};
  bool break_glass = false;
  // Expected:
  Effect effect = Effect::kPermit;
  DecisionBasis basis = DecisionBasis::kImpliedConsent;
  std::string path;  // provision that decided ("" for none)
  std::string consent_id;
  bool break_glass_used = false;
  bool final = true;
};

void PrintTo(const EvalCase& c, std::ostream* os) { *os << c.name; }

EvalCase Case(std::string name, std::vector<std::string> consents) {
  EvalCase c;
  c.name = std::move(name);
  c.consents = std::move(consents);
  return c;
}

EvalCase Denied(EvalCase c, std::string path, std::string consent_id = "c1") {
  c.effect = Effect::kDeny;
  c.basis = DecisionBasis::kConsent;
  c.path = std::move(path);
  c.consent_id = std::move(consent_id);
  return c;
}

EvalCase PermittedBy(EvalCase c, std::string path, std::string consent_id = "c1") {
  c.effect = Effect::kPermit;
  c.basis = DecisionBasis::kConsent;
  c.path = std::move(path);
  c.consent_id = std::move(consent_id);
  return c;
}

EvalCase From(EvalCase c, std::string requester) {
  c.requester = std::move(requester);
  return c;
}
EvalCase For(EvalCase c, std::string purpose) {
  c.purpose = std::move(purpose);
  if (c.basis == DecisionBasis::kImpliedConsent && c.purpose != "TREAT") {
    c.basis = DecisionBasis::kNoObjection;
  }
  return c;
}
EvalCase OfType(EvalCase c, std::string type) {
  c.type = std::move(type);
  return c;
}
EvalCase WithLabels(EvalCase c, std::vector<Coding> labels) {
  c.labels = std::move(labels);
  return c;
}
EvalCase WithCodes(EvalCase c, std::vector<Coding> codes) {
  c.codes = std::move(codes);
  return c;
}

const std::string kDenyRgt = R"({"type": "deny", "actor": [)" + Actor("RGT") + "]}";
const std::string kDenyObservations =
    R"({"type": "deny", "class": [)" + Class("Observation") + "]}";
const std::string kDenyHiv = R"({"type": "deny", "securityLabel": [)" + Label("HIV") + "]}";
const std::string kDenyHivCode =
    R"({"type": "deny", "code": [{"coding": [{"system": "http://snomed.info/sct",
                                               "code": "86406008"}]}]})";
const std::string kDenyAllExceptRj1 = R"({"type": "deny", "provision": [{"type": "permit",
    "actor": [)" + Actor("RJ1") + "]}]}";
const std::string kExpiredDeny = R"({"type": "deny", "period": {"start": "2015-01-01",
    "end": "2020-12-31"}, "actor": [)" +
                                 Actor("RGT") + "]}";
// "No end" written as a far date, as many systems do: the deny applies now. Before, 9999-12-31
// overflowed the time arithmetic and wrapped to a date in the past, so the deny did not apply.
const std::string kOpenEndedDeny = R"({"type": "deny", "period": {"start": "0001-01-01",
    "end": "9999-12-31"}, "actor": [)" +
                                   Actor("RGT") + "]}";
const std::string kFutureDeny = R"({"type": "deny", "period": {"start": "2030-01-01"},
    "actor": [)" + Actor("RGT") +
                                "]}";
const std::string kOptOut =
    R"({"type": "deny", "purpose": [)" + Purpose("HRESCH") + ", " + Purpose("HOPERAT") + "]}";
const std::string kPermitRgt = R"({"type": "permit", "actor": [)" + Actor("RGT") + "]}";
const std::string kPermitResearch = R"({"type": "permit", "purpose": [)" + Purpose("HRESCH") + "]}";
// Root permit with two disagreeing children: observations permitted, PSY-labelled data denied.
const std::string kSiblings = R"({"type": "permit", "provision": [
    {"type": "permit", "class": [)" +
                              Class("Observation") + R"(]},
    {"type": "deny", "securityLabel": [)" +
                              Label("PSY") + "]}]}";
// Three levels: deny RGT; except observations; except those coded 86406008.
const std::string kThreeLevels = R"({"type": "deny", "actor": [)" + Actor("RGT") +
                                 R"(], "provision": [{"type": "permit", "class": [)" +
                                 Class("Observation") +
                                 R"(], "provision": [{"type": "deny", "code": [{"coding": [
      {"system": "http://snomed.info/sct", "code": "86406008"}]}]}]}]})";
// An actor the broker cannot compare with an ODS code.
const std::string kOpaqueActor =
    R"({"role": {"text": "recipient"}, "reference": {"reference": "Organization/123"}})";
const std::string kUnevaluableDeny = R"({"type": "deny", "actor": [)" + kOpaqueActor + "]}";
const std::string kUnevaluablePermitInDeny =
    R"({"type": "deny", "provision": [{"type": "permit", "actor": [)" + kOpaqueActor + "]}]}";
const std::string kUnevaluableButMismatch =
    R"({"type": "deny", "class": [)" + Class("Condition") +
    R"(], "data": [{"meaning": "instance", "reference": {"reference": "Condition/1"}}]})";

std::vector<EvalCase> EvalCases() {
  std::vector<EvalCase> cases;
  cases.push_back(Case("no_consent_direct_care_is_implied", {}));
  cases.push_back(For(Case("no_consent_research_no_objection", {}), "HRESCH"));
  cases.push_back(Denied(From(Case("deny_by_org", {ConsentJson("c1", "active", kDenyRgt)}), "RGT"),
                         "Consent.provision"));
  cases.push_back(
      Case("deny_by_org_other_org_unaffected", {ConsentJson("c1", "active", kDenyRgt)}));
  cases.push_back(Denied(Case("deny_by_class", {ConsentJson("c1", "active", kDenyObservations)}),
                         "Consent.provision"));
  cases.push_back(
      OfType(Case("deny_by_class_other_type", {ConsentJson("c1", "active", kDenyObservations)}),
             "Condition"));
  cases.push_back(
      Denied(WithLabels(Case("deny_by_security_label", {ConsentJson("c1", "active", kDenyHiv)}),
                        {HivLabel()}),
             "Consent.provision"));
  cases.push_back(WithLabels(
      Case("deny_by_security_label_other_label", {ConsentJson("c1", "active", kDenyHiv)}),
      {PsyLabel()}));
  cases.push_back(
      Denied(WithCodes(Case("deny_by_code", {ConsentJson("c1", "active", kDenyHivCode)}),
                       {Snomed("86406008")}),
             "Consent.provision"));
  cases.push_back(
      WithCodes(Case("deny_by_code_other_code", {ConsentJson("c1", "active", kDenyHivCode)}),
                {Snomed("38341003")}));
  cases.push_back(PermittedBy(
      Case("permit_nested_in_deny_matches", {ConsentJson("c1", "active", kDenyAllExceptRj1)}),
      "Consent.provision.provision[0]"));
  cases.push_back(Denied(From(Case("permit_nested_in_deny_other_org",
                                   {ConsentJson("c1", "active", kDenyAllExceptRj1)}),
                              "RGT"),
                         "Consent.provision"));
  cases.push_back(
      From(Case("expired_period_no_longer_applies", {ConsentJson("c1", "active", kExpiredDeny)}),
           "RGT"));
  cases.push_back(From(
      Case("future_period_not_yet_applies", {ConsentJson("c1", "active", kFutureDeny)}), "RGT"));
  cases.push_back(Denied(
      From(Case("far_dates_period_applies_now", {ConsentJson("c1", "active", kOpenEndedDeny)}),
           "RGT"),
      "Consent.provision"));
  cases.push_back(
      From(Case("inactive_consent_ignored", {ConsentJson("c1", "inactive", kDenyRgt)}), "RGT"));
  cases.push_back(From(
      Case("entered_in_error_ignored", {ConsentJson("c1", "entered-in-error", kDenyRgt)}), "RGT"));
  cases.push_back(From(Case("draft_ignored", {ConsentJson("c1", "draft", kDenyRgt)}), "RGT"));
  cases.push_back(
      Denied(For(Case("opt_out_research", {ConsentJson("c1", "active", kOptOut)}), "HRESCH"),
             "Consent.provision"));
  cases.push_back(Denied(
      For(Case("opt_out_covers_child_purpose", {ConsentJson("c1", "active", kOptOut)}), "CLINTRCH"),
      "Consent.provision"));
  cases.push_back(
      Denied(For(Case("opt_out_planning", {ConsentJson("c1", "active", kOptOut)}), "HOPERAT"),
             "Consent.provision"));
  cases.push_back(Case("opt_out_keeps_direct_care", {ConsentJson("c1", "active", kOptOut)}));
  cases.push_back(For(
      Case("opt_out_other_secondary_purpose", {ConsentJson("c1", "active", kOptOut)}), "PUBHLTH"));
  {
    EvalCase c =
        From(Case("break_glass_overrides_deny", {ConsentJson("c1", "active", kDenyRgt)}), "RGT");
    c.purpose = "ETREAT";
    c.break_glass = true;
    c.effect = Effect::kPermit;
    c.basis = DecisionBasis::kBreakGlass;
    c.path = "Consent.provision";
    c.consent_id = "c1";
    c.break_glass_used = true;
    cases.push_back(c);
  }
  {
    EvalCase c = Case("break_glass_without_deny_is_not_used", {});
    c.purpose = "ETREAT";
    c.break_glass = true;
    cases.push_back(c);
  }
  {
    // ETREAT without a validated reason: no override, the deny stands.
    EvalCase c = Denied(
        From(Case("etreat_without_break_glass_flag", {ConsentJson("c1", "active", kDenyRgt)}),
             "RGT"),
        "Consent.provision");
    c.purpose = "ETREAT";
    cases.push_back(c);
  }
  cases.push_back(Denied(
      From(Case("deny_wins_across_consents",
                {ConsentJson("c0", "active", kPermitRgt), ConsentJson("c1", "active", kDenyRgt)}),
           "RGT"),
      "Consent.provision", "c1"));
  cases.push_back(Denied(
      From(Case("later_permit_does_not_cancel_deny",
                {ConsentJson("c1", "active", kDenyRgt), ConsentJson("c2", "active", kPermitRgt)}),
           "RGT"),
      "Consent.provision", "c1"));
  cases.push_back(Denied(For(Case("explicit_research_permit_loses_to_opt_out",
                                  {ConsentJson("c0", "active", kPermitResearch),
                                   ConsentJson("c1", "active", kOptOut)}),
                             "HRESCH"),
                         "Consent.provision", "c1"));
  cases.push_back(PermittedBy(
      Case("withdrawn_deny_leaves_permit",
           {ConsentJson("c1", "inactive", kDenyRgt), ConsentJson("c2", "active", kPermitRgt)}),
      "Consent.provision", "c2"));
  cases.back().requester = "RGT";
  cases.push_back(
      Denied(WithLabels(Case("deny_wins_among_siblings", {ConsentJson("c1", "active", kSiblings)}),
                        {PsyLabel()}),
             "Consent.provision.provision[1]"));
  cases.push_back(
      PermittedBy(Case("sibling_permit_alone", {ConsentJson("c1", "active", kSiblings)}),
                  "Consent.provision.provision[0]"));
  cases.push_back(Denied(
      WithCodes(
          From(Case("deepest_deny_decides", {ConsentJson("c1", "active", kThreeLevels)}), "RGT"),
          {Snomed("86406008")}),
      "Consent.provision.provision[0].provision[0]"));
  cases.push_back(PermittedBy(
      From(Case("middle_permit_decides", {ConsentJson("c1", "active", kThreeLevels)}), "RGT"),
      "Consent.provision.provision[0]"));
  cases.push_back(Denied(
      OfType(From(Case("root_deny_decides", {ConsentJson("c1", "active", kThreeLevels)}), "RGT"),
             "Condition"),
      "Consent.provision"));
  cases.push_back(
      Denied(Case("unevaluable_deny_matches", {ConsentJson("c1", "active", kUnevaluableDeny)}),
             "Consent.provision"));
  cases.push_back(Denied(Case("unevaluable_permit_does_not_match",
                              {ConsentJson("c1", "active", kUnevaluablePermitInDeny)}),
                         "Consent.provision"));
  cases.push_back(Case("unevaluable_deny_with_definite_mismatch",
                       {ConsentJson("c1", "active", kUnevaluableButMismatch)}));
  {
    // Ingress, content not known yet: a label-based deny cannot refuse the whole request.
    EvalCase c = Case("unknown_content_defers_label_deny", {ConsentJson("c1", "active", kDenyHiv)});
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    c.final = false;
    cases.push_back(c);
  }
  {
    // ... but an organisation-wide deny refuses it before anything is fetched.
    EvalCase c = Denied(
        From(Case("unknown_content_org_deny_is_final", {ConsentJson("c1", "active", kDenyRgt)}),
             "RGT"),
        "Consent.provision");
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    c.type.clear();
    cases.push_back(c);
  }
  {
    // Deny RGT, except observations, except those coded 86406008: at ingress RGT may still get
    // its other observations, so the request goes ahead (resolving every unknown the same way
    // would have refused it).
    EvalCase c = From(Case("unknown_content_exception_keeps_request",
                           {ConsentJson("c1", "active", kThreeLevels)}),
                      "RGT");
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    c.type.clear();
    c.final = false;
    cases.push_back(c);
  }
  {
    // Known type outside the exception: the root deny is certain.
    EvalCase c = Denied(From(Case("unknown_content_known_type_outside_exception",
                                  {ConsentJson("c1", "active", kThreeLevels)}),
                             "RGT"),
                        "Consent.provision");
    c.type = "Condition";
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    cases.push_back(c);
  }
  {
    // Unknown content, a certain deny, and break-glass: overridden and recorded.
    EvalCase c =
        From(Case("unknown_content_break_glass", {ConsentJson("c1", "active", kDenyRgt)}), "RGT");
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    c.type.clear();
    c.purpose = "ETREAT";
    c.break_glass = true;
    c.basis = DecisionBasis::kBreakGlass;
    c.path = "Consent.provision";
    c.consent_id = "c1";
    c.break_glass_used = true;
    cases.push_back(c);
  }
  {
    // Opt-out at ingress: refused before anything is fetched.
    EvalCase c = Denied(
        For(Case("unknown_content_opt_out", {ConsentJson("c1", "active", kOptOut)}), "HRESCH"),
        "Consent.provision");
    c.labels = std::nullopt;
    c.codes = std::nullopt;
    c.type.clear();
    cases.push_back(c);
  }
  {
    EvalCase c =
        Case("unknown_type_defers_class_deny", {ConsentJson("c1", "active", kDenyObservations)});
    c.type.clear();
    c.final = false;
    cases.push_back(c);
  }
  return cases;
}

class ConsentEvaluate : public ::testing::TestWithParam<EvalCase> {};

TEST_P(ConsentEvaluate, Decides) {
  const EvalCase& c = GetParam();
  std::vector<Consent> consents;
  for (const std::string& json : c.consents) {
    core::Result<Consent> consent = ParseConsentJson(json);
    ASSERT_TRUE(consent.has_value())
        << consent.error().message << " at " << consent.error().location;
    consents.push_back(std::move(consent).value());
  }
  AccessRequest request;
  request.requester_ods = c.requester;
  request.purpose = c.purpose;
  request.resource_type = c.type;
  request.codes = c.codes;
  request.security_labels = c.labels;
  request.at_time = At("2026-06-01T12:00:00Z");
  request.break_glass = c.break_glass;

  const Decision decision = Evaluate(consents, request);
  EXPECT_EQ(decision.effect, c.effect) << Describe(decision);
  EXPECT_EQ(decision.basis, c.basis) << Describe(decision);
  EXPECT_EQ(decision.provision_path, c.path) << Describe(decision);
  EXPECT_EQ(decision.consent_id, c.consent_id) << Describe(decision);
  EXPECT_EQ(decision.break_glass_requested, c.break_glass);
  EXPECT_EQ(decision.break_glass_used, c.break_glass_used);
  EXPECT_EQ(decision.final, c.final) << Describe(decision);
}

INSTANTIATE_TEST_SUITE_P(Table, ConsentEvaluate, ::testing::ValuesIn(EvalCases()),
                         CaseName<EvalCase>);

// ---- parsing and validation ---------------------------------------------------------------------

TEST(ConsentParse, ReadsTheModel) {
  const std::string json = ConsentJson(
      "c9", "active",
      R"({"type": "deny", "period": {"start": "2024-01-01", "end": "2024-12-31"},
          "actor": [)" +
          Actor("RGT") + R"(], "purpose": [)" + Purpose("HRESCH") + R"(], "class": [)" +
          Class("Observation") + R"(], "securityLabel": [)" + Label("HIV") +
          R"(], "code": [{"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}],
          "provision": [{"type": "permit", "actor": [)" +
          Actor("RJ1") + "]}]}");
  core::Result<Consent> consent = ParseConsentJson(json);
  ASSERT_TRUE(consent.has_value()) << consent.error().message;
  EXPECT_EQ(consent->id, "c9");
  EXPECT_EQ(consent->status, ConsentStatus::kActive);
  EXPECT_EQ(consent->nhs_number, kNhsNumber);
  ASSERT_TRUE(consent->provision.has_value());
  const Provision& root = *consent->provision;
  EXPECT_EQ(root.effective_type, ProvisionType::kDeny);
  ASSERT_EQ(root.actor.any_of.size(), 1U);
  EXPECT_EQ(root.actor.any_of[0].code, "RGT");
  EXPECT_EQ(root.purpose.any_of[0].code, "HRESCH");
  EXPECT_EQ(root.resource_class.any_of[0].code, "Observation");
  EXPECT_EQ(root.security_label.any_of[0], HivLabel());
  EXPECT_EQ(root.code.any_of[0].code, "1");
  EXPECT_EQ(root.period_start, At("2024-01-01"));
  EXPECT_EQ(root.period_end, At("2025-01-01"));  // end date includes its whole day
  ASSERT_EQ(root.provisions.size(), 1U);
  EXPECT_EQ(root.provisions[0].path, "Consent.provision.provision[0]");
  EXPECT_EQ(root.provisions[0].effective_type, ProvisionType::kPermit);
  EXPECT_TRUE(UnevaluableElements(*consent).empty());
  EXPECT_FALSE(consent->json.empty());
}

TEST(ConsentParse, ListsUnevaluableElements) {
  const std::string json =
      ConsentJson("c1", "active",
                  R"({"type": "deny", "actor": [)" + kOpaqueActor +
                      R"(], "purpose": [{"system": "http://example.org/purposes", "code": "X"}],
          "class": [{"system": "urn:ietf:bcp:13", "code": "application/pdf"}],
          "data": [{"meaning": "instance", "reference": {"reference": "Condition/1"}}]})");
  core::Result<Consent> consent = ParseConsentJson(json);
  ASSERT_TRUE(consent.has_value()) << consent.error().message;
  EXPECT_EQ(UnevaluableElements(*consent),
            (std::vector<std::string>{"Consent.provision.actor[0]", "Consent.provision.purpose[0]",
                                      "Consent.provision.class[0]", "Consent.provision.data"}));
}

TEST(ConsentParse, SpecExampleWithoutNhsNumberIsRefused) {
  std::ifstream in(std::string(TB_SHARED_TESTDATA_DIR) +
                   "/fhir-r4/examples-r4-spec/consent-example.json");
  ASSERT_TRUE(in.good());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  core::Result<Consent> consent = ParseConsentJson(text);
  ASSERT_FALSE(consent.has_value());
  EXPECT_EQ(consent.error().location, "Consent.patient.identifier");
}

struct ParseErrorCase {
  std::string name;
  std::string json;
  core::ErrorCode code;
  std::string location;
};

void PrintTo(const ParseErrorCase& c, std::ostream* os) { *os << c.name; }

class ConsentParseError : public ::testing::TestWithParam<ParseErrorCase> {};

TEST_P(ConsentParseError, NamesTheElement) {
  const ParseErrorCase& c = GetParam();
  core::Result<Consent> consent = ParseConsentJson(c.json);
  ASSERT_FALSE(consent.has_value());
  EXPECT_EQ(consent.error().code, c.code) << consent.error().message;
  EXPECT_EQ(consent.error().location, c.location) << consent.error().message;
  EXPECT_EQ(consent.error().message.find(kNhsNumber), std::string::npos);
}

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string Nested(int depth) {
  std::string provision = R"({"type": "deny"})";
  for (int i = 0; i < depth; ++i) {
    provision = R"({"type": "permit", "provision": [)" + provision + "]}";
  }
  return provision;
}

std::vector<ParseErrorCase> ParseErrorCases() {
  const std::string good = ConsentJson("c1", "active", kDenyRgt);
  return {
      {"not_a_consent", R"({"resourceType": "Patient"})", core::ErrorCode::kInvalidValue,
       "resourceType"},
      {"missing_status", Replace(good, R"("status": "active",)", ""),
       core::ErrorCode::kRequiredFieldMissing, "Consent.status"},
      {"unknown_status", Replace(good, R"("status": "active")", R"("status": "Active")"),
       core::ErrorCode::kInvalidValue, "Consent.status"},
      {"other_scope", Replace(good, "patient-privacy", "research"), core::ErrorCode::kInvalidValue,
       "Consent.scope"},
      {"missing_scope", R"({"resourceType": "Consent", "status": "active"})",
       core::ErrorCode::kRequiredFieldMissing, "Consent.scope"},
      {"patient_by_reference",
       Replace(good, R"("identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",)",
               R"("reference": "Patient/1", "x": {"system": "y",)"),
       core::ErrorCode::kRequiredFieldMissing, "Consent.patient.identifier"},
      {"invalid_nhs_number", Replace(good, kNhsNumber, "9434765918"),
       core::ErrorCode::kInvalidValue, "Consent.patient.identifier.value"},
      {"bad_provision_type", ConsentJson("c1", "active", R"({"type": "refuse"})"),
       core::ErrorCode::kInvalidValue, "Consent.provision.type"},
      {"bad_period", ConsentJson("c1", "active", R"({"period": {"start": "2024-13-01"}})"),
       core::ErrorCode::kInvalidValue, "Consent.provision.period.start"},
      {"actor_not_array", ConsentJson("c1", "active", R"({"actor": {"x": 1}})"),
       core::ErrorCode::kInvalidValue, "Consent.provision.actor"},
      {"nested_not_object", ConsentJson("c1", "active", R"({"provision": [1]})"),
       core::ErrorCode::kInvalidValue, "Consent.provision.provision[0]"},
  };
}

TEST(ConsentParse, RefusesProvisionsNestedTooDeep) {
  core::Result<Consent> consent = ParseConsentJson(ConsentJson("c1", "active", Nested(20)));
  ASSERT_FALSE(consent.has_value());
  EXPECT_EQ(consent.error().code, core::ErrorCode::kTooLarge);
}

INSTANTIATE_TEST_SUITE_P(Validation, ConsentParseError, ::testing::ValuesIn(ParseErrorCases()),
                         CaseName<ParseErrorCase>);

// ---- dates --------------------------------------------------------------------------------------

TEST(FhirDateTime, IntervalsByPrecision) {
  EXPECT_EQ(ParseFhirDateTime("2024")->end, At("2025-01-01"));
  EXPECT_EQ(ParseFhirDateTime("2024-02")->end, At("2024-03-01"));
  EXPECT_EQ(ParseFhirDateTime("2024-12")->end, At("2025-01-01"));
  EXPECT_EQ(ParseFhirDateTime("2024-02-29")->end, At("2024-03-01"));
  EXPECT_EQ(ParseFhirDateTime("2024-06-01T10:00:00+01:00")->begin,
            ParseFhirDateTime("2024-06-01T09:00:00Z")->begin);
  EXPECT_TRUE(ParseFhirDateTime("2024-06-01T10:00:00.123Z").has_value());
  // Years the time type cannot hold are the earliest or latest instant, still checked as dates.
  const TimePoint latest = TimePoint::max();
  const TimePoint earliest = TimePoint::min();
  EXPECT_EQ(ParseFhirDateTime("9999-12-31")->begin, latest);
  EXPECT_EQ(ParseFhirDateTime("9999-12-31T23:59:59-14:00")->end, latest);
  EXPECT_EQ(ParseFhirDateTime("2400-02-29")->begin, latest);  // a leap year
  EXPECT_EQ(ParseFhirDateTime("0001")->end, earliest);
  EXPECT_EQ(ParseFhirDateTime("1010-01-01")->begin, earliest);
  EXPECT_LT(At("1700-01-01"), At("1970-01-01"));  // computed, the first year that is
  EXPECT_GT(At("1700-01-01"), earliest);
  for (const char* bad :
       {"", "24", "2024-", "2024-00", "2023-02-29", "2024-06-01T25:00:00Z", "2024-06-01T10:00Z",
        "9999-13-01", "1010-02-29", "2300-02-29", "0001-01-01T24:00:00Z", "2024-06-01T10:00:00+1",
        "2024-06-01 10:00:00", "2024-06-01T10:00:00.Z"}) {
    EXPECT_FALSE(ParseFhirDateTime(bad).has_value()) << bad;
  }
}

// ---- store --------------------------------------------------------------------------------------

TEST(InMemoryConsentStore, PutReplacesByIdAndGetsByNhsNumber) {
  InMemoryConsentStore store;
  Consent deny = ParseConsentJson(ConsentJson("c1", "active", kDenyRgt)).value();
  ASSERT_TRUE(store.Put(deny).has_value());
  ASSERT_EQ(store.GetByNhsNumber(kNhsNumber)->size(), 1U);
  EXPECT_TRUE(store.GetByNhsNumber("9000000009")->empty());

  // Withdrawal: the same consent stored again as inactive takes effect on the next evaluation.
  Consent withdrawn = ParseConsentJson(ConsentJson("c1", "inactive", kDenyRgt)).value();
  ASSERT_TRUE(store.Put(withdrawn).has_value());
  std::vector<Consent> stored = store.GetByNhsNumber(kNhsNumber).value();
  ASSERT_EQ(stored.size(), 1U);
  AccessRequest request;
  request.requester_ods = "RGT";
  request.resource_type = "Observation";
  request.codes.emplace();
  request.security_labels.emplace();
  EXPECT_TRUE(Evaluate(stored, request).permitted());

  EXPECT_EQ(store.GetById("c1")->status, ConsentStatus::kInactive);
  EXPECT_EQ(store.GetById("nope").error().code, core::ErrorCode::kNotFound);
  Consent no_id = deny;
  no_id.id.clear();
  EXPECT_EQ(store.Put(no_id).error().code, core::ErrorCode::kInvalidValue);
}

}  // namespace
}  // namespace tb::policy
