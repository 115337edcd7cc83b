#include "broker/core/result.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) {
    return MakeError(ErrorCode::kInvalidValue, "odd", "n");
  }
  return n / 2;
}

Status HalfTwice(int n, int& out) {
  Result<int> once = Half(n);
  BROKER_RETURN_IF_ERROR(once);
  Result<int> twice = Half(*once);
  BROKER_RETURN_IF_ERROR(twice);
  out = *twice;
  return Ok();
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = Half(4);
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(*good, 2);
  Result<int> bad = Half(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(bad.error().location, "n");
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, PropagatesFirstError) {
  int out = 0;
  EXPECT_TRUE(HalfTwice(8, out).has_value());
  EXPECT_EQ(out, 2);
  Status failed = HalfTwice(6, out);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message, "odd");
}

TEST(Result, MovesOnlyTypes) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("x");
  std::unique_ptr<std::string> taken = std::move(r).value();
  EXPECT_EQ(*taken, "x");
}

}  // namespace
}  // namespace tb::core
