#include "mappings/fhir_to_v2.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "adapters/hl7v2/builder.h"
#include "adapters/hl7v2/escape.h"
#include "broker/core/nhs_number.h"

namespace tb::mappings {

namespace {

using core::ErrorCode;
using rapidjson::Value;
namespace maps = fhir_to_v2_map;

constexpr std::string_view kV2SystemPrefix = "http://terminology.hl7.org/CodeSystem/v2-";
constexpr std::string_view kUcum = "http://unitsofmeasure.org";
constexpr std::string_view kRfc3986 = "urn:ietf:rfc:3986";
constexpr std::string_view kGenderSystem = "http://hl7.org/fhir/administrative-gender";
constexpr std::string_view kNameUseSystem = "http://hl7.org/fhir/name-use";
constexpr std::string_view kAddressUseSystem = "http://hl7.org/fhir/address-use";
constexpr std::string_view kAddressTypeSystem = "http://hl7.org/fhir/address-type";
constexpr std::string_view kTelecomUseSystem = "http://hl7.org/fhir/contact-point-use";
constexpr std::string_view kTelecomSystemSystem = "http://hl7.org/fhir/contact-point-system";
constexpr std::string_view kObservationStatusSystem = "http://hl7.org/fhir/observation-status";
constexpr std::string_view kReportStatusSystem = "http://hl7.org/fhir/diagnostic-report-status";
constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kLocationPhysicalType =
    "http://terminology.hl7.org/CodeSystem/location-physical-type";
constexpr std::string_view kVerificationStatusUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kBirthTimeUrl =
    "http://hl7.org/fhir/StructureDefinition/patient-birthTime";

// ---- reading JSON, keeping the first error -----------------------------------------------------

// Reads optional members and remembers the first problem, so the mapping code reads like the
// field list it implements and still reports an exact location.
class Reader {
 public:
  std::optional<std::string_view> Str(const Value& obj, std::string_view name,
                                      std::string_view path) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->IsString()) {
      WrongType(path, name);
      return std::nullopt;
    }
    return fhir::StringOf(*v);
  }
  // The member if present and of the wanted kind; a wrong kind is recorded (WrongType).
  const Value* Typed(const Value& obj, std::string_view name, std::string_view path,
                     bool (Value::*is_kind)() const) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return nullptr;
    }
    if (!(v->*is_kind)()) {
      WrongType(path, name);
      return nullptr;
    }
    return v;
  }
  const Value* Obj(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsObject);
  }
  const Value* Arr(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsArray);
  }
  const Value* Num(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsNumber);
  }
  std::optional<bool> Bool(const Value& obj, std::string_view name, std::string_view path) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->IsBool()) {
      WrongType(path, name);
      return std::nullopt;
    }
    return v->GetBool();
  }
  // Elements of an array member that are objects; others are reported as wrong types.
  template <typename F>
  void ForEachObject(const Value& obj, std::string_view name, std::string_view path, F&& f) {
    const Value* arr = Arr(obj, name, path);
    if (arr == nullptr) {
      return;
    }
    std::size_t i = 0;
    for (const Value& item : arr->GetArray()) {
      std::string item_path = Join(path, name) + "[" + std::to_string(i) + "]";
      if (!item.IsObject()) {
        Fail(ErrorCode::kInvalidValue, "wrong JSON type (object expected)", item_path);
      } else {
        f(item, item_path);
      }
      ++i;
    }
  }
  // Strings of an array member.
  std::vector<std::string_view> Strings(const Value& obj, std::string_view name,
                                        std::string_view path) {
    std::vector<std::string_view> out;
    const Value* arr = Arr(obj, name, path);
    if (arr == nullptr) {
      return out;
    }
    std::size_t i = 0;
    for (const Value& item : arr->GetArray()) {
      if (!item.IsString()) {
        Fail(ErrorCode::kInvalidValue, "wrong JSON type (string expected)",
             Join(path, name) + "[" + std::to_string(i) + "]");
      } else {
        out.push_back(fhir::StringOf(item));
      }
      ++i;
    }
    return out;
  }
  // A FHIR date/dateTime/instant member as DTM; empty when absent or bad (bad is reported).
  std::string Dtm(const Value& obj, std::string_view name, std::string_view path) {
    std::optional<std::string_view> text = Str(obj, name, path);
    if (!text) {
      return {};
    }
    core::Result<std::string> dtm = FhirDateTimeToDtm(*text);
    if (!dtm) {
      Fail(ErrorCode::kInvalidValue, dtm.error().message, Join(path, name));
      return {};
    }
    return *std::move(dtm);
  }

  void Fail(ErrorCode code, std::string message, std::string location) {
    if (!error_) {
      error_ = core::MakeError(code, std::move(message), std::move(location));
    }
  }
  void Fail(core::Error error) {
    if (!error_) {
      error_ = std::move(error);
    }
  }
  bool ok() const { return !error_.has_value(); }
  core::Error TakeError() { return std::move(*error_); }

  static std::string Join(std::string_view path, std::string_view name) {
    std::string out(path);
    if (!out.empty()) {
      out.push_back('.');
    }
    out.append(name);
    return out;
  }

 private:
  void WrongType(std::string_view path, std::string_view name) {
    Fail(ErrorCode::kInvalidValue, "wrong JSON type", Join(path, name));
  }

  std::optional<core::Error> error_;
};

// ---- the resources of the input and reference resolution --------------------------------------

struct Res {
  const Value* value = nullptr;
  std::string_view type;
  std::string_view id;
  std::string_view full_url;
  std::string path;               // FHIRPath of the resource, e.g. "Bundle.entry[2].resource"
  std::ptrdiff_t container = -1;  // index of the resource that contains this one
};

class Index {
 public:
  void Add(const Value& resource, std::string path, std::string_view full_url,
           std::ptrdiff_t container, Reader& reader) {
    Res res;
    res.value = &resource;
    res.type = reader.Str(resource, "resourceType", path).value_or("");
    res.id = reader.Str(resource, "id", path).value_or("");
    res.full_url = full_url;
    res.path = std::move(path);
    res.container = container;
    const std::ptrdiff_t self = static_cast<std::ptrdiff_t>(all_.size());
    all_.push_back(res);
    if (container < 0) {
      const std::string base = all_.back().path;
      reader.ForEachObject(resource, "contained", base,
                           [&](const Value& contained, const std::string& contained_path) {
                             Add(contained, contained_path, {}, self, reader);
                           });
    }
  }

  const std::vector<Res>& all() const { return all_; }

  std::vector<const Res*> OfType(std::string_view type) const {
    std::vector<const Res*> out;
    for (const Res& res : all_) {
      if (res.type == type && res.container < 0) {
        out.push_back(&res);
      }
    }
    return out;
  }

  // Builds the lookup tables; call once after the last Add. Lookups are hashed so a Bundle of
  // many entries with many references costs linear time, not quadratic.
  void Finish() {
    for (std::size_t i = 0; i < all_.size(); ++i) {
      const Res& res = all_[i];
      if (res.container >= 0) {
        contained_.try_emplace(std::to_string(res.container) + "#" + std::string(res.id), i);
        continue;
      }
      if (!res.full_url.empty()) {
        by_url_.try_emplace(std::string(res.full_url), i);
      }
      if (!res.id.empty()) {
        by_type_id_.try_emplace(std::string(res.type) + "/" + std::string(res.id), i);
      }
    }
  }

  // The resource a Reference points at, or nullptr (not in the input, or no reference string).
  const Res* Resolve(const Value* reference, const Res& from, Reader& reader,
                     std::string_view path) const {
    if (reference == nullptr) {
      return nullptr;
    }
    std::optional<std::string_view> ref = reader.Str(*reference, "reference", path);
    if (!ref || ref->empty()) {
      return nullptr;
    }
    if (ref->front() == '#') {
      const std::ptrdiff_t owner = from.container >= 0 ? from.container : IndexOf(from);
      return Lookup(contained_, std::to_string(owner) + std::string(*ref));
    }
    if (const Res* res = Lookup(by_url_, std::string(*ref))) {
      return res;
    }
    // "Type/id", or an absolute URL or versioned reference ending in Type/id[/_history/n].
    std::string_view rel = *ref;
    if (const std::size_t hist = rel.find("/_history/"); hist != std::string_view::npos) {
      rel = rel.substr(0, hist);
    }
    const std::size_t slash = rel.rfind('/');
    if (slash == std::string_view::npos || slash == 0) {
      return nullptr;
    }
    const std::string_view id = rel.substr(slash + 1);
    std::string_view type = rel.substr(0, slash);
    if (const std::size_t prev = type.rfind('/'); prev != std::string_view::npos) {
      type = type.substr(prev + 1);
    }
    return Lookup(by_type_id_, std::string(type) + "/" + std::string(id));
  }

 private:
  using Table = std::unordered_map<std::string, std::size_t>;

  const Res* Lookup(const Table& table, const std::string& key) const {
    const auto found = table.find(key);
    return found == table.end() ? nullptr : &all_[found->second];
  }
  std::ptrdiff_t IndexOf(const Res& res) const { return &res - all_.data(); }

  std::vector<Res> all_;
  Table by_url_;
  Table by_type_id_;
  Table contained_;
};

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
    std::string out = Rep() + "." + std::to_string(component);
    if (sub != 0) {
      out += "." + std::to_string(sub);
    }
    return out;
  }
  Pos WithRep(std::size_t rep) const {
    Pos out = *this;
    out.repetition = rep;
    return out;
  }
};

Pos At(std::string_view segment, std::size_t occurrence, std::size_t field,
       std::size_t repetition = 1) {
  return Pos{std::string(segment), occurrence, field, repetition};
}

std::string FormatNumber(const Value& number) {
  if (number.IsInt64()) {
    return std::to_string(number.GetInt64());
  }
  if (number.IsUint64()) {
    return std::to_string(number.GetUint64());
  }
  char buffer[400];
  const std::to_chars_result res =
      std::to_chars(buffer, buffer + sizeof(buffer), number.GetDouble(), std::chars_format::fixed);
  if (res.ec != std::errc()) {
    return {};
  }
  std::string out(buffer, res.ptr);
  // The JSON had a decimal point (RapidJSON keeps integers apart), so keep one: "4.0" stays a
  // decimal rather than becoming "4". Trailing zeros beyond it cannot be recovered.
  if (out.find('.') == std::string::npos) {
    out += ".0";
  }
  return out;
}

std::uint64_t Fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string Hex16(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out(16, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[15 - i] = kDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

std::string UtcDtm(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  const std::size_t n = std::strftime(buffer, sizeof(buffer), "%Y%m%d%H%M%S+0000", &tm);
  return std::string(buffer, n);
}

bool VersionBefore25(std::string_view version) {
  return version.substr(0, 3) == "2.1" || version.substr(0, 3) == "2.2" ||
         version.substr(0, 3) == "2.3" || version.substr(0, 3) == "2.4";
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
    return std::string(system);  // carried through: the receiver still knows where it came from
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
    };
    std::vector<Triplet> triplets;
    for (const Coding& c : codings) {
      if (const V2Code* local = tables_.Translate(c.system, c.code)) {
        triplets.insert(triplets.begin(), Triplet{local->code, local->display, local->system});
      }
    }
    for (const Coding& c : codings) {
      triplets.push_back(
          Triplet{std::string(c.code), std::string(c.display), CodingSystemName(c.system)});
    }
    if (triplets.empty()) {
      Set(pos.C(2), text);  // text only: CWE-2 is what every receiver displays
      return;
    }
    for (std::size_t i = 0; i < triplets.size() && i < 2; ++i) {
      Set(pos.C(1 + 3 * i), triplets[i].code);
      Set(pos.C(2 + 3 * i), triplets[i].display);
      Set(pos.C(3 + 3 * i), triplets[i].system);
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
    constexpr std::string_view kOid = "urn:oid:";
    if (system.substr(0, kOid.size()) == kOid) {
      Set(pos.C(component, 2), system.substr(kOid.size()));
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

// ---- segments -----------------------------------------------------------------------------------

void WriteMsh(Mapper& m, std::string_view type, std::string_view trigger,
              std::string_view structure, const std::string& control_id,
              const std::string& timestamp) {
  const FhirToV2Options& o = m.options();
  m.Set("MSH-3.1", o.sending_application);
  m.Set("MSH-4.1", o.sending_facility);
  m.Set("MSH-5.1", o.receiving_application);
  m.Set("MSH-6.1", o.receiving_facility);
  m.Set("MSH-7", timestamp);
  m.Set("MSH-9.1", type);
  m.Set("MSH-9.2", trigger);
  m.Set("MSH-9.3", structure);
  m.Set("MSH-10", control_id);
  m.Set("MSH-11.1", o.processing_id);
  m.Set("MSH-12.1", o.version);
  m.Set("MSH-18", o.character_set);
}

// The subject of a result or encounter: a Patient in the input, or failing that the
// identifier the reference carries.
struct Subject {
  const Res* patient = nullptr;
  const Value* reference = nullptr;  // used when patient is null
  std::string reference_path;
};

void WritePid(Mapper& m, const Index& index, const Subject& subject) {
  Reader& r = m.reader();
  m.Set("PID-1", "1");
  if (subject.patient == nullptr) {
    // Only a logical reference: PID-3 from its identifier.
    const Value* identifier = r.Obj(*subject.reference, "identifier", subject.reference_path);
    const std::string id_path = Reader::Join(subject.reference_path, "identifier");
    if (identifier != nullptr) {
      const std::string_view system = r.Str(*identifier, "system", id_path).value_or("");
      const std::string_view value = r.Str(*identifier, "value", id_path).value_or("");
      if (system == core::kNhsNumberSystem && !core::IsValidNhsNumber(value)) {
        r.Fail(ErrorCode::kInvalidValue, "NHS number fails the Modulus 11 check",
               Reader::Join(id_path, "value"));
      }
      m.WriteCx(At("PID", 1, 3), *identifier, id_path);
    }
    return;
  }
  const Value& patient = *subject.patient->value;
  const std::string& path = subject.patient->path;

  // PID-3: the NHS number first, as N^^^NHS^NH, then every other identifier.
  struct Id {
    const Value* value;
    std::string path;
    bool nhs;
  };
  std::vector<Id> ids;
  r.ForEachObject(patient, "identifier", path, [&](const Value& id, const std::string& p) {
    const std::string_view system = r.Str(id, "system", p).value_or("");
    const bool nhs = system == core::kNhsNumberSystem;
    if (nhs) {
      const std::string_view value = r.Str(id, "value", p).value_or("");
      if (!core::IsValidNhsNumber(value)) {
        r.Fail(ErrorCode::kInvalidValue, "NHS number fails the Modulus 11 check",
               Reader::Join(p, "value"));
      }
    }
    ids.push_back({&id, p, nhs});
  });
  std::stable_partition(ids.begin(), ids.end(), [](const Id& id) { return id.nhs; });
  std::size_t rep = 0;
  for (const Id& id : ids) {
    if (m.WriteCx(At("PID", 1, 3, rep + 1), *id.value, id.path)) {
      ++rep;
    }
  }
  // PID-32: the NHS number verification status (UK Core extension on the NHS number).
  if (!ids.empty() && ids.front().nhs) {
    r.ForEachObject(*ids.front().value, "extension", ids.front().path,
                    [&](const Value& ext, const std::string& p) {
                      if (r.Str(ext, "url", p).value_or("") != kVerificationStatusUrl) {
                        return;
                      }
                      if (const Value* cc = r.Obj(ext, "valueCodeableConcept", p)) {
                        m.Set("PID-32", m.TableCode(maps::kNhsNumberVerification,
                                                    m.Codings(*cc, p + ".valueCodeableConcept")));
                      }
                    });
  }

  // PID-5: names, the official one first.
  struct Name {
    const Value* value;
    std::string path;
    bool official;
  };
  std::vector<Name> names;
  r.ForEachObject(patient, "name", path, [&](const Value& name, const std::string& p) {
    names.push_back({&name, p, r.Str(name, "use", p).value_or("") == "official"});
  });
  std::stable_partition(names.begin(), names.end(), [](const Name& n) { return n.official; });
  rep = 0;
  for (const Name& name : names) {
    if (m.WriteXpn(At("PID", 1, 5, rep + 1), *name.value, name.path)) {
      ++rep;
    }
  }

  // PID-7: birth date, or the full birth time when the extension gives one.
  std::string birth = r.Dtm(patient, "birthDate", path);
  if (const Value* birth_date_ext = fhir::FindObject(patient, "_birthDate")) {
    r.ForEachObject(*birth_date_ext, "extension", path + "._birthDate",
                    [&](const Value& ext, const std::string& p) {
                      if (r.Str(ext, "url", p).value_or("") == kBirthTimeUrl) {
                        std::string time = r.Dtm(ext, "valueDateTime", p);
                        if (!time.empty()) {
                          birth = std::move(time);
                        }
                      }
                    });
  }
  m.Set("PID-7", birth);
  m.Set("PID-8",
        m.TableCode(maps::kGender, kGenderSystem, r.Str(patient, "gender", path).value_or("")));

  rep = 0;
  r.ForEachObject(patient, "address", path, [&](const Value& address, const std::string& p) {
    if (m.WriteXad(At("PID", 1, 11, rep + 1), address, p)) {
      ++rep;
    }
  });

  // PID-13 home (and personal) contacts, PID-14 work.
  std::size_t home = 0;
  std::size_t work = 0;
  r.ForEachObject(patient, "telecom", path, [&](const Value& cp, const std::string& p) {
    const std::string_view system = r.Str(cp, "system", p).value_or("");
    const std::string_view value = r.Str(cp, "value", p).value_or("");
    const std::string_view use = r.Str(cp, "use", p).value_or("");
    if (value.empty()) {
      return;
    }
    if (use == "work") {
      m.WriteXtn(At("PID", 1, 14, ++work), system, value, use);
    } else {
      m.WriteXtn(At("PID", 1, 13, ++home), system, value, use);
    }
  });

  // PID-15: the preferred language (or the first).
  const Value* language = nullptr;
  std::string language_path;
  r.ForEachObject(patient, "communication", path, [&](const Value& c, const std::string& p) {
    const bool preferred = r.Bool(c, "preferred", p).value_or(false);
    if (language == nullptr || preferred) {
      if (const Value* cc = r.Obj(c, "language", p)) {
        language = cc;
        language_path = p + ".language";
      }
    }
  });
  if (language != nullptr) {
    m.WriteCodeableConcept(At("PID", 1, 15), *language, language_path);
  }

  if (const Value* marital = r.Obj(patient, "maritalStatus", path)) {
    const std::string mpath = path + ".maritalStatus";
    const std::vector<Coding> codings = m.Codings(*marital, mpath);
    if (!codings.empty()) {
      const std::string code = m.TableCode(maps::kMaritalStatus, codings);
      m.Set("PID-16.1", code);
      m.Set("PID-16.2", codings.front().display);
      m.Set("PID-16.3", "HL70002");
    }
  }

  if (std::optional<bool> multiple = r.Bool(patient, "multipleBirthBoolean", path)) {
    m.Set("PID-24", *multiple ? "Y" : "N");
  }
  if (const Value* order = r.Num(patient, "multipleBirthInteger", path)) {
    m.Set("PID-24", "Y");
    m.Set("PID-25", FormatNumber(*order));
  }
  if (std::optional<bool> deceased = r.Bool(patient, "deceasedBoolean", path)) {
    m.Set("PID-30", *deceased ? "Y" : "N");
  }
  const std::string death = r.Dtm(patient, "deceasedDateTime", path);
  if (!death.empty()) {
    m.Set("PID-29", death);
    m.Set("PID-30", "Y");
  }

  // PD1-3 registered GP practice (Organization), PD1-4 GP (Practitioner).
  std::size_t practices = 0;
  std::size_t gps = 0;
  r.ForEachObject(
      patient, "generalPractitioner", path, [&](const Value& ref, const std::string& p) {
        const Res* target = index.Resolve(&ref, *subject.patient, r, p);
        std::string_view type = r.Str(ref, "type", p).value_or("");
        if (target != nullptr) {
          type = target->type;
        }
        const std::string_view reference = r.Str(ref, "reference", p).value_or("");
        if (type.empty()) {
          type = reference.substr(0, reference.find('/'));
        }
        const Value* identifier = nullptr;
        std::string id_path;
        if (target != nullptr) {
          if (const Value* target_ids = r.Arr(*target->value, "identifier", target->path)) {
            if (target_ids->Size() > 0 && (*target_ids)[0].IsObject()) {
              identifier = &(*target_ids)[0];
              id_path = target->path + ".identifier[0]";
            }
          }
        }
        if (identifier == nullptr) {
          identifier = r.Obj(ref, "identifier", p);
          id_path = p + ".identifier";
        }
        const std::string_view id_system =
            identifier != nullptr ? r.Str(*identifier, "system", id_path).value_or("") : "";
        if (type.empty() && id_system == core::kOdsCodeSystem) {
          type = "Organization";
        }
        if (type == "Organization") {
          const Pos pos = At("PD1", 1, 3, ++practices);
          std::string_view name = r.Str(ref, "display", p).value_or("");
          if (target != nullptr) {
            name = r.Str(*target->value, "name", target->path).value_or(name);
          }
          m.Set(pos.C(1), name);
          if (identifier != nullptr) {
            const std::string_view code = r.Str(*identifier, "value", id_path).value_or("");
            m.Set(pos.C(VersionBefore25(m.options().version) ? 3 : 10), code);
            std::string id_type;
            m.WriteAssigningAuthority(pos, 6, id_system, &id_type);
            m.Set(pos.C(7), id_type);
          }
        } else if (type == "Practitioner" || type == "PractitionerRole") {
          m.WriteXcn(At("PD1", 1, 4, ++gps), &ref, type == "Practitioner" ? target : nullptr, p);
        }
      });
}

// PL-4 facility from a Location's managingOrganization: its ODS code, else its name. True when
// something was written.
bool WriteFacility(Mapper& m, const Index& index, const Res& location, const Pos& pl) {
  Reader& r = m.reader();
  const Value* ref = r.Obj(*location.value, "managingOrganization", location.path);
  const std::string ref_path = location.path + ".managingOrganization";
  const Res* org = index.Resolve(ref, location, r, ref_path);
  if (org == nullptr || org->type != "Organization") {
    return false;
  }
  std::string_view name = r.Str(*org->value, "name", org->path).value_or("");
  r.ForEachObject(*org->value, "identifier", org->path, [&](const Value& id, const std::string& p) {
    if (r.Str(id, "system", p).value_or("") == core::kOdsCodeSystem) {
      name = r.Str(id, "value", p).value_or(name);
    }
  });
  m.Set(pl.C(4, 1), name);
  return !name.empty();
}

// Next of kin and contacts -> NK1: Patient.contact[] and RelatedPerson resources whose patient
// is this Patient, in that order.
void WriteNk1s(Mapper& m, const Index& index, const Subject& subject) {
  if (subject.patient == nullptr) {
    return;
  }
  Reader& r = m.reader();
  std::size_t set_id = 0;
  // One contact or related person; `names` and `addresses` may be arrays or single objects.
  const auto write = [&](const Value& person, const std::string& path, bool single_name) {
    const std::size_t nk1 = m.AddSegment("NK1");
    m.Set(At("NK1", nk1, 1).Field(), std::to_string(++set_id));
    std::size_t rep = 0;
    if (single_name) {
      if (const Value* name = r.Obj(person, "name", path)) {
        m.WriteXpn(At("NK1", nk1, 2), *name, path + ".name");
      }
      if (const Value* address = r.Obj(person, "address", path)) {
        m.WriteXad(At("NK1", nk1, 4), *address, path + ".address");
      }
    } else {
      r.ForEachObject(person, "name", path, [&](const Value& name, const std::string& p) {
        if (m.WriteXpn(At("NK1", nk1, 2, rep + 1), name, p)) {
          ++rep;
        }
      });
      rep = 0;
      r.ForEachObject(person, "address", path, [&](const Value& address, const std::string& p) {
        if (m.WriteXad(At("NK1", nk1, 4, rep + 1), address, p)) {
          ++rep;
        }
      });
    }
    // NK1-3 relationship (0063 from v3-RoleCode or v2-0063), NK1-7 contact role (v2-0131).
    // A relationship in another system is carried in NK1-3 with that system.
    bool relationship = false;
    std::optional<Coding> other;
    r.ForEachObject(person, "relationship", path, [&](const Value& cc, const std::string& p) {
      for (const Coding& c : m.Codings(cc, p)) {
        if (c.system == "http://terminology.hl7.org/CodeSystem/v2-0131") {
          m.Set(At("NK1", nk1, 7).C(1), c.code);
          m.Set(At("NK1", nk1, 7).C(2), c.display);
          m.Set(At("NK1", nk1, 7).C(3), "HL70131");
          continue;
        }
        const V2Code* row = m.tables().Find(maps::kRelationship, c.system, c.code);
        if (!relationship &&
            (row != nullptr || c.system == "http://terminology.hl7.org/CodeSystem/v2-0063")) {
          relationship = true;
          m.Set(At("NK1", nk1, 3).C(1), row != nullptr ? row->code : std::string(c.code));
          m.Set(At("NK1", nk1, 3).C(2), row != nullptr ? row->display : std::string(c.display));
          m.Set(At("NK1", nk1, 3).C(3), "HL70063");
        } else if (!other) {
          other = c;
        }
      }
    });
    if (!relationship && other) {
      m.WriteCodings(At("NK1", nk1, 3), {*other}, "");
    }
    std::size_t home = 0;
    std::size_t work = 0;
    r.ForEachObject(person, "telecom", path, [&](const Value& cp, const std::string& p) {
      const std::string_view system = r.Str(cp, "system", p).value_or("");
      const std::string_view value = r.Str(cp, "value", p).value_or("");
      const std::string_view use = r.Str(cp, "use", p).value_or("");
      if (value.empty()) {
        return;
      }
      if (use == "work") {
        m.WriteXtn(At("NK1", nk1, 6, ++work), system, value, use);
      } else {
        m.WriteXtn(At("NK1", nk1, 5, ++home), system, value, use);
      }
    });
    if (const Value* period = r.Obj(person, "period", path)) {
      m.Set(At("NK1", nk1, 8).Field(), r.Dtm(*period, "start", path + ".period"));
      m.Set(At("NK1", nk1, 9).Field(), r.Dtm(*period, "end", path + ".period"));
    }
    m.Set(At("NK1", nk1, 15).Field(),
          m.TableCode(maps::kGender, kGenderSystem, r.Str(person, "gender", path).value_or("")));
    m.Set(At("NK1", nk1, 16).Field(), r.Dtm(person, "birthDate", path));
    rep = 0;
    r.ForEachObject(person, "identifier", path, [&](const Value& id, const std::string& p) {
      if (m.WriteCx(At("NK1", nk1, 33, rep + 1), id, p)) {
        ++rep;
      }
    });
  };
  r.ForEachObject(*subject.patient->value, "contact", subject.patient->path,
                  [&](const Value& contact, const std::string& p) { write(contact, p, true); });
  for (const Res* related : index.OfType("RelatedPerson")) {
    const Res* patient = index.Resolve(r.Obj(*related->value, "patient", related->path), *related,
                                       r, related->path + ".patient");
    if (patient == subject.patient) {
      write(*related->value, related->path, false);
    }
  }
}

// Encounter -> PV1 (and PV2-3 admit reason).
void WritePv1(Mapper& m, const Index& index, const Res* encounter) {
  Reader& r = m.reader();
  m.Set("PV1-1", "1");
  if (encounter == nullptr) {
    m.Set("PV1-2", "N");  // patient class "not applicable": PV1 is required in ADT_A05
    return;
  }
  const Value& e = *encounter->value;
  const std::string& path = encounter->path;
  if (const Value* cls = r.Obj(e, "class", path)) {
    const std::string cpath = path + ".class";
    Coding c{r.Str(*cls, "system", cpath).value_or(""), r.Str(*cls, "code", cpath).value_or(""),
             r.Str(*cls, "display", cpath).value_or("")};
    m.Set("PV1-2", m.TableCode(maps::kEncounterClass, {c}));
  }

  // PV1-3: the current location (the first not completed), filled by physical type along the
  // partOf chain: ward -> PL-1, room -> PL-2, bed -> PL-3, site -> PL-4, building -> PL-7,
  // level -> PL-8.
  const Value* location_ref = nullptr;
  std::string location_path;
  bool current = false;
  r.ForEachObject(e, "location", path, [&](const Value& loc, const std::string& p) {
    const Value* ref = r.Obj(loc, "location", p);
    if (ref == nullptr) {
      return;
    }
    const bool completed = r.Str(loc, "status", p).value_or("") == "completed";
    if (location_ref == nullptr || (!current && !completed)) {
      location_ref = ref;
      location_path = p + ".location";
      current = !completed;
    }
  });
  if (location_ref != nullptr) {
    const Pos pl = At("PV1", 1, 3);
    const std::string& ref_path = location_path;
    const Res* loc = index.Resolve(location_ref, *encounter, r, ref_path);
    // The most specific Location is the point of care unless it is a bed or a room; the rest
    // of the chain fills the other components by type. The first (most specific) name wins.
    bool written[10] = {};
    for (int depth = 0; loc != nullptr && depth < 8; ++depth) {
      const Value& lv = *loc->value;
      std::string_view name = r.Str(lv, "name", loc->path).value_or("");
      if (name.empty()) {
        if (const Value* ids = r.Arr(lv, "identifier", loc->path)) {
          if (ids->Size() > 0 && (*ids)[0].IsObject()) {
            name = r.Str((*ids)[0], "value", loc->path + ".identifier[0]").value_or("");
          }
        }
      }
      std::string_view kind;
      if (const Value* pt = r.Obj(lv, "physicalType", loc->path)) {
        for (const Coding& c : m.Codings(*pt, loc->path + ".physicalType")) {
          if (c.system == kLocationPhysicalType) {
            kind = c.code;
          }
        }
      }
      if (depth == 0) {
        written[4] = WriteFacility(m, index, *loc, pl);
      }
      const bool standalone = depth == 0 && fhir::FindMember(lv, "partOf") == nullptr;
      std::size_t component = 1;  // unknown types: point of care, if still free
      if (standalone) {
        component = 1;  // one Location and no hierarchy: its name is the point of care
      } else if (kind == "bd") {
        component = 3;
      } else if (kind == "ro") {
        component = 2;
      } else if (depth == 0) {
        component = 1;
      } else if (kind == "si") {
        component = 4;
      } else if (kind == "bu") {
        component = 7;
      } else if (kind == "lvl") {
        component = 8;
      }
      if (!written[component] && !name.empty()) {
        written[component] = true;
        m.Set(component == 4 ? pl.C(4, 1) : pl.C(component), name);
      }
      loc = index.Resolve(r.Obj(lv, "partOf", loc->path), *loc, r, loc->path + ".partOf");
    }
    if (index.Resolve(location_ref, *encounter, r, ref_path) == nullptr) {
      // Not in the input: its identifier or display names the point of care.
      std::string_view name = r.Str(*location_ref, "display", ref_path).value_or("");
      if (const Value* id = r.Obj(*location_ref, "identifier", ref_path)) {
        name = r.Str(*id, "value", ref_path + ".identifier").value_or(name);
      }
      m.Set(pl.C(1), name);
    }
  }

  if (const Value* priority = r.Obj(e, "priority", path)) {
    m.Set("PV1-4", m.TableCode(maps::kEncounterPriority, m.Codings(*priority, path + ".priority")));
  } else {
    // v2 -> FHIR puts PV1-4 in Encounter.type (v2-0007), as the IG does.
    r.ForEachObject(e, "type", path, [&](const Value& cc, const std::string& p) {
      for (const Coding& c : m.Codings(cc, p)) {
        if (c.system == "http://terminology.hl7.org/CodeSystem/v2-0007") {
          m.Set("PV1-4", c.code);
        }
      }
    });
  }

  // PV1-7 attending, PV1-8 referring, PV1-9 consulting, PV1-17 admitting.
  std::size_t counts[4] = {0, 0, 0, 0};
  r.ForEachObject(e, "participant", path, [&](const Value& part, const std::string& p) {
    std::string_view role;
    r.ForEachObject(part, "type", p, [&](const Value& type, const std::string& tp) {
      for (const Coding& c : m.Codings(type, tp)) {
        if (c.system == kParticipationType || c.system.empty()) {
          if (role.empty()) {
            role = c.code;
          }
        }
      }
    });
    std::size_t field = 0;
    std::size_t slot = 0;
    if (role == "ATND") {
      field = 7;
      slot = 0;
    } else if (role == "REF") {
      field = 8;
      slot = 1;
    } else if (role == "CON") {
      field = 9;
      slot = 2;
    } else if (role == "ADM") {
      field = 17;
      slot = 3;
    } else {
      return;
    }
    const Value* individual = r.Obj(part, "individual", p);
    if (individual == nullptr) {
      return;
    }
    const std::string ipath = p + ".individual";
    const Res* practitioner = index.Resolve(individual, *encounter, r, ipath);
    if (practitioner != nullptr && practitioner->type != "Practitioner") {
      practitioner = nullptr;
    }
    m.WriteXcn(At("PV1", 1, field, ++counts[slot]), individual, practitioner, ipath);
  });

  if (const Value* st = r.Obj(e, "serviceType", path)) {
    const std::vector<Coding> codings = m.Codings(*st, path + ".serviceType");
    if (!codings.empty()) {
      m.Set("PV1-10", codings.front().code);
    }
  }

  // PV1-19 visit number: the identifier typed VN, else the first.
  const Value* visit = nullptr;
  std::string visit_path;
  r.ForEachObject(e, "identifier", path, [&](const Value& id, const std::string& p) {
    bool vn = false;
    if (const Value* type = r.Obj(id, "type", p)) {
      for (const Coding& c : m.Codings(*type, p + ".type")) {
        vn = vn || c.code == "VN";
      }
    }
    if (visit == nullptr || vn) {
      visit = &id;
      visit_path = p;
    }
  });
  if (visit != nullptr) {
    m.WriteCx(At("PV1", 1, 19), *visit, visit_path);
  }

  if (const Value* hosp = r.Obj(e, "hospitalization", path)) {
    const std::string hpath = path + ".hospitalization";
    if (const Value* source = r.Obj(*hosp, "admitSource", hpath)) {
      const std::vector<Coding> codings = m.Codings(*source, hpath + ".admitSource");
      if (!codings.empty()) {
        m.Set("PV1-14", codings.front().code);
      }
    }
    if (const Value* disposition = r.Obj(*hosp, "dischargeDisposition", hpath)) {
      const std::vector<Coding> codings = m.Codings(*disposition, hpath + ".dischargeDisposition");
      if (!codings.empty()) {
        m.Set("PV1-36", codings.front().code);
      }
    }
  }

  if (const Value* period = r.Obj(e, "period", path)) {
    m.Set("PV1-44", r.Dtm(*period, "start", path + ".period"));
    m.Set("PV1-45", r.Dtm(*period, "end", path + ".period"));
  }
}

void WritePv2(Mapper& m, const Res* encounter) {
  if (encounter == nullptr) {
    return;
  }
  Reader& r = m.reader();
  const Value* reason = nullptr;
  std::string reason_path;
  r.ForEachObject(*encounter->value, "reasonCode", encounter->path,
                  [&](const Value& cc, const std::string& p) {
                    if (reason == nullptr) {
                      reason = &cc;
                      reason_path = p;
                    }
                  });
  if (reason != nullptr) {
    m.AddSegment("PV2");
    m.WriteCodeableConcept(At("PV2", 1, 3), *reason, reason_path);
  }
}

// ---- ORU ----------------------------------------------------------------------------------------

class OruWriter {
 public:
  OruWriter(Mapper& m, const Index& index) : m_(m), r_(m.reader()), index_(index) {}

  void WriteReport(const Res* report, const std::vector<const Res*>& observations,
                   std::size_t set_id) {
    obr_ = m_.AddSegment("OBR");
    obx_set_id_ = 0;
    nte_set_id_ = 0;
    const Pos obr = At("OBR", obr_, 0);
    m_.Set(Field(obr, 1), std::to_string(set_id));
    if (report != nullptr) {
      WriteObr(*report);
    } else if (!observations.empty()) {
      // Observations without a report: the OBR names the first one's test.
      if (const Value* code =
              r_.Obj(*observations.front()->value, "code", observations.front()->path)) {
        m_.WriteCodeableConcept(At("OBR", obr_, 4), *code, observations.front()->path + ".code");
      }
    }
    for (const Res* obs : observations) {
      WriteObservation(*obs, 0);
    }
    if (report != nullptr) {
      WritePresentedForms(*report);
    }
  }

 private:
  static std::string Field(const Pos& pos, std::size_t field) {
    Pos p = pos;
    p.field = field;
    return p.Field();
  }

  void WriteObr(const Res& report) {
    const Value& dr = *report.value;
    const std::string& path = report.path;
    // OBR-2 placer / OBR-3 filler order number from typed identifiers (PLAC/FILL), else the
    // first identifier is the filler's.
    bool filler = false;
    r_.ForEachObject(dr, "identifier", path, [&](const Value& id, const std::string& p) {
      std::string_view type;
      if (const Value* t = r_.Obj(id, "type", p)) {
        const std::vector<Coding> codings = m_.Codings(*t, p + ".type");
        if (!codings.empty()) {
          type = codings.front().code;
        }
      }
      std::size_t field = 0;
      if (type == "PLAC") {
        field = 2;
      } else if ((type == "FILL" || type.empty()) && !filler) {
        field = 3;
        filler = true;
      } else {
        return;
      }
      const Pos ei = At("OBR", obr_, field);
      m_.Set(ei.C(1), r_.Str(id, "value", p).value_or(""));
      const std::string_view system = r_.Str(id, "system", p).value_or("");
      if (!system.empty()) {
        m_.Set(ei.C(3), system);
        m_.Set(ei.C(4), "URI");
      }
    });
    if (const Value* code = r_.Obj(dr, "code", path)) {
      m_.WriteCodeableConcept(At("OBR", obr_, 4), *code, path + ".code");
    }
    std::string start = r_.Dtm(dr, "effectiveDateTime", path);
    if (const Value* period = r_.Obj(dr, "effectivePeriod", path)) {
      start = r_.Dtm(*period, "start", path + ".effectivePeriod");
      m_.Set(At("OBR", obr_, 8).Field(), r_.Dtm(*period, "end", path + ".effectivePeriod"));
    }
    m_.Set(At("OBR", obr_, 7).Field(), start);
    m_.Set(At("OBR", obr_, 22).Field(), r_.Dtm(dr, "issued", path));
    r_.ForEachObject(dr, "category", path, [&](const Value& cc, const std::string& p) {
      const std::vector<Coding> codings = m_.Codings(cc, p);
      for (const Coding& c : codings) {
        if (c.system == "http://terminology.hl7.org/CodeSystem/v2-0074") {
          m_.Set(At("OBR", obr_, 24).Field(), c.code);
        }
      }
    });
    m_.Set(At("OBR", obr_, 25).Field(), m_.TableCode(maps::kReportStatus, kReportStatusSystem,
                                                     r_.Str(dr, "status", path).value_or("")));
    const std::string_view conclusion = r_.Str(dr, "conclusion", path).value_or("");
    if (!conclusion.empty()) {
      WriteNte(conclusion);
    }
  }

  void WriteNte(std::string_view text) {
    const std::size_t nte = m_.AddSegment("NTE");
    m_.Set(At("NTE", nte, 1).Field(), std::to_string(++nte_set_id_));
    m_.Set(At("NTE", nte, 2).Field(), "L");
    m_.SetText(At("NTE", nte, 3), text);
  }

  void WriteObservation(const Res& res, int depth) {
    // Each Observation once, however often panels point at it (and cycles end here).
    if (!written_.insert(&res).second) {
      return;
    }
    const Value& obs = *res.value;
    const std::string& path = res.path;
    const bool has_value = HasValue(obs);
    const Value* components = r_.Arr(obs, "component", path);
    const Value* members = r_.Arr(obs, "hasMember", path);
    const bool grouped = components != nullptr && components->Size() > 0;
    const std::size_t group_id = ++observation_count_;
    if (has_value || (!grouped && (members == nullptr || members->Empty()))) {
      WriteObx(obs, path, obs, path, grouped ? std::to_string(group_id) : std::string());
    }
    if (grouped) {
      // Components (e.g. systolic and diastolic) share the parent's OBX-4 sub-id.
      r_.ForEachObject(obs, "component", path, [&](const Value& comp, const std::string& p) {
        WriteObx(comp, p, obs, path, std::to_string(group_id));
      });
    }
    // Notes follow the Observation's last OBX.
    r_.ForEachObject(obs, "note", path, [&](const Value& note, const std::string& p) {
      const std::string_view text = r_.Str(note, "text", p).value_or("");
      if (!text.empty()) {
        WriteNte(text);
      }
    });
    if (members != nullptr && depth < 4) {
      r_.ForEachObject(obs, "hasMember", path, [&](const Value& ref, const std::string& p) {
        const Res* member = index_.Resolve(&ref, res, r_, p);
        if (member != nullptr && member->type == "Observation") {
          WriteObservation(*member, depth + 1);
        }
      });
    }
  }

  static bool HasValue(const Value& obs) {
    if (!obs.IsObject()) {
      return false;
    }
    for (auto it = obs.MemberBegin(); it != obs.MemberEnd(); ++it) {
      const std::string_view name = fhir::StringOf(it->name);
      if (name.size() > 5 && name.substr(0, 5) == "value") {
        return true;
      }
    }
    return false;
  }

  // One OBX from an Observation or one of its components (`item`); status, time, interpretation
  // fall back to the parent Observation.
  void WriteObx(const Value& item, const std::string& path, const Value& parent,
                const std::string& parent_path, const std::string& sub_id) {
    const std::size_t obx = m_.AddSegment("OBX");
    nte_set_id_ = 0;
    const Pos base = At("OBX", obx, 0);
    m_.Set(Field(base, 1), std::to_string(++obx_set_id_));
    if (const Value* code = r_.Obj(item, "code", path)) {
      m_.WriteCodeableConcept(At("OBX", obx, 3), *code, path + ".code");
    }
    m_.Set(Field(base, 4), sub_id);
    WriteValue(obx, item, path);

    // OBX-7 reference range (the first one).
    const Value* ranges = r_.Arr(item, "referenceRange", path);
    if (ranges != nullptr && ranges->Size() > 0 && (*ranges)[0].IsObject()) {
      m_.Set(Field(base, 7), ReferenceRange((*ranges)[0], path + ".referenceRange[0]"));
    }

    // OBX-8 abnormal flags, repeating.
    const Value* interp_owner =
        fhir::FindMember(item, "interpretation") != nullptr ? &item : &parent;
    const std::string& interp_path = interp_owner == &item ? path : parent_path;
    std::size_t flag = 0;
    r_.ForEachObject(
        *interp_owner, "interpretation", interp_path, [&](const Value& cc, const std::string& p) {
          const std::string code = m_.TableCode(maps::kInterpretation, m_.Codings(cc, p));
          if (!code.empty()) {
            m_.Set(At("OBX", obx, 8, ++flag).Rep(), code);
          }
        });

    m_.Set(Field(base, 11), m_.TableCode(maps::kObservationStatus, kObservationStatusSystem,
                                         r_.Str(parent, "status", parent_path).value_or("")));
    std::string when = r_.Dtm(parent, "effectiveDateTime", parent_path);
    if (when.empty()) {
      when = r_.Dtm(parent, "effectiveInstant", parent_path);
    }
    if (const Value* period = r_.Obj(parent, "effectivePeriod", parent_path)) {
      when = r_.Dtm(*period, "start", parent_path + ".effectivePeriod");
    }
    m_.Set(Field(base, 14), when);
    if (&item == &parent) {
      if (const Value* method = r_.Obj(item, "method", path)) {
        m_.WriteCodeableConcept(At("OBX", obx, 17), *method, path + ".method");
      }
      m_.Set(Field(base, 19), r_.Dtm(item, "issued", path));
    }

    // Notes and a data-absent reason follow as NTE.
    if (const Value* absent = r_.Obj(item, "dataAbsentReason", path)) {
      std::vector<Coding> codings = m_.Codings(*absent, path + ".dataAbsentReason");
      std::string_view text = r_.Str(*absent, "text", path + ".dataAbsentReason").value_or("");
      if (text.empty() && !codings.empty()) {
        text = codings.front().display.empty() ? codings.front().code : codings.front().display;
      }
      if (!text.empty()) {
        WriteNte("Data absent: " + std::string(text));
      }
    }
  }

  // Quantity -> number in `number`, units in OBX-6.
  void WriteUnits(std::size_t obx, const Value& quantity, const std::string& path) {
    const std::string_view unit = r_.Str(quantity, "unit", path).value_or("");
    const std::string_view code = r_.Str(quantity, "code", path).value_or("");
    const std::string_view system = r_.Str(quantity, "system", path).value_or("");
    const Pos units = At("OBX", obx, 6);
    if (code.empty() && unit.empty()) {
      return;
    }
    m_.Set(units.C(1), code.empty() ? unit : code);
    m_.Set(units.C(2), unit.empty() ? code : unit);
    m_.Set(units.C(3), system == kUcum ? "UCUM" : m_.CodingSystemName(system));
  }

  std::string QuantityNumber(const Value& quantity, const std::string& path) {
    const Value* value = r_.Num(quantity, "value", path);
    return value == nullptr ? std::string() : FormatNumber(*value);
  }

  void WriteValue(std::size_t obx, const Value& item, const std::string& path) {
    const Pos value = At("OBX", obx, 5);
    const std::string type_field = At("OBX", obx, 2).Field();
    if (const Value* q = r_.Obj(item, "valueQuantity", path)) {
      const std::string qpath = path + ".valueQuantity";
      const std::string number = QuantityNumber(*q, qpath);
      const std::string_view comparator = r_.Str(*q, "comparator", qpath).value_or("");
      if (!comparator.empty()) {
        m_.Set(type_field, "SN");
        m_.Set(value.C(1), comparator);
        m_.Set(value.C(2), number);
      } else {
        m_.Set(type_field, "NM");
        m_.Set(value.Field(), number);
      }
      WriteUnits(obx, *q, qpath);
      return;
    }
    if (std::optional<std::string_view> s = r_.Str(item, "valueString", path)) {
      const bool multiline = s->find('\n') != std::string_view::npos;
      if (multiline) {
        m_.Set(type_field,
               m_.options().line_breaks == TextLineBreaks::kFormattedText ? "FT" : "TX");
        m_.SetText(value, *s);
      } else {
        m_.Set(type_field, s->size() > 199 ? "TX" : "ST");
        m_.Set(value.Field(), *s);
      }
      return;
    }
    if (const Value* cc = r_.Obj(item, "valueCodeableConcept", path)) {
      m_.Set(type_field, m_.coded_type());
      m_.WriteCodeableConcept(value, *cc, path + ".valueCodeableConcept");
      return;
    }
    if (fhir::FindMember(item, "valueDateTime") != nullptr) {
      m_.Set(type_field, VersionBefore25(m_.options().version) ? "TS" : "DTM");
      m_.Set(value.Field(), r_.Dtm(item, "valueDateTime", path));
      return;
    }
    if (const Value* range = r_.Obj(item, "valueRange", path)) {
      const std::string rpath = path + ".valueRange";
      const Value* low = r_.Obj(*range, "low", rpath);
      const Value* high = r_.Obj(*range, "high", rpath);
      const std::string lo = low != nullptr ? QuantityNumber(*low, rpath + ".low") : "";
      const std::string hi = high != nullptr ? QuantityNumber(*high, rpath + ".high") : "";
      m_.Set(type_field, "SN");
      if (!lo.empty() && !hi.empty()) {
        m_.Set(value.C(2), lo);
        m_.Set(value.C(3), "-");
        m_.Set(value.C(4), hi);
      } else if (!lo.empty()) {
        m_.Set(value.C(1), ">=");
        m_.Set(value.C(2), lo);
      } else if (!hi.empty()) {
        m_.Set(value.C(1), "<=");
        m_.Set(value.C(2), hi);
      }
      if (low != nullptr) {
        WriteUnits(obx, *low, rpath + ".low");
      } else if (high != nullptr) {
        WriteUnits(obx, *high, rpath + ".high");
      }
      return;
    }
    if (const Value* ratio = r_.Obj(item, "valueRatio", path)) {
      const std::string rpath = path + ".valueRatio";
      const Value* num = r_.Obj(*ratio, "numerator", rpath);
      const Value* den = r_.Obj(*ratio, "denominator", rpath);
      m_.Set(type_field, "SN");
      if (num != nullptr) {
        const std::string_view comparator =
            r_.Str(*num, "comparator", rpath + ".numerator").value_or("");
        m_.Set(value.C(1), comparator);
        m_.Set(value.C(2), QuantityNumber(*num, rpath + ".numerator"));
        WriteUnits(obx, *num, rpath + ".numerator");
      }
      m_.Set(value.C(3), ":");
      if (den != nullptr) {
        m_.Set(value.C(4), QuantityNumber(*den, rpath + ".denominator"));
      }
      return;
    }
    if (const Value* integer = r_.Num(item, "valueInteger", path)) {
      m_.Set(type_field, "NM");
      m_.Set(value.Field(), FormatNumber(*integer));
      return;
    }
    if (std::optional<bool> b = r_.Bool(item, "valueBoolean", path)) {
      m_.Set(type_field, m_.coded_type());
      m_.Set(value.C(1), *b ? "Y" : "N");
      m_.Set(value.C(2), *b ? "Yes" : "No");
      m_.Set(value.C(3), "HL70136");
      return;
    }
    if (std::optional<std::string_view> t = r_.Str(item, "valueTime", path)) {
      std::string tm;
      for (const char c : *t) {
        if (c != ':') {
          tm.push_back(c);
        }
      }
      m_.Set(type_field, "TM");
      m_.Set(value.Field(), tm);
      return;
    }
    if (const Value* period = r_.Obj(item, "valuePeriod", path)) {
      m_.Set(type_field, "DR");
      m_.Set(value.C(1), r_.Dtm(*period, "start", path + ".valuePeriod"));
      m_.Set(value.C(2), r_.Dtm(*period, "end", path + ".valuePeriod"));
      return;
    }
    if (const Value* attachment = r_.Obj(item, "valueAttachment", path)) {
      WriteAttachment(obx, *attachment, path + ".valueAttachment");
      return;
    }
  }

  // Attachment -> ED (inline data) or RP (url).
  void WriteAttachment(std::size_t obx, const Value& attachment, const std::string& path) {
    const Pos value = At("OBX", obx, 5);
    const std::string type_field = At("OBX", obx, 2).Field();
    const std::string_view content_type =
        r_.Str(attachment, "contentType", path).value_or("application/octet-stream");
    const std::string_view data = r_.Str(attachment, "data", path).value_or("");
    const std::string_view url = r_.Str(attachment, "url", path).value_or("");
    const std::size_t slash = content_type.find('/');
    std::string major(content_type.substr(0, slash));
    std::string subtype(slash == std::string_view::npos ? "" : content_type.substr(slash + 1));
    std::transform(subtype.begin(), subtype.end(), subtype.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    // Table 0191 type of data.
    std::string kind = "Application";
    if (major == "application") {
      kind = "AP";
    } else if (major == "image") {
      kind = "IM";
    } else if (major == "audio") {
      kind = "AU";
    } else if (major == "text") {
      kind = "TEXT";
    }
    if (!data.empty()) {
      m_.Set(type_field, "ED");
      m_.Set(value.C(2), kind);
      m_.Set(value.C(3), subtype);
      m_.Set(value.C(4), "Base64");
      m_.Set(value.C(5), data);
    } else if (!url.empty()) {
      m_.Set(type_field, "RP");
      m_.Set(value.C(1), url);
      m_.Set(value.C(3), kind);
      m_.Set(value.C(4), subtype);
    }
  }

  void WritePresentedForms(const Res& report) {
    r_.ForEachObject(*report.value, "presentedForm", report.path,
                     [&](const Value& attachment, const std::string& p) {
                       const std::size_t obx = m_.AddSegment("OBX");
                       m_.Set(At("OBX", obx, 1).Field(), std::to_string(++obx_set_id_));
                       if (const Value* code = r_.Obj(*report.value, "code", report.path)) {
                         m_.WriteCodeableConcept(At("OBX", obx, 3), *code, report.path + ".code");
                       }
                       WriteAttachment(obx, attachment, p);
                       m_.Set(
                           At("OBX", obx, 11).Field(),
                           m_.TableCode(maps::kObservationStatus, kObservationStatusSystem,
                                        r_.Str(*report.value, "status", report.path).value_or("")));
                     });
  }

  std::string ReferenceRange(const Value& range, const std::string& path) {
    // The text is what the sender wrote (and keeps "4.0" as written); low/high otherwise.
    const std::string_view text = r_.Str(range, "text", path).value_or("");
    if (!text.empty()) {
      return std::string(text);
    }
    const Value* low = r_.Obj(range, "low", path);
    const Value* high = r_.Obj(range, "high", path);
    const std::string lo = low != nullptr ? QuantityNumber(*low, path + ".low") : "";
    const std::string hi = high != nullptr ? QuantityNumber(*high, path + ".high") : "";
    if (!lo.empty() && !hi.empty()) {
      return lo + "-" + hi;
    }
    if (!lo.empty()) {
      return ">" + lo;
    }
    if (!hi.empty()) {
      return "<" + hi;
    }
    return {};
  }

  Mapper& m_;
  Reader& r_;
  const Index& index_;
  std::size_t obr_ = 0;
  std::size_t obx_set_id_ = 0;
  std::size_t nte_set_id_ = 0;
  std::size_t observation_count_ = 0;
  std::unordered_set<const Res*> written_;
};

// ---- the message --------------------------------------------------------------------------------

const Res* FirstOfType(const Index& index, std::string_view type) {
  std::vector<const Res*> all = index.OfType(type);
  return all.empty() ? nullptr : all.front();
}

// The subject of `res` (its "subject" or "patient" reference).
std::optional<Subject> SubjectOf(const Index& index, const Res& res, Reader& r) {
  const Value* ref = r.Obj(*res.value, "subject", res.path);
  std::string path = res.path + ".subject";
  if (ref == nullptr) {
    ref = r.Obj(*res.value, "patient", res.path);
    path = res.path + ".patient";
  }
  if (ref == nullptr) {
    return std::nullopt;
  }
  Subject s;
  s.patient = index.Resolve(ref, res, r, path);
  if (s.patient != nullptr && s.patient->type != "Patient") {
    s.patient = nullptr;
  }
  s.reference = ref;
  s.reference_path = path;
  return s;
}

bool SameSubject(const Subject& a, const Subject& b, Reader& r) {
  if (a.patient != nullptr || b.patient != nullptr) {
    return a.patient == b.patient;
  }
  const Value* ia = r.Obj(*a.reference, "identifier", a.reference_path);
  const Value* ib = r.Obj(*b.reference, "identifier", b.reference_path);
  if (ia == nullptr || ib == nullptr) {
    return false;
  }
  return r.Str(*ia, "system", a.reference_path) == r.Str(*ib, "system", b.reference_path) &&
         r.Str(*ia, "value", a.reference_path) == r.Str(*ib, "value", b.reference_path);
}

// The Patient for PID: the subject of the focus resources when they name one, else the first
// Patient. A subject that is named but neither in the input nor carrying an identifier is an
// error: results must never be filed against a guessed patient.
core::Result<Subject> ChooseSubject(const Index& index, const std::vector<const Res*>& focus,
                                    Reader& r) {
  std::optional<Subject> chosen;
  for (const Res* res : focus) {
    std::optional<Subject> s = SubjectOf(index, *res, r);
    if (!s) {
      continue;
    }
    if (s->patient == nullptr && r.Obj(*s->reference, "identifier", s->reference_path) == nullptr) {
      return core::MakeError(ErrorCode::kRequiredFieldMissing,
                             "the subject Patient is not in the input", "Patient");
    }
    if (!chosen) {
      chosen = *s;
    } else if (!SameSubject(*chosen, *s, r)) {
      return core::MakeError(ErrorCode::kUnsupportedMessage,
                             "resources for more than one patient in one message",
                             s->reference_path);
    }
  }
  if (chosen) {
    return *chosen;
  }
  if (const Res* patient = FirstOfType(index, "Patient")) {
    Subject s;
    s.patient = patient;
    return s;
  }
  return core::MakeError(ErrorCode::kRequiredFieldMissing, "no Patient in the input", "Patient");
}

// A message Bundle's MessageHeader.eventCoding naming one of our ADT events (v2-0003 A28, A31,
// A08), else kDefault.
AdtTrigger TriggerFromMessageHeader(const Index& index, Reader& r) {
  const Res* header = FirstOfType(index, "MessageHeader");
  if (header == nullptr) {
    return AdtTrigger::kDefault;
  }
  const Value* event = r.Obj(*header->value, "eventCoding", header->path);
  if (event == nullptr) {
    return AdtTrigger::kDefault;
  }
  const std::string path = header->path + ".eventCoding";
  if (r.Str(*event, "system", path).value_or("") !=
      "http://terminology.hl7.org/CodeSystem/v2-0003") {
    return AdtTrigger::kDefault;
  }
  const std::string_view code = r.Str(*event, "code", path).value_or("");
  if (code == "A28") {
    return AdtTrigger::kA28;
  }
  if (code == "A31") {
    return AdtTrigger::kA31;
  }
  if (code == "A08") {
    return AdtTrigger::kA08;
  }
  return AdtTrigger::kDefault;
}

core::Status BuildIndex(const Value& root, Index& index, Reader& r) {
  if (!root.IsObject()) {
    return core::MakeError(ErrorCode::kInvalidValue, "a FHIR resource must be a JSON object", "");
  }
  core::Result<std::string_view> type = fhir::GetString(root, "resourceType");
  if (!type) {
    return std::move(type).error();
  }
  if (*type != "Bundle") {
    index.Add(root, std::string(*type), {}, -1, r);
    return core::Ok();
  }
  r.ForEachObject(root, "entry", "Bundle", [&](const Value& entry, const std::string& p) {
    const Value* resource = r.Obj(entry, "resource", p);
    if (resource == nullptr) {
      return;  // e.g. a DELETE in a transaction: nothing to send
    }
    const std::string rpath = p + ".resource";
    if (fhir::FindMember(*resource, "resourceType") == nullptr) {
      r.Fail(ErrorCode::kRequiredFieldMissing, "resource without resourceType",
             rpath + ".resourceType");
      return;
    }
    index.Add(*resource, rpath, r.Str(entry, "fullUrl", p).value_or(""), -1, r);
  });
  return core::Ok();
}

core::Result<std::string> Map(const Value& root, const FhirToV2Options& options,
                              std::uint64_t input_hash) {
  if (!options.encoding.IsComplete()) {
    return core::MakeError(ErrorCode::kInvalidValue,
                           "the encoding must declare all five delimiters", "options.encoding");
  }
  Reader r;
  Index index;
  BROKER_RETURN_IF_ERROR(BuildIndex(root, index, r));
  index.Finish();
  if (!r.ok()) {
    return r.TakeError();
  }
  const std::vector<const Res*> reports = index.OfType("DiagnosticReport");
  const std::vector<const Res*> observations = index.OfType("Observation");
  FhirToV2Message kind = options.message;
  if (kind == FhirToV2Message::kAuto) {
    // Reports make an ORU; Observations alone make one only without an Encounter (an ADT
    // Bundle from v2 carries OBX observations beside its Encounter).
    const bool has_encounter = FirstOfType(index, "Encounter") != nullptr;
    kind = (!reports.empty() || (!observations.empty() && !has_encounter)) ? FhirToV2Message::kOru
                                                                           : FhirToV2Message::kAdt;
  }
  if (kind == FhirToV2Message::kOru && reports.empty() && observations.empty()) {
    return core::MakeError(ErrorCode::kRequiredFieldMissing,
                           "no DiagnosticReport or Observation to map to ORU^R01",
                           "DiagnosticReport");
  }

  Mapper m(options, r);
  const std::string control_id =
      !options.control_id.empty() ? options.control_id : "TB" + Hex16(input_hash);
  const core::SystemClock system_clock;
  const core::Clock& clock = options.clock != nullptr ? *options.clock : system_clock;
  const std::string timestamp =
      !options.timestamp.empty() ? options.timestamp : UtcDtm(clock.Now());

  if (kind == FhirToV2Message::kAdt) {
    const std::vector<const Res*> encounters = index.OfType("Encounter");
    core::Result<Subject> subject = ChooseSubject(index, encounters, r);
    if (!subject) {
      return std::move(subject).error();
    }
    if (subject->patient == nullptr) {
      return core::MakeError(ErrorCode::kRequiredFieldMissing, "no Patient in the input",
                             "Patient");
    }
    const Res* encounter = nullptr;
    for (const Res* e : encounters) {
      std::optional<Subject> s = SubjectOf(index, *e, r);
      if (!s || s->patient == subject->patient) {
        encounter = e;
        break;
      }
    }
    AdtTrigger trigger = options.adt_trigger;
    if (trigger == AdtTrigger::kDefault) {
      trigger = TriggerFromMessageHeader(index, r);
    }
    if (trigger == AdtTrigger::kDefault) {
      trigger = encounter != nullptr ? AdtTrigger::kA08 : AdtTrigger::kA31;
    }
    const std::string_view event = trigger == AdtTrigger::kA28   ? "A28"
                                   : trigger == AdtTrigger::kA31 ? "A31"
                                                                 : "A08";
    WriteMsh(m, "ADT", event, trigger == AdtTrigger::kA08 ? "ADT_A01" : "ADT_A05", control_id,
             timestamp);
    m.Set("EVN-1", event);
    m.Set("EVN-2", timestamp);
    m.AddSegment("PID");
    WritePid(m, index, *subject);
    WriteNk1s(m, index, *subject);
    m.AddSegment("PV1");
    WritePv1(m, index, encounter);
    WritePv2(m, encounter);
  } else {
    std::vector<const Res*> focus = reports;
    if (focus.empty()) {
      focus = observations;
    }
    core::Result<Subject> subject = ChooseSubject(index, focus, r);
    if (!subject) {
      return std::move(subject).error();
    }
    WriteMsh(m, "ORU", "R01", "ORU_R01", control_id, timestamp);
    m.AddSegment("PID");
    WritePid(m, index, *subject);
    // PV1 from the report's encounter, if it is in the input.
    const Res* encounter = nullptr;
    for (const Res* res : focus) {
      const Res* e = index.Resolve(r.Obj(*res->value, "encounter", res->path), *res, r,
                                   res->path + ".encounter");
      if (e != nullptr && e->type == "Encounter") {
        encounter = e;
        break;
      }
    }
    if (encounter == nullptr) {
      encounter = FirstOfType(index, "Encounter");
    }
    if (encounter != nullptr) {
      m.AddSegment("PV1");
      WritePv1(m, index, encounter);
    }
    OruWriter oru(m, index);
    std::unordered_set<const Res*> reported;
    std::size_t set_id = 0;
    for (const Res* report : reports) {
      std::vector<const Res*> results;
      r.ForEachObject(*report->value, "result", report->path,
                      [&](const Value& ref, const std::string& p) {
                        const Res* obs = index.Resolve(&ref, *report, r, p);
                        if (obs != nullptr && obs->type == "Observation") {
                          results.push_back(obs);
                        }
                      });
      for (const Res* obs : results) {
        reported.insert(obs);
        // Members of a panel are written under it; do not write them again.
        r.ForEachObject(*obs->value, "hasMember", obs->path,
                        [&](const Value& ref, const std::string& p) {
                          if (const Res* member = index.Resolve(&ref, *obs, r, p)) {
                            reported.insert(member);
                          }
                        });
      }
      oru.WriteReport(report, results, ++set_id);
    }
    // Observations no report points at still travel, under an OBR of their own.
    std::vector<const Res*> loose;
    for (const Res* obs : observations) {
      if (reported.count(obs) == 0) {
        loose.push_back(obs);
      }
    }
    if (!loose.empty()) {
      oru.WriteReport(nullptr, loose, ++set_id);
    }
  }
  if (!r.ok()) {
    return r.TakeError();
  }
  return m.builder().Serialize();
}

}  // namespace

core::Result<std::string> MapFhirToV2(std::string_view json, const FhirToV2Options& options) {
  core::Result<rapidjson::Document> doc = fhir::ParseJson(json, options.json_limits);
  if (!doc) {
    return std::move(doc).error();
  }
  return Map(*doc, options, Fnv1a(json));
}

core::Result<std::string> MapFhirToV2(const rapidjson::Value& resource,
                                      const FhirToV2Options& options) {
  return Map(resource, options, Fnv1a(fhir::ToJson(resource)));
}

}  // namespace tb::mappings
