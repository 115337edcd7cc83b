#include "adapters/hl7v2/builder.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

TEST(MessageBuilder, BuildsByPathWithEscaping) {
  MessageBuilder b;
  ASSERT_TRUE(b.Set("MSH-3", "BROKER").has_value());
  ASSERT_TRUE(b.Set("MSH-9.1", "ADT").has_value());
  ASSERT_TRUE(b.Set("MSH-9.2", "A01").has_value());
  ASSERT_TRUE(b.Set("MSH-10", "C1").has_value());
  ASSERT_TRUE(b.Set("PID-3(2).1", "9434765919").has_value());
  ASSERT_TRUE(b.Set("PID-3(2).4", "NHS").has_value());
  ASSERT_TRUE(b.Set("PID-3(2).5", "NH").has_value());
  ASSERT_TRUE(b.Set("PID-5.1", "O|Brien^Smith").has_value());
  ASSERT_TRUE(b.SetNull("PID-8").has_value());
  EXPECT_EQ(b.Serialize(),
            "MSH|^~\\&|BROKER||||||ADT^A01|C1\r"
            "PID|||~9434765919^^^NHS^NH||O\\F\\Brien\\S\\Smith|||\"\"\r");
  const auto msg = b.Build();
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->Get("PID-5.1").Decoded(), "O|Brien^Smith");
  EXPECT_TRUE(msg->Get("PID-8").IsNull());
  EXPECT_EQ(msg->Get("PID-3(2).1").raw(), "9434765919");
}

TEST(MessageBuilder, SetsSubcomponentsAndCreatesSegmentOccurrences) {
  MessageBuilder b;
  ASSERT_TRUE(b.Set("OBX[2]-3.1.2", "sub&two").has_value());
  ASSERT_TRUE(b.Set("OBX[1]-1", "1").has_value());
  EXPECT_EQ(b.Serialize(), "MSH|^~\\&\rOBX|1\rOBX|||&sub\\T\\two\r");
}

TEST(MessageBuilder, SetRawKeepsStructureAndChecksLevels) {
  MessageBuilder b;
  ASSERT_TRUE(b.SetRaw("PID-5", "SMITH^JOHN~JONES^J").has_value());
  ASSERT_TRUE(b.SetRaw("PID-3.4", "NHS&2.16&ISO").has_value());
  EXPECT_EQ(b.Serialize(), "MSH|^~\\&\rPID|||^^^NHS&2.16&ISO||SMITH^JOHN~JONES^J\r");
  const auto bad_field = b.SetRaw("PID-5", "A|B");
  ASSERT_FALSE(bad_field.has_value());
  EXPECT_EQ(bad_field.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(bad_field.error().location, "PID-5");
  EXPECT_FALSE(b.SetRaw("PID-5.1", "A^B").has_value());
  EXPECT_FALSE(b.SetRaw("PID-5(1)", "A~B").has_value());
  EXPECT_FALSE(b.SetRaw("PID-5.1.1", "A&B").has_value());
  EXPECT_FALSE(b.SetRaw("PID-5", "A\rB").has_value());
}

TEST(MessageBuilder, RefusesDelimiterFieldsBadPathsAndHeaders) {
  MessageBuilder b;
  EXPECT_FALSE(b.Set("MSH-1", "#").has_value());
  EXPECT_FALSE(b.Set("MSH-2", "@!$%").has_value());
  EXPECT_FALSE(b.Set("PID", "x").has_value());
  EXPECT_FALSE(b.Set("PID-x", "x").has_value());
  EXPECT_FALSE(b.Set("BHS-3", "x").has_value());
  EXPECT_FALSE(b.AddSegment("MSH").has_value());
  EXPECT_FALSE(b.AddSegment("pid").has_value());
  EXPECT_EQ(b.SegmentCount(), 1u);
}

TEST(MessageBuilder, AddSegmentAppendsAndCountsOccurrences) {
  MessageBuilder b;
  EXPECT_EQ(b.AddSegment("NTE").value(), 1u);
  EXPECT_EQ(b.AddSegment("ZXY").value(), 1u);
  EXPECT_EQ(b.AddSegment("NTE").value(), 2u);
  ASSERT_TRUE(b.Set("NTE[2]-3", "second").has_value());
  EXPECT_EQ(b.Serialize(), "MSH|^~\\&\rNTE\rZXY\rNTE|||second\r");
}

TEST(MessageBuilder, EditsAParsedMessageKeepingEverythingElse) {
  const std::string text =
      "MSH#@!$%#A#B#C#D#20240101##ADT@A01#X1#P#2.5\rPID#1##ID1@@@RA1@MR!ID2#\"\"##\rZZ1#a$F$b#\r";
  const auto parsed = Message::Parse(text);
  ASSERT_TRUE(parsed.has_value());
  MessageBuilder unchanged = MessageBuilder::From(*parsed);
  EXPECT_EQ(unchanged.Serialize(), text);

  MessageBuilder edit = MessageBuilder::From(*parsed);
  ASSERT_TRUE(edit.Set("MSH-5", "NEW#APP").has_value());
  ASSERT_TRUE(edit.Set("PID-3(2).4", "NHS").has_value());
  EXPECT_EQ(edit.Serialize(),
            "MSH#@!$%#A#B#NEW$F$APP#D#20240101##ADT@A01#X1#P#2.5\r"
            "PID#1##ID1@@@RA1@MR!ID2@@@NHS#\"\"##\rZZ1#a$F$b#\r");
}

TEST(MessageBuilder, RefusesToEditWithAnIncompleteEncoding) {
  const auto parsed = Message::Parse("MSH|^~}|A\r");  // no subcomponent separator
  ASSERT_TRUE(parsed.has_value());
  MessageBuilder b = MessageBuilder::From(*parsed);
  EXPECT_EQ(b.Serialize(), "MSH|^~}|A\r");
  EXPECT_FALSE(b.Set("MSH-3", "B").has_value());
}

}  // namespace
}  // namespace tb::hl7v2
