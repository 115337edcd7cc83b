// Operators: equality and equivalence, comparison, three-valued boolean logic, membership,
// union, arithmetic on numbers, strings, Quantities and dates, and date/time precision.
#include <gtest/gtest.h>

#include "tests/adapters/fhir/fhirpath/fhirpath_test_util.h"

namespace tb::fhirpath {
namespace {

using testing::Eval;
using testing::Strings;

const Strings kTrue{"true"};
const Strings kFalse{"false"};
const Strings kEmpty{};

TEST(FhirPathOperators, EqualityAndEquivalence) {
  EXPECT_EQ(Eval("1 = 1.0"), kTrue);
  EXPECT_EQ(Eval("'a' = 'A'"), kFalse);
  EXPECT_EQ(Eval("'a' ~ 'A'"), kTrue);
  EXPECT_EQ(Eval("'a  b' ~ 'A B'"), kTrue);
  EXPECT_EQ(Eval("1.2 ~ 1.24"), kTrue);  // compared at the coarser precision
  EXPECT_EQ(Eval("1.2 = 1.24"), kFalse);
  EXPECT_EQ(Eval("{} = 1"), kEmpty);
  EXPECT_EQ(Eval("{} ~ {}"), kTrue);
  EXPECT_EQ(Eval("(1 | 2) = (1 | 2)"), kTrue);
  EXPECT_EQ(Eval("(1 | 2) = (2 | 1)"), kFalse);  // = is ordered
  EXPECT_EQ(Eval("(1 | 2) ~ (2 | 1)"), kTrue);   // ~ is not
  EXPECT_EQ(Eval("1 != 2"), kTrue);
  EXPECT_EQ(Eval("1 !~ 1"), kFalse);
  EXPECT_EQ(Eval("(0.1 + 0.2) = 0.3"), kTrue);
}

TEST(FhirPathOperators, ComparisonNeedsComparableSingletons) {
  EXPECT_EQ(Eval("2 > 1.5"), kTrue);
  EXPECT_EQ(Eval("'abc' < 'abd'"), kTrue);
  EXPECT_EQ(Eval("{} < 1"), kEmpty);
  EXPECT_EQ(Eval("10 'mg' < 1 'g'"), kTrue);
  EXPECT_EQ(Eval("1 'kg' < 1 'm'"), kEmpty);  // different dimensions
  EXPECT_EQ(Eval("1 < 'a'")[0].rfind("ERROR", 0), 0u);
  EXPECT_EQ(Eval("(1 | 2) < 3")[0].rfind("ERROR", 0), 0u);
}

TEST(FhirPathOperators, DatePrecisionMakesComparisonsAmbiguous) {
  EXPECT_EQ(Eval("@2020-01-01 = @2020-01-01"), kTrue);
  EXPECT_EQ(Eval("@2020-01 = @2020-01-01"), kEmpty);  // month vs day: unknown
  EXPECT_EQ(Eval("@2020-01 < @2020-02-15"), kTrue);   // decided at the month
  EXPECT_EQ(Eval("@2020-01 < @2020-01-15"), kEmpty);
  EXPECT_EQ(Eval("@2020-01 ~ @2020-01-01"), kFalse);  // equivalence is never empty
  EXPECT_EQ(Eval("@2020-01-01T10:00:00Z = @2020-01-01T11:00:00+01:00"), kTrue);
  EXPECT_EQ(Eval("@2020-01-01T10:00:00.000Z = @2020-01-01T10:00:00Z"), kTrue);
  EXPECT_EQ(Eval("@T12:00 < @T12:30"), kTrue);
  EXPECT_EQ(Eval("@T12 = @T12:00"), kEmpty);
  EXPECT_EQ(Eval("@2020-01-01T10:00:00Z = @2020-01-01T10:00:00"), kEmpty);  // offset unknown
  EXPECT_EQ(Eval("@2020-01-01T10:00:00Z < @2020-01-03T10:00:00"), kTrue);
}

TEST(FhirPathOperators, BooleanLogicWithEmpty) {
  EXPECT_EQ(Eval("true and {}"), kEmpty);
  EXPECT_EQ(Eval("false and {}"), kFalse);
  EXPECT_EQ(Eval("{} and false"), kFalse);
  EXPECT_EQ(Eval("true or {}"), kTrue);
  EXPECT_EQ(Eval("{} or false"), kEmpty);
  EXPECT_EQ(Eval("true xor false"), kTrue);
  EXPECT_EQ(Eval("true xor {}"), kEmpty);
  EXPECT_EQ(Eval("false implies {}"), kTrue);
  EXPECT_EQ(Eval("{} implies true"), kTrue);
  EXPECT_EQ(Eval("{} implies false"), kEmpty);
  EXPECT_EQ(Eval("true implies false"), kFalse);
  EXPECT_EQ(Eval("{}.not()"), kEmpty);
  EXPECT_EQ(Eval("true.not()"), kFalse);
  // A single non-Boolean item counts as true.
  EXPECT_EQ(Eval("'x' and true"), kTrue);
}

TEST(FhirPathOperators, MembershipAndUnion) {
  EXPECT_EQ(Eval("2 in (1 | 2 | 3)"), kTrue);
  EXPECT_EQ(Eval("5 in (1 | 2 | 3)"), kFalse);
  EXPECT_EQ(Eval("{} in (1 | 2)"), kEmpty);
  EXPECT_EQ(Eval("2 in {}"), kFalse);
  EXPECT_EQ(Eval("(1 | 2) contains 2"), kTrue);
  EXPECT_EQ(Eval("(1 | 1 | 2 | 2).count()"), (Strings{"2"}));  // | removes duplicates
  EXPECT_EQ(Eval("(1 | 2).combine(2 | 3).count()"), (Strings{"4"}));
}

TEST(FhirPathOperators, Arithmetic) {
  EXPECT_EQ(Eval("1 + 2 * 3"), (Strings{"7"}));
  EXPECT_EQ(Eval("(1 + 2) * 3"), (Strings{"9"}));
  EXPECT_EQ(Eval("7 / 2"), (Strings{"3.5"}));
  EXPECT_EQ(Eval("7 div 2"), (Strings{"3"}));
  EXPECT_EQ(Eval("7 mod 2"), (Strings{"1"}));
  EXPECT_EQ(Eval("-7 div 2"), (Strings{"-3"}));
  EXPECT_EQ(Eval("1 / 0"), kEmpty);
  EXPECT_EQ(Eval("1.50 + 1"), (Strings{"2.50"}));
  EXPECT_EQ(Eval("2147483647 + 1"), kEmpty);  // 32-bit Integer overflow
  EXPECT_EQ(Eval("'ab' + 'cd'"), (Strings{"abcd"}));
  EXPECT_EQ(Eval("'ab' & {}"), (Strings{"ab"}));
  EXPECT_EQ(Eval("'ab' + {}"), kEmpty);
  EXPECT_EQ(Eval("3 'mg' + 2 'mg'"), (Strings{"5 'mg'"}));
  EXPECT_EQ(Eval("1 'g' + 500 'mg'"), (Strings{"1.5 'g'"}));
  EXPECT_EQ(Eval("1 'g' + 1 'm'")[0].rfind("ERROR", 0), 0u);
  EXPECT_EQ(Eval("2 'mg' * 3"), (Strings{"6 'mg'"}));
  EXPECT_EQ(Eval("-(5 'mg')"), (Strings{"-5 'mg'"}));
}

TEST(FhirPathOperators, DateArithmetic) {
  EXPECT_EQ(Eval("@2020-01-31 + 1 month"), (Strings{"2020-02-29"}));  // clamped to month end
  EXPECT_EQ(Eval("@2020-02-29 + 1 year"), (Strings{"2021-02-28"}));
  EXPECT_EQ(Eval("@2020-12-31 + 1 day"), (Strings{"2021-01-01"}));
  EXPECT_EQ(Eval("@2020-03-01 - 1 'd'"), (Strings{"2020-02-29"}));
  EXPECT_EQ(Eval("@2020-01-01T23:30:00Z + 45 minutes"), (Strings{"2020-01-02T00:15:00Z"}));
  EXPECT_EQ(Eval("@T23:00 + 2 hours"), (Strings{"01:00"}));
  EXPECT_EQ(Eval("@2020-01-01 + 1 'a'")[0].rfind("ERROR", 0), 0u);  // UCUM year: not calendar
}

}  // namespace
}  // namespace tb::fhirpath
