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

// Values are borrowed (a held string, a view, a literal) or moved in (a string made for the
// line); each kind is written as its text, also when a batched line is written later.
TEST_F(LogTest, BorrowedAndMovedValuesAreWrittenAsTheirText) {
  Logger log("tb.test");
  const std::string held = "a value longer than the small-string buffer";
  const std::string_view view = std::string_view(held).substr(2, 5);
  log.Info("fields", {{"held", held},
                      {"view", view},
                      {"literal", "lit"},
                      {"made", std::to_string(12345)},
                      {"joined", held + "!"},
                      {"empty", std::string()}});
  log.InfoBatched("later", {{"made", "c" + std::to_string(7)}, {"held", held}});
  FlushLog();
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(lines_[0].find("\"held\":\"" + held + "\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"view\":\"value\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"literal\":\"lit\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"made\":\"12345\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"joined\":\"" + held + "!\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"empty\":\"\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[1].find("\"made\":\"c7\",\"held\":\"" + held + "\""), std::string::npos)
      << lines_[1];
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

// Clean runs are found eight bytes at a time: every length up to 40 with each byte value at
// every position (and bytes above ASCII around it) gives the byte-by-byte escaping.
TEST_F(LogTest, EscapingEightBytesAtATimeMatchesByteByByte) {
  const auto reference = [](std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (byte < 0x20) {
        out += "\\u00";
        out += kHex[byte >> 4];
        out += kHex[byte & 0x0f];
      } else {
        out += c;
      }
    }
    return out;
  };
  for (std::size_t length = 1; length <= 40; ++length) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) {
      text.push_back(i % 3 == 0 ? '\xc3' : static_cast<char>('a' + i % 26));
    }
    for (std::size_t at = 0; at < length; ++at) {
      for (int value = 0; value < 256; ++value) {
        std::string probe = text;
        probe[at] = static_cast<char>(value);
        std::string out = "x";
        AppendJsonEscaped(out, probe);
        ASSERT_EQ(out, "x" + reference(probe)) << length << " at " << at << " byte " << value;
      }
    }
  }
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
