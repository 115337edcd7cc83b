#include "broker/core/digest.h"

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace tb::core {
namespace {

// FIPS 180-2 examples: the empty string, "abc", the 448-bit two-block message, a million 'a's.
TEST(Sha256Hex, KnownAnswers) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The per-thread context is re-initialised for every digest: one digest never leaks into the
// next, on this thread or another.
TEST(Sha256Hex, RepeatedAndFromOtherThreadsGiveTheSameDigests) {
  const std::string abc = Sha256Hex("abc");
  EXPECT_EQ(Sha256Hex("abc"), abc);
  std::string from_thread;
  std::thread([&] {
    Sha256Hex("something else first");
    from_thread = Sha256Hex("abc");
  }).join();
  EXPECT_EQ(from_thread, abc);
}

}  // namespace
}  // namespace tb::core
