#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "broker/core/result.h"

// Pseudonymisation for secondary use (purposes other than direct care): the NHS number becomes a
// keyed HMAC-SHA256 pseudonym, direct identifiers are removed, the birth date keeps its year.
// The same key gives the same pseudonym for the same patient (so a researcher can link records
// across responses); a different key gives unrelated pseudonyms; without the key the NHS number
// cannot be recovered or confirmed.
// Thread-safety: a Pseudonymiser is immutable; share it across threads.
namespace tb::policy {

// Identifier.system of a pseudonymised NHS number. Identifier.value is 64 lowercase hex digits,
// HMAC-SHA256(key, the 10 NHS number digits).
inline constexpr std::string_view kPseudonymSystem =
    "urn:trustbridge:pseudonym:nhs-number:hmac-sha256";

// The shortest key accepted: the HMAC-SHA256 block-strength guidance (RFC 2104 section 3).
inline constexpr std::size_t kMinPseudonymKeyBytes = 32;

class Pseudonymiser {
 public:
  // `key` is raw key bytes (from the file config names, never from the config text itself).
  // kConfig when shorter than kMinPseudonymKeyBytes. The message never shows the key.
  static core::Result<Pseudonymiser> Create(std::string_view key);
  // The same from hexadecimal text (e.g. a key file written by `openssl rand -hex 32`); spaces
  // and line breaks around it are ignored. kConfig when not hex or too short.
  static core::Result<Pseudonymiser> CreateFromHex(std::string_view hex);

  Pseudonymiser(const Pseudonymiser& other) = default;
  Pseudonymiser& operator=(const Pseudonymiser& other) = default;
  Pseudonymiser(Pseudonymiser&& other) noexcept = default;
  Pseudonymiser& operator=(Pseudonymiser&& other) noexcept = default;
  ~Pseudonymiser();  // wipes the key

  // HMAC-SHA256(key, nhs_number) as 64 lowercase hex digits.
  std::string PseudonymOf(std::string_view nhs_number) const;
  // A pseudonymous resource id (64 hex digits, a valid FHIR id) for `type`/`id`:
  // HMAC-SHA256(key, "type/id").
  std::string PseudonymousId(std::string_view resource_type, std::string_view id) const;

 private:
  explicit Pseudonymiser(std::string key) : key_(std::move(key)) {}
  std::string Hmac(std::string_view data) const;

  std::string key_;
};

// What was changed, for the audit ("pseudonymised: 3 identifiers, 12 elements removed").
struct PseudonymisationReport {
  std::size_t identifiers_replaced = 0;  // NHS numbers turned into pseudonyms
  std::size_t ids_replaced = 0;          // Patient ids and references/fullUrls to them
  std::size_t elements_removed = 0;      // names, addresses, narratives, ...
};

// Pseudonymises a resource or a Bundle in place (recursively: entries, contained resources).
//  - every resource: `text` (narrative) removed;
//  - Patient, RelatedPerson, Person: name, telecom, address, photo, contact, link removed;
//    identifiers other than the NHS number removed; birthDate and deceasedDateTime cut to the
//    year; Patient.id replaced by PseudonymousId("Patient", id);
//  - anywhere: an Identifier with the NHS number system gets kPseudonymSystem and the pseudonym;
//    references and fullUrls to Patient/<id> use the pseudonymous id; Reference.display is
//    removed; a Reference.identifier to a Patient other than an NHS number is removed;
//    extensions whose value is an Address, HumanName or ContactPoint are removed; an NHS number
//    written as a search token in a `url`, `reference` or `fullUrl` string (a searchset's self
//    link, a conditional reference) is replaced by its pseudonym.
// Clinical content (codes, values, dates other than the above) is kept.
PseudonymisationReport Pseudonymise(rapidjson::Value& value,
                                    rapidjson::Document::AllocatorType& allocator,
                                    const Pseudonymiser& pseudonymiser);

}  // namespace tb::policy
