#include "broker/policy/purpose.h"

#include <optional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::CaseName;

struct HeaderCase {
  std::string name;
  std::optional<std::string> header;
  std::optional<std::string> purpose;  // nullopt: refused with 400
};

void PrintTo(const HeaderCase& c, std::ostream* os) { *os << c.name; }

class PurposeHeader : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(PurposeHeader, ParsesExactlyOneKnownCode) {
  const HeaderCase& c = GetParam();
  std::optional<std::string_view> header;
  if (c.header) {
    header = *c.header;
  }
  core::Result<std::string> purpose = ParsePurposeOfUse(header);
  if (c.purpose) {
    ASSERT_TRUE(purpose.has_value()) << purpose.error().message;
    EXPECT_EQ(*purpose, *c.purpose);
  } else {
    ASSERT_FALSE(purpose.has_value());
    EXPECT_EQ(purpose.error().code, core::ErrorCode::kInvalidValue);
    EXPECT_EQ(core::Info(purpose.error().code).http_status, 400);
    EXPECT_EQ(purpose.error().location, "header X-Purpose-Of-Use");
    if (c.header && !c.header->empty()) {
      EXPECT_EQ(purpose.error().message.find(*c.header), std::string::npos) << "echoes input";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Header, PurposeHeader,
    ::testing::Values(
        HeaderCase{"absent_is_treat", std::nullopt, "TREAT"}, HeaderCase{"treat", "TREAT", "TREAT"},
        HeaderCase{"etreat", "ETREAT", "ETREAT"}, HeaderCase{"hresch", "HRESCH", "HRESCH"},
        HeaderCase{"hoperat", "HOPERAT", "HOPERAT"}, HeaderCase{"pubhlth", "PUBHLTH", "PUBHLTH"},
        HeaderCase{"hpaymt", "HPAYMT", "HPAYMT"},
        HeaderCase{"surrounding_space", "  TREAT\t", "TREAT"},
        HeaderCase{"empty", "", std::nullopt}, HeaderCase{"blank", "   ", std::nullopt},
        HeaderCase{"lowercase", "treat", std::nullopt},
        HeaderCase{"two_codes", "TREAT,HRESCH", std::nullopt},
        HeaderCase{"two_codes_space", "TREAT HRESCH", std::nullopt},
        HeaderCase{"system_and_code", "http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT",
                   std::nullopt},
        HeaderCase{"unknown_code", "SHOPPING", std::nullopt}),
    CaseName<HeaderCase>);

struct ReasonCase {
  std::string name;
  std::optional<std::string> header;
  std::optional<core::ErrorCode> error;
};

void PrintTo(const ReasonCase& c, std::ostream* os) { *os << c.name; }

class BreakGlassReason : public ::testing::TestWithParam<ReasonCase> {};

TEST_P(BreakGlassReason, MustBeNonEmptyBoundedSingleLine) {
  const ReasonCase& c = GetParam();
  std::optional<std::string_view> header;
  if (c.header) {
    header = *c.header;
  }
  core::Result<std::string> reason = ValidateBreakGlassReason(header);
  if (!c.error) {
    EXPECT_TRUE(reason.has_value()) << reason.error().message;
  } else {
    ASSERT_FALSE(reason.has_value());
    EXPECT_EQ(reason.error().code, *c.error);
    EXPECT_EQ(core::Info(reason.error().code).http_status, 400);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Header, BreakGlassReason,
    ::testing::Values(
        ReasonCase{"ordinary", "Unconscious in ED, no GP record", std::nullopt},
        ReasonCase{"utf8", "Patient \xC3\xA0 l'h\xC3\xB4pital", std::nullopt},
        ReasonCase{"at_limit", std::string(kMaxBreakGlassReasonBytes, 'x'), std::nullopt},
        ReasonCase{"absent", std::nullopt, core::ErrorCode::kRequiredFieldMissing},
        ReasonCase{"empty", "", core::ErrorCode::kRequiredFieldMissing},
        ReasonCase{"blank", " \t ", core::ErrorCode::kRequiredFieldMissing},
        ReasonCase{"too_long", std::string(kMaxBreakGlassReasonBytes + 1, 'x'),
                   core::ErrorCode::kInvalidValue},
        ReasonCase{"newline", "line one\nline two", core::ErrorCode::kInvalidValue},
        ReasonCase{"carriage_return", "line one\rline two", core::ErrorCode::kInvalidValue},
        ReasonCase{"nul", std::string("a\0b", 3), core::ErrorCode::kInvalidValue},
        ReasonCase{"bad_utf8", "caf\xC3", core::ErrorCode::kInvalidValue},
        ReasonCase{"overlong_utf8", "\xC0\xAF", core::ErrorCode::kInvalidValue}),
    CaseName<ReasonCase>);

TEST(BreakGlassReason, IsTrimmed) {
  core::Result<std::string> reason = ValidateBreakGlassReason("  cardiac arrest  ");
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(*reason, "cardiac arrest");
}

// ---- BuildRequestContext
// -------------------------------------------------------------------------

ParticipantPolicy Participant(std::vector<std::string> purposes, bool break_glass) {
  ParticipantPolicy participant;
  participant.ods = "RJ1";
  participant.purposes = std::move(purposes);
  participant.break_glass = break_glass;
  participant.scopes = ScopeSet::Parse({"system/*.rs"}).value();
  return participant;
}

TEST(RequestContext, DefaultPurposeIsTreat) {
  core::Result<RequestContext> context = BuildRequestContext(Participant({"TREAT"}, false), {});
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->requester_ods, "RJ1");
  EXPECT_EQ(context->purpose, "TREAT");
  EXPECT_FALSE(context->break_glass());
  EXPECT_TRUE(context->scopes.Allows(Interaction::kRead, "Patient"));
}

TEST(RequestContext, UnconfiguredPurposeIsForbidden) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT"}, false), {"HRESCH", std::nullopt});
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error().code, core::ErrorCode::kForbidden);
}

TEST(RequestContext, ConfiguredSecondaryPurposeIsAccepted) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT", "HRESCH"}, false), {"HRESCH", std::nullopt});
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->purpose, "HRESCH");
}

TEST(RequestContext, BadHeaderIs400BeforeAnyPermissionCheck) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT"}, false), {"treat", std::nullopt});
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error().code, core::ErrorCode::kInvalidValue);
}

TEST(RequestContext, BreakGlassWithReasonIsRecorded) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT"}, true), {"ETREAT", "Unconscious in ED"});
  ASSERT_TRUE(context.has_value()) << context.error().message;
  EXPECT_EQ(context->purpose, "ETREAT");
  EXPECT_TRUE(context->break_glass());
  EXPECT_EQ(context->break_glass_reason, "Unconscious in ED");
}

TEST(RequestContext, BreakGlassWithoutReasonIs400) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT"}, true), {"ETREAT", std::nullopt});
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error().code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(context.error().location, "header X-Break-Glass-Reason");
}

TEST(RequestContext, BreakGlassNotAllowedForParticipantIs403) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT", "ETREAT"}, false), {"ETREAT", "Unconscious"});
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error().code, core::ErrorCode::kForbidden);
}

TEST(RequestContext, ReasonWithoutBreakGlassIsIgnored) {
  core::Result<RequestContext> context =
      BuildRequestContext(Participant({"TREAT"}, true), {std::nullopt, "just because"});
  ASSERT_TRUE(context.has_value());
  EXPECT_FALSE(context->break_glass());
  EXPECT_TRUE(context->break_glass_reason.empty());
}

TEST(Purpose, HierarchyAndKinds) {
  EXPECT_TRUE(PurposeIsA("CLINTRCH", "HRESCH"));
  EXPECT_TRUE(PurposeIsA("CLINTRCHPC", "HRESCH"));
  EXPECT_TRUE(PurposeIsA("ETREAT", "TREAT"));
  EXPECT_TRUE(PurposeIsA("HRESCH", "HRESCH"));
  EXPECT_FALSE(PurposeIsA("TREAT", "ETREAT"));
  EXPECT_FALSE(PurposeIsA("HRESCH", "TREAT"));
  EXPECT_FALSE(PurposeIsA("UNKNOWN", "TREAT"));
  EXPECT_EQ(KindOfPurpose("TREAT"), PurposeKind::kDirectCare);
  EXPECT_EQ(KindOfPurpose("ETREAT"), PurposeKind::kBreakGlass);
  EXPECT_EQ(KindOfPurpose("HRESCH"), PurposeKind::kSecondary);
  EXPECT_FALSE(KindOfPurpose("nope").has_value());
  EXPECT_FALSE(RequiresPseudonymisation("TREAT"));
  EXPECT_FALSE(RequiresPseudonymisation("ETREAT"));
  EXPECT_TRUE(RequiresPseudonymisation("HRESCH"));
  EXPECT_TRUE(RequiresPseudonymisation("POPHLTH"));
}

}  // namespace
}  // namespace tb::policy

namespace tb::policy {
namespace {

TEST(PolicyConfig, ReportsEveryProblemAtOnce) {
  const std::vector<core::Error> errors =
      ValidatePolicyConfig({"system/Patient.rs", "system/Observation.dus", "openid"},
                           {"TREAT", "treat", "ETREAT"}, false);
  ASSERT_EQ(errors.size(), 4U);
  EXPECT_EQ(errors[0].location, "scopes/1");
  EXPECT_NE(errors[0].message.find("in-order subset"), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[1].location, "scopes/2");
  EXPECT_EQ(errors[2].location, "purposes/1");
  EXPECT_EQ(errors[3].location, "purposes/2");
  for (const core::Error& error : errors) {
    EXPECT_EQ(error.code, core::ErrorCode::kConfig);
  }
  EXPECT_TRUE(ValidatePolicyConfig({"system/*.rs"}, {"TREAT", "ETREAT"}, true).empty());
  EXPECT_TRUE(ValidatePolicyConfig({}, {}, false).empty());
}

}  // namespace
}  // namespace tb::policy
