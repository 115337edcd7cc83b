#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"

// Validation of FHIR R4 resources against the official R4 JSON schema (adapters/fhir/schema/)
// plus the UK Core and broker rules listed in adapters/fhir/README.md, in short:
//   - the R4 JSON schema, and the required primitive elements it cannot express;
//   - an Identifier with system https://fhir.nhs.uk/Id/nhs-number has a value of 10 digits with
//     a valid Modulus 11 check digit;
//   - an NHS number verification status extension on it uses a code of the UK Core value set
//     (England 01-08, Wales nn/01-08, NullFlavor NI);
//   - a resource claiming UKCore-Patient in meta.profile gives every identifier system and value;
//   - a Patient has at least one identifier (broker rule; can be disabled).
// Nested resources (Bundle.entry.resource, contained, Parameters.parameter.resource,
// entry.response.outcome) are validated as resources in their own right, with locations
// prefixed by where they sit (Bundle.entry[2].resource.birthDate).
//
// Errors carry FHIRPath-like locations and never any payload text. RapidJSON 1.1.0 (Debian 12)
// stops at the first schema violation, so at most one schema error is reported per resource;
// the other rules report every violation.
namespace tb::fhir {

struct ValidatorOptions {
  // Compiled copies of the schema. RapidJSON 1.1.0's regex engine keeps its match state inside
  // the compiled schema, so one copy serves one validation at a time; more copies let more
  // threads validate at once (each copy costs memory and a compile, made lazily on first use).
  std::size_t instances = 1;
  // Rule 3 above.
  bool require_patient_identifier = true;
};

// The compiled schema plus the rules. Load once per process and share: Validate() is
// thread-safe (see ValidatorOptions::instances). Movable, not copyable.
class Validator {
 public:
  // Reads and compiles the schema at `schema_path` (the R4 fhir.schema.json). kConfig if the
  // file is missing, unreadable, not JSON or not the FHIR schema (no resourceType discriminator).
  static core::Result<Validator> Load(const std::string& schema_path,
                                      const ValidatorOptions& options = {});
  // The same from schema text in memory.
  static core::Result<Validator> FromJson(std::string_view schema_json,
                                          const ValidatorOptions& options = {});

  Validator(Validator&&) noexcept;
  Validator& operator=(Validator&&) noexcept;
  ~Validator();

  // Every problem found; empty when `resource` is valid.
  std::vector<core::Error> Validate(const rapidjson::Value& resource) const;

  // True when `type` is an R4 resource type known to the schema.
  bool IsResourceType(std::string_view type) const;

 private:
  struct Impl;
  explicit Validator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

std::vector<core::Error> ValidateResource(const rapidjson::Value& resource,
                                          const Validator& validator);

// The schema compiled into this library (embedded_schema.h; no file is read), compiled once on
// first call (std::call_once) with up to 4 instances. The pointer is
// never null on success and lives until exit. A load failure is returned on every call.
core::Result<const Validator*> DefaultValidator();

// The source-tree copy of that schema (for tests that load from disk).
std::string_view DefaultSchemaPath();

}  // namespace tb::fhir
