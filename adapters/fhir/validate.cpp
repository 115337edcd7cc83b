#include "adapters/fhir/validate.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>

#include "adapters/fhir/embedded_schema.h"
#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"

#ifndef TB_FHIR_SCHEMA_PATH
#error "TB_FHIR_SCHEMA_PATH must be defined by adapters/fhir/CMakeLists.txt"
#endif

namespace tb::fhir {
namespace {

using core::Error;
using core::ErrorCode;
using core::MakeError;

constexpr std::size_t kMaxSchemaBytes = 64 * 1024 * 1024;
// Validation recurses over the instance; ParseJson already bounds depth, this guards values
// built by other means.
constexpr std::size_t kMaxValidationDepth = 128;
constexpr std::size_t kDefaultValidatorInstances = 4;

constexpr std::string_view kVerificationStatusUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kVerificationEngland =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
constexpr std::string_view kVerificationWales =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusWales";
// Retired in UK Core STU2, but PDS (the national demographics service) still sends it with the
// England codes 01-08, so it is tolerated with those codes.
constexpr std::string_view kVerificationRetired =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kNullFlavor = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";
constexpr std::string_view kUkCorePatientProfile =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";

constexpr std::array<std::string_view, 8> kVerificationCodes = {"01", "02", "03", "04",
                                                                "05", "06", "07", "08"};

// Required (min 1) primitive elements of R4 resources. The R4 JSON schema cannot require a
// primitive, because its value may be given as "_name" (extensions only), so it lists only
// complex required elements; these come from the R4 resource definitions. Either `name` or
// `_name` satisfies the rule. Top-level elements only.
struct RequiredPrimitive {
  std::string_view type;
  std::string_view element;
};
constexpr std::array<RequiredPrimitive, 39> kRequiredPrimitives = {{
    {"Appointment", "status"},
    {"AuditEvent", "recorded"},
    {"Bundle", "type"},
    {"CapabilityStatement", "status"},
    {"CapabilityStatement", "date"},
    {"CapabilityStatement", "kind"},
    {"CapabilityStatement", "fhirVersion"},
    {"CapabilityStatement", "format"},
    {"CarePlan", "status"},
    {"CarePlan", "intent"},
    {"Communication", "status"},
    {"Composition", "status"},
    {"Composition", "date"},
    {"Composition", "title"},
    {"Consent", "status"},
    {"Coverage", "status"},
    {"DiagnosticReport", "status"},
    {"DocumentReference", "status"},
    {"Encounter", "status"},
    {"Endpoint", "status"},
    {"Endpoint", "address"},
    {"EpisodeOfCare", "status"},
    {"Flag", "status"},
    {"Immunization", "status"},
    {"List", "status"},
    {"List", "mode"},
    {"MedicationAdministration", "status"},
    {"MedicationDispense", "status"},
    {"MedicationRequest", "status"},
    {"MedicationRequest", "intent"},
    {"MedicationStatement", "status"},
    {"Observation", "status"},
    {"Procedure", "status"},
    {"Provenance", "recorded"},
    {"QuestionnaireResponse", "status"},
    {"ServiceRequest", "status"},
    {"ServiceRequest", "intent"},
    {"Task", "status"},
    {"Task", "intent"},
}};

bool IsVerificationCode(std::string_view system, std::string_view code) {
  const bool numbered = std::find(kVerificationCodes.begin(), kVerificationCodes.end(), code) !=
                        kVerificationCodes.end();
  if (system == kVerificationEngland || system == kVerificationRetired) {
    return numbered;
  }
  if (system == kVerificationWales) {
    return numbered || code == "nn";
  }
  if (system == kNullFlavor) {
    return code == "NI";
  }
  return false;
}

std::string Indexed(std::string_view base, std::size_t index) {
  std::string out(base);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string Child(std::string_view base, std::string_view name) {
  std::string out(base);
  out += '.';
  out += name;
  return out;
}

// Member names come from untrusted input and end up in locations (and so in logs): keep only
// names that look like FHIR element names.
std::string SafeName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return "*";
  }
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return "*";
    }
  }
  return std::string(name);
}

std::string_view TokenText(const rapidjson::Pointer::Token& token) {
  return {token.name, token.length};
}

// Converts an instance pointer (relative to `resource`, after skipping `skip` tokens) into a
// FHIRPath-like location under `base`: /identifier/0/value -> Patient.identifier[0].value.
std::string PointerToPath(const rapidjson::Pointer& pointer, std::size_t skip,
                          const rapidjson::Value& resource, std::string_view base) {
  std::string path(base);
  const rapidjson::Value* current = &resource;
  const rapidjson::Pointer::Token* tokens = pointer.GetTokens();
  for (std::size_t i = skip; i < pointer.GetTokenCount(); ++i) {
    const rapidjson::Pointer::Token& token = tokens[i];
    if (current != nullptr && current->IsArray() &&
        token.index != rapidjson::kPointerInvalidIndex) {
      path = Indexed(path, token.index);
      current = token.index < current->Size() ? &(*current)[token.index] : nullptr;
    } else {
      path = Child(path, SafeName(TokenText(token)));
      current = current != nullptr ? FindMember(*current, TokenText(token)) : nullptr;
    }
  }
  return path;
}

const rapidjson::Value* ValueAt(const rapidjson::Pointer& pointer, std::size_t skip,
                                const rapidjson::Value& root) {
  const rapidjson::Value* current = &root;
  const rapidjson::Pointer::Token* tokens = pointer.GetTokens();
  for (std::size_t i = skip; i < pointer.GetTokenCount() && current != nullptr; ++i) {
    const rapidjson::Pointer::Token& token = tokens[i];
    if (current->IsArray()) {
      current = token.index < current->Size() ? &(*current)[token.index] : nullptr;
    } else {
      current = FindMember(*current, TokenText(token));
    }
  }
  return current;
}

// Rewrites the published schema so that RapidJSON 1.1.0 can use it efficiently and exactly:
//  - the root's 146-way oneOf (and every ResourceList) is replaced: the root becomes an object
//    with one property per resource type, and the caller feeds {"<resourceType>": resource},
//    i.e. the discriminator is applied by hand;
//  - ResourceList (nested resources) accepts any object; nested resources are validated on
//    their own, which gives exact locations instead of "no oneOf branch matched";
//  - draft-06 "const" (unknown to RapidJSON 1.1.0, so silently ignored) becomes a one-value enum.
core::Result<std::vector<std::string>> PrepareSchema(rapidjson::Document& schema) {
  const rapidjson::Value* discriminator = FindObject(schema, "discriminator");
  const rapidjson::Value* mapping =
      discriminator != nullptr ? FindObject(*discriminator, "mapping") : nullptr;
  const rapidjson::Value* definitions = FindObject(schema, "definitions");
  if (mapping == nullptr || definitions == nullptr) {
    return MakeError(ErrorCode::kConfig,
                     "not the FHIR R4 JSON schema: no resourceType discriminator or definitions");
  }
  auto& allocator = schema.GetAllocator();
  std::vector<std::string> types;
  rapidjson::Value properties(rapidjson::kObjectType);
  for (const auto& entry : mapping->GetObject()) {
    const std::string type(StringOf(entry.name));
    if (FindMember(*definitions, type) == nullptr) {
      return MakeError(ErrorCode::kConfig, "FHIR schema maps a resource type it does not define");
    }
    types.push_back(type);
    rapidjson::Value ref(rapidjson::kObjectType);
    ref.AddMember("$ref", StringValue("#/definitions/" + type, allocator), allocator);
    properties.AddMember(StringValue(type, allocator), ref, allocator);
  }
  schema.RemoveMember("oneOf");
  schema.RemoveMember("discriminator");
  schema.AddMember("type", "object", allocator);
  schema.AddMember("properties", properties, allocator);

  // Member pointers into `schema` are stale after RemoveMember/AddMember: look up again.
  // (Lookups go through HasMember/operator[] and indexes rather than comparing non-const member
  // iterators, which clang 14 in C++20 mode flags as ambiguous for RapidJSON 1.1.0.)
  rapidjson::Value& all = schema["definitions"];
  if (all.HasMember("ResourceList")) {
    rapidjson::Value any_object(rapidjson::kObjectType);
    any_object.AddMember("type", "object", allocator);
    all["ResourceList"] = any_object;
  }

  // const -> enum, and the R4 schema's FHIRVersion enums, which stop at 4.0.0 although R4 is
  // 4.0.1 (a known defect of the published schema), get 4.0.1 added. Iterative, whole schema.
  std::vector<rapidjson::Value*> pending{&schema};
  while (!pending.empty()) {
    rapidjson::Value* value = pending.back();
    pending.pop_back();
    if (value->IsObject()) {
      if (value->HasMember("const")) {
        rapidjson::Value values(rapidjson::kArrayType);
        values.PushBack((*value)["const"], allocator);  // moves
        value->RemoveMember("const");
        value->AddMember("enum", values, allocator);
      }
      if (value->HasMember("enum") && (*value)["enum"].IsArray()) {
        rapidjson::Value& values = (*value)["enum"];
        bool has_400 = false;
        bool has_401 = false;
        for (const auto& item : values.GetArray()) {
          has_400 = has_400 || (item.IsString() && StringOf(item) == "4.0.0");
          has_401 = has_401 || (item.IsString() && StringOf(item) == "4.0.1");
        }
        if (has_400 && !has_401) {
          values.PushBack("4.0.1", allocator);
        }
      }
      for (rapidjson::SizeType i = 0; i < value->MemberCount(); ++i) {
        pending.push_back(&(value->MemberBegin() + i)->value);
      }
    } else if (value->IsArray()) {
      for (rapidjson::SizeType i = 0; i < value->Size(); ++i) {
        pending.push_back(&(*value)[i]);
      }
    }
  }
  std::sort(types.begin(), types.end());
  return types;
}

// Describes RapidJSON's first schema violation as an Error.
Error SchemaViolation(const rapidjson::SchemaValidator& validator,
                      const rapidjson::Document& schema, const rapidjson::Value& resource,
                      std::string_view base) {
  const std::string keyword = validator.GetInvalidSchemaKeyword();
  const rapidjson::Pointer& where = validator.GetInvalidDocumentPointer();
  // Token 0 is the resource type wrapper added in Validate().
  std::string location = PointerToPath(where, 1, resource, base);
  const rapidjson::Value* rule = validator.GetInvalidSchemaPointer().Get(schema);
  const rapidjson::Value* instance = ValueAt(where, 1, resource);

  if (keyword == "required") {
    const rapidjson::Value* required = rule != nullptr ? FindArray(*rule, "required") : nullptr;
    if (required != nullptr && instance != nullptr) {
      for (const auto& name : required->GetArray()) {
        if (name.IsString() && FindMember(*instance, StringOf(name)) == nullptr) {
          location = Child(location, SafeName(StringOf(name)));
          break;
        }
      }
    }
    return MakeError(ErrorCode::kRequiredFieldMissing, "required element is missing", location);
  }
  if (keyword == "additionalProperties") {
    return MakeError(ErrorCode::kInvalidValue, "unknown element: not defined here in FHIR R4",
                     location);
  }
  if (keyword == "type") {
    std::string message = "element has the wrong JSON type";
    if (std::optional<std::string_view> expected =
            rule != nullptr ? FindString(*rule, "type") : std::nullopt;
        expected.has_value() &&
        (*expected == "string" || *expected == "number" || *expected == "boolean" ||
         *expected == "object" || *expected == "array" || *expected == "integer")) {
      message += "; expected ";
      message += *expected;
    }
    return MakeError(ErrorCode::kInvalidValue, message, location);
  }
  if (keyword == "pattern") {
    return MakeError(ErrorCode::kInvalidValue,
                     "value does not have the format of its FHIR data type", location);
  }
  if (keyword == "enum") {
    return MakeError(ErrorCode::kUnknownCode, "code is not in the required value set", location);
  }
  return MakeError(ErrorCode::kInvalidValue,
                   "violates FHIR schema rule '" + SafeName(keyword) + "'", location);
}

}  // namespace

struct Validator::Impl {
  struct Slot {
    std::mutex mutex;
    std::unique_ptr<rapidjson::SchemaDocument> compiled;  // guarded by mutex; made on first use
  };

  // A compiled schema held exclusively for one validation.
  struct Lease {
    std::unique_lock<std::mutex> lock;
    const rapidjson::SchemaDocument* schema;
  };

  rapidjson::Document source;  // the prepared schema; read-only after Load
  std::vector<std::string> types;
  std::vector<std::unique_ptr<Slot>> slots;
  mutable std::atomic<std::size_t> next{0};
  ValidatorOptions options;

  Lease Prepare(Slot& slot, std::unique_lock<std::mutex> lock) const {
    if (slot.compiled == nullptr) {
      slot.compiled = std::make_unique<rapidjson::SchemaDocument>(source);
    }
    return Lease{std::move(lock), slot.compiled.get()};
  }

  // Prefers a free, already compiled copy; compiles another copy only when every compiled one
  // is busy, so a single-threaded process only ever compiles one; waits when all are busy.
  Lease Acquire() const {
    std::unique_lock<std::mutex> spare;
    Slot* spare_slot = nullptr;
    for (const auto& slot : slots) {
      std::unique_lock<std::mutex> lock(slot->mutex, std::try_to_lock);
      if (!lock.owns_lock()) {
        continue;
      }
      if (slot->compiled != nullptr) {
        return Lease{std::move(lock), slot->compiled.get()};
      }
      if (spare_slot == nullptr) {
        spare = std::move(lock);
        spare_slot = slot.get();
      }
    }
    if (spare_slot != nullptr) {
      return Prepare(*spare_slot, std::move(spare));
    }
    const std::size_t start = next.fetch_add(1, std::memory_order_relaxed) % slots.size();
    Slot& slot = *slots[start];
    return Prepare(slot, std::unique_lock<std::mutex>(slot.mutex));
  }

  bool IsType(std::string_view type) const {
    return std::binary_search(types.begin(), types.end(), type);
  }

  void ValidateResource(const rapidjson::Value& resource, const std::string& base_in,
                        std::size_t depth, std::vector<Error>& errors) const;
  void CheckSchema(const rapidjson::Value& resource, std::string_view type, std::string_view base,
                   std::vector<Error>& errors) const;
  void Walk(const rapidjson::Value& value, const std::string& path, std::size_t depth,
            std::vector<Error>& errors) const;
  void CheckNhsIdentifier(const rapidjson::Value& identifier, const std::string& path,
                          std::vector<Error>& errors) const;
  void CheckPatient(const rapidjson::Value& patient, const std::string& path,
                    std::vector<Error>& errors) const;
};

void Validator::Impl::CheckSchema(const rapidjson::Value& resource, std::string_view type,
                                  std::string_view base, std::vector<Error>& errors) const {
  Lease lease = Acquire();
  rapidjson::SchemaValidator validator(*lease.schema);
  const bool fed =
      validator.StartObject() &&
      validator.Key(type.data(), static_cast<rapidjson::SizeType>(type.size()), false) &&
      resource.Accept(validator) && validator.EndObject(1);
  if (!fed || !validator.IsValid()) {
    errors.push_back(SchemaViolation(validator, source, resource, base));
  }
}

void Validator::Impl::ValidateResource(const rapidjson::Value& resource, const std::string& base,
                                       std::size_t depth, std::vector<Error>& errors) const {
  if (!resource.IsObject()) {
    errors.push_back(MakeError(ErrorCode::kInvalidValue, "a resource must be a JSON object",
                               base.empty() ? "resourceType" : base));
    return;
  }
  const rapidjson::Value* type_value = FindMember(resource, "resourceType");
  if (type_value == nullptr) {
    errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing, "resourceType is missing",
                               base.empty() ? "resourceType" : Child(base, "resourceType")));
    return;
  }
  if (!type_value->IsString() || !IsType(StringOf(*type_value))) {
    errors.push_back(MakeError(ErrorCode::kInvalidValue, "resourceType is not an R4 resource type",
                               base.empty() ? "resourceType" : Child(base, "resourceType")));
    return;
  }
  const std::string_view type = StringOf(*type_value);
  const std::string path = base.empty() ? std::string(type) : base;
  CheckSchema(resource, type, path, errors);
  for (const RequiredPrimitive& required : kRequiredPrimitives) {
    if (required.type != type || FindMember(resource, required.element) != nullptr) {
      continue;
    }
    // Built by append: GCC 12 at -O3 warns falsely (-Wrestrict) on "_" + std::string(...).
    std::string extension_name(1, '_');
    extension_name.append(required.element);
    if (FindMember(resource, extension_name) == nullptr) {
      errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing, "required element is missing",
                                 Child(path, required.element)));
    }
  }
  if (type == "Patient") {
    CheckPatient(resource, path, errors);
  }
  for (const auto& member : resource.GetObject()) {
    Walk(member.value, Child(path, SafeName(StringOf(member.name))), depth + 1, errors);
  }
}

// Applies the element-level rules everywhere below a resource and hands nested resources to
// ValidateResource.
void Validator::Impl::Walk(const rapidjson::Value& value, const std::string& path,
                           std::size_t depth, std::vector<Error>& errors) const {
  if (depth > kMaxValidationDepth) {
    errors.push_back(MakeError(ErrorCode::kTooLarge, "resource is nested too deeply", path));
    return;
  }
  if (value.IsArray()) {
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      Walk(value[i], Indexed(path, i), depth + 1, errors);
    }
    return;
  }
  if (!value.IsObject()) {
    return;
  }
  if (FindMember(value, "resourceType") != nullptr) {
    ValidateResource(value, path, depth + 1, errors);
    return;
  }
  // An Identifier (a Coding has "code" instead of "value") in the NHS number system.
  if (FindString(value, "system") == core::kNhsNumberSystem &&
      FindMember(value, "code") == nullptr) {
    CheckNhsIdentifier(value, path, errors);
  }
  for (const auto& member : value.GetObject()) {
    Walk(member.value, Child(path, SafeName(StringOf(member.name))), depth + 1, errors);
  }
}

void Validator::Impl::CheckNhsIdentifier(const rapidjson::Value& identifier,
                                         const std::string& path,
                                         std::vector<Error>& errors) const {
  const rapidjson::Value* value = FindMember(identifier, "value");
  if (value == nullptr) {
    errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing,
                               "NHS number identifier has no value", Child(path, "value")));
  } else if (!value->IsString() || !core::IsValidNhsNumber(StringOf(*value))) {
    errors.push_back(MakeError(ErrorCode::kInvalidValue,
                               "NHS number must be 10 digits with a valid Modulus 11 check digit",
                               Child(path, "value")));
  }
  const rapidjson::Value* extensions = FindArray(identifier, "extension");
  if (extensions == nullptr) {
    return;
  }
  for (rapidjson::SizeType i = 0; i < extensions->Size(); ++i) {
    const rapidjson::Value& extension = (*extensions)[i];
    if (FindString(extension, "url") != kVerificationStatusUrl) {
      continue;
    }
    const std::string extension_path = Indexed(Child(path, "extension"), i);
    const rapidjson::Value* concept_value = FindObject(extension, "valueCodeableConcept");
    const rapidjson::Value* codings =
        concept_value != nullptr ? FindArray(*concept_value, "coding") : nullptr;
    if (codings == nullptr || codings->Empty()) {
      errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing,
                                 "NHS number verification status needs a coded value",
                                 Child(extension_path, "valueCodeableConcept")));
      continue;
    }
    for (rapidjson::SizeType k = 0; k < codings->Size(); ++k) {
      const rapidjson::Value& coding = (*codings)[k];
      const std::optional<std::string_view> system = FindString(coding, "system");
      const std::optional<std::string_view> code = FindString(coding, "code");
      if (!system.has_value() || !code.has_value() || !IsVerificationCode(*system, *code)) {
        errors.push_back(MakeError(
            ErrorCode::kUnknownCode,
            "NHS number verification status must be a code of the UK Core value set "
            "UKCore-NHSNumberVerificationStatus (England 01-08, Wales nn/01-08, NullFlavor NI)",
            Indexed(Child(extension_path, "valueCodeableConcept.coding"), k)));
      }
    }
  }
}

void Validator::Impl::CheckPatient(const rapidjson::Value& patient, const std::string& path,
                                   std::vector<Error>& errors) const {
  const rapidjson::Value* identifiers = FindArray(patient, "identifier");
  if (options.require_patient_identifier && (identifiers == nullptr || identifiers->Empty())) {
    errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing,
                               "Patient needs at least one identifier", Child(path, "identifier")));
  }
  bool uk_core = false;
  if (const rapidjson::Value* meta = FindObject(patient, "meta"); meta != nullptr) {
    if (const rapidjson::Value* profiles = FindArray(*meta, "profile"); profiles != nullptr) {
      for (const auto& profile : profiles->GetArray()) {
        if (profile.IsString()) {
          std::string_view url = StringOf(profile);
          url = url.substr(0, url.find('|'));  // canonical|version
          uk_core = uk_core || url == kUkCorePatientProfile;
        }
      }
    }
  }
  if (!uk_core || identifiers == nullptr) {
    return;
  }
  for (rapidjson::SizeType i = 0; i < identifiers->Size(); ++i) {
    const std::string identifier_path = Indexed(Child(path, "identifier"), i);
    for (const char* element : {"system", "value"}) {
      if (FindMember((*identifiers)[i], element) == nullptr) {
        errors.push_back(MakeError(ErrorCode::kRequiredFieldMissing,
                                   std::string("UKCore-Patient requires identifier.") + element,
                                   Child(identifier_path, element)));
      }
    }
  }
}

Validator::Validator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Validator::Validator(Validator&&) noexcept = default;
Validator& Validator::operator=(Validator&&) noexcept = default;
Validator::~Validator() = default;

core::Result<Validator> Validator::FromJson(std::string_view schema_json,
                                            const ValidatorOptions& options) {
  JsonLimits limits;
  limits.max_bytes = kMaxSchemaBytes;
  limits.max_depth = 256;
  core::Result<rapidjson::Document> parsed = ParseJson(schema_json, limits);
  if (!parsed) {
    return MakeError(ErrorCode::kConfig, "FHIR schema is not valid JSON: " + parsed.error().message,
                     parsed.error().location);
  }
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(*parsed);
  core::Result<std::vector<std::string>> types = PrepareSchema(impl->source);
  if (!types) {
    return std::move(types).error();
  }
  impl->types = std::move(*types);
  impl->options = options;
  const std::size_t instances = std::max<std::size_t>(1, options.instances);
  for (std::size_t i = 0; i < instances; ++i) {
    impl->slots.push_back(std::make_unique<Impl::Slot>());
  }
  // Compile the first copy now, so that the cost is paid at startup.
  Impl::Slot& first = *impl->slots.front();
  first.compiled = std::make_unique<rapidjson::SchemaDocument>(impl->source);
  return Validator(std::move(impl));
}

core::Result<Validator> Validator::Load(const std::string& schema_path,
                                        const ValidatorOptions& options) {
  std::ifstream file(schema_path, std::ios::binary);
  if (!file) {
    return MakeError(ErrorCode::kConfig, "cannot open the FHIR schema file", schema_path);
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (!file && !file.eof()) {
    return MakeError(ErrorCode::kConfig, "cannot read the FHIR schema file", schema_path);
  }
  core::Result<Validator> validator = FromJson(text.str(), options);
  if (!validator) {
    core::Error error = std::move(validator).error();
    error.location = schema_path;
    return error;
  }
  return validator;
}

std::vector<Error> Validator::Validate(const rapidjson::Value& resource) const {
  std::vector<Error> errors;
  impl_->ValidateResource(resource, {}, 0, errors);
  return errors;
}

bool Validator::IsResourceType(std::string_view type) const { return impl_->IsType(type); }

std::vector<Error> ValidateResource(const rapidjson::Value& resource, const Validator& validator) {
  return validator.Validate(resource);
}

std::string_view DefaultSchemaPath() { return TB_FHIR_SCHEMA_PATH; }

core::Result<const Validator*> DefaultValidator() {
  static std::once_flag once;
  static std::optional<core::Result<Validator>> loaded;
  std::call_once(once, [] {
    ValidatorOptions options;
    options.instances = kDefaultValidatorInstances;
    loaded.emplace(Validator::FromJson(EmbeddedSchema(), options));
  });
  if (!loaded->has_value()) {
    return loaded->error();
  }
  return &loaded->value();
}

}  // namespace tb::fhir
