// v2 -> FHIR: Bundle entries, references, and the deduplicated resources several segments point
// at (Practitioner, Organization, Location).
#include <array>
#include <cstring>
#include <utility>

#include "adapters/fhir/json_string.h"
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::WriteEncounterReference(JsonText& out) const {
  if (has_encounter_) {
    out.Key("\"encounter\":");
    WriteReference(out, encounter_id_);
  }
}

void Mapper::WriteRequiredCode(JsonText& out, const hl7v2::Value& cwe) {
  out.Key("\"code\":");
  const std::size_t value_start = out.Mark();
  WriteCweCodeableConcept(ctx_, out, cwe);
  if (out.Mark() == value_start) {
    WriteDataAbsentUnknown(out);
  }
}

void Mapper::WriteReference(JsonText& out, std::string_view id, std::string_view display) {
  constexpr std::string_view kStart = "{\"reference\":\"urn:uuid:";
  constexpr std::size_t kUuidSize = 36;
  if (id.size() == kUuidSize) {  // one reservation, fixed-size copies (a UUID: nothing to escape)
    char* p = out.ReserveRaw(kStart.size() + kUuidSize + 1);
    std::memcpy(p, kStart.data(), kStart.size());
    std::memcpy(p + kStart.size(), id.data(), kUuidSize);
    p[kStart.size() + kUuidSize] = '"';
    out.CommitRaw(p + kStart.size() + kUuidSize + 1);
  } else {
    out.Raw(kStart);
    out.Raw(id);
    out.Put('"');
  }
  if (!display.empty()) {
    out.Raw(",\"display\":");
    out.String(display);
  }
  out.Put('}');
}

void Mapper::BeginResource(JsonText& out, std::string_view type, std::string_view id) {
  // Neither needs escaping: `type` is a resource type name and `id` a UUID.
  constexpr std::string_view kStart = "{\"resourceType\":\"";
  constexpr std::string_view kId = "\",\"id\":\"";
  char* p = out.ReserveRaw(kStart.size() + type.size() + kId.size() + id.size() + 1);
  std::memcpy(p, kStart.data(), kStart.size());
  p += kStart.size();
  std::memcpy(p, type.data(), type.size());  // never empty: a resource type
  p += type.size();
  std::memcpy(p, kId.data(), kId.size());
  p += kId.size();
  if (id.size() == 36) {
    std::memcpy(p, id.data(), 36);
    p += 36;
  } else if (!id.empty()) {
    std::memcpy(p, id.data(), id.size());
    p += id.size();
  }
  *p++ = '"';
  out.CommitRaw(p);
}

ResourceId Mapper::SharedResourceFor(std::string_view type, std::string_view prefix,
                                     const hl7v2::Value& value,
                                     bool (*write)(V2MapContext&, JsonText&, const hl7v2::Value&)) {
  if (!value.HasValue()) {
    return {};
  }
  if (const ResourceId* found = FindDedup(prefix, value.raw())) {
    return *found;
  }
  const ResourceId id = NewId(key_);  // before any nested lookup reuses key_
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, type, id);
  if (!write(ctx_, out, value)) {
    return {};
  }
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  dedup_.push_back(Dedup{prefix, value.raw(), id});
  return id;
}

ResourceId Mapper::PractitionerFor(const hl7v2::Value& xcn) {
  return SharedResourceFor("Practitioner", "Practitioner/", xcn, &WritePractitioner);
}

ResourceId Mapper::OrganizationForXon(const hl7v2::Value& xon) {
  return SharedResourceFor("Organization", "Organization/xon/", xon, &WriteXonOrganization);
}

ResourceId Mapper::OrganizationForHd(const hl7v2::Value& hd) {
  return SharedResourceFor("Organization", "Organization/hd/", hd, &WriteHdOrganization);
}

ResourceId Mapper::LocationFor(const hl7v2::Value& pl, std::string* display) {
  if (!pl.HasValue()) {
    return {};
  }
  // PL: point of care ^ room ^ bed ^ facility (HD) ^ status ^ type ^ building ^ floor ^ description
  std::string name;
  const char* physical = nullptr;
  static constexpr std::array<std::pair<std::size_t, const char*>, 5> kParts = {
      {{7, "bu"}, {8, "lvl"}, {1, "wa"}, {2, "ro"}, {3, "bd"}}};
  for (const auto& [component, type] : kParts) {
    std::string scratch;
    const std::string_view part = V2Text(SubcomponentOf(ComponentOf(pl, component), 1), scratch);
    if (!part.empty()) {
      if (!name.empty()) {
        name.append(", ");
      }
      name.append(part);
      physical = type;
    }
  }
  // The name is moved to *display once written (it was copied there first).
  const auto give_display = [&name, display] {
    if (display != nullptr) {
      *display = std::move(name);
    }
  };
  if (const ResourceId* found = FindDedup("Location/", pl.raw())) {
    give_display();
    return *found;
  }
  const ResourceId id = NewId(key_);  // before any nested lookup reuses key_
  if (name.empty()) {
    give_display();
    return {};
  }
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "Location", id);
  out.Raw(",\"status\":\"active\",\"name\":");
  out.String(name);
  {
    std::string scratch;
    out.StringMember("\"description\":", V2Text(ComponentOf(pl, 9), scratch));
  }
  out.Raw(",\"mode\":\"instance\"");
  if (physical != nullptr) {
    out.Raw(",\"physicalType\":{\"coding\":[");
    WriteCoding(out, "http://terminology.hl7.org/CodeSystem/location-physical-type", physical, {});
    out.Raw("]}");
  }
  const ResourceId facility = OrganizationForHd(ComponentOf(pl, 4));
  if (!facility.empty()) {
    out.Key("\"managingOrganization\":");
    WriteReference(out, facility);
  }
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  dedup_.push_back(Dedup{"Location/", pl.raw(), id});
  give_display();
  return id;
}

}  // namespace tb::mappings::v2fhir
