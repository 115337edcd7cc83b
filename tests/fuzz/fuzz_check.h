#pragma once

#include <cstdlib>

namespace tb::fuzz {

// A fuzz property: abort when it does not hold, which libFuzzer reports as a crash with the input
// (and the replay test as a failed run).
inline void Check(bool holds) {
  if (!holds) {
    std::abort();
  }
}

}  // namespace tb::fuzz
