#include "broker/core/log.h"

#include <chrono>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
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

TEST_F(LogTest, BatchedLinesGoOutBeforeAnImmediateLineInOrder) {
  Logger log("tb.test");
  log.InfoBatched("first");
  log.InfoBatched("second");
  log.Warn("third");  // written at once, after what was waiting
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_NE(lines_[0].find("\"event\":\"first\""), std::string::npos);
  EXPECT_NE(lines_[1].find("\"event\":\"second\""), std::string::npos);
  EXPECT_NE(lines_[2].find("\"event\":\"third\""), std::string::npos);
  EXPECT_EQ(lines_[0].back(), '}');  // one line each, without the newline
}

TEST_F(LogTest, FlushWritesBatchedLines) {
  Logger log("tb.test");
  log.InfoBatched("waiting", {{"request_id", "r1"}});
  FlushLog();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("\"request_id\":\"r1\""), std::string::npos);
}

TEST_F(LogTest, BatchedLinesAreWrittenWithoutAnyOtherLine) {
  Logger log("tb.test");
  std::mutex mutex;
  std::vector<std::string> seen;
  SetLogSink([&](std::string_view line) {
    std::lock_guard lock(mutex);
    seen.emplace_back(line);
  });
  log.InfoBatched("alone");
  // The flusher writes it kBatchedLineDelay later; wait far longer before giving up.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mutex);
      if (!seen.empty()) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  SetLogSink(nullptr);  // before `seen` goes
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(seen[0].find("\"event\":\"alone\""), std::string::npos);
}

TEST_F(LogTest, BatchedLinesBelowTheLevelAreDropped) {
  Logger log("tb.test");
  SetLogLevel(LogLevel::kWarn);
  log.InfoBatched("hidden");
  FlushLog();
  EXPECT_TRUE(lines_.empty());
}

TEST(LogLevelParse, KnowsEveryName) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_FALSE(ParseLogLevel("verbose", level));
}

}  // namespace
}  // namespace tb::core
