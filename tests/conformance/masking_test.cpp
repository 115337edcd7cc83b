#include "conformance/masking.h"

#include <gtest/gtest.h>

namespace tb::conformance {
namespace {

TEST(ConformanceMasking, MasksEveryTenDigitRunWhereverItIs) {
  EXPECT_EQ(MaskNhsNumbers("9990001235"), "**********");
  EXPECT_EQ(MaskNhsNumbers("identifier=https://fhir.nhs.uk/Id/nhs-number|9990001235&x=1"),
            "identifier=https://fhir.nhs.uk/Id/nhs-number|**********&x=1");
  EXPECT_EQ(MaskNhsNumbers("nhs-number%7C9990001235"), "nhs-number%7C**********");
  EXPECT_EQ(MaskNhsNumbers("{\"value\":\"9449305552\"}"), "{\"value\":\"**********\"}");
  EXPECT_EQ(MaskNhsNumbers("PID|1||9990001235^^^NHS^NH"), "PID|1||**********^^^NHS^NH");
  // Invalid check digits are masked too (a mistyped real number is still PHI).
  EXPECT_EQ(MaskNhsNumbers("1234567890"), "**********");
}

TEST(ConformanceMasking, MasksSpacedAndHyphenatedForms) {
  EXPECT_EQ(MaskNhsNumbers("NHS 999 000 1235."), "NHS *** *** ****.");
  EXPECT_EQ(MaskNhsNumbers("999-000-1235"), "***-***-****");
  EXPECT_EQ(MaskNhsNumbers("999 000-1235"), "999 000-1235");  // mixed separators: not the form
}

TEST(ConformanceMasking, LeavesOtherNumbersAlone) {
  EXPECT_EQ(MaskNhsNumbers("20261123093000"), "20261123093000");  // a v2 timestamp
  EXPECT_EQ(MaskNhsNumbers("123456789"), "123456789");
  EXPECT_EQ(MaskNhsNumbers("HTTP 200, 12 entries"), "HTTP 200, 12 entries");
  EXPECT_EQ(MaskNhsNumbers(""), "");
}

TEST(ConformanceMasking, ExcerptCutsAtACharacterBoundary) {
  EXPECT_EQ(Excerpt("short", 10), "short");
  const std::string text =
      "ab\xC3\xA9"
      "cd";  // "abécd"
  const std::string cut = Excerpt(text, 3);
  EXPECT_EQ(cut.substr(0, 2), "ab");
  EXPECT_NE(cut.find("more bytes"), std::string::npos);
}

TEST(ConformanceMasking, MaskedExcerptMasksBeforeCutting) {
  // Cut first, "999000" would be left at the end: too short to look like an NHS number.
  const std::string excerpt = MaskedExcerpt("value 9990001235 more", 12);
  EXPECT_EQ(excerpt.find("999"), std::string::npos) << excerpt;
  EXPECT_TRUE(excerpt.starts_with("value ******")) << excerpt;
}

}  // namespace
}  // namespace tb::conformance
