// Errors are values: syntax errors with positions, evaluation errors, hostile expressions that
// would exhaust the stack, EvaluateBoolean's rules, and concurrent evaluation of one Expression.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/adapters/fhir/fhirpath/fhirpath_test_util.h"

namespace tb::fhirpath {
namespace {

using testing::Eval;
using testing::Json;
using testing::Strings;

TEST(FhirPathRobustness, SyntaxErrorsCarryTheOffset) {
  auto unclosed = Expression::Compile("name.where(use = 'x'");
  ASSERT_FALSE(unclosed);
  EXPECT_EQ(unclosed.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(unclosed.error().location, "offset 20");

  auto dangling = Expression::Compile("2 + 2 /");
  ASSERT_FALSE(dangling);
  EXPECT_EQ(dangling.error().location, "offset 7");

  EXPECT_FALSE(Expression::Compile("'unterminated"));
  EXPECT_FALSE(Expression::Compile("1 + /* open comment"));
  EXPECT_FALSE(Expression::Compile("a.#b"));
  EXPECT_FALSE(Expression::Compile("$that"));
  EXPECT_FALSE(Expression::Compile(""));
  EXPECT_FALSE(Expression::Compile("@2020-13-01"));
}

TEST(FhirPathRobustness, CompiledExpressionKeepsItsText) {
  auto expr = Expression::Compile("Patient.name.given.first()");
  ASSERT_TRUE(expr);
  EXPECT_EQ(expr->text(), "Patient.name.given.first()");
}

TEST(FhirPathRobustness, EvaluationErrorsAreValues) {
  auto patient = Json(R"({"resourceType": "Patient", "name": [{"given": ["A", "B"]}]})");
  auto several = Evaluate("name.given.substring(1)", patient);
  ASSERT_FALSE(several);
  EXPECT_EQ(several.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_FALSE(Evaluate("name.noSuchFunction()", patient));
  EXPECT_FALSE(Evaluate("name.first(1)", patient));  // wrong number of arguments
  // Messages name the problem but never carry document values.
  auto unknown = Evaluate("name.given.secretValue", patient);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message.find("A"), std::string::npos) << unknown.error().message;
}

TEST(FhirPathRobustness, DeepNestingIsRefusedNotAStackOverflow) {
  // Each of these would overflow the stack if parsed, evaluated or destroyed recursively.
  constexpr int kDeep = 30000;
  std::string parens(kDeep, '(');
  EXPECT_FALSE(Expression::Compile(parens + "1" + std::string(kDeep, ')')));
  std::string minus(kDeep, '-');
  EXPECT_FALSE(Expression::Compile(minus + "1"));
  std::string chain = "a";
  for (int i = 0; i < kDeep; ++i) {
    chain += ".a";
  }
  EXPECT_FALSE(Expression::Compile(chain));
  std::string sum = "1";
  for (int i = 0; i < kDeep; ++i) {
    sum += "+1";
  }
  EXPECT_FALSE(Expression::Compile(sum));
  auto huge = Expression::Compile(std::string(kMaxExpressionBytes + 1, ' ') + "1");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, core::ErrorCode::kTooLarge);
  // Long but reasonable expressions still work, up to the height limit.
  std::string sum_of_350 = "1";
  for (int i = 1; i < 350; ++i) {
    sum_of_350 += "+1";
  }
  EXPECT_EQ(Eval(sum_of_350), (Strings{"350"}));
  std::string union_of_150 = "1";
  for (int i = 2; i <= 150; ++i) {
    union_of_150 += " | " + std::to_string(i);
  }
  EXPECT_EQ(Eval("(" + union_of_150 + ").count()"), (Strings{"150"}));
}

TEST(FhirPathRobustness, RunawayRepeatStops) {
  // Each step produces new values forever; repeat() stops with an error, not out of memory.
  auto result = Evaluate("0.repeat($this + 1)", Json("{}"));
  EXPECT_FALSE(result);
}

// Regexes meet text from servers: a long string must not overflow the stack (std::regex did, at
// about 30,000 characters against '.*b' on an 8 MB stack), and catastrophic backtracking must
// stop. Either gives an answer or an error, never a crash.
TEST(FhirPathRobustness, RegexesOnLongOrHostileInputAnswerOrErr) {
  rapidjson::Document doc = Json("{}");
  const std::string long_text(200000, 'a');
  doc.AddMember("text", rapidjson::Value(long_text.c_str(), doc.GetAllocator()),
                doc.GetAllocator());
  auto dot_star = Evaluate("text.matches('.*b')", doc);
  ASSERT_TRUE(dot_star) << dot_star.error().message;
  EXPECT_EQ(ToString(*dot_star), "false");
  auto full = Evaluate("text.matchesFull('a+')", doc);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(ToString(*full), "true");
  auto replaced = Evaluate("text.replaceMatches('a', 'b').length()", doc);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ(ToString(*replaced), "200000");
  // Alternation inside a repeat keeps state per character: an error, not a crash.
  auto alternation = Evaluate("text.matches('(a|b)*c')", doc);
  if (!alternation) {
    EXPECT_NE(alternation.error().message.find("too complex"), std::string::npos);
  }
  // Exponential backtracking on a short string stops with an error.
  auto exponential = Evaluate("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'.matches('(a*)*b')", Json("{}"));
  ASSERT_FALSE(exponential);
  EXPECT_NE(exponential.error().message.find("too complex"), std::string::npos);
}

// type() builds a small document; what is reached from it must keep it alive after the type()
// result itself is gone (a use after free that AddressSanitizer found in the official suite).
TEST(FhirPathRobustness, ChildrenOfBuiltNodesOutliveTheirParent) {
  EXPECT_EQ(Eval("1.type().name"), (Strings{"Integer"}));
  EXPECT_EQ(Eval("1.type().namespace & '.' & 1.type().name"), (Strings{"System.Integer"}));
  EXPECT_EQ(Eval("1.type().children().count()"), (Strings{"2"}));
  EXPECT_EQ(Eval("1.type().descendants().where($this = 'Integer').count()"), (Strings{"1"}));
}

TEST(FhirPathRobustness, EvaluateBooleanFollowsTheSingletonRule) {
  auto patient = Json(R"({"resourceType": "Patient", "active": false,
                          "name": [{"given": ["A", "B"]}]})");
  EXPECT_EQ(EvaluateBoolean("gender", patient).value(), false);             // empty -> false
  EXPECT_EQ(EvaluateBoolean("active", patient).value(), false);             // the Boolean
  EXPECT_EQ(EvaluateBoolean("name.given.first()", patient).value(), true);  // one item -> true
  EXPECT_FALSE(EvaluateBoolean("name.given", patient));                     // two -> error
  EXPECT_FALSE(EvaluateBoolean("name.(", patient));                         // syntax error
}

TEST(FhirPathRobustness, OneExpressionEvaluatesConcurrently) {
  auto expr = Expression::Compile("name.where(use = 'official').given.first() + ' ' + id");
  ASSERT_TRUE(expr);
  std::vector<rapidjson::Document> patients;
  for (int i = 0; i < 4; ++i) {
    patients.push_back(Json(R"({"resourceType": "Patient", "id": "p)" + std::to_string(i) +
                            R"(", "name": [{"use": "official", "given": ["G"]}]})"));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 200; ++n) {
        auto result = Evaluate(*expr, patients[static_cast<std::size_t>(t)]);
        if (!result || result->size() != 1 || ToString((*result)[0]) != "G p" + std::to_string(t)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

TEST(FhirPathRobustness, ParseDateTimeForms) {
  auto full = ParseDateTime("2020-02-03T04:05:06.789+01:30");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->precision, Precision::kMillisecond);
  EXPECT_EQ(full->millisecond, 789);
  EXPECT_EQ(full->tz_offset_minutes, 90);
  auto year = ParseDateTime("2020");
  ASSERT_TRUE(year);
  EXPECT_EQ(year->precision, Precision::kYear);
  EXPECT_FALSE(ParseDateTime("2020-1-1"));
  EXPECT_FALSE(ParseDateTime("2020-01-01T25:00"));
  EXPECT_FALSE(ParseTime("10:61"));
  EXPECT_TRUE(ParseTime("23:59:59.999"));
}

}  // namespace
}  // namespace tb::fhirpath
