// Known answers for the deterministic ids, so that a faster implementation cannot change an id:
// SHA-1 (FIPS 180-4 examples, one and several blocks), v5 UUIDs of names longer than one block,
// and derived ids of names of every length the hashing loop treats differently (values computed
// independently, with Python's uuid and a transcription of DerivedUuid).
#include "mappings/deterministic_id.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::mappings {
namespace {

std::string Hex(const std::array<std::uint8_t, 20>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t byte : digest) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0x0F]);
  }
  return out;
}

TEST(DeterministicIdKnownAnswers, Sha1) {
  EXPECT_EQ(Hex(Sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Hex(Sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Hex(Sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(Hex(Sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(DeterministicIdKnownAnswers, UuidV5OfLongNamesAndTheTrustbridgeNamespace) {
  const Uuid ns = UuidV5(V2ToFhirNamespace(), "PAS|RX1|MSG1");
  EXPECT_EQ(ns.ToString(), "81131459-9cab-5e86-9bc5-484733c54bd2");
  EXPECT_EQ(UuidV5(V2ToFhirNamespace(),
                   "PAS|RA1^TRUST-A^ODS|MSG00001234567-and-some-more-to-pass-64-bytes")
                .ToString(),
            "52a5bf85-3db7-5df0-b17e-7df0b8140d48");
}

TEST(DeterministicIdKnownAnswers, DerivedUuidOfEveryTailLength) {
  const Uuid ns = UuidV5(V2ToFhirNamespace(), "PAS|RX1|MSG1");
  EXPECT_EQ(DerivedUuid(ns, "").ToString(), "44f5692e-df01-80bf-baa0-e425c6a34488");
  EXPECT_EQ(DerivedUuid(ns, "P").ToString(), "5adf1396-341b-8d02-a9d4-3982130b311b");
  EXPECT_EQ(DerivedUuid(ns, "Pa").ToString(), "e5867362-97b5-862f-a1a3-9c4146110949");
  EXPECT_EQ(DerivedUuid(ns, "Pat").ToString(), "d4da7376-a56b-8c23-8c9e-36600fcaa6f7");
  EXPECT_EQ(DerivedUuid(ns, "Pati").ToString(), "e775d46e-2bcd-83c1-bc95-f83c80bf62bd");
  EXPECT_EQ(DerivedUuid(ns, "Patie").ToString(), "fe85e806-8eee-8b60-af88-5ad53b291a0b");
  EXPECT_EQ(DerivedUuid(ns, "Patient/PID").ToString(), "7f1891db-17c1-8a0b-8e88-f89e79faf066");
  EXPECT_EQ(DerivedUuid(ns, "Practitioner/C3456789^PATEL^Anita^^^Dr^^^GMC").ToString(),
            "f50113ca-13c2-8d9d-b703-1f7038fa409b");
}

}  // namespace
}  // namespace tb::mappings
