#include "broker/policy/consent_store.h"

#include <algorithm>

namespace tb::policy {

core::Result<std::vector<Consent>> InMemoryConsentStore::GetByNhsNumber(
    std::string_view nhs_number) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Consent> out;
  for (const Consent& consent : consents_) {
    if (consent.nhs_number == nhs_number) {
      out.push_back(consent);
    }
  }
  return out;
}

core::Result<Consent> InMemoryConsentStore::GetById(std::string_view id) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const Consent& consent : consents_) {
    if (consent.id == id) {
      return consent;
    }
  }
  return core::MakeError(core::ErrorCode::kNotFound, "no such Consent", "Consent.id");
}

core::Status InMemoryConsentStore::Put(Consent consent) {
  if (consent.id.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "a stored Consent needs an id",
                           "Consent.id");
  }
  if (consent.nhs_number.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "a stored Consent needs an NHS number",
                           "Consent.patient.identifier");
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = std::find_if(consents_.begin(), consents_.end(),
                               [&](const Consent& stored) { return stored.id == consent.id; });
  if (it != consents_.end()) {
    *it = std::move(consent);
  } else {
    consents_.push_back(std::move(consent));
  }
  return core::Ok();
}

}  // namespace tb::policy
