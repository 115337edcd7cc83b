#include "broker/core/error.h"

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(ErrorTable, RendersStyleGuideRows) {
  EXPECT_EQ(Info(ErrorCode::kSegmentSequence).http_status, 400);
  EXPECT_EQ(Info(ErrorCode::kSegmentSequence).err3, "100");
  EXPECT_EQ(Info(ErrorCode::kRequiredFieldMissing).issue_code, "required");
  EXPECT_EQ(Info(ErrorCode::kRequiredFieldMissing).err3, "101");
  EXPECT_EQ(Info(ErrorCode::kInvalidValue).err3, "102");
  EXPECT_EQ(Info(ErrorCode::kUnknownCode).http_status, 422);
  EXPECT_EQ(Info(ErrorCode::kUnknownCode).issue_code, "code-invalid");
  EXPECT_EQ(Info(ErrorCode::kUnsupportedMessage).v2_ack, "AR");
  EXPECT_EQ(Info(ErrorCode::kUnsupportedMessage).err3, "200");
  EXPECT_EQ(Info(ErrorCode::kUnsupportedEvent).err3, "201");
  EXPECT_EQ(Info(ErrorCode::kNotFound).http_status, 404);
  EXPECT_EQ(Info(ErrorCode::kForbidden).http_status, 403);
  EXPECT_EQ(Info(ErrorCode::kForbidden).v2_ack, "AR");
  EXPECT_EQ(Info(ErrorCode::kTimeout).http_status, 504);
  EXPECT_EQ(Info(ErrorCode::kTimeout).issue_code, "timeout");
  EXPECT_EQ(Info(ErrorCode::kUpstreamUnavailable).http_status, 503);
  EXPECT_EQ(Info(ErrorCode::kInternal).issue_code, "exception");
  EXPECT_EQ(Info(ErrorCode::kInternal).name, "kInternal");
}

// v2.5.1 section 2.9.2.2: failures of the receiver, not of the message, are AR (resend later).
TEST(ErrorTable, ReceiverFailuresAreRejectsSoTheSenderResends) {
  for (const ErrorCode code : {ErrorCode::kUpstreamUnavailable, ErrorCode::kTimeout,
                               ErrorCode::kStorage, ErrorCode::kConfig, ErrorCode::kInternal}) {
    EXPECT_EQ(Info(code).v2_ack, "AR") << Info(code).name;
    EXPECT_EQ(Info(code).err3, "207") << Info(code).name;
  }
}

}  // namespace
}  // namespace tb::core
