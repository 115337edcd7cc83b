#pragma once

// Internal to the FHIR -> v2 mapper (fhir_to_v2*.cpp): the Mapper that writes the v2 message
// (reading the input through fhir_to_v2_reader.h); the segment writers live in
// fhir_to_v2_msh_pid.cpp, _visit.cpp and _oru.cpp, the message assembly in fhir_to_v2.cpp. Not part
// of the library's interface.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/builder.h"
#include "adapters/hl7v2/escape.h"
#include "broker/core/http_types.h"
#include "broker/core/result.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/fhir_to_v2_reader.h"
#include "mappings/fhir_to_v2_tables.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"

namespace tb::mappings::f2v {

using core::ErrorCode;
using rapidjson::Value;
namespace maps = fhir_to_v2_map;

inline constexpr std::string_view kV2SystemPrefix = "http://terminology.hl7.org/CodeSystem/v2-";
inline constexpr std::string_view kUcum = "http://unitsofmeasure.org";
inline constexpr std::string_view kRfc3986 = "urn:ietf:rfc:3986";
inline constexpr std::string_view kGenderSystem = "http://hl7.org/fhir/administrative-gender";
inline constexpr std::string_view kNameUseSystem = "http://hl7.org/fhir/name-use";
inline constexpr std::string_view kAddressUseSystem = "http://hl7.org/fhir/address-use";
inline constexpr std::string_view kAddressTypeSystem = "http://hl7.org/fhir/address-type";
inline constexpr std::string_view kTelecomUseSystem = "http://hl7.org/fhir/contact-point-use";
inline constexpr std::string_view kTelecomSystemSystem = "http://hl7.org/fhir/contact-point-system";
inline constexpr std::string_view kObservationStatusSystem =
    "http://hl7.org/fhir/observation-status";
inline constexpr std::string_view kReportStatusSystem =
    "http://hl7.org/fhir/diagnostic-report-status";
inline constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
inline constexpr std::string_view kLocationPhysicalType =
    "http://terminology.hl7.org/CodeSystem/location-physical-type";
inline constexpr std::string_view kVerificationStatusUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
// What v2 -> FHIR writes and the way back reads again: kBirthTimeUrl, kObservationSubIdUrl,
// kObservationValueR5Url, kOriginalCodeExtensionUrl (v2_to_fhir.h) and
// kBrokerCodingSystemPrefix (mapping_tables.h).
inline constexpr std::string_view kOidPrefix = "urn:oid:";

// ---- writing ----------------------------------------------------------------------------------

// A position in the message being built: segment, occurrence, field and repetition.
struct Pos {
  std::string segment;
  std::size_t occurrence = 1;
  std::size_t field = 0;
  std::size_t repetition = 1;

  std::string Field() const {
    return segment + "[" + std::to_string(occurrence) + "]-" + std::to_string(field);
  }
  std::string Rep() const { return Field() + "(" + std::to_string(repetition) + ")"; }
  std::string C(std::size_t component, std::size_t sub = 0) const {
    // Appended piece by piece: GCC 12 -O3 warns (-Wrestrict, a false positive) about
    // "." + std::to_string(sub) once this is inlined into the segment writers.
    std::string out = Rep();
    out.push_back('.');
    out.append(std::to_string(component));
    if (sub != 0) {
      out.push_back('.');
      out.append(std::to_string(sub));
    }
    return out;
  }
  Pos WithRep(std::size_t rep) const {
    Pos out = *this;
    out.repetition = rep;
    return out;
  }
};

inline Pos At(std::string_view segment, std::size_t occurrence, std::size_t field,
              std::size_t repetition = 1) {
  return Pos{std::string(segment), occurrence, field, repetition};
}

// A JSON number as v2 NM text (a decimal keeps a decimal point).
std::string FormatNumber(const Value& number);

inline std::uint64_t Fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

// `value` as 16 upper-case hex digits.
std::string Hex16(std::uint64_t value);

// `now` as a v2 DTM in UTC (YYYYMMDDHHMMSS+0000).
std::string UtcDtm(std::chrono::system_clock::time_point now);

inline bool VersionBefore25(std::string_view version) {
  return version.substr(0, 3) == "2.1" || version.substr(0, 3) == "2.2" ||
         version.substr(0, 3) == "2.3" || version.substr(0, 3) == "2.4";
}
// CWE-14..22 (the coding system OIDs) came with v2.7.
inline bool VersionBefore27(std::string_view version) {
  return VersionBefore25(version) || version.substr(0, 3) == "2.5" || version.substr(0, 3) == "2.6";
}

// A coding read from FHIR.
struct Coding {
  std::string_view system;
  std::string_view code;
  std::string_view display;
};

class Mapper {
 public:
  Mapper(const FhirToV2Options& options, Reader& reader)
      : options_(options),
        tables_(options.tables != nullptr ? *options.tables : FhirToV2Tables::Builtin()),
        reader_(reader),
        builder_(options.encoding),
        coded_type_(VersionBefore25(options.version) ? "CE" : "CWE") {}

  hl7v2::MessageBuilder& builder() { return builder_; }

  // ---- primitive writes ----
  void Set(const std::string& path, std::string_view text) {
    if (text.empty() || !RepetitionOk(path)) {
      return;
    }
    Check(builder_.Set(path, text));
  }
  void SetRaw(const std::string& path, std::string_view er7) {
    if (er7.empty() || !RepetitionOk(path)) {
      return;
    }
    Check(builder_.SetRaw(path, er7));
  }
  std::size_t AddSegment(std::string_view id) {
    if (builder_.SegmentCount() >= options_.max_segments) {
      reader_.Fail(ErrorCode::kTooLarge, "the message would exceed the segment limit",
                   std::string(id));
      return 1;
    }
    core::Result<std::size_t> occurrence = builder_.AddSegment(id);
    if (!occurrence) {
      reader_.Fail(std::move(occurrence).error());
      return 1;
    }
    return *occurrence;
  }
  // Text with line breaks, for FT/TX fields: \.br\ or one repetition per line.
  void SetText(const Pos& pos, std::string_view text) {
    if (text.empty()) {
      return;
    }
    if (options_.line_breaks == TextLineBreaks::kFormattedText) {
      SetRaw(pos.Field(), hl7v2::EscapeText(text, options_.encoding));
      return;
    }
    std::string raw;
    std::size_t start = 0;
    bool first = true;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) {
        end = text.size();
      }
      std::string_view line = text.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (!first) {
        raw.push_back(options_.encoding.repetition);
      }
      raw += hl7v2::Escape(line, options_.encoding);
      first = false;
      start = end + 1;
    }
    SetRaw(pos.Field(), raw);
  }

  // ---- code lookups ----
  // A FHIR coding system as a v2 coding system name (CWE-3): table 0396's name, HL7nnnn for a
  // v2 table, the v2 name v2 -> FHIR wrapped in the broker's own URI (that URI means nothing to
  // a v2 receiver), the bare OID of a urn:oid: system (what v2 -> FHIR reads back as urn:oid:),
  // else the URI itself, so the receiver still knows where the code came from.
  std::string CodingSystemName(std::string_view system) const {
    if (system.empty()) {
      return {};
    }
    if (const V2Code* row = tables_.Find(maps::kCodingSystem, kRfc3986, system)) {
      return row->code;
    }
    if (system.substr(0, kV2SystemPrefix.size()) == kV2SystemPrefix) {
      return "HL7" + std::string(system.substr(kV2SystemPrefix.size()));
    }
    if (system.substr(0, kBrokerCodingSystemPrefix.size()) == kBrokerCodingSystemPrefix) {
      const std::string_view name = system.substr(kBrokerCodingSystemPrefix.size());
      return core::PercentDecode(name).value_or(std::string(name));  // malformed: as written
    }
    if (system.substr(0, kOidPrefix.size()) == kOidPrefix) {
      return std::string(system.substr(kOidPrefix.size()));
    }
    return std::string(system);
  }

  std::vector<Coding> Codings(const Value& cc, const std::string& path) {
    std::vector<Coding> out;
    reader_.ForEachObject(cc, "coding", path, [&](const Value& coding, const std::string& p) {
      Coding c;
      c.system = reader_.Str(coding, "system", p).value_or("");
      c.code = reader_.Str(coding, "code", p).value_or("");
      c.display = reader_.Str(coding, "display", p).value_or("");
      if (!c.code.empty() || !c.display.empty()) {
        out.push_back(c);
      }
    });
    return out;
  }

  // A code for a v2 table field (IS/ID): the table's code for the first coding it knows, else
  // the first coding's code carried through (v2-nnnn codings are taken as they are).
  std::string TableCode(std::string_view map, const std::vector<Coding>& codings) const {
    for (const Coding& c : codings) {
      if (const V2Code* row = tables_.Find(map, c.system, c.code)) {
        return row->code;
      }
    }
    for (const Coding& c : codings) {
      if (c.system.substr(0, kV2SystemPrefix.size()) == kV2SystemPrefix && !c.code.empty()) {
        return std::string(c.code);
      }
    }
    return codings.empty() ? std::string() : std::string(codings.front().code);
  }
  // A result status (OBX-11, table 0085; OBR-25, table 0123) from `status` of `resource`: the
  // table's code, else the v2 code v2 -> FHIR kept in _status (hl7v2-original-code) when it
  // could not map it, else nothing. A FHIR code ("unknown") is never written into the ID field.
  std::string StatusCode(std::string_view map, std::string_view system, const Value& resource,
                         const std::string& path) {
    const std::string_view status = reader_.Str(resource, "status", path).value_or("");
    if (const V2Code* row = status.empty() ? nullptr : tables_.Find(map, system, status)) {
      return row->code;
    }
    std::string original;
    if (const Value* element = reader_.Obj(resource, "_status", path)) {
      const std::string epath = Reader::Join(path, "_status");
      reader_.ForEachObject(
          *element, "extension", epath, [&](const Value& ext, const std::string& p) {
            if (!original.empty() ||
                reader_.Str(ext, "url", p).value_or("") != kOriginalCodeExtensionUrl) {
              return;
            }
            if (const Value* coding = reader_.Obj(ext, "valueCoding", p)) {
              original = std::string(
                  reader_.Str(*coding, "code", Reader::Join(p, "valueCoding")).value_or(""));
            }
          });
    }
    return original;
  }

  std::string TableCode(std::string_view map, std::string_view system,
                        std::string_view code) const {
    if (code.empty()) {
      return {};
    }
    if (const V2Code* row = tables_.Find(map, system, code)) {
      return row->code;
    }
    return std::string(code);
  }

  // CodeableConcept -> CWE (CE before v2.5) at pos: triplet 1-3, alternate 4-6, text in 9.
  // A local translation map (FhirToV2Tables::Translate) puts the trust's code first and keeps the
  // original as the alternate, so nothing is lost.
  void WriteCodeableConcept(const Pos& pos, const Value& cc, const std::string& path) {
    std::vector<Coding> codings = Codings(cc, path);
    const std::string_view text = reader_.Str(cc, "text", path).value_or("");
    WriteCodings(pos, codings, text);
  }
  void WriteCodings(const Pos& pos, const std::vector<Coding>& codings, std::string_view text) {
    struct Triplet {
      std::string code, display, system;
      std::string oid;  // v2.7+: the coding system's OID goes in CWE-14 / CWE-17 instead
    };
    // CWE-14..22 exist from v2.7 (and never in a CE): there a urn:oid: system is named by its
    // OID, the place v2.7 made for it, and CWE-3 / CWE-6 (table 0396 names) stay empty.
    const bool oid_components = coded_type_ == "CWE" && !VersionBefore27(options_.version);
    std::vector<Triplet> triplets;
    for (const Coding& c : codings) {
      if (const V2Code* local = tables_.Translate(c.system, c.code)) {
        triplets.insert(triplets.begin(), Triplet{local->code, local->display, local->system, {}});
      }
    }
    for (const Coding& c : codings) {
      Triplet t{std::string(c.code), std::string(c.display), CodingSystemName(c.system), {}};
      if (oid_components && c.system.substr(0, kOidPrefix.size()) == kOidPrefix &&
          tables_.Find(maps::kCodingSystem, kRfc3986, c.system) == nullptr) {
        t.oid = std::move(t.system);
        t.system.clear();
      }
      triplets.push_back(std::move(t));
    }
    if (triplets.empty()) {
      Set(pos.C(2), text);  // text only: CWE-2 is what every receiver displays
      return;
    }
    for (std::size_t i = 0; i < triplets.size() && i < 2; ++i) {
      Set(pos.C(1 + 3 * i), triplets[i].code);
      Set(pos.C(2 + 3 * i), triplets[i].display);
      Set(pos.C(3 + 3 * i), triplets[i].system);
      Set(pos.C(14 + 3 * i), triplets[i].oid);
    }
    if (coded_type_ == "CWE" && !text.empty() && text != triplets.front().display) {
      Set(pos.C(9), text);
    }
  }

  // Identifier -> CX at pos. Returns false when the identifier has no value.
  bool WriteCx(const Pos& pos, const Value& identifier, const std::string& path) {
    const std::string_view value = reader_.Str(identifier, "value", path).value_or("");
    if (value.empty()) {
      return false;
    }
    const std::string_view system = reader_.Str(identifier, "system", path).value_or("");
    Set(pos.C(1), value);
    std::string type;
    if (const Value* t = reader_.Obj(identifier, "type", path)) {
      const std::vector<Coding> codings = Codings(*t, Reader::Join(path, "type"));
      for (const Coding& c : codings) {
        if (c.system.substr(0, kV2SystemPrefix.size()) == kV2SystemPrefix) {
          type = std::string(c.code);
          break;
        }
      }
      if (type.empty() && !codings.empty()) {
        type = std::string(codings.front().code);
      }
    }
    WriteAssigningAuthority(pos, 4, system, &type);
    if (system.empty()) {
      // No system: the assigner (its identifier, else its display) names the authority.
      if (const Value* assigner = reader_.Obj(identifier, "assigner", path)) {
        const std::string apath = Reader::Join(path, "assigner");
        std::string_view authority = reader_.Str(*assigner, "display", apath).value_or("");
        if (const Value* aid = reader_.Obj(*assigner, "identifier", apath)) {
          authority = reader_.Str(*aid, "value", apath + ".identifier").value_or(authority);
        }
        Set(pos.C(4, 1), authority);
      }
    }
    Set(pos.C(5), type);
    if (const Value* period = reader_.Obj(identifier, "period", path)) {
      const std::string ppath = Reader::Join(path, "period");
      Set(pos.C(7), reader_.Dtm(*period, "start", ppath));
      Set(pos.C(8), reader_.Dtm(*period, "end", ppath));
    }
    return true;
  }

  // Identifier.system -> an HD at component `component` of pos: a namespace from the
  // identifier-system table, else the OID (ISO) or URI itself as the universal id. Fills *type
  // from the table when it is empty.
  void WriteAssigningAuthority(const Pos& pos, std::size_t component, std::string_view system,
                               std::string* type) {
    if (system.empty()) {
      return;
    }
    if (const V2Code* row = tables_.Find(maps::kIdentifierSystem, kRfc3986, system)) {
      Set(pos.C(component, 1), row->code);
      if (type != nullptr && type->empty()) {
        *type = row->system;
      }
      return;
    }
    if (system.substr(0, kOidPrefix.size()) == kOidPrefix) {
      Set(pos.C(component, 2), system.substr(kOidPrefix.size()));
      Set(pos.C(component, 3), "ISO");
    } else {
      Set(pos.C(component, 2), system);
      Set(pos.C(component, 3), "URI");
    }
  }

  // HumanName -> XPN at pos (returns false when there is nothing to write).
  bool WriteXpn(const Pos& pos, const Value& name, const std::string& path) {
    const std::string_view family = reader_.Str(name, "family", path).value_or("");
    const std::vector<std::string_view> given = reader_.Strings(name, "given", path);
    const std::vector<std::string_view> prefix = reader_.Strings(name, "prefix", path);
    const std::vector<std::string_view> suffix = reader_.Strings(name, "suffix", path);
    const std::string_view text = reader_.Str(name, "text", path).value_or("");
    const std::string_view use = reader_.Str(name, "use", path).value_or("");
    if (family.empty() && given.empty()) {
      if (text.empty()) {
        return false;
      }
      Set(pos.C(1), text);  // XPN has no free-text name; see docs (deliberate loss)
    }
    Set(pos.C(1), family);
    if (!given.empty()) {
      Set(pos.C(2), given.front());
      Set(pos.C(3), JoinText(std::vector<std::string_view>(given.begin() + 1, given.end())));
    }
    Set(pos.C(4), JoinText(suffix));
    Set(pos.C(5), JoinText(prefix));
    Set(pos.C(7), TableCode(maps::kNameUse, kNameUseSystem, use));
    return true;
  }

  // Address -> XAD at pos.
  bool WriteXad(const Pos& pos, const Value& address, const std::string& path) {
    const std::vector<std::string_view> lines = reader_.Strings(address, "line", path);
    const std::string_view city = reader_.Str(address, "city", path).value_or("");
    const std::string_view district = reader_.Str(address, "district", path).value_or("");
    const std::string_view state = reader_.Str(address, "state", path).value_or("");
    const std::string_view postal = reader_.Str(address, "postalCode", path).value_or("");
    const std::string_view country = reader_.Str(address, "country", path).value_or("");
    const std::string_view use = reader_.Str(address, "use", path).value_or("");
    const std::string_view type = reader_.Str(address, "type", path).value_or("");
    const std::string_view text = reader_.Str(address, "text", path).value_or("");
    if (lines.empty() && city.empty() && district.empty() && state.empty() && postal.empty() &&
        country.empty() && text.empty()) {
      return false;
    }
    if (!lines.empty()) {
      Set(pos.C(1, 1), lines[0]);
    }
    if (lines.size() > 1) {
      // XAD has two street lines; further lines (UK addresses have up to five) are kept in
      // XAD-2, comma separated, rather than dropped.
      std::string rest(lines[1]);
      for (std::size_t i = 2; i < lines.size(); ++i) {
        rest += ", ";
        rest += lines[i];
      }
      Set(pos.C(2), rest);
    }
    Set(pos.C(3), city);
    Set(pos.C(4), state);
    Set(pos.C(5), postal);
    Set(pos.C(6), country);
    std::string v2_type = TableCode(maps::kAddressUse, kAddressUseSystem, use);
    if (v2_type.empty()) {
      v2_type = TableCode(maps::kAddressUse, kAddressTypeSystem, type);
    }
    Set(pos.C(7), v2_type);
    Set(pos.C(9), district);
    if (lines.empty() && city.empty() && postal.empty()) {
      Set(pos.C(1, 1), text);  // only free text: keep it as the street line
    }
    if (const Value* period = reader_.Obj(address, "period", path)) {
      const std::string ppath = Reader::Join(path, "period");
      Set(pos.C(13), reader_.Dtm(*period, "start", ppath));
      Set(pos.C(14), reader_.Dtm(*period, "end", ppath));
    }
    return true;
  }

  // ContactPoint -> XTN at pos.
  void WriteXtn(const Pos& pos, std::string_view system, std::string_view value,
                std::string_view use) {
    std::string equipment = TableCode(maps::kTelecomSystem, kTelecomSystemSystem, system);
    if (system == "phone" && use == "mobile") {
      equipment = "CP";
    }
    std::string use_code = TableCode(maps::kTelecomUse, kTelecomUseSystem, use);
    if (system == "email" || system == "url") {
      use_code = "NET";
      Set(pos.C(2), use_code);
      Set(pos.C(3), equipment);
      Set(pos.C(4), value);
      return;
    }
    Set(pos.C(1), value);
    Set(pos.C(2), use_code);
    Set(pos.C(3), equipment);
    if (!VersionBefore25(options_.version)) {
      Set(pos.C(12), value);  // XTN-12 unformatted telephone number (v2.5)
    }
  }

  // Practitioner (resolved) or the Reference itself -> XCN at pos.
  void WriteXcn(const Pos& pos, const Value* reference, const Res* practitioner,
                const std::string& ref_path) {
    const Value* identifier = nullptr;
    std::string id_path;
    const Value* name = nullptr;
    std::string name_path;
    if (practitioner != nullptr) {
      const Value& p = *practitioner->value;
      if (const Value* ids = reader_.Arr(p, "identifier", practitioner->path)) {
        for (rapidjson::SizeType i = 0; i < ids->Size(); ++i) {
          if ((*ids)[i].IsObject()) {
            identifier = &(*ids)[i];
            id_path = practitioner->path + ".identifier[" + std::to_string(i) + "]";
            break;
          }
        }
      }
      if (const Value* names = reader_.Arr(p, "name", practitioner->path)) {
        if (names->Size() > 0 && (*names)[0].IsObject()) {
          name = &(*names)[0];
          name_path = practitioner->path + ".name[0]";
        }
      }
    }
    if (identifier == nullptr && reference != nullptr) {
      identifier = reader_.Obj(*reference, "identifier", ref_path);
      id_path = Reader::Join(ref_path, "identifier");
    }
    if (identifier != nullptr) {
      Set(pos.C(1), reader_.Str(*identifier, "value", id_path).value_or(""));
      std::string type;
      WriteAssigningAuthority(pos, 9, reader_.Str(*identifier, "system", id_path).value_or(""),
                              &type);
      Set(pos.C(13), type);
    }
    if (name != nullptr) {
      Set(pos.C(2, 1), reader_.Str(*name, "family", name_path).value_or(""));
      const std::vector<std::string_view> given = reader_.Strings(*name, "given", name_path);
      if (!given.empty()) {
        Set(pos.C(3), given.front());
        Set(pos.C(4), JoinText(std::vector<std::string_view>(given.begin() + 1, given.end())));
      }
      Set(pos.C(5), JoinText(reader_.Strings(*name, "suffix", name_path)));
      Set(pos.C(6), JoinText(reader_.Strings(*name, "prefix", name_path)));
    } else if (reference != nullptr) {
      // Only a display: XCN has no free-text name, so it goes in the family name.
      Set(pos.C(2, 1), reader_.Str(*reference, "display", ref_path).value_or(""));
    }
  }

  static std::string JoinText(const std::vector<std::string_view>& parts) {
    std::string out;
    for (const std::string_view part : parts) {
      if (!out.empty()) {
        out.push_back(' ');
      }
      out.append(part);
    }
    return out;
  }

  const std::string& coded_type() const { return coded_type_; }
  const FhirToV2Options& options() const { return options_; }
  const FhirToV2Tables& tables() const { return tables_; }
  Reader& reader() { return reader_; }

 private:
  // Builder writes cost the size of the field, so a field's repetitions are capped.
  bool RepetitionOk(const std::string& path) {
    const std::size_t open = path.find('(');
    if (open == std::string::npos) {
      return true;
    }
    std::size_t rep = 0;
    for (std::size_t i = open + 1; i < path.size() && path[i] != ')'; ++i) {
      rep = rep * 10 + static_cast<std::size_t>(path[i] - '0');
    }
    if (rep <= options_.max_repetitions) {
      return true;
    }
    reader_.Fail(ErrorCode::kTooLarge, "too many repetitions for one field",
                 path.substr(0, path.find('(')));
    return false;
  }

  void Check(const core::Status& status) {
    if (!status) {
      reader_.Fail(status.error());
    }
  }

  const FhirToV2Options& options_;
  const FhirToV2Tables& tables_;
  Reader& reader_;
  hl7v2::MessageBuilder builder_;
  std::string coded_type_;
};

// The subject of a result or encounter: a Patient in the input, or failing that the
// identifier the reference carries.
struct Subject {
  const Res* patient = nullptr;
  const Value* reference = nullptr;  // used when patient is null
  std::string reference_path;
};

// Segment writers (fhir_to_v2_msh_pid.cpp, fhir_to_v2_visit.cpp). Each writes into the
// segment most recently added with Mapper::AddSegment.
void WriteMsh(Mapper& m, std::string_view type, std::string_view trigger,
              std::string_view structure, const std::string& control_id,
              const std::string& timestamp);
void WritePid(Mapper& m, const Index& index, const Subject& subject);
// Adds one NK1 per Patient.contact and RelatedPerson of the subject.
void WriteNk1s(Mapper& m, const Index& index, const Subject& subject);
bool WriteFacility(Mapper& m, const Index& index, const Res& location, const Pos& pl);
void WritePv1(Mapper& m, const Index& index, const Res* encounter);
void WritePv2(Mapper& m, const Res* encounter);
// The OBR/OBX/NTE groups of an ORU^R01 (fhir_to_v2_oru.cpp): one group per report with the
// Observations it lists (panel members under their panel), then one for the Observations no
// report lists.
void WriteOruGroups(Mapper& m, const Index& index, const std::vector<const Res*>& reports,
                    const std::vector<const Res*>& observations);

}  // namespace tb::mappings::f2v
