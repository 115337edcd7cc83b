#include "adapters/hl7v2/path.h"

#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

struct PathCase {
  std::string_view text;
  Path expected;
};

void PrintTo(const PathCase& c, std::ostream* out) { *out << c.text; }

class ParsePathTable : public testing::TestWithParam<PathCase> {};

TEST_P(ParsePathTable, ParsesAndPrintsBack) {
  const auto path = ParsePath(GetParam().text);
  ASSERT_TRUE(path.has_value()) << path.error().message;
  EXPECT_EQ(*path, GetParam().expected);
  EXPECT_EQ(path->ToString(), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(Grammar, ParsePathTable,
                         testing::Values(PathCase{"PID-3", {"PID", 1, 3, 0, 0, 0}},
                                         PathCase{"PID-3(2).1", {"PID", 1, 3, 2, 1, 0}},
                                         PathCase{"PID-3.1.2", {"PID", 1, 3, 0, 1, 2}},
                                         PathCase{"OBX[3]-5", {"OBX", 3, 5, 0, 0, 0}},
                                         PathCase{"MSH-9.2", {"MSH", 1, 9, 0, 2, 0}},
                                         PathCase{"ZX1[12]-100(3).4.5", {"ZX1", 12, 100, 3, 4, 5}},
                                         PathCase{"ERR", {"ERR", 1, 0, 0, 0, 0}}));

class ParsePathRejects : public testing::TestWithParam<std::string_view> {};

TEST_P(ParsePathRejects, Malformed) {
  const auto path = ParsePath(GetParam());
  ASSERT_FALSE(path.has_value());
  EXPECT_EQ(path.error().code, core::ErrorCode::kInvalidValue);
}

INSTANTIATE_TEST_SUITE_P(Grammar, ParsePathRejects,
                         testing::Values("", "PI", "pid-3", "1ID-3", "PID-", "PID-0", "PID-3.",
                                         "PID-3.0", "PID-3()", "PID-3(0)", "PID[0]-3", "PID[2",
                                         "PID-3.1.2.3", "PID 3", "PID-3x", "PID-999999",
                                         "PID-3.1.0"));

}  // namespace
}  // namespace tb::hl7v2
