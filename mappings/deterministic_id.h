#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// Deterministic identifiers for mapped resources: RFC 4122 name-based UUIDs (version 5, SHA-1),
// so the same v2 message always maps to the same Bundle, byte for byte. SHA-1 is used here as the
// RFC specifies it for v5 UUIDs, not for security. Pure functions; thread-safe.
namespace tb::mappings {

struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  // Lower-case 8-4-4-4-12 form.
  std::string ToString() const;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// SHA-1 of `data` (FIPS 180-4).
std::array<std::uint8_t, 20> Sha1(std::string_view data);

// The v5 UUID of `name` in `name_space` (RFC 4122 section 4.3).
Uuid UuidV5(const Uuid& name_space, std::string_view name);

// The namespace of every trustbridge v2 -> FHIR id: UuidV5(RFC 4122 URL namespace,
// "https://trustbridge.nhs.uk/ns/v2-to-fhir").
const Uuid& V2ToFhirNamespace();

}  // namespace tb::mappings
