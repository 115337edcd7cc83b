#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "broker/core/audit_ledger.h"
#include "broker/core/result.h"
#include "broker/ledger/records.h"

// The hashed entry of one ledger record (core::LedgerRecord::canonical) and how to read it back.
//
// Version 2 (written now) keeps the hop's facts, not its FHIR rendering:
//   {"hop":{"broker":"X26","destination":"RJ1",...,"time_ms":N},"kind":"query",
//    "nhs_number":"9449305552","recorded_ms":N,"seq":N,"v":2}
// The Provenance and AuditEvent are a pure function of those facts (BuildProvenance /
// BuildAuditEvent) and are built on read, so a row is ~400 bytes instead of ~4 KB (appends are the
// hot path) while the hash still fixes everything the resources say.
// Version 1 (read only) holds the two resources themselves under "provenance" and "audit_event".
namespace tb::ledger {

// The canonical JSON object of `hop`'s facts (members sorted, empty ones left out; kind and NHS
// number are not repeated: they are envelope members). Call ValidateHop first.
std::string HopFactsJson(const HopRecord& hop);

// The canonical v2 entry around `hop_facts` (HopFactsJson).
std::string EntryJson(std::int64_t seq, std::int64_t recorded_ms, const std::string& kind,
                      const std::string& nhs_number, const std::string& hop_facts);

// The search columns a record about `hop` carries.
core::LedgerIndex IndexOf(const HopRecord& hop);

// An entry read back: the envelope members, and for v2 the hop. Errors: kInvalidValue when the
// text is not a ledger entry of a known version.
struct StoredEntry {
  int version = 0;
  std::int64_t seq = 0;
  std::int64_t recorded_ms = 0;
  std::string kind;
  std::string nhs_number;
  std::optional<HopRecord> hop;  // v2 only
  rapidjson::Document doc;       // the parsed entry as stored
};
core::Result<StoredEntry> ReadStoredEntry(const core::LedgerRecord& record);

// What the search columns of a record must hold given its entry (v1 entries predate them: empty).
core::LedgerIndex ExpectedIndex(const StoredEntry& entry);

}  // namespace tb::ledger
