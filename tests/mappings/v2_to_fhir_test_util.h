#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "adapters/fhir/validate.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

// Helpers for the v2 -> FHIR tests: build ER7 segments by field number, map, and look into the
// resulting Bundle.
namespace tb::mappings::testing {

// "PID|1||..." from sparse fields; field numbers as HL7 counts them (for MSH, 3 is MSH-3).
inline std::string Seg(std::string_view id, const std::map<int, std::string>& fields) {
  std::string out(id);
  int last = fields.empty() ? 0 : fields.rbegin()->first;
  int first = id == "MSH" ? 3 : 1;
  if (id == "MSH") {
    out.append("|^~\\&");
  }
  for (int n = first; n <= last; ++n) {
    out.push_back('|');
    if (auto it = fields.find(n); it != fields.end()) {
      out.append(it->second);
    }
  }
  out.push_back('\r');
  return out;
}

inline const MappingTables& Tables() {
  auto tables = BuiltinMappingTables();
  EXPECT_TRUE(tables.has_value());
  return **tables;
}

// Maps and parses; fails the test when mapping fails.
inline rapidjson::Document MapToDocument(const std::string& er7,
                                         const V2ToFhirOptions& options = {}) {
  core::Result<std::string> json = MapV2ToFhir(er7, Tables(), options);
  EXPECT_TRUE(json.has_value()) << (json ? ""
                                         : json.error().message + " at " + json.error().location);
  if (!json) {
    return rapidjson::Document();
  }
  core::Result<rapidjson::Document> doc = fhir::ParseJson(*json);
  EXPECT_TRUE(doc.has_value());
  return doc ? std::move(*doc) : rapidjson::Document();
}

inline std::vector<const rapidjson::Value*> Resources(const rapidjson::Value& bundle,
                                                      std::string_view type) {
  std::vector<const rapidjson::Value*> out;
  if (!bundle.IsObject() || !bundle.HasMember("entry")) {
    return out;
  }
  for (const auto& entry : bundle["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (fhir::StringOf(resource["resourceType"]) == type) {
      out.push_back(&resource);
    }
  }
  return out;
}

inline const rapidjson::Value* Resource(const rapidjson::Value& bundle, std::string_view type,
                                        std::size_t n = 0) {
  auto all = Resources(bundle, type);
  return n < all.size() ? all[n] : nullptr;
}

// The resource a reference ("urn:uuid:...") points to inside the Bundle, or nullptr.
inline const rapidjson::Value* Resolve(const rapidjson::Value& bundle,
                                       const rapidjson::Value& reference) {
  if (!reference.IsObject() || !reference.HasMember("reference")) {
    return nullptr;
  }
  const std::string_view target = fhir::StringOf(reference["reference"]);
  for (const auto& entry : bundle["entry"].GetArray()) {
    if (fhir::StringOf(entry["fullUrl"]) == target) {
      return &entry["resource"];
    }
  }
  return nullptr;
}

// A string member, or "" when absent.
inline std::string Str(const rapidjson::Value& object, std::string_view name) {
  auto s = fhir::FindString(object, name);
  return s ? std::string(*s) : std::string();
}

inline std::string Json(const rapidjson::Value& value) { return fhir::ToJson(value); }

inline ::testing::AssertionResult PassesValidator(const rapidjson::Value& bundle) {
  auto validator = fhir::DefaultValidator();
  if (!validator) {
    return ::testing::AssertionFailure() << "validator: " << validator.error().message;
  }
  std::vector<core::Error> errors = (*validator)->Validate(bundle);
  if (errors.empty()) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure();
  for (const auto& e : errors) {
    failure << e.message << " at " << e.location << "\n";
  }
  return failure;
}

}  // namespace tb::mappings::testing
