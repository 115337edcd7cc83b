// CodeMap's lookups: FindV2(code) goes through an open-addressing index (code_map.h) that must
// answer exactly as the per-code row lists do, through growth, replacement and merging.
#include "mappings/code_map.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::mappings {
namespace {

CodeMapRow Row(std::string system, std::string code, std::string fhir_code) {
  return CodeMapRow{std::move(system),    code, "display " + code, "urn:example",
                    std::move(fhir_code), ""};
}

TEST(CodeMapTest, FindV2FindsEveryCodeOfALargeMapAndNothingElse) {
  CodeMap map("large");
  for (int i = 0; i < 1000; ++i) {  // many growths of the index
    map.Add(Row("HL79999", "C" + std::to_string(i), "f" + std::to_string(i)));
  }
  for (int i = 0; i < 1000; ++i) {
    const CodeMapRow* row = map.FindV2("C" + std::to_string(i));
    ASSERT_NE(row, nullptr) << i;
    EXPECT_EQ(row->fhir_code, "f" + std::to_string(i));
  }
  EXPECT_EQ(map.FindV2("C1000"), nullptr);
  EXPECT_EQ(map.FindV2(""), nullptr);
  EXPECT_EQ(map.FindV2("c1"), nullptr);  // codes are case-sensitive
}

TEST(CodeMapTest, FindV2IsTheFirstRowOfACodeInAnySystem) {
  CodeMap map("systems");
  map.Add(Row("HL70001", "A", "first"));
  map.Add(Row("LOCAL", "A", "second"));
  EXPECT_EQ(map.FindV2("A")->fhir_code, "first");
  EXPECT_EQ(map.FindV2("LOCAL", "A")->fhir_code, "second");
  // Replacing the first row in place keeps it first.
  map.Add(Row("HL70001", "A", "replaced"));
  EXPECT_EQ(map.FindV2("A")->fhir_code, "replaced");
  EXPECT_EQ(map.size(), 2U);
}

TEST(CodeMapTest, FindV2OnAnEmptyOrCopiedMap) {
  const CodeMap empty;
  EXPECT_EQ(empty.FindV2("A"), nullptr);
  CodeMap map("copied");
  map.Add(Row("HL70001", "A", "a"));
  CodeMap overlay("overlay");
  overlay.Add(Row("HL70001", "B", "b"));
  map.Merge(overlay);
  const CodeMap copy = map;
  ASSERT_NE(copy.FindV2("B"), nullptr);
  EXPECT_EQ(copy.FindV2("B")->fhir_code, "b");
  EXPECT_EQ(copy.FindV2("A"), &copy.rows()[0]);  // the copy's own row, not the original's
}

}  // namespace
}  // namespace tb::mappings
