#include "broker/policy/pseudonymise.h"

#include <array>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using internal::EraseMember;
using internal::MutableMember;
using rapidjson::Value;
using Allocator = rapidjson::Document::AllocatorType;

constexpr int kMaxDepth = 128;

constexpr std::array<std::string_view, 6> kPersonElements = {"name",  "telecom", "address",
                                                             "photo", "contact", "link"};

bool IsPerson(std::string_view type) {
  return type == "Patient" || type == "RelatedPerson" || type == "Person";
}

bool RemoveMember(Value& object, std::string_view name, PseudonymisationReport& report) {
  if (EraseMember(object, name)) {
    ++report.elements_removed;
    return true;
  }
  return false;
}

// "1980-05-12" / "1980-05-12T10:00:00Z" -> "1980".
void CutToYear(Value& object, std::string_view name, Allocator& allocator,
               PseudonymisationReport& report) {
  Value* member = MutableMember(object, name);
  if (member == nullptr) {
    return;
  }
  if (!member->IsString() || member->GetStringLength() < 4) {
    EraseMember(object, name);
    ++report.elements_removed;
    return;
  }
  const std::string year(member->GetString(), 4);
  if (member->GetStringLength() > 4) {
    *member = fhir::StringValue(year, allocator);
    ++report.elements_removed;
  }
}

bool IsNhsIdentifier(const Value& identifier) {
  const std::optional<std::string_view> system = fhir::FindString(identifier, "system");
  return system && *system == core::kNhsNumberSystem;
}

// Rewrites an NHS number Identifier in place. Returns false if it is not one.
bool PseudonymiseIdentifier(Value& identifier, Allocator& allocator,
                            const Pseudonymiser& pseudonymiser, PseudonymisationReport& report) {
  if (!identifier.IsObject() || !IsNhsIdentifier(identifier)) {
    return false;
  }
  const std::string value(fhir::FindString(identifier, "value").value_or(""));
  identifier["system"] = fhir::StringValue(kPseudonymSystem, allocator);
  if (identifier.HasMember("value")) {
    identifier["value"] = fhir::StringValue(pseudonymiser.PseudonymOf(value), allocator);
  }
  // The verification-status extension and any period say nothing identifying; a display might.
  EraseMember(identifier, "assigner");
  ++report.identifiers_replaced;
  return true;
}

// "Patient/123", "https://x/fhir/Patient/123", "Patient/123/_history/2" -> pseudonymous id.
bool RewritePatientUrl(Value& text, Allocator& allocator, const Pseudonymiser& pseudonymiser,
                       PseudonymisationReport& report) {
  if (!text.IsString()) {
    return false;
  }
  const std::string url(fhir::StringOf(text));
  constexpr std::string_view kMarker = "Patient/";
  std::size_t at = url.rfind(kMarker);
  // The marker must start the string or follow a '/', and not be inside "_history/".
  while (at != std::string::npos && at != 0 && url[at - 1] != '/') {
    at = url.rfind(kMarker, at - 1);
  }
  if (at == std::string::npos) {
    return false;
  }
  const std::size_t id_start = at + kMarker.size();
  const std::size_t id_end = std::min(url.find('/', id_start), url.size());
  if (id_end == id_start) {
    return false;
  }
  const std::string id = url.substr(id_start, id_end - id_start);
  // Versions ("/_history/2") could correlate records across sources; drop them.
  const std::string rewritten =
      url.substr(0, id_start) + pseudonymiser.PseudonymousId("Patient", id);
  text = fhir::StringValue(rewritten, allocator);
  ++report.ids_replaced;
  return true;
}

// Replaces NHS numbers written as search tokens inside URLs ("...nhs-number|9434765919", also
// with the bar percent-encoded), as in a searchset's self link or a conditional reference.
void ScrubNhsNumbersInUrl(Value& text, Allocator& allocator, const Pseudonymiser& pseudonymiser,
                          PseudonymisationReport& report) {
  if (!text.IsString()) {
    return;
  }
  std::string url(fhir::StringOf(text));
  constexpr std::string_view kMarker = "nhs-number";
  bool changed = false;
  std::size_t at = url.find(kMarker);
  while (at != std::string::npos) {
    std::size_t digits = at + kMarker.size();
    if (url.compare(digits, 1, "|") == 0) {
      digits += 1;
    } else if (url.compare(digits, 3, "%7C") == 0 || url.compare(digits, 3, "%7c") == 0) {
      digits += 3;
    } else {
      at = url.find(kMarker, digits);
      continue;
    }
    std::size_t end = digits;
    while (end < url.size() && url[end] >= '0' && url[end] <= '9') {
      ++end;
    }
    if (end - digits == 10) {
      const std::string pseudonym = pseudonymiser.PseudonymOf(url.substr(digits, 10));
      url.replace(digits, 10, pseudonym);
      end = digits + pseudonym.size();
      changed = true;
      ++report.identifiers_replaced;
    }
    at = url.find(kMarker, end);
  }
  if (changed) {
    text = fhir::StringValue(url, allocator);
  }
}

bool IsReference(const Value& object) {
  return object.IsObject() && !object.HasMember("code") &&
         (object.HasMember("reference") ||
          (object.HasMember("identifier") && object["identifier"].IsObject()));
}

void PseudonymiseReference(Value& reference, Allocator& allocator,
                           const Pseudonymiser& pseudonymiser, PseudonymisationReport& report) {
  RemoveMember(reference, "display", report);
  bool to_patient = false;
  if (Value* url = MutableMember(reference, "reference"); url != nullptr) {
    to_patient = RewritePatientUrl(*url, allocator, pseudonymiser, report);
  }
  const std::optional<std::string_view> type = fhir::FindString(reference, "type");
  to_patient = to_patient || (type && *type == "Patient");
  if (Value* identifier = MutableMember(reference, "identifier"); identifier != nullptr) {
    if (!PseudonymiseIdentifier(*identifier, allocator, pseudonymiser, report) && to_patient) {
      EraseMember(reference, "identifier");
      ++report.elements_removed;
    }
  }
}

bool ExtensionHoldsIdentity(const Value& extension) {
  return extension.IsObject() &&
         (extension.HasMember("valueAddress") || extension.HasMember("valueHumanName") ||
          extension.HasMember("valueContactPoint"));
}

void PseudonymisePerson(Value& resource, std::string_view type, Allocator& allocator,
                        const Pseudonymiser& pseudonymiser, PseudonymisationReport& report) {
  for (const std::string_view element : kPersonElements) {
    RemoveMember(resource, element, report);
  }
  CutToYear(resource, "birthDate", allocator, report);
  CutToYear(resource, "deceasedDateTime", allocator, report);
  Value* identifiers = MutableMember(resource, "identifier");
  if (identifiers != nullptr) {
    if (identifiers->IsArray()) {
      Value kept(rapidjson::kArrayType);
      for (Value& identifier : identifiers->GetArray()) {
        if (PseudonymiseIdentifier(identifier, allocator, pseudonymiser, report)) {
          kept.PushBack(identifier, allocator);
        } else {
          ++report.elements_removed;
        }
      }
      if (kept.Empty()) {
        EraseMember(resource, "identifier");
      } else {
        *identifiers = kept;
      }
    } else {
      EraseMember(resource, "identifier");
      ++report.elements_removed;
    }
  }
  if (type == "Patient") {
    Value* id = MutableMember(resource, "id");
    if (id != nullptr && id->IsString()) {
      *id = fhir::StringValue(pseudonymiser.PseudonymousId("Patient", fhir::StringOf(*id)),
                              allocator);
      ++report.ids_replaced;
    }
  }
}

void Walk(Value& value, int depth, Allocator& allocator, const Pseudonymiser& pseudonymiser,
          PseudonymisationReport& report) {
  if (depth > kMaxDepth) {
    return;
  }
  if (value.IsArray()) {
    for (Value::ValueIterator it = value.Begin(); it != value.End();) {
      if (ExtensionHoldsIdentity(*it)) {
        it = value.Erase(it);
        ++report.elements_removed;
      } else {
        Walk(*it, depth + 1, allocator, pseudonymiser, report);
        ++it;
      }
    }
    return;
  }
  if (!value.IsObject()) {
    return;
  }
  const std::optional<std::string_view> type_view = fhir::FindString(value, "resourceType");
  if (type_view) {
    const std::string type(*type_view);
    RemoveMember(value, "text", report);
    if (IsPerson(type)) {
      PseudonymisePerson(value, type, allocator, pseudonymiser, report);
    }
  } else if (IsReference(value)) {
    PseudonymiseReference(value, allocator, pseudonymiser, report);
  } else if (value.HasMember("value") && IsNhsIdentifier(value)) {
    PseudonymiseIdentifier(value, allocator, pseudonymiser, report);
    return;
  }
  if (Value* full_url = MutableMember(value, "fullUrl"); full_url != nullptr) {
    RewritePatientUrl(*full_url, allocator, pseudonymiser, report);
  }
  internal::ForEachMember(value, [&](std::string_view name, Value& member) {
    if (name == "reference" || name == "fullUrl" || name == "url") {
      ScrubNhsNumbersInUrl(member, allocator, pseudonymiser, report);
    } else {
      Walk(member, depth + 1, allocator, pseudonymiser, report);
    }
  });
}

}  // namespace

core::Result<Pseudonymiser> Pseudonymiser::Create(std::string_view key) {
  if (key.size() < kMinPseudonymKeyBytes) {
    return core::MakeError(
        core::ErrorCode::kConfig,
        "pseudonymisation key must be at least " + std::to_string(kMinPseudonymKeyBytes) + " bytes",
        "pseudonymisation.key");
  }
  return Pseudonymiser(std::string(key));
}

core::Result<Pseudonymiser> Pseudonymiser::CreateFromHex(std::string_view hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
    hex.remove_suffix(1);
  }
  while (!hex.empty() && (hex.front() == ' ' || hex.front() == '\n')) {
    hex.remove_prefix(1);
  }
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string key;
  key.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int high = nibble(hex[i]);
    const int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) {
      OPENSSL_cleanse(key.data(), key.size());
      return core::MakeError(core::ErrorCode::kConfig, "pseudonymisation key is not hexadecimal",
                             "pseudonymisation.key");
    }
    key += static_cast<char>(high * 16 + low);
  }
  if (hex.size() % 2 != 0) {
    OPENSSL_cleanse(key.data(), key.size());
    return core::MakeError(core::ErrorCode::kConfig,
                           "pseudonymisation key has an odd number of hex digits",
                           "pseudonymisation.key");
  }
  core::Result<Pseudonymiser> pseudonymiser = Create(key);
  OPENSSL_cleanse(key.data(), key.size());
  return pseudonymiser;
}

Pseudonymiser::~Pseudonymiser() {
  if (!key_.empty()) {
    OPENSSL_cleanse(key_.data(), key_.size());
  }
}

std::string Pseudonymiser::Hmac(std::string_view data) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const unsigned char* ok = HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
                                 reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                 digest.data(), &length);
  if (ok == nullptr) {
    return {};  // not reachable with SHA-256 and a valid key; callers see an empty pseudonym
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<std::size_t>(length) * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4U];
    out += kHex[digest[i] & 0x0FU];
  }
  return out;
}

std::string Pseudonymiser::PseudonymOf(std::string_view nhs_number) const {
  return Hmac(nhs_number);
}

std::string Pseudonymiser::PseudonymousId(std::string_view resource_type,
                                          std::string_view id) const {
  std::string data(resource_type);
  data += '/';
  data += id;
  return Hmac(data);
}

PseudonymisationReport Pseudonymise(Value& value, Allocator& allocator,
                                    const Pseudonymiser& pseudonymiser) {
  PseudonymisationReport report;
  Walk(value, 0, allocator, pseudonymiser, report);
  return report;
}

}  // namespace tb::policy
