#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace tb::core {

// One stored patient Consent, as raw JSON plus the fields the broker selects by. tb::store keeps
// these without understanding them (store -> core only); broker/app parses `json` with
// policy::ParseConsent and adapts ConsentRecords to policy::ConsentStore.
struct ConsentRecord {
  std::string id;            // server-assigned logical id ([A-Za-z0-9.-]{1,64})
  std::string nhs_number;    // Consent.patient's NHS number, 10 digits
  std::string status;        // Consent.status ("active", "inactive", ...)
  std::int64_t version = 0;  // meta.versionId: 1 on create, +1 on each Put of the same id
  std::string json;          // the Consent resource
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// Where the broker keeps patients' consents (FHIR Consent, docs/policy.md). Read on every
// request that touches a patient, so a new or changed consent takes effect on the next request.
// Implementations: tb::store (SQLite, PostgreSQL).
// Thread-safety: all methods may be called from many threads. They block (storage I/O): call them
// from the blocking pool, never from an I/O thread.
class ConsentRecords {
 public:
  virtual ~ConsentRecords() = default;
  // Stores a new version of a consent, compare-and-set on the version (two writers that read the
  // same version cannot both win; the loser's change is refused, never silently lost):
  // - version 1 creates `record`; kConflict when the id exists (a create never replaces);
  // - version N > 1 replaces the stored record (status, version, json and updated_at replaced;
  //   created_at and nhs_number kept) only while it is at version N - 1 and about the same patient
  //   (a consent never moves to another patient); else kConflict (nothing changed).
  // The caller assigns the version (the stored version + 1 on update) and writes it into the
  // JSON's meta.versionId.
  // Errors: kInvalidValue for an empty or malformed id, an invalid NHS number, an empty status or
  // json, a version below 1 (location names the field); kConflict as above; kStorage.
  virtual Status Put(const ConsentRecord& record) = 0;
  // Every record of the patient, whatever its status, oldest first (created_at, then id). Unknown
  // patient: empty. kInvalidValue for an invalid NHS number.
  virtual Result<std::vector<ConsentRecord>> GetByNhsNumber(const std::string& nhs_number) = 0;
  // One record; kNotFound when absent.
  virtual Result<ConsentRecord> GetById(const std::string& id) = 0;
};

}  // namespace tb::core
