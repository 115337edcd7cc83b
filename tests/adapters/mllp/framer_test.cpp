#include "adapters/mllp/framer.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tb::mllp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Events rendered as "kind:bytes" or "frame:<payload>" so expectations read as the stream.
std::string Describe(const DecodeEvent& event) {
  if (event.kind == DecodeEventKind::kFrame) {
    EXPECT_EQ(event.bytes, event.payload.size());
    return "frame:" + event.payload;
  }
  return std::string(ToString(event.kind)) + ":" + std::to_string(event.bytes);
}

std::vector<std::string> Drain(FrameDecoder& decoder) {
  std::vector<std::string> out;
  while (auto event = decoder.Next()) {
    out.push_back(Describe(*event));
  }
  return out;
}

std::vector<std::string> DecodeChunks(const std::vector<std::string>& chunks,
                                      std::size_t max = kDefaultMaxFrameBytes) {
  FrameDecoder decoder(max);
  std::vector<std::string> out;
  for (const std::string& chunk : chunks) {
    decoder.Feed(chunk);
    for (std::string& event : Drain(decoder)) {
      out.push_back(std::move(event));
    }
  }
  return out;
}

std::vector<std::string> Decode(const std::string& bytes, std::size_t max = kDefaultMaxFrameBytes) {
  return DecodeChunks({bytes}, max);
}

// The block characters as strings, so byte sequences read without hex-escape pitfalls.
const std::string kVt(1, kStartBlock);
const std::string kFs(1, kEndBlock);
const std::string kCr(1, kCarriageReturn);

const std::string kMsg1 = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|||1\r";
const std::string kMsg2 = "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|2|P|2.5\r";

TEST(MllpFramer, FrameWrapsPayloadInBlockCharacters) {
  EXPECT_EQ(Frame("abc"), kVt + "abc" + kFs + kCr);
  EXPECT_EQ(Frame(""), std::string("\x0b\x1c\x0d"));
  std::string out = "x";
  AppendFrame(out, "y");
  EXPECT_EQ(out, "x" + kVt + "y" + kFs + kCr);
}

TEST(MllpFramer, DecodesOneFrame) {
  EXPECT_THAT(Decode(Frame(kMsg1)), ElementsAre("frame:" + kMsg1));
}

TEST(MllpFramer, DecodesSeveralFramesInOneRead) {
  EXPECT_THAT(Decode(Frame(kMsg1) + Frame(kMsg2) + Frame("x")),
              ElementsAre("frame:" + kMsg1, "frame:" + kMsg2, "frame:x"));
}

TEST(MllpFramer, DecodesTwoFramesSplitAtEveryBytePosition) {
  const std::string bytes = Frame(kMsg1) + Frame(kMsg2);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    for (std::size_t cut2 = cut; cut2 <= bytes.size(); cut2 += 7) {
      EXPECT_THAT(
          DecodeChunks({bytes.substr(0, cut), bytes.substr(cut, cut2 - cut), bytes.substr(cut2)}),
          ElementsAre("frame:" + kMsg1, "frame:" + kMsg2))
          << "cut at " << cut << " and " << cut2;
    }
  }
}

TEST(MllpFramer, DecodesFrameFedOneByteAtATime) {
  const std::string bytes = Frame(kMsg1) + Frame(kMsg2);
  std::vector<std::string> chunks;
  for (char c : bytes) {
    chunks.emplace_back(1, c);
  }
  EXPECT_THAT(DecodeChunks(chunks), ElementsAre("frame:" + kMsg1, "frame:" + kMsg2));
}

TEST(MllpFramer, WaitsForCarriageReturnSplitFromEndBlock) {
  FrameDecoder decoder;
  decoder.Feed(kVt + "abc" + kFs);
  EXPECT_THAT(Drain(decoder), IsEmpty());
  EXPECT_TRUE(decoder.InFrame());
  decoder.Feed("\x0d");
  EXPECT_THAT(Drain(decoder), ElementsAre("frame:abc"));
  EXPECT_FALSE(decoder.InFrame());
  EXPECT_EQ(decoder.BufferedBytes(), 0u);
}

TEST(MllpFramer, DecodesEmptyFrame) {
  EXPECT_THAT(Decode(Frame("") + Frame("a")), ElementsAre("frame:", "frame:a"));
}

TEST(MllpFramer, SkipsAndReportsGarbageBeforeAndBetweenFrames) {
  EXPECT_THAT(Decode("junk" + Frame("a") + "\r\n" + Frame("b")),
              ElementsAre("skipped:4", "frame:a", "skipped:2", "frame:b"));
}

TEST(MllpFramer, ReportsGarbageSplitOverReadsOnceAtTheNextStart) {
  EXPECT_THAT(DecodeChunks({"ab", "cd", "e" + Frame("x")}), ElementsAre("skipped:5", "frame:x"));
}

TEST(MllpFramer, GarbageWithoutAFrameIsConsumedNotBuffered) {
  FrameDecoder decoder;
  decoder.Feed(std::string(10000, 'g'));
  EXPECT_THAT(Drain(decoder), IsEmpty());
  EXPECT_EQ(decoder.BufferedBytes(), 0u);
  EXPECT_FALSE(decoder.InFrame());
}

TEST(MllpFramer, StartBlockInsideFrameDropsPartialAndStartsAgain) {
  EXPECT_THAT(Decode(kVt + "partial" + Frame("whole")), ElementsAre("truncated:7", "frame:whole"));
  // Split so the partial frame is buffered when the new start block comes.
  EXPECT_THAT(DecodeChunks({kVt + "par", "tial" + kVt + "b" + kFs + kCr}),
              ElementsAre("truncated:7", "frame:b"));
}

TEST(MllpFramer, EndBlockWithoutCarriageReturnDropsFrame) {
  EXPECT_THAT(Decode(kVt + "abc" + kFs + "X" + Frame("next")),
              ElementsAre("bad_terminator:3", "skipped:1", "frame:next"));
  // The start block right after 0x1C begins the next frame.
  EXPECT_THAT(Decode(kVt + "abc" + kFs + Frame("next")),
              ElementsAre("bad_terminator:3", "frame:next"));
  // Same with the byte after 0x1C in the next read.
  EXPECT_THAT(DecodeChunks({kVt + "abc" + kFs, Frame("next")}),
              ElementsAre("bad_terminator:3", "frame:next"));
}

TEST(MllpFramer, AcceptsFrameOfExactlyTheLimit) {
  EXPECT_THAT(Decode(Frame("12345"), 5), ElementsAre("frame:12345"));
  EXPECT_THAT(DecodeChunks({kVt + "12", "345", kFs + kCr}, 5), ElementsAre("frame:12345"));
}

TEST(MllpFramer, ReportsOversizeOnceAndResumesAfterTheFrame) {
  EXPECT_THAT(Decode(Frame("123456") + Frame("ok"), 5), ElementsAre("oversize:6", "frame:ok"));
}

TEST(MllpFramer, ReportsOversizeBeforeTheFrameEndsAndNeverBuffersMoreThanTheLimit) {
  FrameDecoder decoder(100);
  decoder.Feed("\x0b");
  EXPECT_THAT(Drain(decoder), IsEmpty());
  std::vector<std::string> events;
  for (int i = 0; i < 50; ++i) {
    decoder.Feed(std::string(30, 'x'));
    for (std::string& event : Drain(decoder)) {
      events.push_back(std::move(event));
    }
    EXPECT_LE(decoder.BufferedBytes(), 100u);
  }
  EXPECT_THAT(events, ElementsAre("oversize:120"));
  EXPECT_TRUE(decoder.InFrame());  // still inside the (discarded) frame
  decoder.Feed("\x1c");
  EXPECT_THAT(Drain(decoder), IsEmpty());
  decoder.Feed("\x0d" + Frame("after"));
  EXPECT_THAT(Drain(decoder), ElementsAre("frame:after"));
}

TEST(MllpFramer, OversizeEventCarriesTheFrameHead) {
  FrameDecoder decoder(10);
  decoder.Feed(kVt + "MSH|1234");
  EXPECT_THAT(Drain(decoder), IsEmpty());
  decoder.Feed("56789");
  auto event = decoder.Next();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind, DecodeEventKind::kOversize);
  EXPECT_EQ(event->payload, "MSH|123456789");
  EXPECT_EQ(event->bytes, 13u);

  FrameDecoder big(kOversizeHeadBytes * 2);
  big.Feed("\x0b" + std::string(kOversizeHeadBytes * 3, 'y'));
  auto head = big.Next();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->payload.size(), kOversizeHeadBytes);
}

TEST(MllpFramer, DiscardingSkipsLoneEndBlocksAndStopsAtTheNextStart) {
  EXPECT_THAT(Decode(kVt + "123456" + kFs + "X" + kFs + kFs + Frame("ok"), 5),
              ElementsAre("oversize:6", "frame:ok"));
  EXPECT_THAT(DecodeChunks({kVt + "123456" + kFs, kFs, kCr, Frame("ok")}, 5),
              ElementsAre("oversize:6", "frame:ok"));
}

TEST(MllpFramer, ResetForgetsPartialFrame) {
  FrameDecoder decoder;
  decoder.Feed(kVt + "abc");
  EXPECT_THAT(Drain(decoder), IsEmpty());
  decoder.Reset();
  EXPECT_FALSE(decoder.InFrame());
  decoder.Feed("def" + Frame("g"));
  EXPECT_THAT(Drain(decoder), ElementsAre("skipped:3", "frame:g"));
}

TEST(MllpFramer, KeepsUnreadFramesWhileTheCallerIsBusy) {
  // The session takes one frame, answers it, then asks for the next: frames wait in order.
  FrameDecoder decoder;
  decoder.Feed(Frame("1") + Frame("2") + kVt + "3");
  auto first = decoder.Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->payload, "1");
  EXPECT_GT(decoder.BufferedBytes(), 0u);
  auto second = decoder.Next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->payload, "2");
  EXPECT_FALSE(decoder.Next());
  EXPECT_TRUE(decoder.InFrame());
  decoder.Feed("\x1c\x0d");
  auto third = decoder.Next();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->payload, "3");
}

TEST(MllpFramer, ManyStrayBlockCharactersDecodeInLinearTime) {
  // Guard against rescanning: 256 KiB of start blocks, then of end blocks, must be quick
  // (a quadratic scan would take minutes).
  FrameDecoder decoder;
  decoder.Feed(std::string(1 << 18, '\x0b'));
  std::size_t events = 0;
  while (decoder.Next()) {
    ++events;
  }
  EXPECT_EQ(events, (1u << 18) - 1);
  decoder.Reset();
  decoder.Feed("\x0b" + std::string(1 << 18, '\x1c'));
  events = 0;
  while (decoder.Next()) {
    ++events;
  }
  EXPECT_EQ(events, 1u);  // one bad terminator, the rest skipped (reported at the next start)
}

}  // namespace
}  // namespace tb::mllp
