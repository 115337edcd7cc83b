#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "broker/policy/consent.h"

// Where consents live. The broker reads a patient's consents on every request that touches the
// patient, so a new or changed Consent takes effect on the next request. The SQL implementation
// belongs in broker/store; InMemoryConsentStore serves tests and single-process demos.
namespace tb::policy {

// Implementations are thread-safe.
class ConsentStore {
 public:
  virtual ~ConsentStore() = default;

  // Every stored consent of the patient, whatever its status (the engine ignores inactive ones),
  // in insertion order. An unknown patient yields an empty vector, not an error.
  virtual core::Result<std::vector<Consent>> GetByNhsNumber(std::string_view nhs_number) const = 0;
  // One consent by id; kNotFound when absent.
  virtual core::Result<Consent> GetById(std::string_view id) const = 0;
  // Inserts, or replaces the consent with the same id (a patient withdraws a consent by storing
  // it again with status inactive). kInvalidValue when id or NHS number is empty.
  virtual core::Status Put(Consent consent) = 0;
};

class InMemoryConsentStore final : public ConsentStore {
 public:
  core::Result<std::vector<Consent>> GetByNhsNumber(std::string_view nhs_number) const override;
  core::Result<Consent> GetById(std::string_view id) const override;
  core::Status Put(Consent consent) override;

 private:
  mutable std::mutex mutex_;
  std::vector<Consent> consents_;  // insertion order; guarded by mutex_
};

}  // namespace tb::policy
