#include "broker/simtrust/patient_store.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"

namespace tb::simtrust {
namespace {

using core::ErrorCode;
using core::MakeError;

core::Error Problem(std::string_view source, std::string what, std::string location = {}) {
  return MakeError(ErrorCode::kConfig, "patient bundle " + std::string(source) + ": " + what,
                   std::move(location));
}

bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

}  // namespace

std::string NhsNumberOf(const rapidjson::Value& patient) {
  const rapidjson::Value* identifiers = fhir::FindArray(patient, "identifier");
  if (identifiers == nullptr) {
    return {};
  }
  for (const auto& identifier : identifiers->GetArray()) {
    if (fhir::FindString(identifier, "system") == core::kNhsNumberSystem) {
      if (auto value = fhir::FindString(identifier, "value")) {
        return std::string(*value);
      }
    }
  }
  return {};
}

core::Result<PatientStore> PatientStore::LoadFolder(const std::filesystem::path& folder) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return MakeError(ErrorCode::kConfig, "cannot read patients folder " + folder.string(),
                     "/patients");
  }
  std::sort(files.begin(), files.end());
  PatientStore store;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      return MakeError(ErrorCode::kConfig, "cannot read " + file.string(), "/patients");
    }
    BROKER_RETURN_IF_ERROR(store.AddBundle(text.str(), file.filename().string()));
  }
  return store;
}

core::Status PatientStore::AddBundle(std::string_view json, std::string_view source) {
  auto parsed = fhir::ParseJson(json);
  if (!parsed) {
    return Problem(source, "not valid JSON (" + parsed.error().message + ")",
                   parsed.error().location);
  }
  auto document = std::make_unique<rapidjson::Document>(std::move(*parsed));
  if (fhir::FindString(*document, "resourceType") != "Bundle") {
    return Problem(source, "not a Bundle", "Bundle.resourceType");
  }
  auto entries = fhir::GetArray(*document, "entry", "Bundle");
  if (!entries) {
    return Problem(source, entries.error().message, entries.error().location);
  }

  // Check everything before adding anything, so a bad Bundle leaves the store unchanged.
  std::vector<StoredResource> added;
  std::string nhs_number;
  std::size_t patient_position = 0;
  std::size_t patients = 0;
  rapidjson::SizeType index = 0;
  for (const auto& entry : (*entries)->GetArray()) {
    const std::string where = "Bundle.entry[" + std::to_string(index++) + "].resource";
    const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
    if (resource == nullptr) {
      return Problem(source, "entry without a resource", where);
    }
    auto type = fhir::GetString(*resource, "resourceType", where);
    auto id = fhir::GetString(*resource, "id", where);
    if (!type || !id) {
      return Problem(source, "resource without resourceType or id", where);
    }
    if (!IsFhirId(*id)) {
      return Problem(source, "invalid resource id", where + ".id");
    }
    const std::pair<std::string, std::string> key{std::string(*type), std::string(*id)};
    if (by_key_.count(key) != 0 ||
        std::any_of(added.begin(), added.end(), [&](const StoredResource& r) {
          return r.type == key.first && r.id == key.second;
        })) {
      return Problem(source, "duplicate resource " + key.first + "/" + key.second, where);
    }
    if (*type == "Patient") {
      ++patients;
      patient_position = added.size();
      nhs_number = NhsNumberOf(*resource);
    }
    added.push_back(StoredResource{key.first, key.second, resource, patients_.size()});
  }
  if (patients != 1) {
    return Problem(source, "must hold exactly one Patient (has " + std::to_string(patients) + ")");
  }
  if (!core::IsValidNhsNumber(nhs_number)) {
    return Problem(source, "the Patient has no valid NHS number identifier", "Patient.identifier");
  }
  if (by_nhs_number_.count(nhs_number) != 0) {
    return Problem(source, "a second Bundle for the same NHS number", "Patient.identifier");
  }

  // The Patient goes first among the patient's resources.
  std::rotate(added.begin(), added.begin() + static_cast<std::ptrdiff_t>(patient_position),
              added.begin() + static_cast<std::ptrdiff_t>(patient_position) + 1);
  const std::size_t first = resources_.size();
  for (auto& resource : added) {
    by_key_[{resource.type, resource.id}] = resources_.size();
    resources_.push_back(std::move(resource));
  }
  by_nhs_number_.emplace(nhs_number, patients_.size());
  patients_.push_back(first);
  documents_.push_back(std::move(document));
  return core::Ok();
}

std::set<std::string> PatientStore::Types() const {
  std::set<std::string> types;
  for (const auto& resource : resources_) {
    types.insert(resource.type);
  }
  return types;
}

const StoredResource* PatientStore::FindPatientByNhsNumber(std::string_view nhs_number) const {
  const auto found = by_nhs_number_.find(nhs_number);
  return found == by_nhs_number_.end() ? nullptr : &resources_[patients_[found->second]];
}

const StoredResource* PatientStore::Find(std::string_view type, std::string_view id) const {
  const auto found = by_key_.find({std::string(type), std::string(id)});
  return found == by_key_.end() ? nullptr : &resources_[found->second];
}

const StoredResource& PatientStore::PatientOf(std::size_t patient) const {
  return resources_[patients_[patient]];
}

std::vector<const StoredResource*> PatientStore::ForPatient(std::size_t patient,
                                                            std::string_view type) const {
  std::vector<const StoredResource*> out;
  const std::size_t end =
      patient + 1 < patients_.size() ? patients_[patient + 1] : resources_.size();
  for (std::size_t i = patients_[patient]; i < end; ++i) {
    if (type.empty() || resources_[i].type == type) {
      out.push_back(&resources_[i]);
    }
  }
  return out;
}

std::vector<const StoredResource*> PatientStore::OfType(std::string_view type) const {
  std::vector<const StoredResource*> out;
  for (const auto& resource : resources_) {
    if (resource.type == type) {
      out.push_back(&resource);
    }
  }
  return out;
}

}  // namespace tb::simtrust
