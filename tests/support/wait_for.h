#pragma once

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace tb::testing {

// Polls `condition` until it holds or `deadline` passes. Use instead of sleep in tests.
template <typename Condition>
::testing::AssertionResult WaitFor(Condition condition,
                                   std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) {
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition() ? ::testing::AssertionSuccess()
                     : ::testing::AssertionFailure() << "condition not met within deadline";
}

}  // namespace tb::testing
