#include "broker/policy/scope.h"

#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"

namespace tb::policy {
namespace {

template <typename T>
std::string CaseName(const ::testing::TestParamInfo<T>& param_info) {
  return param_info.param.name;
}

rapidjson::Document Json(std::string_view text) {
  core::Result<rapidjson::Document> document = fhir::ParseJson(text);
  EXPECT_TRUE(document.has_value()) << (document ? "" : document.error().message);
  return document ? std::move(document).value() : rapidjson::Document();
}

// ---- grammar: valid scopes ----------------------------------------------------------------------

struct ValidCase {
  std::string name;
  std::string scope;
  std::string canonical;  // ToString of the parsed scope
  bool v1;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

class ScopeParseValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ScopeParseValid, ParsesToCanonicalForm) {
  const ValidCase& c = GetParam();
  core::Result<Scope> scope = ParseScope(c.scope);
  ASSERT_TRUE(scope.has_value()) << scope.error().message << " at " << scope.error().location;
  EXPECT_EQ(ToString(*scope), c.canonical);
  EXPECT_EQ(scope->v1, c.v1);
  // The canonical form is one scope that reads back as the same scope.
  core::Result<Scope> again = ParseScope(ToString(*scope));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(ToString(*again), c.canonical);
  ASSERT_EQ(again->constraints.size(), scope->constraints.size());
  for (std::size_t i = 0; i < scope->constraints.size(); ++i) {
    ASSERT_EQ(again->constraints[i].any_of.size(), scope->constraints[i].any_of.size());
    for (std::size_t k = 0; k < scope->constraints[i].any_of.size(); ++k) {
      EXPECT_EQ(again->constraints[i].any_of[k].system, scope->constraints[i].any_of[k].system);
      EXPECT_EQ(again->constraints[i].any_of[k].code, scope->constraints[i].any_of[k].code);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, ScopeParseValid,
    ::testing::Values(
        ValidCase{"create_only", "system/Observation.c", "system/Observation.c", false},
        ValidCase{"read_only", "system/Observation.r", "system/Observation.r", false},
        ValidCase{"update_only", "system/Observation.u", "system/Observation.u", false},
        ValidCase{"delete_only", "system/Observation.d", "system/Observation.d", false},
        ValidCase{"search_only", "system/Observation.s", "system/Observation.s", false},
        ValidCase{"all_letters", "user/Appointment.cruds", "user/Appointment.cruds", false},
        ValidCase{"cud", "system/Encounter.cud", "system/Encounter.cud", false},
        ValidCase{"gap_subset", "patient/Observation.cs", "patient/Observation.cs", false},
        ValidCase{"wildcard_type", "system/*.rs", "system/*.rs", false},
        ValidCase{"patient_context", "patient/Patient.r", "patient/Patient.r", false},
        ValidCase{"v1_read", "patient/Observation.read", "patient/Observation.rs", true},
        ValidCase{"v1_write", "user/Observation.write", "user/Observation.cud", true},
        ValidCase{"v1_star", "system/*.*", "system/*.cruds", true},
        ValidCase{"constraint_code", "system/Observation.rs?category=laboratory",
                  "system/Observation.rs?category=laboratory", false},
        ValidCase{"constraint_system_code",
                  "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
                  "observation-category|laboratory",
                  "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
                  "observation-category|laboratory",
                  false},
        ValidCase{"constraint_several_params",
                  "system/Observation.rs?category=laboratory&status=final,amended",
                  "system/Observation.rs?category=laboratory&status=final,amended", false},
        ValidCase{"constraint_system_any_code", "system/Condition.rs?code=http://snomed.info/sct|",
                  "system/Condition.rs?code=http://snomed.info/sct|", false},
        ValidCase{"uri_form", "http://smarthealthit.org/fhir/scopes/patient/*.r", "patient/*.r",
                  false},
        // Decoded values are written so that they read back the same (found by
        // policy_inputs_fuzz: a space written raw split a token's scope list in two).
        ValidCase{"constraint_space", "system/Observation.rs?code=a+b%20c",
                  "system/Observation.rs?code=a+b+c", false},
        // %-escaped separators are separators (the query is decoded before FHIR's own escapes).
        ValidCase{"constraint_decoded_separators", "system/Observation.rs?code=x%7Cy%2Cz%5C",
                  "system/Observation.rs?code=x|y,z\\\\", false},
        ValidCase{"constraint_fhir_escapes_kept", "system/Observation.rs?code=s|a\\|b\\,c",
                  "system/Observation.rs?code=s|a\\|b\\,c", false},
        ValidCase{"constraint_query_characters", "system/Observation.rs?code=%25%2B%26%3D%23",
                  "system/Observation.rs?code=%25%2B%26%3D%23", false},
        ValidCase{"constraint_non_ascii", "system/Observation.rs?code=caf%C3%A9",
                  "system/Observation.rs?code=caf%C3%A9", false}),
    CaseName<ValidCase>);

// ---- grammar: malformed scopes ------------------------------------------------------------------

struct InvalidCase {
  std::string name;
  std::string scope;
  std::string message_part;  // a piece of the error message
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class ScopeParseInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(ScopeParseInvalid, IsRefusedWithPreciseMessage) {
  const InvalidCase& c = GetParam();
  core::Result<Scope> scope = ParseScope(c.scope);
  ASSERT_FALSE(scope.has_value()) << c.scope;
  EXPECT_EQ(scope.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_NE(scope.error().message.find(c.message_part), std::string::npos)
      << "message: " << scope.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, ScopeParseInvalid,
    ::testing::Values(
        InvalidCase{"empty", "", "empty scope"},
        InvalidCase{"out_of_order", "patient/Observation.dus", "in-order subset"},
        InvalidCase{"reversed", "system/Observation.sr", "in-order subset"},
        InvalidCase{"repeated_letter", "system/Observation.rr", "in-order subset"},
        InvalidCase{"unknown_letter", "system/Observation.rx", "unknown permission 'x'"},
        InvalidCase{"uppercase_letter", "system/Observation.R", "unknown permission 'R'"},
        InvalidCase{"no_permissions", "system/Observation.", "missing permissions"},
        InvalidCase{"no_dot", "system/Observation", "missing '.'"},
        InvalidCase{"no_context", "Observation.rs?code:in=http://valueset.example.org/x",
                    "not a SMART resource scope"},
        InvalidCase{"bad_context", "admin/Observation.rs", "unknown scope context 'admin'"},
        InvalidCase{"lowercase_type", "system/observation.rs", "is not a resource type"},
        InvalidCase{"missing_type", "system/.rs", "missing resource type"},
        InvalidCase{"openid", "openid", "not a SMART resource scope"},
        InvalidCase{"launch_patient", "launch/patient", "unknown scope context 'launch'"},
        InvalidCase{"v1_wrong_case", "patient/Observation.Read", "unknown permission 'R'"},
        InvalidCase{"modifier", "system/Observation.rs?code:in=http://valueset.example.org/x",
                    "modifiers and chained parameters are not supported"},
        InvalidCase{"chain", "system/Observation.rs?patient.birthdate=1990",
                    "modifiers and chained parameters are not supported"},
        InvalidCase{"unsupported_param", "system/Observation.rs?subject=Patient/1",
                    "parameter 'subject' is not supported"},
        InvalidCase{"empty_constraint", "system/Observation.rs?", "empty search constraint"},
        InvalidCase{"empty_value", "system/Observation.rs?category=", "has an empty value"},
        InvalidCase{"space_inside", "system/Observation.rs category", "space"},
        InvalidCase{"bad_escape", "system/Observation.rs?category=%zz",
                    "malformed search constraint"},
        // 807 bytes, but 1,197 once each lone '\\' is written as "\\\\" (found by
        // policy_inputs_fuzz: the canonical form did not read back).
        InvalidCase{"canonical_form_too_long",
                    "system/Observation.rs?code=" +
                        [] {
                          std::string value;
                          for (int i = 0; i < 390; ++i) {
                            value += "\\a";
                          }
                          return value;
                        }(),
                    "once its constraint values are escaped"}),
    CaseName<InvalidCase>);

TEST(ScopeParse, ErrorLocationGivesOffsetOfTheFault) {
  core::Result<Scope> scope = ParseScope("system/Observation.dus");
  ASSERT_FALSE(scope.has_value());
  EXPECT_EQ(scope.error().location, "offset 20");  // the 'u' after 'd'
}

TEST(ScopeSetParse, NamesTheIndexOfTheBadScope) {
  core::Result<ScopeSet> set = ScopeSet::Parse({"system/Patient.rs", "system/Observation.x"});
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().location.rfind("scopes[1]", 0), 0U) << set.error().location;
}

TEST(ScopeSetParse, SpaceSeparatedTokenScope) {
  core::Result<ScopeSet> set =
      ScopeSet::ParseSpaceSeparated("patient/MedicationRequest.rs  patient/Patient.rs");
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->scopes().size(), 2U);
}

// Every context-prefixed resource scope quoted from the SMART IG in the shared test data parses;
// the two quoted without a context (experimental modifiers/chains) are refused.
TEST(ScopeParse, SmartIgExamplesFromSharedTestData) {
  std::ifstream in(std::string(TB_SHARED_TESTDATA_DIR) +
                   "/conformance/smart-scopes/smart-v2-scope-examples.yaml");
  ASSERT_TRUE(in.good());
  std::string line;
  int parsed = 0;
  int refused = 0;
  bool in_examples = false;
  while (std::getline(in, line)) {
    if (line.rfind("examples:", 0) == 0 || line.rfind("v1_scopes:", 0) == 0) {
      in_examples = true;
      continue;
    }
    if (!line.empty() && line[0] != ' ') {
      in_examples = false;
    }
    const std::string key = "- scope: \"";
    const std::size_t at = line.find(key);
    if (!in_examples || at == std::string::npos) {
      continue;
    }
    const std::size_t start = at + key.size();
    const std::string scope_text = line.substr(start, line.find('"', start) - start);
    core::Result<Scope> scope = ParseScope(scope_text);
    const bool has_context = scope_text.rfind("patient/", 0) == 0 ||
                             scope_text.rfind("user/", 0) == 0 ||
                             scope_text.rfind("system/", 0) == 0;
    if (has_context) {
      EXPECT_TRUE(scope.has_value()) << scope_text;
      ++parsed;
    } else {
      EXPECT_FALSE(scope.has_value()) << scope_text;
      ++refused;
    }
  }
  EXPECT_EQ(parsed, 16);
  EXPECT_EQ(refused, 2);
}

// ---- ScopeSet on the request -------------------------------------------------------------------

struct AllowCase {
  std::string name;
  std::vector<std::string> scopes;
  Interaction interaction;
  std::string type;
  bool allowed;
};

void PrintTo(const AllowCase& c, std::ostream* os) { *os << c.name; }

class ScopeSetAllows : public ::testing::TestWithParam<AllowCase> {};

TEST_P(ScopeSetAllows, ChecksInteractionAndType) {
  const AllowCase& c = GetParam();
  core::Result<ScopeSet> set = ScopeSet::Parse(c.scopes);
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->Allows(c.interaction, c.type), c.allowed);
}

INSTANTIATE_TEST_SUITE_P(
    Request, ScopeSetAllows,
    ::testing::Values(
        AllowCase{
            "read_granted", {"system/Observation.r"}, Interaction::kRead, "Observation", true},
        AllowCase{"search_not_in_r",
                  {"system/Observation.r"},
                  Interaction::kSearch,
                  "Observation",
                  false},
        AllowCase{"create_c", {"system/Observation.c"}, Interaction::kCreate, "Observation", true},
        AllowCase{
            "write_not_read", {"patient/Observation.c"}, Interaction::kRead, "Observation", false},
        AllowCase{"update_u", {"system/Encounter.cud"}, Interaction::kUpdate, "Encounter", true},
        AllowCase{"delete_d", {"system/Encounter.cud"}, Interaction::kDelete, "Encounter", true},
        AllowCase{"other_type", {"system/Observation.rs"}, Interaction::kRead, "Patient", false},
        AllowCase{"wildcard_any_type", {"system/*.rs"}, Interaction::kSearch, "Condition", true},
        AllowCase{"wildcard_not_write", {"system/*.rs"}, Interaction::kCreate, "Condition", false},
        AllowCase{"union_of_scopes",
                  {"system/Patient.r", "system/Observation.s"},
                  Interaction::kSearch,
                  "Observation",
                  true},
        AllowCase{"constrained_lets_request_through",
                  {"system/Observation.rs?category=laboratory"},
                  Interaction::kSearch,
                  "Observation",
                  true},
        AllowCase{"v1_read_is_search",
                  {"system/Observation.read"},
                  Interaction::kSearch,
                  "Observation",
                  true},
        AllowCase{"empty_set", {}, Interaction::kRead, "Patient", false}),
    CaseName<AllowCase>);

TEST(ScopeSet, AllowsUnconstrainedOnlyWithoutConstraint) {
  core::Result<ScopeSet> set = ScopeSet::Parse({"system/Observation.rs?category=laboratory"});
  ASSERT_TRUE(set.has_value());
  EXPECT_FALSE(set->AllowsUnconstrained(Interaction::kSearch, "Observation"));
  ASSERT_EQ(set->Matching(Interaction::kSearch, "Observation").size(), 1U);
}

TEST(ScopeSet, GrantedTypesForIncludeChecks) {
  core::Result<ScopeSet> set =
      ScopeSet::Parse({"system/Observation.rs", "system/Patient.r", "system/Encounter.c",
                       "system/Observation.s?category=vital-signs"});
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->GrantedTypes(), (std::vector<std::string>{"Observation", "Patient"}));
  EXPECT_TRUE(set->GrantsType("Patient"));
  EXPECT_FALSE(set->GrantsType("Encounter"));  // create only: cannot be _included
  core::Result<ScopeSet> wildcard = ScopeSet::Parse({"system/Patient.r", "system/*.s"});
  ASSERT_TRUE(wildcard.has_value());
  EXPECT_EQ(wildcard->GrantedTypes(), (std::vector<std::string>{"*"}));
  EXPECT_TRUE(wildcard->GrantsType("MedicationRequest"));
}

// ---- ScopeSet on resources ----------------------------------------------------------------------

constexpr std::string_view kLabObservation = R"({
  "resourceType": "Observation", "id": "lab1", "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}
})";
constexpr std::string_view kVitalSigns = R"({
  "resourceType": "Observation", "id": "vs1", "status": "preliminary",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
})";
constexpr std::string_view kPatient = R"({"resourceType": "Patient", "id": "p1"})";

struct ResourceCase {
  std::string name;
  std::vector<std::string> scopes;
  std::string_view resource;
  bool allowed;
};

void PrintTo(const ResourceCase& c, std::ostream* os) { *os << c.name; }

class ScopeSetAllowsResource : public ::testing::TestWithParam<ResourceCase> {};

TEST_P(ScopeSetAllowsResource, ChecksTypeAndConstraintsOnContent) {
  const ResourceCase& c = GetParam();
  core::Result<ScopeSet> set = ScopeSet::Parse(c.scopes);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  rapidjson::Document resource = Json(c.resource);
  EXPECT_EQ(set->AllowsResource(resource), c.allowed);
}

constexpr std::string_view kLabScope =
    "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
    "observation-category|laboratory";

INSTANTIATE_TEST_SUITE_P(
    Response, ScopeSetAllowsResource,
    ::testing::Values(
        ResourceCase{"lab_scope_lab_result", {std::string(kLabScope)}, kLabObservation, true},
        ResourceCase{"lab_scope_vital_signs", {std::string(kLabScope)}, kVitalSigns, false},
        ResourceCase{"lab_scope_patient", {std::string(kLabScope)}, kPatient, false},
        ResourceCase{"code_only_token",
                     {"system/Observation.rs?category=laboratory"},
                     kLabObservation,
                     true},
        ResourceCase{"wrong_system",
                     {"system/Observation.rs?category=http://other|laboratory"},
                     kLabObservation,
                     false},
        ResourceCase{"no_system_token",
                     {"system/Observation.rs?category=|laboratory"},
                     kLabObservation,
                     false},
        ResourceCase{"system_any_code",
                     {"system/Observation.rs?code=http://loinc.org|"},
                     kLabObservation,
                     true},
        ResourceCase{"status_code", {"system/Observation.rs?status=final"}, kLabObservation, true},
        ResourceCase{"status_other", {"system/Observation.rs?status=final"}, kVitalSigns, false},
        ResourceCase{
            "or_values", {"system/Observation.rs?status=final,preliminary"}, kVitalSigns, true},
        ResourceCase{"and_params",
                     {"system/Observation.rs?category=laboratory&status=amended"},
                     kLabObservation,
                     false},
        ResourceCase{"missing_element", {"system/Patient.rs?category=x"}, kPatient, false},
        ResourceCase{"write_only_scope", {"system/Observation.cud"}, kLabObservation, false},
        ResourceCase{"second_scope_unconstrained",
                     {std::string(kLabScope), "system/Observation.s"},
                     kVitalSigns,
                     true},
        ResourceCase{"wildcard", {"system/*.r"}, kPatient, true}),
    CaseName<ResourceCase>);

TEST(ScopeSet, AllowsResourceRefusesNonResources) {
  core::Result<ScopeSet> set = ScopeSet::Parse({"system/*.cruds"});
  ASSERT_TRUE(set.has_value());
  EXPECT_FALSE(set->AllowsResource(Json(R"({"id": "x"})")));
  EXPECT_FALSE(set->AllowsResource(Json(R"({"resourceType": 7})")));
  EXPECT_FALSE(set->AllowsResource(Json(R"([1, 2])")));
}

TEST(ScopeSet, AllowsResourceForOneInteraction) {
  core::Result<ScopeSet> set = ScopeSet::Parse({"system/Observation.s"});
  ASSERT_TRUE(set.has_value());
  rapidjson::Document resource = Json(kLabObservation);
  EXPECT_TRUE(set->AllowsResource(resource, Interaction::kSearch));
  EXPECT_FALSE(set->AllowsResource(resource, Interaction::kRead));
}

}  // namespace
}  // namespace tb::policy
