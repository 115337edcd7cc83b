// The function library: existence, filtering and subsetting, strings (code points, regexes),
// conversions, math, iif, aggregate, trace and the clock functions.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/adapters/fhir/fhirpath/fhirpath_test_util.h"

namespace tb::fhirpath {
namespace {

using testing::Eval;
using testing::Json;
using testing::Strings;

const Strings kTrue{"true"};
const Strings kFalse{"false"};
const Strings kEmpty{};

TEST(FhirPathFunctions, Existence) {
  EXPECT_EQ(Eval("{}.empty()"), kTrue);
  EXPECT_EQ(Eval("(1 | 2).exists()"), kTrue);
  EXPECT_EQ(Eval("(1 | 2).exists($this > 1)"), kTrue);
  EXPECT_EQ(Eval("(1 | 2).all($this > 1)"), kFalse);
  EXPECT_EQ(Eval("{}.all($this > 1)"), kTrue);
  EXPECT_EQ(Eval("(true | false).allTrue()"), kFalse);
  EXPECT_EQ(Eval("(true | false).anyTrue()"), kTrue);
  EXPECT_EQ(Eval("(1 | 2).subsetOf(1 | 2 | 3)"), kTrue);
  EXPECT_EQ(Eval("(1 | 2 | 3).supersetOf(4)"), kFalse);
  EXPECT_EQ(Eval("(1).combine(1).isDistinct()"), kFalse);
  EXPECT_EQ(Eval("(1).combine(1).distinct().count()"), (Strings{"1"}));
}

TEST(FhirPathFunctions, FilteringAndSubsetting) {
  EXPECT_EQ(Eval("(1 | 2 | 3 | 4).where($this mod 2 = 0)"), (Strings{"2", "4"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).select($this * 10)"), (Strings{"10", "20", "30"}));
  EXPECT_EQ(Eval("(10 | 20 | 30).where($index > 0)"), (Strings{"20", "30"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).first()"), (Strings{"1"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).last()"), (Strings{"3"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).tail()"), (Strings{"2", "3"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).skip(2)"), (Strings{"3"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).take(2)"), (Strings{"1", "2"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).take(-1)"), kEmpty);
  EXPECT_EQ(Eval("(1 | 2 | 3).intersect(2 | 3 | 4)"), (Strings{"2", "3"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).exclude(2)"), (Strings{"1", "3"}));
  EXPECT_EQ(Eval("(1).single()"), (Strings{"1"}));
  EXPECT_EQ(Eval("(1 | 2).single()")[0].rfind("ERROR", 0), 0u);
  EXPECT_EQ(Eval("(1 | 'a' | 2.5).ofType(Integer)"), (Strings{"1"}));
  EXPECT_EQ(Eval("(3 | 1 | 2).sort()"), (Strings{"1", "2", "3"}));
  EXPECT_EQ(Eval("('b' | 'c' | 'a').sort(-$this)"), (Strings{"c", "b", "a"}));
}

TEST(FhirPathFunctions, StringsCountCodePoints) {
  EXPECT_EQ(Eval("'Zoë'.length()"), (Strings{"3"}));
  EXPECT_EQ(Eval("'Zoë Smith'.substring(2, 1)"), (Strings{"ë"}));
  EXPECT_EQ(Eval("'Zoë Smith'.indexOf('S')"), (Strings{"4"}));
  EXPECT_EQ(Eval("'Zoë'.toChars()"), (Strings{"Z", "o", "ë"}));
  EXPECT_EQ(Eval("'abc'.substring(5)"), kEmpty);
  EXPECT_EQ(Eval("'abc'.startsWith('ab')"), kTrue);
  EXPECT_EQ(Eval("'abc'.endsWith('bc')"), kTrue);
  EXPECT_EQ(Eval("'abc'.contains('x')"), kFalse);
  EXPECT_EQ(Eval("'aBc'.upper()"), (Strings{"ABC"}));
  EXPECT_EQ(Eval("'aBc'.lower()"), (Strings{"abc"}));
  EXPECT_EQ(Eval("'a-b-c'.replace('-', '+')"), (Strings{"a+b+c"}));
  EXPECT_EQ(Eval("'  x y  '.trim()"), (Strings{"x y"}));
  EXPECT_EQ(Eval("'a,b,,c'.split(',')"), (Strings{"a", "b", "", "c"}));
  EXPECT_EQ(Eval("('a' | 'b').join('/')"), (Strings{"a/b"}));
  EXPECT_EQ(Eval("'Hello'.encode('base64')"), (Strings{"SGVsbG8="}));
  EXPECT_EQ(Eval("'SGVsbG8='.decode('base64')"), (Strings{"Hello"}));
  EXPECT_EQ(Eval("'<a>'.escape('html')"), (Strings{"&lt;a&gt;"}));
  EXPECT_EQ(Eval("{}.upper()"), kEmpty);
}

TEST(FhirPathFunctions, RegularExpressions) {
  EXPECT_EQ(Eval("'9000000009'.matches('^[0-9]{10}$')"), kTrue);
  EXPECT_EQ(Eval("'NHS 900'.matches('[0-9]+')"), kTrue);  // a match anywhere
  EXPECT_EQ(Eval("'NHS 900'.matchesFull('[0-9]+')"), kFalse);
  EXPECT_EQ(Eval("'a\\nb'.matches('a.b')"), kTrue);  // '.' matches a newline
  EXPECT_EQ(Eval("'2020-01-02'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1')"),
            (Strings{"02/01/2020"}));
  EXPECT_EQ(Eval("'abc'.matches('(')")[0].rfind("ERROR", 0), 0u);  // bad pattern: an error
}

TEST(FhirPathFunctions, Conversions) {
  EXPECT_EQ(Eval("'42'.toInteger()"), (Strings{"42"}));
  EXPECT_EQ(Eval("'4.2'.toInteger()"), kEmpty);
  EXPECT_EQ(Eval("'4.2'.convertsToInteger()"), kFalse);
  EXPECT_EQ(Eval("'4.20'.toDecimal()"), (Strings{"4.20"}));
  EXPECT_EQ(Eval("'yes'.toBoolean()"), kTrue);
  EXPECT_EQ(Eval("'maybe'.convertsToBoolean()"), kFalse);
  EXPECT_EQ(Eval("1.5.toString()"), (Strings{"1.5"}));
  EXPECT_EQ(Eval("@2020-01-02.toString()"), (Strings{"2020-01-02"}));
  EXPECT_EQ(Eval("'2020-01-02'.toDate() = @2020-01-02"), kTrue);
  EXPECT_EQ(Eval("'2020-01-02T10:00:00Z'.toDateTime()"), (Strings{"2020-01-02T10:00:00Z"}));
  EXPECT_EQ(Eval("'10:30'.toTime()"), (Strings{"10:30"}));
  EXPECT_EQ(Eval("'5 \\'mg\\''.toQuantity()"), (Strings{"5 'mg'"}));
  EXPECT_EQ(Eval("'1 day'.toQuantity() = 24 hours"), kTrue);
  EXPECT_EQ(Eval("1 'g'.toQuantity('mg')"), (Strings{"1000 'mg'"}));
  EXPECT_EQ(Eval("(1 | 2).toString()")[0].rfind("ERROR", 0), 0u);
}

TEST(FhirPathFunctions, Math) {
  EXPECT_EQ(Eval("(-5).abs()"), (Strings{"5"}));
  EXPECT_EQ(Eval("1.5.ceiling()"), (Strings{"2"}));
  EXPECT_EQ(Eval("1.5.floor()"), (Strings{"1"}));
  EXPECT_EQ(Eval("(-1.5).truncate()"), (Strings{"-1"}));
  EXPECT_EQ(Eval("3.14159.round(2)"), (Strings{"3.14"}));
  EXPECT_EQ(Eval("2.power(10)"), (Strings{"1024"}));
  EXPECT_EQ(Eval("(-1).sqrt()"), kEmpty);
  EXPECT_EQ(Eval("100.log(10)"), (Strings{"2"}));
  EXPECT_EQ(Eval("'a'.abs()")[0].rfind("ERROR", 0), 0u);
}

TEST(FhirPathFunctions, IifAggregateAndTrace) {
  EXPECT_EQ(Eval("iif(1 > 0, 'yes', 'no')"), (Strings{"yes"}));
  EXPECT_EQ(Eval("iif({}, 'yes', 'no')"), (Strings{"no"}));
  EXPECT_EQ(Eval("iif(false, 'yes')"), kEmpty);
  EXPECT_EQ(Eval("iif('text', 'yes')")[0].rfind("ERROR", 0), 0u);  // criterion must be Boolean
  EXPECT_EQ(Eval("(1 | 2 | 3 | 4).aggregate($this + $total, 0)"), (Strings{"10"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).aggregate(iif($total.empty(), $this, iif($this > $total, $this, "
                 "$total)))"),
            (Strings{"3"}));

  auto patient = Json(R"({"resourceType": "Patient", "name": [{"family": "A"}, {"family": "B"}]})");
  std::vector<std::string> traced;
  Environment env;
  env.trace = [&](std::string_view name, const Collection& items) {
    traced.push_back(std::string(name) + ":" + ToString(items));
  };
  EXPECT_EQ(Eval("name.trace('names', family).count()", patient, env), (Strings{"2"}));
  EXPECT_EQ(traced, (Strings{"names:A, B"}));
}

TEST(FhirPathFunctions, ClockFunctionsGiveTheRightTypesAndPrecision) {
  EXPECT_EQ(Eval("now().is(DateTime)"), kTrue);
  EXPECT_EQ(Eval("today().is(Date)"), kTrue);
  EXPECT_EQ(Eval("timeOfDay().is(Time)"), kTrue);
  EXPECT_EQ(Eval("today() <= now()"), kEmpty);  // day vs millisecond precision, same day
  EXPECT_EQ(Eval("now() > @2020-01-01T00:00:00Z"), kTrue);
  EXPECT_EQ(Eval("today().precision()"), (Strings{"8"}));
}

TEST(FhirPathFunctions, BoundariesAndPrecision) {
  EXPECT_EQ(Eval("1.587.lowBoundary()"), (Strings{"1.58650000"}));
  EXPECT_EQ(Eval("1.587.highBoundary(2)"), (Strings{"1.59"}));
  EXPECT_EQ(Eval("@2014.lowBoundary(6)"), (Strings{"2014-01"}));
  EXPECT_EQ(Eval("@2014-02.highBoundary(8)"), (Strings{"2014-02-28"}));
  EXPECT_EQ(Eval("1.58700.precision()"), (Strings{"5"}));
}

// htmlChecks(): FHIR narrative rules (basic formatting only, no active content, some content).
TEST(FhirPathFunctions, HtmlChecksApplyTheNarrativeRules) {
  auto html_checks = [](const std::string& div) {
    rapidjson::Document doc = testing::Json("{}");
    doc.AddMember("div", rapidjson::Value(div.c_str(), doc.GetAllocator()), doc.GetAllocator());
    return Eval("div.htmlChecks()", doc);
  };
  EXPECT_EQ(html_checks("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Jane <b>Smith</b></p>"
                        "<table border=\"1\"><tr><td colspan=\"2\">x</td></tr></table><br/>"
                        "<!-- a note --></div>"),
            kTrue);
  EXPECT_EQ(
      html_checks("<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"#p\" alt=\"\"/></div>"),
      kTrue);
  EXPECT_EQ(html_checks("<div><script>alert(1)</script>x</div>"), kFalse);
  EXPECT_EQ(html_checks("<div><p onclick=\"x()\">x</p></div>"), kFalse);
  EXPECT_EQ(html_checks("<div><a href=\"JavaScript:x()\">x</a></div>"), kFalse);
  EXPECT_EQ(html_checks("<div><form>x</form></div>"), kFalse);
  EXPECT_EQ(html_checks("<div><p>x</div>"), kFalse);         // mismatched end tag
  EXPECT_EQ(html_checks("<div>x"), kFalse);                  // unclosed
  EXPECT_EQ(html_checks("<div>  <p> </p> </div>"), kFalse);  // no content
  EXPECT_EQ(html_checks("<p>x</p>"), kFalse);                // the root is a div
  EXPECT_EQ(html_checks("<div>x</div><div>y</div>"), kFalse);
  EXPECT_EQ(html_checks("<div>x<!-- open</div>"), kFalse);
  EXPECT_EQ(html_checks(std::string(300, '<') + "div>"), kFalse);
  auto nested = [](int depth) {
    std::string div;
    for (int i = 0; i < depth; ++i) {
      div += "<div>";
    }
    div += "x";
    for (int i = 0; i < depth; ++i) {
      div += "</div>";
    }
    return div;
  };
  EXPECT_EQ(html_checks(nested(200)), kTrue);
  EXPECT_EQ(html_checks(nested(300)), kFalse);  // deeper than 256 open elements
  EXPECT_EQ(Eval("{}.htmlChecks()"), (Strings{}));
}

// Fewer places than the boundary has: the end farther from zero rounds half up, the nearer one
// is cut (the reference implementation's rule, which the official suite follows).
TEST(FhirPathFunctions, DecimalBoundariesRoundTheFarEndAndCutTheNearOne) {
  EXPECT_EQ(Eval("1.587.lowBoundary(2)"), (Strings{"1.58"}));
  EXPECT_EQ(Eval("(-1.587).lowBoundary(2)"), (Strings{"-1.59"}));
  EXPECT_EQ(Eval("(-1.587).highBoundary(2)"), (Strings{"-1.58"}));
  EXPECT_EQ(Eval("0.0034.highBoundary(1)"), (Strings{"0.0"}));
  EXPECT_EQ(Eval("0.0034.lowBoundary(1)"), (Strings{"0.0"}));
  EXPECT_EQ(Eval("(-0.0034).lowBoundary(1)"), (Strings{"-0.0"}));
  EXPECT_EQ(Eval("-0.0034.highBoundary(1)"), (Strings{"0.0"}));  // -(0.0) is 0.0
  EXPECT_EQ(Eval("1.lowBoundary(0)"), (Strings{"0"}));
  EXPECT_EQ(Eval("1.highBoundary(0)"), (Strings{"2"}));
  EXPECT_EQ(Eval("120.lowBoundary(2)"), (Strings{"119.50"}));
  // A carry runs through the digits: 9.99 stands for up to 9.995.
  EXPECT_EQ(Eval("9.99.highBoundary(1)"), (Strings{"10.0"}));
  EXPECT_EQ(Eval("9.99.highBoundary(3)"), (Strings{"9.995"}));
  EXPECT_EQ(Eval("0.0.lowBoundary(3)"), (Strings{"-0.050"}));
  EXPECT_EQ(Eval("1.5 'mg'.highBoundary(3)"), (Strings{"1.550 'mg'"}));
  EXPECT_EQ(Eval("1.587.lowBoundary(32)"), (Strings{}));
}

}  // namespace
}  // namespace tb::fhirpath
