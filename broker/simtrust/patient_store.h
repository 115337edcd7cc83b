#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"

namespace tb::simtrust {

// One resource held by the simulated trust. `json` points into the store's own Documents.
struct StoredResource {
  std::string type;  // resourceType
  std::string id;
  const rapidjson::Value* json = nullptr;
  std::size_t patient = 0;  // index of the patient it belongs to (see PatientStore)
};

// The synthetic patients of one simulated trust: one FHIR Bundle per patient, holding exactly one
// Patient with an NHS number identifier (system https://fhir.nhs.uk/Id/nhs-number, valid
// Modulus 11) and that patient's clinical resources at this trust. Every resource of a Bundle
// belongs to the Bundle's patient.
//
// Loaded once at start, then immutable: any number of threads may read at once. Move-only.
class PatientStore {
 public:
  PatientStore() = default;
  PatientStore(PatientStore&&) noexcept = default;
  PatientStore& operator=(PatientStore&&) noexcept = default;
  PatientStore(const PatientStore&) = delete;
  PatientStore& operator=(const PatientStore&) = delete;

  // Every *.json file of `folder`, in name order. kConfig naming the file and the problem: not a
  // Bundle, no Patient or two, no valid NHS number, a resource without resourceType or id, the
  // same Type/id or NHS number twice.
  static core::Result<PatientStore> LoadFolder(const std::filesystem::path& folder);
  // Adds one Bundle; `source` names it in errors (a file name). Same checks as LoadFolder.
  core::Status AddBundle(std::string_view json, std::string_view source);

  std::size_t patient_count() const { return patients_.size(); }
  std::size_t resource_count() const { return resources_.size(); }
  // The resource types held, sorted.
  std::set<std::string> Types() const;

  // The Patient resource with this NHS number, or nullptr.
  const StoredResource* FindPatientByNhsNumber(std::string_view nhs_number) const;
  // The resource Type/id, or nullptr.
  const StoredResource* Find(std::string_view type, std::string_view id) const;
  // The Patient resource of patient index `patient`.
  const StoredResource& PatientOf(std::size_t patient) const;
  // The patient's resources of `type` (all types when empty), Patient first, then file order.
  std::vector<const StoredResource*> ForPatient(std::size_t patient,
                                                std::string_view type = {}) const;
  // Every resource of `type`, file order.
  std::vector<const StoredResource*> OfType(std::string_view type) const;

 private:
  std::vector<std::unique_ptr<rapidjson::Document>> documents_;
  std::vector<StoredResource> resources_;
  std::vector<std::size_t> patients_;  // patient index -> index of its Patient in resources_
  std::map<std::string, std::size_t, std::less<>> by_nhs_number_;      // -> patient index
  std::map<std::pair<std::string, std::string>, std::size_t> by_key_;  // (type, id) -> resource
};

// The NHS number of a Patient resource: the value of its first identifier whose system is
// https://fhir.nhs.uk/Id/nhs-number; empty when none (not checked for validity).
std::string NhsNumberOf(const rapidjson::Value& patient);

}  // namespace tb::simtrust
