#include "broker/core/no_wait_reads.h"

#include <thread>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

TEST(NoWaitReads, ActiveOnlyInsideAScopeOnItsOwnThread) {
  EXPECT_FALSE(NoWaitReads::Active());
  {
    NoWaitReads attempt;
    EXPECT_TRUE(NoWaitReads::Active());
    bool other_thread_active = true;
    std::thread([&] { other_thread_active = NoWaitReads::Active(); }).join();
    EXPECT_FALSE(other_thread_active);
    EXPECT_FALSE(attempt.blocked());
  }
  EXPECT_FALSE(NoWaitReads::Active());
}

TEST(NoWaitReads, ABlockedReadMarksItsScopeAndEveryEnclosingOne) {
  NoWaitReads outer;
  {
    NoWaitReads inner;
    NoWaitReads::MarkBlocked();
    EXPECT_TRUE(inner.blocked());
  }
  EXPECT_TRUE(outer.blocked());
  EXPECT_TRUE(NoWaitReads::Active());  // the outer scope is still open
  NoWaitReads later;
  EXPECT_FALSE(later.blocked());
}

TEST(NoWaitReads, MarkingOutsideAnyScopeDoesNothing) {
  NoWaitReads::MarkBlocked();
  NoWaitReads attempt;
  EXPECT_FALSE(attempt.blocked());
}

}  // namespace
}  // namespace tb::core
