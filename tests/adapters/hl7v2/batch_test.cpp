#include "adapters/hl7v2/batch.h"

#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

constexpr std::string_view kFile =
    "FHS|^~\\&|PAS|RA1|||20240501\r"
    "BHS|^~\\&|PAS|RA1|||20240501||||B1\r"
    "MSH|^~\\&|PAS|RA1|||20240501||ADT^A01|M1|P|2.5\r"
    "PID|1||A1\r"
    "MSH|^~\\&|PAS|RA1|||20240501||ADT^A08|M2|P|2.5\r"
    "PID|1||A2\r"
    "ZPI|x\r"
    "BTS|2\r"
    "BHS|^~\\&|PAS|RA1|||20240501||||B2\r"
    "MSH|^~\\&|PAS|RA1|||20240501||ORU^R01|M3|P|2.5\r"
    "BTS|1\r"
    "FTS|2\r";

TEST(ParseBatch, SplitsFileBatchesAndMessagesAndRoundTrips) {
  const auto batch = ParseBatch(kFile);
  ASSERT_TRUE(batch.has_value()) << batch.error().message;
  EXPECT_EQ(batch->FileHeader().Field(3).raw(), "PAS");
  EXPECT_EQ(batch->FileTrailer().Field(1).raw(), "2");
  ASSERT_EQ(batch->groups.size(), 2u);
  EXPECT_EQ(batch->MessageCount(), 3u);
  ASSERT_EQ(batch->groups[0].messages.size(), 2u);
  EXPECT_EQ(batch->groups[0].messages[1].ControlId(), "M2");
  EXPECT_EQ(batch->groups[0].messages[1].Get("ZPI-1").raw(), "x");
  EXPECT_EQ(SegmentView(batch->groups[1].header, batch->encoding).Field(11).raw(), "B2");
  EXPECT_EQ(batch->groups[1].trailer, "BTS|1");
  EXPECT_EQ(batch->groups[1].messages[0].MessageType(), "ORU");
  EXPECT_EQ(SerializeBatch(*batch), kFile);
}

TEST(ParseBatch, AcceptsLfAndBareMessageSequences) {
  const std::string text = "MSH|^~\\&|A\nPID|1\n\nMSH|^~\\&|B\nPID|2\n";
  const auto batch = ParseBatch(text);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->groups.size(), 1u);
  EXPECT_TRUE(batch->groups[0].header.empty());
  EXPECT_EQ(batch->MessageCount(), 2u);
  EXPECT_EQ(SerializeBatch(*batch), "MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\rPID|2\r");
}

TEST(ParseBatch, KeepsEachMessagesOwnDelimiters) {
  const auto batch = ParseBatch("BHS|^~\\&\rMSH#@!$%#A\rPID#1##X@Y\rBTS|1\r");
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->encoding.field, '|');
  EXPECT_EQ(batch->groups[0].messages[0].Get("PID-3.2").raw(), "Y");
}

TEST(ParseBatch, AcceptsAnEmptyBatch) {
  const auto batch = ParseBatch("BHS|^~\\&\rBTS|0\r");
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->MessageCount(), 0u);
  EXPECT_EQ(SerializeBatch(*batch), "BHS|^~\\&\rBTS|0\r");
}

struct BadBatch {
  std::string_view name;
  std::string_view input;
  core::ErrorCode code;
  std::string_view location;
};

void PrintTo(const BadBatch& c, std::ostream* out) { *out << c.name; }

class ParseBatchRejects : public testing::TestWithParam<BadBatch> {};

TEST_P(ParseBatchRejects, WithCodeAndLocation) {
  const auto batch = ParseBatch(GetParam().input);
  ASSERT_FALSE(batch.has_value());
  EXPECT_EQ(batch.error().code, GetParam().code);
  EXPECT_EQ(batch.error().location, GetParam().location);
}

INSTANTIATE_TEST_SUITE_P(
    Structure, ParseBatchRejects,
    testing::Values(
        BadBatch{"Empty", "", core::ErrorCode::kSegmentSequence, "MSH"},
        BadBatch{"SegmentBeforeMsh", "BHS|^~\\&\rPID|1\r", core::ErrorCode::kSegmentSequence,
                 "PID"},
        BadBatch{"BtsWithoutBhs", "BTS|0\r", core::ErrorCode::kSegmentSequence, "BTS"},
        BadBatch{"FhsNotFirst", "MSH|^~\\&\rFHS|^~\\&\r", core::ErrorCode::kSegmentSequence, "FHS"},
        BadBatch{"AfterFts", "FHS|^~\\&\rFTS|0\rMSH|^~\\&\r", core::ErrorCode::kSegmentSequence,
                 "MSH"},
        BadBatch{"BhsBeforeBts", "BHS|^~\\&\rMSH|^~\\&\rBHS|^~\\&\r",
                 core::ErrorCode::kSegmentSequence, "BHS"},
        BadBatch{"BadHeaderDelimiters", "FHS|^^\r", core::ErrorCode::kInvalidValue, "FHS-2"},
        BadBatch{"BadMessageInside", "BHS|^~\\&\rMSH||\rBTS|1\r",
                 core::ErrorCode::kRequiredFieldMissing, "MSH-2"}),
    [](const testing::TestParamInfo<BadBatch>& p) { return std::string(p.param.name); });

TEST(ParseBatch, CapsMessagesAndBytes) {
  BatchLimits limits;
  limits.max_messages = 1;
  const auto many = ParseBatch("MSH|^~\\&\rMSH|^~\\&\r", limits);
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().code, core::ErrorCode::kTooLarge);
  limits = {};
  limits.max_bytes = 4;
  EXPECT_EQ(ParseBatch("MSH|^~\\&\r", limits).error().code, core::ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace tb::hl7v2
