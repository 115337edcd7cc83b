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

// Units are read as UCUM terms, so products, quotients, powers and prefixes convert.
TEST(FhirPathOperators, QuantitiesConvertThroughUcumTerms) {
  EXPECT_EQ(Eval("2.0 'cm' * 2.0 'm' = 0.040 'm2'"), kTrue);
  EXPECT_EQ(Eval("100 'mg/dL' = 1 'g/L'"), kTrue);
  EXPECT_EQ(Eval("1 'm2' = 10000 'cm2'"), kTrue);
  EXPECT_EQ(Eval("1 'L' = 1000 'cm3'"), kTrue);
  EXPECT_EQ(Eval("60 'min-1' = 1 '/s'"), kTrue);
  EXPECT_EQ(Eval("1 '[in_i]' = 2.54 'cm'"), kTrue);
  EXPECT_EQ(Eval("1 'mmol/L' = 1000 'umol/L'"), kTrue);
  EXPECT_EQ(Eval("1 '10*3/uL' = 1 '10*9/L'"), kTrue);
  EXPECT_EQ(Eval("3 '{tablets}' = 3 '1'"), kTrue);    // annotations mean 1
  EXPECT_EQ(Eval("120 'mm[Hg]' > 15 'kPa'"), kTrue);  // 16.0 kPa
  EXPECT_EQ(Eval("7 days = 1 'wk'"), kTrue);
  EXPECT_EQ(Eval("1 'mg/kg/d' = 1 'mg.kg-1.d-1'"), kTrue);  // '/' takes the next part only
  EXPECT_EQ(Eval("1 'kg.m/s2' = 1 'N'"), kTrue);
  EXPECT_EQ(Eval("(100 'mg/dL').toQuantity('g/L')"), (Strings{"1 'g/L'"}));
  // Different dimensions, units not known, and the UCUM year against days do not convert.
  EXPECT_EQ(Eval("1 'mg' = 1 'mL'"), kFalse);
  EXPECT_EQ(Eval("1 'foo' = 1 'bar'"), kFalse);
  EXPECT_EQ(Eval("1 'foo' = 1 'foo'"), kTrue);
  EXPECT_EQ(Eval("1 'a' = 365.25 'd'"), kFalse);
  EXPECT_EQ(Eval("1 'mg' + 1 'mL'")[0].rfind("ERROR", 0), 0u);
  // Hostile units are unknown, not a crash: unbalanced, too deep, too long, huge exponents.
  EXPECT_EQ(Eval("1 '(((m' = 1 'm'"), kFalse);
  EXPECT_EQ(Eval("1 '((((((((((m))))))))))' = 1 'm'"), kFalse);
  EXPECT_EQ(Eval("1 'm" + std::string(300, '2') + "' = 1 'm'"), kFalse);
  EXPECT_EQ(Eval("1 'm99.m99' = 1 'm'"), kFalse);
  EXPECT_EQ(Eval("1 '10*999' = 1 '1'"), kFalse);
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
