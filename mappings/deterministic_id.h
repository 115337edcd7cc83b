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
  // The same 36 characters written at `out`.
  void Format(char* out) const;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// SHA-1 of `data` (FIPS 180-4).
std::array<std::uint8_t, 20> Sha1(std::string_view data);

// The v5 UUID of `name` in `name_space` (RFC 4122 section 4.3).
Uuid UuidV5(const Uuid& name_space, std::string_view name);

// A fast derived id: a version 8 (RFC 9562, custom) UUID whose 122 free bits are a 128-bit hash
// of `name` keyed by `name_space`. Used for the many resources of one message once the message's
// own v5 namespace has been computed (one SHA-1 per message instead of one per resource). Not
// cryptographic; collisions between different names of one namespace are as unlikely as for
// any 122-bit hash.
Uuid DerivedUuid(const Uuid& name_space, std::string_view name);

// The namespace of every trustbridge v2 -> FHIR id: UuidV5(RFC 4122 URL namespace,
// "https://trustbridge.nhs.uk/ns/v2-to-fhir").
const Uuid& V2ToFhirNamespace();

}  // namespace tb::mappings
