#include "broker/core/log.h"

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](std::string_view line) { lines_.emplace_back(line); });
    SetLogLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonObjectPerLine) {
  Logger log("tb.test");
  log.Info("request", {{"request_id", "r1"}, {"outcome", "ok"}});
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_NE(line.find("\"level\":\"info\""), std::string::npos);
  EXPECT_NE(line.find("\"logger\":\"tb.test\""), std::string::npos);
  EXPECT_NE(line.find("\"event\":\"request\""), std::string::npos);
  EXPECT_NE(line.find("\"request_id\":\"r1\""), std::string::npos);
  EXPECT_NE(line.find("\"time\":\""), std::string::npos);
}

TEST_F(LogTest, EscapesControlCharactersAndQuotes) {
  Logger log("tb.test");
  log.Warn("bad\"input\n", {{"detail", std::string("a\x01z")}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("bad\\\"input\\n"), std::string::npos);
  EXPECT_NE(lines_[0].find("a\\u0001z"), std::string::npos);
}

TEST_F(LogTest, EscapesEveryCharacterJsonNeedsAndCopiesTheRest) {
  std::string out;
  AppendJsonEscaped(out, std::string("ab\\c\td\re\"\x1f") + "\xc3\xa9 end");
  EXPECT_EQ(out, "ab\\\\c\\td\\re\\\"\\u001f\xc3\xa9 end");
  out.clear();
  AppendJsonEscaped(out, "\n");
  EXPECT_EQ(out, "\\n");
  out.clear();
  AppendJsonEscaped(out, "");
  EXPECT_EQ(out, "");
}

TEST_F(LogTest, TimeIsUtcToTheMillisecond) {
  Logger log("tb.test");
  log.Info("first");
  log.Info("second");
  ASSERT_EQ(lines_.size(), 2u);
  const std::regex time(R"(^\{"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z",)");
  EXPECT_TRUE(std::regex_search(lines_[0], time)) << lines_[0];
  EXPECT_TRUE(std::regex_search(lines_[1], time)) << lines_[1];
}

TEST_F(LogTest, DropsLinesBelowLevel) {
  Logger log("tb.test");
  log.Debug("hidden");
  SetLogLevel(LogLevel::kError);
  log.Warn("hidden too");
  log.Error("shown");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("shown"), std::string::npos);
}

TEST(LogLevelParse, KnowsEveryName) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_FALSE(ParseLogLevel("verbose", level));
}

}  // namespace
}  // namespace tb::core
