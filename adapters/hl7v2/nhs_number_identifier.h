#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/value.h"

namespace tb::hl7v2 {

// The one reading of "this identifier (CX) is an NHS number" that the broker's edge check
// (Validate), routing key (ExtractNhsNumber) and v2 -> FHIR mapping (ReadCx) share: a message
// the edge accepts is one the mapping can read, and it is routed by the number the mapping
// writes. Three readings that disagreed let "9434765918^^^NHS^NHS" be ACKed and then refused by
// the mapping for every FHIR trust (docs/hl7v2-ingest.md).

inline constexpr std::string_view kNhsNumberOid = "2.16.840.1.113883.2.1.4.1";

// Digits and dots, at least one dot, a digit at each end ("2.16.840.1.113883.2.1.4.1").
bool LooksLikeOid(std::string_view text);
// "http://", "https://" or "urn:" and no space.
bool LooksLikeUri(std::string_view text);

// Which part of an assigning authority (an HD: CX-4, EI-2..4) names it, in the order the
// v2 -> FHIR mapping reads it: the universal id (HD-2) when it is an OID (or HD-3 is "ISO"), a
// UUID (HD-3 "UUID") or a URI; else the namespace id (HD-1) when valued; else nothing.
enum class AuthorityForm : std::uint8_t { kNone, kOid, kUuid, kUri, kNamespace };
struct Authority {
  AuthorityForm form = AuthorityForm::kNone;
  std::string text;  // HD-2 or HD-1, decoded; empty for kNone
};
Authority ReadAuthority(const Value& hd);

// The namespace ids (HD-1) the shipped assigning-authority table maps to the NHS number system:
// "NHS" and "NHSNBR" (mappings/tables/assigning-authority.csv; a test keeps the two equal).
// mappings::MappingTables::nhs_number_namespaces() gives a loaded table's.
const std::vector<std::string>& DefaultNhsNumberNamespaces();

// The NHS number a CX says it carries, as CX-1 decoded without spaces ("943 476 5919" is how some
// systems write it), or nullopt when it claims none. A CX claims one when
//   - its assigning authority (CX-4) names the NHS number, whatever its type code (CX-5): the
//     NHS number OID, the URI https://fhir.nhs.uk/Id/nhs-number, or a namespace id in
//     `nhs_namespaces` (exact match, as the table is read); or
//   - it has no assigning authority, type code NH or NHS, and ten characters once spaces are
//     dropped.
// Any other authority ("9434765919^^^RX1^NH") makes it another identifier. The number is not
// checked: a claimed number that is not valid (core::IsValidNhsNumber) is a message to refuse,
// not another identifier. An empty CX-1 claims nothing.
std::optional<std::string> ClaimedNhsNumber(
    const Value& cx, std::span<const std::string> nhs_namespaces = DefaultNhsNumberNamespaces());
// The same for a CX whose assigning authority the caller has read already
// (ReadAuthority(cx.Component(4))), so that it is read once.
std::optional<std::string> ClaimedNhsNumber(const Value& cx, const Authority& authority,
                                            std::span<const std::string> nhs_namespaces);

}  // namespace tb::hl7v2
