#include "broker/core/log.h"

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
