#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace tb::core {

// "Which trusts hold data for this NHS number?" One row per (NHS number, participant).
struct LocatorEntry {
  std::string nhs_number;
  std::string ods;            // the participant that holds data
  std::string source;         // how we learnt it: "hl7v2:ADT^A01", "fhir:...", "admin"
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;
};

// The record locator (DESIGN.md routing): learnt from every message that passes (a trust's ADT
// announces that it holds that patient) and from an admin endpoint; persisted in the store.
// Implementations: tb::store (SQLite, PostgreSQL) and an in-memory one for tests.
// Thread-safety: all methods may be called from many threads. They block (storage I/O): call them
// from the blocking pool, never from an I/O thread. Errors: kStorage; kInvalidValue for an empty
// or invalid NHS number or ODS code (location names the field).
class RecordLocator {
 public:
  virtual ~RecordLocator() = default;
  // Records that `ods` holds data for `nhs_number` (insert, or refresh last_seen_ms and source).
  virtual Status Announce(const std::string& nhs_number, const std::string& ods,
                          const std::string& source, std::int64_t at_ms) = 0;
  // Removes one entry (admin); removing an absent entry is not an error.
  virtual Status Forget(const std::string& nhs_number, const std::string& ods) = 0;
  // The entries for `nhs_number`, ordered by ODS code; empty when unknown.
  virtual Result<std::vector<LocatorEntry>> Lookup(const std::string& nhs_number) = 0;
};

}  // namespace tb::core
