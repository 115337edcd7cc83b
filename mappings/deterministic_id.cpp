#include "mappings/deterministic_id.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tb::mappings {

namespace {

class Sha1Context {
 public:
  void Update(const std::uint8_t* data, std::size_t size) {
    length_ += size;
    while (size > 0) {
      const std::size_t take = std::min(size, sizeof(block_) - block_size_);
      std::memcpy(block_ + block_size_, data, take);
      block_size_ += take;
      data += take;
      size -= take;
      if (block_size_ == sizeof(block_)) {
        Transform();
        block_size_ = 0;
      }
    }
  }
  void Update(std::string_view text) {
    Update(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }

  std::array<std::uint8_t, 20> Final() {
    const std::uint64_t bits = length_ * 8;
    block_[block_size_++] = 0x80;
    if (block_size_ > 56) {
      while (block_size_ < 64) {
        block_[block_size_++] = 0;
      }
      Transform();
      block_size_ = 0;
    }
    while (block_size_ < 56) {
      block_[block_size_++] = 0;
    }
    for (int i = 7; i >= 0; --i) {
      block_[block_size_++] = static_cast<std::uint8_t>(bits >> (i * 8));
    }
    Transform();
    std::array<std::uint8_t, 20> out{};
    for (std::size_t i = 0; i < 5; ++i) {
      out[i * 4] = static_cast<std::uint8_t>(h_[i] >> 24);
      out[i * 4 + 1] = static_cast<std::uint8_t>(h_[i] >> 16);
      out[i * 4 + 2] = static_cast<std::uint8_t>(h_[i] >> 8);
      out[i * 4 + 3] = static_cast<std::uint8_t>(h_[i]);
    }
    return out;
  }

 private:
  static std::uint32_t Rol(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

  void Transform() {
    std::uint32_t w[80];
    for (std::size_t i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{block_[i * 4]} << 24) | (std::uint32_t{block_[i * 4 + 1]} << 16) |
             (std::uint32_t{block_[i * 4 + 2]} << 8) | std::uint32_t{block_[i * 4 + 3]};
    }
    for (std::size_t i = 16; i < 80; ++i) {
      w[i] = Rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
    // The four kinds of round in four loops (no test of the round number in each round).
    const auto round = [&](std::size_t i, std::uint32_t f, std::uint32_t k) {
      const std::uint32_t temp = Rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = Rol(b, 30);
      b = a;
      a = temp;
    };
    for (std::size_t i = 0; i < 20; ++i) {
      round(i, (b & c) | (~b & d), 0x5A827999);
    }
    for (std::size_t i = 20; i < 40; ++i) {
      round(i, b ^ c ^ d, 0x6ED9EBA1);
    }
    for (std::size_t i = 40; i < 60; ++i) {
      round(i, (b & c) | (b & d) | (c & d), 0x8F1BBCDC);
    }
    for (std::size_t i = 60; i < 80; ++i) {
      round(i, b ^ c ^ d, 0xCA62C1D6);
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
  }

  std::uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::uint8_t block_[64] = {};
  std::size_t block_size_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace

void Uuid::Format(char* out) const {
  // Two hex digits per byte from one table (a dozen ids per mapped message are formatted).
  static constexpr std::array<char, 512> kHexPairs = [] {
    constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 512> pairs{};
    for (std::size_t b = 0; b < 256; ++b) {
      pairs[b * 2] = kHex[b >> 4];
      pairs[b * 2 + 1] = kHex[b & 0x0F];
    }
    return pairs;
  }();
  const auto put = [this, &out](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      std::memcpy(out, &kHexPairs[std::size_t{bytes[i]} * 2], 2);
      out += 2;
    }
  };
  put(0, 4);
  *out++ = '-';
  put(4, 6);
  *out++ = '-';
  put(6, 8);
  *out++ = '-';
  put(8, 10);
  *out++ = '-';
  put(10, 16);
}

std::string Uuid::ToString() const {
  std::string out(36, '-');
  Format(out.data());
  return out;
}

std::array<std::uint8_t, 20> Sha1(std::string_view data) {
  Sha1Context ctx;
  ctx.Update(data);
  return ctx.Final();
}

Uuid UuidV5(const Uuid& name_space, std::string_view name) {
  Sha1Context ctx;
  ctx.Update(name_space.bytes.data(), name_space.bytes.size());
  ctx.Update(name);
  const auto digest = ctx.Final();
  Uuid out;
  std::memcpy(out.bytes.data(), digest.data(), out.bytes.size());
  out.bytes[6] = static_cast<std::uint8_t>((out.bytes[6] & 0x0F) | 0x50);
  out.bytes[8] = static_cast<std::uint8_t>((out.bytes[8] & 0x3F) | 0x80);
  return out;
}

namespace {

std::uint64_t Mix64(std::uint64_t x) {
  // MurmurHash3's fmix64 finaliser.
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Big-endian loads and stores of eight bytes, as one move and a byte swap where the machine is
// little-endian (the values are those of the byte-by-byte forms).
static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "mixed-endian machines");
std::uint64_t Load64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) {
    v = __builtin_bswap64(v);
  }
  return v;
}

void Store64(std::uint8_t* p, std::uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    v = __builtin_bswap64(v);
  }
  std::memcpy(p, &v, 8);
}

}  // namespace

Uuid DerivedUuid(const Uuid& name_space, std::string_view name) {
  const std::uint64_t ns_hi = Load64(name_space.bytes.data());
  const std::uint64_t ns_lo = Load64(name_space.bytes.data() + 8);
  // Fnv1a64(name, ns_hi) and Fnv1a64(name, ns_lo ^ 0x9e3779b97f4a7c15) in one pass.
  std::uint64_t a = 0xcbf29ce484222325ULL ^ ns_hi;
  std::uint64_t b = 0xcbf29ce484222325ULL ^ ns_lo ^ 0x9e3779b97f4a7c15ULL;
  // Four bytes per turn (the same chains, byte by byte; the loop's own count and branch were a
  // third of the cost, keys being dozens of bytes).
  constexpr std::uint64_t kPrime = 0x100000001b3ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(name.data());
  const std::size_t size = name.size();
  std::size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    a = (a ^ bytes[i]) * kPrime;
    b = (b ^ bytes[i]) * kPrime;
    a = (a ^ bytes[i + 1]) * kPrime;
    b = (b ^ bytes[i + 1]) * kPrime;
    a = (a ^ bytes[i + 2]) * kPrime;
    b = (b ^ bytes[i + 2]) * kPrime;
    a = (a ^ bytes[i + 3]) * kPrime;
    b = (b ^ bytes[i + 3]) * kPrime;
  }
  for (; i < size; ++i) {
    a = (a ^ bytes[i]) * kPrime;
    b = (b ^ bytes[i]) * kPrime;
  }
  const std::uint64_t hi = Mix64(a ^ Mix64(ns_lo + b));
  const std::uint64_t lo = Mix64(b ^ Mix64(ns_hi + a));
  Uuid out;
  Store64(out.bytes.data(), hi);
  Store64(out.bytes.data() + 8, lo);
  out.bytes[6] = static_cast<std::uint8_t>((out.bytes[6] & 0x0F) | 0x80);
  out.bytes[8] = static_cast<std::uint8_t>((out.bytes[8] & 0x3F) | 0x80);
  return out;
}

const Uuid& V2ToFhirNamespace() {
  // RFC 4122 appendix C: the URL namespace 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
  static const Uuid kUrlNamespace{{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00,
                                   0xc0, 0x4f, 0xd4, 0x30, 0xc8}};
  static const Uuid kNamespace = UuidV5(kUrlNamespace, "https://trustbridge.nhs.uk/ns/v2-to-fhir");
  return kNamespace;
}

}  // namespace tb::mappings
