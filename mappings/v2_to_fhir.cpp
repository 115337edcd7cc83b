#include "mappings/v2_to_fhir.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "mappings/deterministic_id.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings {

namespace {

using core::ErrorCode;
using core::MakeError;
using rapidjson::kArrayType;
using rapidjson::kObjectType;
using rapidjson::StringRef;
using rapidjson::Value;

constexpr std::string_view kUkCorePatientProfile =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";
constexpr std::string_view kNhsVerificationExtensionUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kDataAbsentReasonUrl =
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
constexpr std::string_view kBirthTimeUrl =
    "http://hl7.org/fhir/StructureDefinition/patient-birthTime";
constexpr std::string_view kMothersMaidenNameUrl =
    "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName";
// R4 Observation.value[x] has no Attachment; the R5 cross-version extension carries ED values.
constexpr std::string_view kObservationValueR5Url =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value";
constexpr std::string_view kV2EventSystem = "http://terminology.hl7.org/CodeSystem/v2-0003";
constexpr std::string_view kParticipationTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

Value Lit(std::string_view text) {
  return Value(StringRef(text.data(), static_cast<rapidjson::SizeType>(text.size())));
}

bool In(std::string_view value, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Moves every member of `from` (except one named `skip`) to the end of `to`. By index: RapidJSON
// 1.1.0's member iterators compare ambiguously under C++20 (Clang -Wambiguous-reversed-operator).
void MoveMembers(Value& from, Value& to, JsonAlloc& alloc, std::string_view skip = {}) {
  if (!from.IsObject()) {
    return;
  }
  const auto begin = from.MemberBegin();
  for (rapidjson::SizeType i = 0, n = from.MemberCount(); i < n; ++i) {
    auto& member = begin[static_cast<std::ptrdiff_t>(i)];
    if (!skip.empty() && fhir::StringOf(member.name) == skip) {
      continue;
    }
    to.AddMember(member.name, member.value, alloc);
  }
}

// HL7 table 0074 (diagnostic service section): the laboratory sections, and the imaging ones.
bool IsLabSection(std::string_view section) {
  return In(section, {"LAB", "CH", "HM",  "IMM", "MB", "MCB", "MYC", "PAR", "SR",  "TX", "VR",
                      "SP",  "CP", "BLB", "HLA", "CG", "URN", "OSL", "BG",  "CUS", "EN", "SC"});
}

bool IsImagingSection(std::string_view section) {
  return In(section, {"RAD", "RX", "CT", "MR", "NMR", "US", "XRC", "NMS", "RUS", "VUS", "OUS"});
}

// Serialises a DOM to compact JSON exactly as rapidjson::Writer<StringBuffer> does (same escapes:
// control characters as \b \t \n \f \r or \u00XX, '"' and '\\'; other bytes, UTF-8 included,
// copied), but appending runs of plain bytes at once instead of one byte at a time. Strings the
// context registered as numbers are written as JSON numbers. This was about a third of the
// mapping's time with the Writer (docs/mappings.md, Performance).
class JsonOut {
 public:
  explicit JsonOut(const V2MapContext& ctx) : buffer_(ThreadBuffer()), ctx_(ctx) {
    if (buffer_.size < kInitialSize) {
      buffer_.data = std::make_unique_for_overwrite<char[]>(kInitialSize);
      buffer_.size = kInitialSize;
    }
    cursor_ = buffer_.data.get();
    end_ = cursor_ + buffer_.size;
  }
  // What was written.
  std::string Finish() {
    std::string json(buffer_.data.get(), static_cast<std::size_t>(cursor_ - buffer_.data.get()));
    if (buffer_.size > kKeepSize) {
      buffer_ = Buffer{};  // a rare large Bundle does not pin its buffer to the thread
    }
    return json;
  }

  void Write(const Value& value) {
    switch (value.GetType()) {
      case rapidjson::kNullType:
        Raw("null", 4);
        break;
      case rapidjson::kFalseType:
        Raw("false", 5);
        break;
      case rapidjson::kTrueType:
        Raw("true", 4);
        break;
      case rapidjson::kObjectType: {
        Reserve(2);
        *cursor_++ = '{';
        const auto begin = value.MemberBegin();
        for (rapidjson::SizeType i = 0, n = value.MemberCount(); i < n; ++i) {
          const auto& member = begin[static_cast<std::ptrdiff_t>(i)];
          String(member.name.GetString(), member.name.GetStringLength(), i > 0 ? ',' : '\0', ':');
          Write(member.value);
        }
        Reserve(1);
        *cursor_++ = '}';
        break;
      }
      case rapidjson::kArrayType: {
        Reserve(1);
        *cursor_++ = '[';
        for (rapidjson::SizeType i = 0, n = value.Size(); i < n; ++i) {
          if (i > 0) {
            Reserve(1);
            *cursor_++ = ',';
          }
          Write(value[i]);
        }
        Reserve(1);
        *cursor_++ = ']';
        break;
      }
      case rapidjson::kStringType:
        // Numbers are canonical decimals (CanonicalDecimal: never empty, first a digit or '-'),
        // so other strings skip the lookup.
        if (value.GetStringLength() > 0 &&
            (value.GetString()[0] == '-' ||
             (value.GetString()[0] >= '0' && value.GetString()[0] <= '9')) &&
            ctx_.IsNumber(value.GetString())) {
          Raw(value.GetString(), value.GetStringLength());
        } else {
          String(value.GetString(), value.GetStringLength(), '\0', '\0');
        }
        break;
      case rapidjson::kNumberType:
        Number(value);
        break;
    }
  }

 private:
  // Output goes to a per-thread buffer that is kept between calls (never cleared: only the bytes
  // written are read), then is copied once into the returned string.
  struct Buffer {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  static constexpr std::size_t kInitialSize = 32 * 1024;
  static constexpr std::size_t kKeepSize = 1024 * 1024;
  static Buffer& ThreadBuffer() {
    thread_local Buffer buffer;
    return buffer;
  }

  void Reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cursor_) >= n) [[likely]] {
      return;
    }
    const auto used = static_cast<std::size_t>(cursor_ - buffer_.data.get());
    const std::size_t size = std::max(buffer_.size * 2, used + n);
    auto data = std::make_unique_for_overwrite<char[]>(size);
    std::memcpy(data.get(), buffer_.data.get(), used);
    buffer_.data = std::move(data);
    buffer_.size = size;
    cursor_ = buffer_.data.get() + used;
    end_ = buffer_.data.get() + size;
  }

  void Raw(const char* text, std::size_t length) {
    Reserve(length);
    std::memcpy(cursor_, text, length);
    cursor_ += length;
  }

  // Whether any of the 8 bytes of `word` is below 0x20, '"' or '\\' (may also say so for a
  // neighbour of such a byte; the caller then checks byte by byte).
  static bool MayNeedEscape(std::uint64_t word) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    const std::uint64_t quote = word ^ (kOnes * '"');
    const std::uint64_t backslash = word ^ (kOnes * '\\');
    const std::uint64_t below = (word - kOnes * 0x20) & ~word;
    const std::uint64_t is_quote = (quote - kOnes) & ~quote;
    const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
    return ((below | is_quote | is_backslash) & kHigh) != 0;
  }

  // Writes [before] "str" [after]; a '\0' separator is not written.
  [[gnu::always_inline]] void String(const char* str, std::size_t length, char before, char after) {
    static constexpr std::array<char, 256> kEscape = [] {
      std::array<char, 256> table{};
      for (std::size_t c = 0; c < 0x20; ++c) {
        table[c] = 'u';
      }
      table['\b'] = 'b';
      table['\t'] = 't';
      table['\n'] = 'n';
      table['\f'] = 'f';
      table['\r'] = 'r';
      table['"'] = '"';
      table['\\'] = '\\';
      return table;
    }();
    static constexpr char kHex[] = "0123456789ABCDEF";
    Reserve(length * 6 + 4);
    char* out = cursor_;
    if (before != '\0') {
      *out++ = before;
    }
    *out++ = '"';
    std::size_t i = 0;
    if (length >= 4 && length < 8) {
      // Most keys and codes: two overlapping four-byte halves checked as one word.
      std::uint32_t head = 0;
      std::uint32_t tail = 0;
      std::memcpy(&head, str, 4);
      std::memcpy(&tail, str + length - 4, 4);
      if (!MayNeedEscape(head | (std::uint64_t{tail} << 32))) {
        std::memcpy(out, &head, 4);
        std::memcpy(out + length - 4, &tail, 4);
        out += length;
        i = length;
      }
    }
    while (i < length) {
      // Eight bytes at a time while eight remain; the last few bytes of a string of eight or
      // more are checked as the (overlapping) last eight, which were copied as they are if clean.
      if (i + 8 <= length) {
        std::uint64_t word = 0;
        std::memcpy(&word, str + i, 8);
        if (!MayNeedEscape(word)) {
          std::memcpy(out, &word, 8);
          out += 8;
          i += 8;
          continue;
        }
      } else if (length >= 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, str + length - 8, 8);
        if (!MayNeedEscape(word)) {
          std::memcpy(out - (i - (length - 8)), &word, 8);
          out += length - i;
          break;
        }
      }
      const auto c = static_cast<unsigned char>(str[i]);
      const char escape = kEscape[c];
      if (escape == 0) {
        *out++ = static_cast<char>(c);
      } else {
        *out++ = '\\';
        *out++ = escape;
        if (escape == 'u') {
          *out++ = '0';
          *out++ = '0';
          *out++ = kHex[c >> 4];
          *out++ = kHex[c & 0xF];
        }
      }
      ++i;
    }
    *out++ = '"';
    if (after != '\0') {
      *out++ = after;
    }
    cursor_ = out;
  }

  // Not produced by the mapper today (numbers are registered strings); kept exact by delegating.
  void Number(const Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    Raw(buffer.GetString(), buffer.GetSize());
  }

  Buffer& buffer_;
  const V2MapContext& ctx_;
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

// A segment with its fields split once: the segment maps read 20-40 fields each, and
// SegmentView::Field(n) rescans from the start of the segment on every call. The fields of all
// segments of a message live in one vector (Split appends to it).
class CachedSegment {
 public:
  CachedSegment(const hl7v2::SegmentView& view, const hl7v2::Value* fields, std::size_t count)
      : view_(view), fields_(fields), count_(count) {}

  // Appends field 0 (empty: the segment id) and each field of `view` to `out`; returns the count.
  static std::size_t Split(const hl7v2::SegmentView& view, std::vector<hl7v2::Value>& out) {
    const std::string_view raw = view.raw();
    out.emplace_back();
    if (raw.size() <= 4) {
      return 1;
    }
    std::size_t count = 1;
    std::string_view rest = raw.substr(4);
    const char separator = view.encoding().field;
    while (true) {
      const std::size_t end = rest.find(separator);
      out.emplace_back(rest.substr(0, end), view.encoding(), hl7v2::Level::kField);
      ++count;
      if (end == std::string_view::npos) {
        return count;
      }
      rest.remove_prefix(end + 1);
    }
  }

  std::string_view raw() const { return view_.raw(); }
  std::string_view id() const { return view_.id(); }
  hl7v2::Value Field(std::size_t n) const { return n < count_ ? fields_[n] : hl7v2::Value(); }

 private:
  hl7v2::SegmentView view_;
  const hl7v2::Value* fields_;
  std::size_t count_;
};

enum class MessageKind { kAdt, kOru, kOrder };

class Mapper {
 public:
  Mapper(const hl7v2::Message& message, const MappingTables& tables, const V2ToFhirOptions& options)
      : message_(message),
        ctx_(document_.GetAllocator(), tables, options),
        mapped_(message.SegmentCount() + 1, false) {}

  core::Result<std::string> Run();

 private:
  struct Entry {
    std::string id;
    Value resource;
  };

  JsonAlloc& alloc() { return ctx_.alloc(); }
  std::string NewId(std::string_view key) const { return DerivedUuid(namespace_, key).ToString(); }
  // "urn:uuid:" + id, copied into the allocator.
  Value Urn(const std::string& id);
  Value Reference(const std::string& id, std::string_view display = {});
  // Adds a resource of `type` with `id`; members of `body` follow resourceType and id.
  Value& AddResource(std::string_view type, const std::string& id, Value body);
  // Deduplicated Practitioner / Organization / Location resources; the id, or empty.
  // SharedResourceFor is the common path: the id already mapped for prefix + raw value, else
  // `build`'s resource added under a new id (empty when `build` gives null). `prefix` must be a
  // string literal (the dedup table keeps a view of it).
  std::string SharedResourceFor(std::string_view type, std::string_view prefix,
                                const hl7v2::Value& value,
                                Value (*build)(V2MapContext&, const hl7v2::Value&));
  std::string PractitionerFor(const hl7v2::Value& xcn);
  std::string OrganizationForXon(const hl7v2::Value& xon);
  std::string OrganizationForHd(const hl7v2::Value& hd);
  std::string LocationFor(const hl7v2::Value& pl, std::string* display);

  core::Status CheckType();
  void MapPatient(const CachedSegment& pid, std::size_t index);
  void MapPd1(const CachedSegment& pd1);
  void MapMerge(const CachedSegment& mrg);
  void MapEncounter(const CachedSegment& pv1, const CachedSegment* pv2);
  void MapNextOfKin(const CachedSegment& nk1, std::size_t index);
  void MapAllergy(const CachedSegment& al1, std::size_t index);
  void MapDiagnosis(const CachedSegment& dg1, std::size_t index);
  // Returns the index of the DiagnosticReport entry.
  std::size_t MapObservationRequest(const CachedSegment& obr, std::size_t index);
  // ORC and/or OBR of one order -> ServiceRequest; returns the index of its entry.
  std::size_t MapServiceRequest(const CachedSegment* orc, const CachedSegment* obr,
                                std::size_t index);
  // Returns the index of the Observation entry.
  std::size_t MapObservation(const CachedSegment& obx, std::size_t index, const CachedSegment* obr);
  Value MessageHeader();
  // A PV1 that says only "no visit" (PV1-2 empty or N, nothing else but the set id), as UK A28,
  // A31 and A40 messages send it.
  static bool IsEmptyVisit(const CachedSegment& pv1) {
    std::string scratch;
    const std::string_view patient_class = V2Text(pv1.Field(2), scratch);
    if (!patient_class.empty() && patient_class != "N") {
      return false;
    }
    for (std::size_t n = 3; n <= 52; ++n) {
      if (pv1.Field(n).HasValue()) {
        return false;
      }
    }
    return true;
  }
  // Keeps segment i verbatim when mapping it left out a malformed value.
  void KeepIfLossy(std::size_t i) {
    if (ctx_.TakeLossy()) {
      mapped_[i] = false;
    }
  }
  // A CodeableConcept with only a data-absent-reason extension (for a required code not sent).
  Value AbsentCode();
  std::string EncounterStatus(const CachedSegment& pv1) const;

  const hl7v2::Message& message_;
  // The DOM's first chunk is a per-thread buffer kept between calls: no allocation for the DOM
  // of a typical Bundle (a larger one spills into chunks the pool frees).
  static constexpr std::size_t kPoolBufferSize = 256 * 1024;
  static void* PoolBuffer() {
    thread_local const std::unique_ptr<char[]> buffer =
        std::make_unique_for_overwrite<char[]>(kPoolBufferSize);
    return buffer.get();
  }
  rapidjson::MemoryPoolAllocator<> pool_{PoolBuffer(), kPoolBufferSize};
  rapidjson::Document document_{&pool_};
  V2MapContext ctx_;
  std::vector<bool> mapped_;  // by segment index (1-based)
  // Every segment, its fields split once per message (by segment index - 1), and their fields.
  std::vector<hl7v2::Value> fields_;
  std::vector<CachedSegment> segments_;
  const CachedSegment& Seg(std::size_t i) const { return segments_[i - 1]; }
  // MSH-n (n >= 3) as message_.Get("MSH-n") returns it, from the split MSH.
  hl7v2::Value Msh(std::size_t n) const {
    if (!segments_.empty() && segments_.front().id() == "MSH") {
      return segments_.front().Field(n - 1);  // the split starts after MSH-1, at MSH-2
    }
    return message_.Get("MSH-" + std::to_string(n));
  }
  Uuid namespace_;
  MessageKind kind_ = MessageKind::kAdt;
  std::string trigger_;
  std::vector<Entry> entries_;
  // Deduplicated resources by key (prefix + raw v2 value, as hashed into the id); few per message.
  struct Dedup {
    std::string_view prefix;  // a literal
    std::string_view raw;     // into the message, which outlives the mapper
    std::string id;
  };
  std::vector<Dedup> dedup_;
  std::string key_;  // the key being looked up, reused
  // Sets key_ to prefix + raw and returns the id already mapped for that key, or nullptr.
  const std::string* FindDedup(std::string_view prefix, std::string_view raw) {
    key_.assign(prefix).append(raw);
    const std::string_view key = key_;
    for (const Dedup& d : dedup_) {
      if (d.prefix.size() + d.raw.size() == key.size() && key.starts_with(d.prefix) &&
          key.substr(d.prefix.size()) == d.raw) {
        return &d.id;
      }
    }
    return nullptr;
  }
  std::string patient_id_;
  std::string encounter_id_;
  std::size_t patient_entry_ = 0;
  std::size_t encounter_entry_ = 0;
  bool has_patient_ = false;
  bool has_encounter_ = false;
  std::vector<std::string> focus_;
};

Value Mapper::Urn(const std::string& id) {
  char urn[64];
  constexpr std::string_view kPrefix = "urn:uuid:";
  if (id.size() > sizeof(urn) - kPrefix.size()) {
    return ctx_.Str("urn:uuid:" + id);
  }
  std::memcpy(urn, kPrefix.data(), kPrefix.size());
  std::memcpy(urn + kPrefix.size(), id.data(), id.size());
  return ctx_.Str(std::string_view(urn, kPrefix.size() + id.size()));
}

Value Mapper::Reference(const std::string& id, std::string_view display) {
  Value reference(kObjectType);
  ctx_.Put(reference, "reference", Urn(id));
  ctx_.Put(reference, "display", ctx_.Str(display));
  return reference;
}

Value& Mapper::AddResource(std::string_view type, const std::string& id, Value body) {
  Value resource(kObjectType);
  resource.AddMember("resourceType", Lit(type), alloc());
  resource.AddMember("id", ctx_.Str(id), alloc());
  MoveMembers(body, resource, alloc(), "resourceType");
  entries_.push_back(Entry{id, std::move(resource)});
  return entries_.back().resource;
}

std::string Mapper::SharedResourceFor(std::string_view type, std::string_view prefix,
                                      const hl7v2::Value& value,
                                      Value (*build)(V2MapContext&, const hl7v2::Value&)) {
  if (!value.HasValue()) {
    return {};
  }
  if (const std::string* found = FindDedup(prefix, value.raw())) {
    return *found;
  }
  std::string id = NewId(key_);  // before any nested lookup reuses key_
  Value resource = build(ctx_, value);
  if (resource.IsNull()) {
    return {};
  }
  AddResource(type, id, std::move(resource));
  dedup_.push_back(Dedup{prefix, value.raw(), id});
  return id;
}

std::string Mapper::PractitionerFor(const hl7v2::Value& xcn) {
  return SharedResourceFor("Practitioner", "Practitioner/", xcn, &XcnToPractitioner);
}

std::string Mapper::OrganizationForXon(const hl7v2::Value& xon) {
  return SharedResourceFor("Organization", "Organization/xon/", xon, &XonToOrganization);
}

std::string Mapper::OrganizationForHd(const hl7v2::Value& hd) {
  return SharedResourceFor("Organization", "Organization/hd/", hd, &HdToOrganization);
}

std::string Mapper::LocationFor(const hl7v2::Value& pl, std::string* display) {
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
    const std::string_view part = V2Text(pl.Component(component).Subcomponent(1), scratch);
    if (!part.empty()) {
      if (!name.empty()) {
        name.append(", ");
      }
      name.append(part);
      physical = type;
    }
  }
  if (display != nullptr) {
    *display = name;
  }
  if (const std::string* found = FindDedup("Location/", pl.raw())) {
    return *found;
  }
  std::string id = NewId(key_);  // before any nested lookup reuses key_
  if (name.empty()) {
    return {};
  }
  Value location(kObjectType);
  ctx_.Put(location, "status", Lit("active"));
  ctx_.Put(location, "name", ctx_.Str(name));
  ctx_.Put(location, "description", ctx_.Str(pl.Component(9)));
  ctx_.Put(location, "mode", Lit("instance"));
  if (physical != nullptr) {
    Value type(kObjectType);
    Value codings(kArrayType);
    ctx_.Push(codings,
              CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/location-physical-type",
                          physical, {}));
    ctx_.Put(type, "coding", std::move(codings));
    ctx_.Put(location, "physicalType", std::move(type));
  }
  const std::string facility = OrganizationForHd(pl.Component(4));
  if (!facility.empty()) {
    ctx_.Put(location, "managingOrganization", Reference(facility));
  }
  AddResource("Location", id, std::move(location));
  dedup_.push_back(Dedup{"Location/", pl.raw(), id});
  return id;
}

core::Status Mapper::CheckType() {
  const std::string_view type = message_.MessageType();
  trigger_ = std::string(message_.TriggerEvent());
  if (type == "ADT") {
    kind_ = MessageKind::kAdt;
    if (!In(trigger_,
            {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31", "A40"})) {
      return MakeError(ErrorCode::kUnsupportedEvent,
                       "ADT trigger event not supported by the v2 -> FHIR mapping", "MSH-9.2");
    }
    return core::Ok();
  }
  if (type == "ORU") {
    kind_ = MessageKind::kOru;
    if (trigger_ != "R01") {
      return MakeError(ErrorCode::kUnsupportedEvent,
                       "ORU trigger event not supported by the v2 -> FHIR mapping", "MSH-9.2");
    }
    return core::Ok();
  }
  if (type == "ORM" || type == "OML") {
    kind_ = MessageKind::kOrder;
    if ((type == "ORM" && trigger_ != "O01") || (type == "OML" && trigger_ != "O21")) {
      return MakeError(ErrorCode::kUnsupportedEvent,
                       "order trigger event not supported by the v2 -> FHIR mapping", "MSH-9.2");
    }
    return core::Ok();
  }
  return MakeError(ErrorCode::kUnsupportedMessage,
                   "message type not supported by the v2 -> FHIR mapping", "MSH-9.1");
}

void Mapper::MapPatient(const CachedSegment& pid, std::size_t index) {
  mapped_[index] = true;
  has_patient_ = true;
  patient_id_ = NewId("Patient/PID");
  Value patient(kObjectType);
  // Identifiers: the NHS number first (from whichever repetition of PID-3, or PID-2, carries
  // it), then every other identifier with its assigning authority.
  Value nhs(kArrayType);
  Value others(kArrayType);
  bool all_have_system = true;
  std::vector<std::pair<std::string, std::string>> seen;
  const auto add_cx = [&](const hl7v2::Value& cx, const std::string& location) {
    Value identifier = CxToIdentifier(ctx_, cx, location);
    if (identifier.IsNull()) {
      return;
    }
    const std::string system(fhir::FindString(identifier, "system").value_or(""));
    std::string value(identifier["value"].GetString(), identifier["value"].GetStringLength());
    if (system == core::kNhsNumberSystem) {
      value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
      if (!core::IsValidNhsNumber(value)) {
        ctx_.Fail(MakeError(ErrorCode::kInvalidValue,
                            "NHS number is not 10 digits with a valid Modulus 11 check digit",
                            location));
        return;
      }
      identifier["value"] = ctx_.Str(value);
    }
    if (std::find(seen.begin(), seen.end(), std::make_pair(system, value)) != seen.end()) {
      return;
    }
    seen.emplace_back(system, value);
    if (system.empty()) {
      all_have_system = false;
    }
    if (system == core::kNhsNumberSystem) {
      // PID-32 (identity reliability) carries the NHS number status in UK ITK messages.
      for (const hl7v2::Value& rep : pid.Field(32).Repetitions()) {
        std::string scratch;
        const std::string_view code = V2Text(rep.Component(1), scratch);
        if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kNhsNumberStatus, code)) {
          Value coding = CodingValue(ctx_, row->fhir_system, row->fhir_code, row->fhir_display);
          Value codings(kArrayType);
          codings.PushBack(coding, alloc());
          Value concept_value(kObjectType);
          concept_value.AddMember("coding", codings, alloc());
          Value extension(kObjectType);
          extension.AddMember("url", Lit(kNhsVerificationExtensionUrl), alloc());
          extension.AddMember("valueCodeableConcept", concept_value, alloc());
          Value extensions(kArrayType);
          extensions.PushBack(extension, alloc());
          Value with_extension(kObjectType);
          with_extension.AddMember("extension", extensions, alloc());
          MoveMembers(identifier, with_extension, alloc());
          identifier = std::move(with_extension);
          break;
        }
      }
      nhs.PushBack(identifier, alloc());
    } else {
      others.PushBack(identifier, alloc());
    }
  };
  std::size_t rep_index = 0;
  for (const hl7v2::Value& rep : pid.Field(3).Repetitions()) {
    ++rep_index;
    add_cx(rep, "PID-3(" + std::to_string(rep_index) + ")");
  }
  for (const hl7v2::Value& rep : pid.Field(2).Repetitions()) {
    add_cx(rep, "PID-2");
  }
  for (const hl7v2::Value& rep : pid.Field(4).Repetitions()) {
    add_cx(rep, "PID-4");
  }
  // PID-19 (SSN, US) and PID-20 (driver's licence) as the IG maps them.
  const auto add_plain = [&](const hl7v2::Value& value, std::string_view type,
                             std::string_view system) {
    std::string scratch;
    const std::string_view text = V2Text(value, scratch);
    if (text.empty()) {
      return;
    }
    Value identifier(kObjectType);
    identifier.AddMember(
        "type", TableCodeableConcept(ctx_, KnownTable::kIdentifierType, type, {}, "HL70203"),
        alloc());
    ctx_.Put(identifier, "system", ctx_.Str(system));
    identifier.AddMember("value", ctx_.Str(text), alloc());
    if (system.empty()) {
      all_have_system = false;
    }
    others.PushBack(identifier, alloc());
  };
  add_plain(pid.Field(19), "SB", "http://hl7.org/fhir/sid/us-ssn");
  add_plain(pid.Field(20).Component(1), "DL", {});
  if (nhs.Empty() && others.Empty()) {
    // PID-3 is required in v2, and the broker routes patients by identifier.
    ctx_.Fail(
        MakeError(ErrorCode::kRequiredFieldMissing, "the patient has no identifier", "PID-3"));
  }
  Value identifiers(kArrayType);
  for (auto& identifier : nhs.GetArray()) {
    identifiers.PushBack(identifier, alloc());
  }
  for (auto& identifier : others.GetArray()) {
    identifiers.PushBack(identifier, alloc());
  }
  if (all_have_system && !identifiers.Empty()) {
    Value meta(kObjectType);
    Value profiles(kArrayType);
    profiles.PushBack(Lit(kUkCorePatientProfile), alloc());
    meta.AddMember("profile", profiles, alloc());
    patient.AddMember("meta", meta, alloc());
  }
  // Extensions: mother's maiden name, birth time.
  Value extensions(kArrayType);
  {
    std::string scratch;
    const std::string_view maiden = V2Text(pid.Field(6).Component(1).Subcomponent(1), scratch);
    if (!maiden.empty()) {
      Value extension(kObjectType);
      extension.AddMember("url", Lit(kMothersMaidenNameUrl), alloc());
      extension.AddMember("valueString", ctx_.Str(maiden), alloc());
      extensions.PushBack(extension, alloc());
    }
  }
  {
    std::string scratch;
    const hl7v2::Value birth = pid.Field(7);
    if (HasTimeOfDay(V2Text(birth.Component(1), scratch))) {
      Value time = TimeValue(ctx_, birth, FhirTimeType::kDateTime, "PID-7");
      if (!time.IsNull()) {
        Value extension(kObjectType);
        extension.AddMember("url", Lit(kBirthTimeUrl), alloc());
        extension.AddMember("valueDateTime", time, alloc());
        extensions.PushBack(extension, alloc());
      }
    }
  }
  ctx_.Put(patient, "extension", std::move(extensions));
  ctx_.Put(patient, "identifier", std::move(identifiers));
  Value names(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(5).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  ctx_.Put(patient, "name", std::move(names));
  Value telecom(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(13).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  for (const hl7v2::Value& rep : pid.Field(14).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "work"));
  }
  for (const hl7v2::Value& rep : pid.Field(40).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  ctx_.Put(patient, "telecom", std::move(telecom));
  {
    std::string scratch;
    PutMappedCode(ctx_, patient, "gender", KnownTable::kAdministrativeGender,
                  V2Text(pid.Field(8).Component(1), scratch), "HL70001");
  }
  ctx_.Put(patient, "birthDate", TimeValue(ctx_, pid.Field(7), FhirTimeType::kDate, "PID-7"));
  {
    Value deceased = TimeValue(ctx_, pid.Field(29), FhirTimeType::kDateTime, "PID-29");
    if (!deceased.IsNull()) {
      patient.AddMember("deceasedDateTime", deceased, alloc());
    } else {
      std::string scratch;
      const std::string_view flag = V2Text(pid.Field(30), scratch);
      if (flag == "Y" || flag == "N") {
        patient.AddMember("deceasedBoolean", flag == "Y", alloc());
      }
    }
  }
  Value addresses(kArrayType);
  for (const hl7v2::Value& rep : pid.Field(11).Repetitions()) {
    ctx_.Push(addresses, XadToAddress(ctx_, rep));
  }
  ctx_.Put(patient, "address", std::move(addresses));
  {
    std::string scratch;
    const hl7v2::Value marital = pid.Field(16);
    std::string text_scratch;
    ctx_.Put(patient, "maritalStatus",
             TableCodeableConcept(ctx_, KnownTable::kMaritalStatus,
                                  V2Text(marital.Component(1), scratch),
                                  V2Text(marital.Component(2), text_scratch), "HL70002"));
  }
  {
    std::string scratch;
    const std::string_view multiple = V2Text(pid.Field(24), scratch);
    std::string order_scratch;
    const auto order = CanonicalDecimal(V2Text(pid.Field(25), order_scratch));
    if (order && order->find('.') == std::string::npos && *order != "0" && order->front() != '-') {
      patient.AddMember("multipleBirthInteger", ctx_.Number(*order), alloc());
    } else if (multiple == "Y" || multiple == "N") {
      patient.AddMember("multipleBirthBoolean", multiple == "Y", alloc());
    }
  }
  {
    Value language = CweToCodeableConcept(ctx_, pid.Field(15));
    if (!language.IsNull()) {
      Value communication(kObjectType);
      communication.AddMember("language", language, alloc());
      communication.AddMember("preferred", true, alloc());
      Value list(kArrayType);
      list.PushBack(communication, alloc());
      patient.AddMember("communication", list, alloc());
    }
  }
  patient_entry_ = entries_.size();
  AddResource("Patient", patient_id_, std::move(patient));
  focus_.push_back(patient_id_);
}

void Mapper::MapPd1(const CachedSegment& pd1) {
  if (!has_patient_) {
    return;
  }
  Value practitioners(kArrayType);
  for (const hl7v2::Value& rep : pd1.Field(3).Repetitions()) {
    const std::string id = OrganizationForXon(rep);
    if (!id.empty()) {
      ctx_.Push(practitioners, Reference(id));
    }
  }
  for (const hl7v2::Value& rep : pd1.Field(4).Repetitions()) {
    const std::string id = PractitionerFor(rep);
    if (!id.empty()) {
      ctx_.Push(practitioners, Reference(id));
    }
  }
  ctx_.Put(entries_[patient_entry_].resource, "generalPractitioner", std::move(practitioners));
}

void Mapper::MapMerge(const CachedSegment& mrg) {
  // A40: the surviving record (PID) replaces the record named in MRG-1, which is kept as its own
  // Patient, inactive, pointing at the survivor.
  const std::string old_id = NewId("Patient/MRG");
  Value old_patient(kObjectType);
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : mrg.Field(1).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "MRG-1"));
  }
  for (const hl7v2::Value& rep : mrg.Field(2).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "MRG-2"));
  }
  if (identifiers.Empty()) {
    ctx_.Fail(MakeError(ErrorCode::kRequiredFieldMissing, "the merged record has no identifier",
                        "MRG-1"));
  }
  ctx_.Put(old_patient, "identifier", std::move(identifiers));
  old_patient.AddMember("active", false, alloc());
  Value names(kArrayType);
  for (const hl7v2::Value& rep : mrg.Field(7).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  ctx_.Put(old_patient, "name", std::move(names));
  const auto link = [&](const std::string& other, std::string_view type) {
    Value entry(kObjectType);
    entry.AddMember("other", Reference(other), alloc());
    entry.AddMember("type", Lit(type), alloc());
    Value links(kArrayType);
    links.PushBack(entry, alloc());
    return links;
  };
  old_patient.AddMember("link", link(patient_id_, "replaced-by"), alloc());
  entries_[patient_entry_].resource.AddMember("link", link(old_id, "replaces"), alloc());
  AddResource("Patient", old_id, std::move(old_patient));
  focus_.push_back(old_id);
}

std::string Mapper::EncounterStatus(const CachedSegment& pv1) const {
  std::string status;
  if (const CodeMapRow* row =
          ctx_.tables().Get(KnownTable::kEventEncounterStatus).FindV2(trigger_)) {
    status = row->fhir_code;
  }
  if (status.empty() || status == "unknown") {
    // The event does not say (A08, A28, A31, A40, ORU): read it from the visit.
    if (pv1.Field(45).HasValue()) {
      status = "finished";
    } else if (pv1.Field(44).HasValue()) {
      status = "in-progress";
    } else {
      status = "unknown";
    }
  }
  return status;
}

void Mapper::MapEncounter(const CachedSegment& pv1, const CachedSegment* pv2) {
  encounter_id_ = NewId("Encounter/PV1");
  has_encounter_ = true;
  Value encounter(kObjectType);
  const std::string status = EncounterStatus(pv1);
  encounter.AddMember("status", ctx_.Str(status), alloc());
  {
    std::string scratch;
    const std::string_view patient_class = V2Text(pv1.Field(2).Component(1), scratch);
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kEncounterClass, patient_class)) {
      encounter.AddMember(
          "class", CodingValue(ctx_, row->fhir_system, row->fhir_code, row->fhir_display), alloc());
    } else if (!patient_class.empty()) {
      encounter.AddMember("class", CodingValue(ctx_, ctx_.SystemUri("HL70004"), patient_class, {}),
                          alloc());
    } else {
      encounter.AddMember("class",
                          CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                      "UNK", "unknown"),
                          alloc());
    }
  }
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : pv1.Field(19).Repetitions()) {
    Value identifier = CxToIdentifier(ctx_, rep, "PV1-19");
    if (!identifier.IsNull() && !identifier.HasMember("type")) {
      identifier.AddMember(
          "type", TableCodeableConcept(ctx_, KnownTable::kIdentifierType, "VN", {}, "HL70203"),
          alloc());
    }
    ctx_.Push(identifiers, std::move(identifier));
  }
  ctx_.Put(encounter, "identifier", std::move(identifiers));
  {
    std::string scratch;
    Value types(kArrayType);
    ctx_.Push(types,
              TableCodeableConcept(ctx_, KnownTable::kAdmissionType,
                                   V2Text(pv1.Field(4).Component(1), scratch), {}, "HL70007"));
    ctx_.Put(encounter, "type", std::move(types));
  }
  {
    std::string scratch;
    std::string text_scratch;
    const hl7v2::Value service = pv1.Field(10);
    const std::string_view code = V2Text(service.Component(1), scratch);
    if (!code.empty()) {
      Value cc(kObjectType);
      Value codings(kArrayType);
      ctx_.Push(codings, CodingValue(ctx_, ctx_.SystemUri("HL70069"), code,
                                     V2Text(service.Component(2), text_scratch)));
      cc.AddMember("coding", codings, alloc());
      encounter.AddMember("serviceType", cc, alloc());
    }
  }
  encounter.AddMember("subject", Reference(patient_id_), alloc());
  Value participants(kArrayType);
  const auto add_participants = [&](std::size_t field, std::string_view code,
                                    std::string_view display) {
    for (const hl7v2::Value& rep : pv1.Field(field).Repetitions()) {
      const std::string id = PractitionerFor(rep);
      if (id.empty()) {
        continue;
      }
      Value participant(kObjectType);
      Value types(kArrayType);
      Value type(kObjectType);
      Value codings(kArrayType);
      codings.PushBack(CodingValue(ctx_, kParticipationTypeSystem, code, display), alloc());
      type.AddMember("coding", codings, alloc());
      types.PushBack(type, alloc());
      participant.AddMember("type", types, alloc());
      participant.AddMember("individual", Reference(id), alloc());
      participants.PushBack(participant, alloc());
    }
  };
  add_participants(7, "ATND", "attender");
  add_participants(8, "REF", "referrer");
  add_participants(9, "CON", "consultant");
  add_participants(17, "ADM", "admitter");
  ctx_.Put(encounter, "participant", std::move(participants));
  {
    Value period(kObjectType);
    ctx_.Put(period, "start", TimeValue(ctx_, pv1.Field(44), FhirTimeType::kDateTime, "PV1-44"));
    ctx_.Put(period, "end", TimeValue(ctx_, pv1.Field(45), FhirTimeType::kDateTime, "PV1-45"));
    ctx_.Put(encounter, "period", std::move(period));
  }
  if (pv2) {
    Value reasons(kArrayType);
    ctx_.Push(reasons, CweToCodeableConcept(ctx_, pv2->Field(3)));
    ctx_.Put(encounter, "reasonCode", std::move(reasons));
  }
  {
    Value hospitalization(kObjectType);
    Value pre_admission = CxToIdentifier(ctx_, pv1.Field(5), "PV1-5");
    ctx_.Put(hospitalization, "preAdmissionIdentifier", std::move(pre_admission));
    const auto v2_concept = [&](std::size_t field, std::string_view table) {
      std::string scratch;
      std::string text_scratch;
      const hl7v2::Value value = pv1.Field(field);
      const std::string_view code = V2Text(value.Component(1), scratch);
      if (code.empty()) {
        return Value();
      }
      Value cc(kObjectType);
      Value codings(kArrayType);
      codings.PushBack(
          CodingValue(ctx_, ctx_.SystemUri(table), code, V2Text(value.Component(2), text_scratch)),
          alloc());
      cc.AddMember("coding", codings, alloc());
      return cc;
    };
    ctx_.Put(hospitalization, "admitSource", v2_concept(14, "HL70023"));
    ctx_.Put(hospitalization, "reAdmission", v2_concept(13, "HL70092"));
    Value diets(kArrayType);
    ctx_.Push(diets, CweToCodeableConcept(ctx_, pv1.Field(38)));
    ctx_.Put(hospitalization, "dietPreference", std::move(diets));
    ctx_.Put(hospitalization, "dischargeDisposition", v2_concept(36, "HL70112"));
    ctx_.Put(encounter, "hospitalization", std::move(hospitalization));
  }
  {
    Value locations(kArrayType);
    const auto add_location = [&](const hl7v2::Value& pl, std::string_view location_status) {
      std::string display;
      const std::string id = LocationFor(pl, &display);
      if (id.empty()) {
        return;
      }
      Value entry(kObjectType);
      entry.AddMember("location", Reference(id, display), alloc());
      entry.AddMember("status", Lit(location_status), alloc());
      locations.PushBack(entry, alloc());
    };
    add_location(pv1.Field(3), status == "finished" ? "completed" : "active");
    add_location(pv1.Field(6), "completed");
    ctx_.Put(encounter, "location", std::move(locations));
  }
  {
    const std::string provider = OrganizationForHd(Msh(4));
    if (!provider.empty()) {
      encounter.AddMember("serviceProvider", Reference(provider), alloc());
    }
  }
  encounter_entry_ = entries_.size();
  AddResource("Encounter", encounter_id_, std::move(encounter));
  focus_.push_back(encounter_id_);
}

void Mapper::MapNextOfKin(const CachedSegment& nk1, std::size_t index) {
  Value person(kObjectType);
  Value identifiers(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(33).Repetitions()) {
    ctx_.Push(identifiers, CxToIdentifier(ctx_, rep, "NK1-33"));
  }
  ctx_.Put(person, "identifier", std::move(identifiers));
  person.AddMember("patient", Reference(patient_id_), alloc());
  Value relationships(kArrayType);
  {
    std::string s1, s2;
    const hl7v2::Value rel = nk1.Field(3);
    ctx_.Push(relationships,
              TableCodeableConcept(ctx_, KnownTable::kRelationship, V2Text(rel.Component(1), s1),
                                   V2Text(rel.Component(2), s2), "HL70063"));
  }
  {
    std::string s1, s2;
    const hl7v2::Value role = nk1.Field(7);
    ctx_.Push(relationships,
              TableCodeableConcept(ctx_, KnownTable::kContactRole, V2Text(role.Component(1), s1),
                                   V2Text(role.Component(2), s2), "HL70131"));
  }
  ctx_.Put(person, "relationship", std::move(relationships));
  Value names(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(2).Repetitions()) {
    ctx_.Push(names, XpnToHumanName(ctx_, rep));
  }
  if (names.Empty()) {
    for (const hl7v2::Value& rep : nk1.Field(30).Repetitions()) {
      ctx_.Push(names, XpnToHumanName(ctx_, rep));
    }
  }
  ctx_.Put(person, "name", std::move(names));
  Value telecom(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(5).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  for (const hl7v2::Value& rep : nk1.Field(6).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "work"));
  }
  for (const hl7v2::Value& rep : nk1.Field(40).Repetitions()) {
    ctx_.Push(telecom, XtnToContactPoint(ctx_, rep, "home"));
  }
  ctx_.Put(person, "telecom", std::move(telecom));
  {
    std::string scratch;
    PutMappedCode(ctx_, person, "gender", KnownTable::kAdministrativeGender,
                  V2Text(nk1.Field(15).Component(1), scratch), "HL70001");
  }
  ctx_.Put(person, "birthDate", TimeValue(ctx_, nk1.Field(16), FhirTimeType::kDate, "NK1-16"));
  Value addresses(kArrayType);
  for (const hl7v2::Value& rep : nk1.Field(4).Repetitions()) {
    ctx_.Push(addresses, XadToAddress(ctx_, rep));
  }
  ctx_.Put(person, "address", std::move(addresses));
  {
    Value period(kObjectType);
    ctx_.Put(period, "start", TimeValue(ctx_, nk1.Field(8), FhirTimeType::kDateTime, "NK1-8"));
    ctx_.Put(period, "end", TimeValue(ctx_, nk1.Field(9), FhirTimeType::kDateTime, "NK1-9"));
    ctx_.Put(person, "period", std::move(period));
  }
  {
    Value language = CweToCodeableConcept(ctx_, nk1.Field(20));
    if (!language.IsNull()) {
      Value communication(kObjectType);
      communication.AddMember("language", language, alloc());
      Value list(kArrayType);
      list.PushBack(communication, alloc());
      person.AddMember("communication", list, alloc());
    }
  }
  AddResource("RelatedPerson", NewId("RelatedPerson/NK1[" + std::to_string(index) + "]"),
              std::move(person));
}

void Mapper::MapAllergy(const CachedSegment& al1, std::size_t index) {
  Value allergy(kObjectType);
  {
    Value clinical(kObjectType);
    Value codings(kArrayType);
    codings.PushBack(
        CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "active", "Active"),
        alloc());
    clinical.AddMember("coding", codings, alloc());
    allergy.AddMember("clinicalStatus", clinical, alloc());
  }
  std::string s2;
  const std::string_view allergen_type = V2Text(al1.Field(2).Component(1), s2);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyType, allergen_type)) {
    allergy.AddMember("type", ctx_.Str(row->fhir_code), alloc());
  }
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCategory, allergen_type)) {
    Value categories(kArrayType);
    categories.PushBack(ctx_.Str(row->fhir_code), alloc());
    allergy.AddMember("category", categories, alloc());
  } else if (!allergen_type.empty()) {
    PutMappedCode(ctx_, allergy, "type", KnownTable::kAllergyType, allergen_type, "HL70127");
  }
  std::string s4;
  const std::string_view severity = V2Text(al1.Field(4).Component(1), s4);
  if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kAllergyCriticality, severity)) {
    allergy.AddMember("criticality", ctx_.Str(row->fhir_code), alloc());
  }
  ctx_.Put(allergy, "code", CweToCodeableConcept(ctx_, al1.Field(3)));
  allergy.AddMember("patient", Reference(patient_id_), alloc());
  if (has_encounter_) {
    allergy.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  ctx_.Put(allergy, "onsetDateTime",
           TimeValue(ctx_, al1.Field(6), FhirTimeType::kDateTime, "AL1-6"));
  Value manifestations(kArrayType);
  for (const hl7v2::Value& rep : al1.Field(5).Repetitions()) {
    Value text = ctx_.Str(rep);
    if (text.IsNull()) {
      continue;
    }
    Value cc(kObjectType);
    cc.AddMember("text", text, alloc());
    manifestations.PushBack(cc, alloc());
  }
  if (!manifestations.Empty()) {
    Value reaction(kObjectType);
    reaction.AddMember("manifestation", manifestations, alloc());
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReactionSeverity, severity)) {
      reaction.AddMember("severity", ctx_.Str(row->fhir_code), alloc());
    }
    Value reactions(kArrayType);
    reactions.PushBack(reaction, alloc());
    allergy.AddMember("reaction", reactions, alloc());
  }
  AddResource("AllergyIntolerance", NewId("AllergyIntolerance/AL1[" + std::to_string(index) + "]"),
              std::move(allergy));
}

void Mapper::MapDiagnosis(const CachedSegment& dg1, std::size_t index) {
  const std::string id = NewId("Condition/DG1[" + std::to_string(index) + "]");
  Value condition(kObjectType);
  Value identifiers(kArrayType);
  ctx_.Push(identifiers, EiToIdentifier(ctx_, dg1.Field(20)));
  ctx_.Put(condition, "identifier", std::move(identifiers));
  {
    Value categories(kArrayType);
    Value category(kObjectType);
    Value codings(kArrayType);
    codings.PushBack(CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/condition-category",
                                 "encounter-diagnosis", "Encounter Diagnosis"),
                     alloc());
    category.AddMember("coding", codings, alloc());
    categories.PushBack(category, alloc());
    condition.AddMember("category", categories, alloc());
  }
  Value code = CweToCodeableConcept(ctx_, dg1.Field(3));
  Value description = ctx_.Str(dg1.Field(4));
  if (!description.IsNull()) {
    if (code.IsNull()) {
      code = Value(kObjectType);
    }
    if (!code.HasMember("text")) {
      code.AddMember("text", description, alloc());
    }
  }
  ctx_.Put(condition, "code", std::move(code));
  condition.AddMember("subject", Reference(patient_id_), alloc());
  if (has_encounter_) {
    condition.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  ctx_.Put(condition, "onsetDateTime",
           TimeValue(ctx_, dg1.Field(5), FhirTimeType::kDateTime, "DG1-5"));
  ctx_.Put(condition, "recordedDate",
           TimeValue(ctx_, dg1.Field(19), FhirTimeType::kDateTime, "DG1-19"));
  {
    const std::string asserter = PractitionerFor(dg1.Field(16).Repetition(1));
    if (!asserter.empty()) {
      condition.AddMember("asserter", Reference(asserter), alloc());
    }
  }
  AddResource("Condition", id, std::move(condition));
  if (has_encounter_) {
    Value& encounter = entries_[encounter_entry_].resource;
    if (!encounter.HasMember("diagnosis")) {
      encounter.AddMember("diagnosis", Value(kArrayType), alloc());
    }
    Value diagnosis(kObjectType);
    diagnosis.AddMember("condition", Reference(id), alloc());
    std::string s6, s6t;
    const hl7v2::Value type = dg1.Field(6);
    ctx_.Put(diagnosis, "use",
             TableCodeableConcept(ctx_, KnownTable::kDiagnosisRole, V2Text(type.Component(1), s6),
                                  V2Text(type.Component(2), s6t), "HL70052"));
    std::string s15;
    const auto rank = CanonicalDecimal(V2Text(dg1.Field(15), s15));
    if (rank && rank->find('.') == std::string::npos && *rank != "0" && rank->front() != '-') {
      diagnosis.AddMember("rank", ctx_.Number(*rank), alloc());
    }
    encounter["diagnosis"].PushBack(diagnosis, alloc());
  }
}

std::size_t Mapper::MapObservationRequest(const CachedSegment& obr, std::size_t index) {
  const std::string id = NewId("DiagnosticReport/OBR[" + std::to_string(index) + "]");
  Value report(kObjectType);
  Value identifiers(kArrayType);
  const auto order_identifier = [&](std::size_t field, std::string_view type) {
    Value identifier = EiToIdentifier(ctx_, obr.Field(field));
    if (identifier.IsNull()) {
      return;
    }
    Value with_type(kObjectType);
    with_type.AddMember(
        "type", TableCodeableConcept(ctx_, KnownTable::kIdentifierType, type, {}, "HL70203"),
        alloc());
    MoveMembers(identifier, with_type, alloc());
    identifiers.PushBack(with_type, alloc());
  };
  order_identifier(2, "PLAC");
  order_identifier(3, "FILL");
  ctx_.Put(report, "identifier", std::move(identifiers));
  {
    std::string scratch;
    const std::string_view status = V2Text(obr.Field(25), scratch);
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kReportStatus, status)) {
      report.AddMember("status", ctx_.Str(row->fhir_code), alloc());
    } else {
      report.AddMember("status", Lit("unknown"), alloc());
      PutMappedCode(ctx_, report, "status", KnownTable::kReportStatus, status, "HL70123");
    }
  }
  {
    std::string scratch;
    const std::string_view section = V2Text(obr.Field(24), scratch);
    std::string_view category;
    if (IsLabSection(section) || (section.empty() && kind_ == MessageKind::kOru)) {
      category = "LAB";
    } else if (IsImagingSection(section)) {
      category = "RAD";
    }
    Value categories(kArrayType);
    if (!category.empty() || !section.empty()) {
      Value cc(kObjectType);
      Value codings(kArrayType);
      if (!category.empty()) {
        codings.PushBack(
            CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0074", category, {}),
            alloc());
      }
      if (!section.empty() && section != category) {
        codings.PushBack(
            CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0074", section, {}),
            alloc());
      }
      cc.AddMember("coding", codings, alloc());
      categories.PushBack(cc, alloc());
    }
    ctx_.Put(report, "category", std::move(categories));
  }
  Value code = CweToCodeableConcept(ctx_, obr.Field(4));
  if (code.IsNull()) {
    code = AbsentCode();  // OBR-4 is required in v2; say so rather than drop the report
  }
  report.AddMember("code", code, alloc());
  if (has_patient_) {
    report.AddMember("subject", Reference(patient_id_), alloc());
  }
  if (has_encounter_) {
    report.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  {
    Value start = TimeValue(ctx_, obr.Field(7), FhirTimeType::kDateTime, "OBR-7");
    Value end = TimeValue(ctx_, obr.Field(8), FhirTimeType::kDateTime, "OBR-8");
    if (!end.IsNull()) {
      Value period(kObjectType);
      ctx_.Put(period, "start", std::move(start));
      period.AddMember("end", end, alloc());
      report.AddMember("effectivePeriod", period, alloc());
    } else {
      ctx_.Put(report, "effectiveDateTime", std::move(start));
    }
  }
  ctx_.Put(report, "issued", TimeValue(ctx_, obr.Field(22), FhirTimeType::kInstant, "OBR-22"));
  {
    Value performers(kArrayType);
    for (const hl7v2::Value& rep : obr.Field(32).Repetitions()) {
      // NDL: the first component is a CNN (id & family & given ...).
      const hl7v2::Value cnn = rep.Component(1);
      if (!cnn.HasValue()) {
        continue;
      }
      Value practitioner(kObjectType);
      Value names(kArrayType);
      Value name(kObjectType);
      ctx_.Put(name, "family", ctx_.Str(cnn.Subcomponent(2)));
      Value given(kArrayType);
      ctx_.Push(given, ctx_.Str(cnn.Subcomponent(3)));
      ctx_.Put(name, "given", std::move(given));
      ctx_.Push(names, std::move(name));
      ctx_.Put(practitioner, "name", std::move(names));
      std::string pid;
      if (const std::string* found = FindDedup("Practitioner/cnn/", cnn.raw())) {
        pid = *found;
      } else if (practitioner.MemberCount() > 0) {
        pid = NewId(key_);
        AddResource("Practitioner", pid, std::move(practitioner));
        dedup_.push_back(Dedup{"Practitioner/cnn/", cnn.raw(), pid});
      }
      if (!pid.empty()) {
        performers.PushBack(Reference(pid), alloc());
      }
    }
    ctx_.Put(report, "resultsInterpreter", std::move(performers));
  }
  const std::size_t entry = entries_.size();
  AddResource("DiagnosticReport", id, std::move(report));
  focus_.push_back(id);
  return entry;
}

std::size_t Mapper::MapServiceRequest(const CachedSegment* orc, const CachedSegment* obr,
                                      std::size_t index) {
  const std::string id = NewId("ServiceRequest/ORDER[" + std::to_string(index) + "]");
  Value request(kObjectType);
  Value identifiers(kArrayType);
  const auto order_identifier = [&](std::size_t orc_field, std::size_t obr_field,
                                    std::string_view type) {
    hl7v2::Value ei = orc != nullptr ? orc->Field(orc_field) : hl7v2::Value();
    if (!ei.HasValue() && obr != nullptr) {
      ei = obr->Field(obr_field);
    }
    Value identifier = EiToIdentifier(ctx_, ei);
    if (identifier.IsNull()) {
      return;
    }
    Value with_type(kObjectType);
    with_type.AddMember(
        "type", TableCodeableConcept(ctx_, KnownTable::kIdentifierType, type, {}, "HL70203"),
        alloc());
    MoveMembers(identifier, with_type, alloc());
    identifiers.PushBack(with_type, alloc());
  };
  order_identifier(2, 2, "PLAC");
  order_identifier(3, 3, "FILL");
  ctx_.Put(request, "identifier", std::move(identifiers));
  {
    // ORC-5 (order status) says where the order is; ORC-1 (order control) what the message does.
    std::string s5, s1;
    const std::string_view order_status = orc != nullptr ? V2Text(orc->Field(5), s5) : "";
    const std::string_view control = orc != nullptr ? V2Text(orc->Field(1), s1) : "";
    const CodeMapRow* row = MapCode(ctx_, KnownTable::kOrderStatus, order_status);
    if (row == nullptr) {
      row = MapCode(ctx_, KnownTable::kOrderControlStatus, control);
    }
    if (row != nullptr) {
      request.AddMember("status", ctx_.Str(row->fhir_code), alloc());
    } else {
      request.AddMember("status", Lit("unknown"), alloc());
      if (!order_status.empty()) {
        PutMappedCode(ctx_, request, "status", KnownTable::kOrderStatus, order_status, "HL70038");
      } else {
        PutMappedCode(ctx_, request, "status", KnownTable::kOrderControlStatus, control, "HL70119");
      }
    }
  }
  request.AddMember("intent", "order", alloc());
  Value code = obr != nullptr ? CweToCodeableConcept(ctx_, obr->Field(4)) : Value();
  if (code.IsNull()) {
    code = AbsentCode();
  }
  request.AddMember("code", code, alloc());
  request.AddMember("subject", Reference(patient_id_), alloc());
  if (has_encounter_) {
    request.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  if (orc != nullptr) {
    ctx_.Put(request, "authoredOn",
             TimeValue(ctx_, orc->Field(9), FhirTimeType::kDateTime, "ORC-9"));
  }
  {
    std::string requester;
    if (orc != nullptr) {
      requester = PractitionerFor(orc->Field(12).Repetition(1));
    }
    if (requester.empty() && obr != nullptr) {
      requester = PractitionerFor(obr->Field(16).Repetition(1));
    }
    if (!requester.empty()) {
      request.AddMember("requester", Reference(requester), alloc());
    }
  }
  if (obr != nullptr) {
    Value reasons(kArrayType);
    for (const hl7v2::Value& rep : obr->Field(31).Repetitions()) {
      ctx_.Push(reasons, CweToCodeableConcept(ctx_, rep));
    }
    ctx_.Put(request, "reasonCode", std::move(reasons));
  }
  const std::size_t entry = entries_.size();
  AddResource("ServiceRequest", id, std::move(request));
  focus_.push_back(id);
  return entry;
}

std::size_t Mapper::MapObservation(const CachedSegment& obx, std::size_t index,
                                   const CachedSegment* obr) {
  const std::string id = NewId("Observation/OBX[" + std::to_string(index) + "]");
  Value observation(kObjectType);
  Value identifiers(kArrayType);
  ctx_.Push(identifiers, EiToIdentifier(ctx_, obx.Field(21)));
  ctx_.Put(observation, "identifier", std::move(identifiers));
  {
    std::string scratch;
    const std::string_view status = V2Text(obx.Field(11), scratch);
    if (const CodeMapRow* row = MapCode(ctx_, KnownTable::kObservationStatus, status)) {
      observation.AddMember("status", ctx_.Str(row->fhir_code), alloc());
    } else {
      observation.AddMember("status", Lit("unknown"), alloc());
      PutMappedCode(ctx_, observation, "status", KnownTable::kObservationStatus, status, "HL70085");
    }
  }
  if (kind_ == MessageKind::kOru && obr != nullptr) {
    std::string scratch;
    const std::string_view section = V2Text(obr->Field(24), scratch);
    if (section.empty() || IsLabSection(section)) {
      Value categories(kArrayType);
      Value cc(kObjectType);
      Value codings(kArrayType);
      codings.PushBack(
          CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/observation-category",
                      "laboratory", "Laboratory"),
          alloc());
      cc.AddMember("coding", codings, alloc());
      categories.PushBack(cc, alloc());
      observation.AddMember("category", categories, alloc());
    }
  }
  Value code = CweToCodeableConcept(ctx_, obx.Field(3));
  if (code.IsNull()) {
    code = AbsentCode();  // OBX-3 is required in v2; keep the value, flag the missing code
  }
  observation.AddMember("code", code, alloc());
  if (has_patient_) {
    observation.AddMember("subject", Reference(patient_id_), alloc());
  }
  if (has_encounter_) {
    observation.AddMember("encounter", Reference(encounter_id_), alloc());
  }
  {
    Value effective = TimeValue(ctx_, obx.Field(14), FhirTimeType::kDateTime, "OBX-14");
    if (effective.IsNull() && obr != nullptr) {
      effective = TimeValue(ctx_, obr->Field(7), FhirTimeType::kDateTime, "OBR-7");
    }
    ctx_.Put(observation, "effectiveDateTime", std::move(effective));
  }
  {
    Value performers(kArrayType);
    for (const hl7v2::Value& rep : obx.Field(16).Repetitions()) {
      const std::string pid = PractitionerFor(rep);
      if (!pid.empty()) {
        performers.PushBack(Reference(pid), alloc());
      }
    }
    for (const hl7v2::Value& rep : obx.Field(23).Repetitions()) {
      const std::string oid = OrganizationForXon(rep);
      if (!oid.empty()) {
        performers.PushBack(Reference(oid), alloc());
      }
    }
    ctx_.Put(observation, "performer", std::move(performers));
  }
  // The value, by OBX-2.
  {
    std::string type_scratch;
    const std::string_view type = V2Text(obx.Field(2), type_scratch);
    const hl7v2::Value value = obx.Field(5);
    const hl7v2::Value units = obx.Field(6);
    std::size_t reps = 0;
    for (const hl7v2::Value& rep : value.Repetitions()) {
      (void)rep;
      ++reps;
    }
    const auto join_reps = [&](bool formatted) {
      std::string text;
      bool first = true;
      for (const hl7v2::Value& rep : value.Repetitions()) {
        if (!first) {
          text.push_back(formatted ? '\n' : ' ');
        }
        first = false;
        if (rep.HasValue()) {
          if (formatted) {
            text.append(rep.Text());
          } else {
            std::string scratch;
            text.append(V2Text(rep, scratch));
          }
        }
      }
      return text;
    };
    if (value.HasValue()) {
      if (type == "NM") {
        std::string scratch;
        Value quantity = reps == 1 ? NmToQuantity(ctx_, V2Text(value, scratch), units) : Value();
        if (!quantity.IsNull()) {
          observation.AddMember("valueQuantity", quantity, alloc());
        } else {
          ctx_.Put(observation, "valueString", ctx_.Str(join_reps(false)));
        }
      } else if (type == "SN") {
        PutSnValue(ctx_, observation, value.Repetition(1), units);
      } else if (type == "CE" || type == "CWE" || type == "CNE") {
        ctx_.Put(observation, "valueCodeableConcept",
                 CweToCodeableConcept(ctx_, value.Repetition(1)));
      } else if (type == "DT" || type == "DTM" || type == "TS") {
        ctx_.Put(observation, "valueDateTime",
                 TimeValue(ctx_, value.Repetition(1), FhirTimeType::kDateTime, "OBX-5"));
      } else if (type == "TX" || type == "FT") {
        ctx_.Put(observation, "valueString", ctx_.Str(join_reps(true)));
      } else if (type == "ED") {
        Value attachment = EdToAttachment(ctx_, value.Repetition(1));
        if (!attachment.IsNull()) {
          Value extension(kObjectType);
          extension.AddMember("url", Lit(kObservationValueR5Url), alloc());
          extension.AddMember("valueAttachment", attachment, alloc());
          Value extensions(kArrayType);
          extensions.PushBack(extension, alloc());
          Value with_extension(kObjectType);
          with_extension.AddMember("extension", extensions, alloc());
          MoveMembers(observation, with_extension, alloc());
          observation = std::move(with_extension);
        }
      } else {
        // ST and anything else (RP, ID, IS, TM, ...) is kept as text.
        ctx_.Put(observation, "valueString", ctx_.Str(join_reps(false)));
      }
    }
  }
  {
    Value interpretations(kArrayType);
    for (const hl7v2::Value& rep : obx.Field(8).Repetitions()) {
      std::string s1, s2;
      ctx_.Push(interpretations, TableCodeableConcept(ctx_, KnownTable::kInterpretation,
                                                      V2Text(rep.Component(1), s1),
                                                      V2Text(rep.Component(2), s2), "HL70078"));
    }
    ctx_.Put(observation, "interpretation", std::move(interpretations));
  }
  {
    Value range_text = ctx_.Str(obx.Field(7));
    if (!range_text.IsNull()) {
      Value range(kObjectType);
      std::string scratch;
      const std::string_view text = V2Text(obx.Field(7), scratch);
      const std::size_t dash = text.find('-', 1);
      if (dash != std::string_view::npos) {
        const auto low = CanonicalDecimal(text.substr(0, dash));
        const auto high = CanonicalDecimal(text.substr(dash + 1));
        if (low && high) {
          Value low_q(kObjectType);
          low_q.AddMember("value", ctx_.Number(*low), alloc());
          PutUnits(ctx_, low_q, obx.Field(6));
          Value high_q(kObjectType);
          high_q.AddMember("value", ctx_.Number(*high), alloc());
          PutUnits(ctx_, high_q, obx.Field(6));
          range.AddMember("low", low_q, alloc());
          range.AddMember("high", high_q, alloc());
        }
      }
      range.AddMember("text", range_text, alloc());
      Value ranges(kArrayType);
      ranges.PushBack(range, alloc());
      observation.AddMember("referenceRange", ranges, alloc());
    }
  }
  ctx_.Put(observation, "method", CweToCodeableConcept(ctx_, obx.Field(17)));
  ctx_.Put(observation, "bodySite", CweToCodeableConcept(ctx_, obx.Field(20)));
  const std::size_t entry = entries_.size();
  AddResource("Observation", id, std::move(observation));
  return entry;
}

Value Mapper::AbsentCode() {
  Value extension(kObjectType);
  extension.AddMember("url", Lit(kDataAbsentReasonUrl), alloc());
  extension.AddMember("valueCode", "unknown", alloc());
  Value extensions(kArrayType);
  extensions.PushBack(extension, alloc());
  Value code(kObjectType);
  code.AddMember("extension", extensions, alloc());
  return code;
}

Value Mapper::MessageHeader() {
  Value header(kObjectType);
  // Segments we do not map are carried verbatim, so nothing is lost.
  if (ctx_.options().keep_unmapped_segments) {
    Value extensions(kArrayType);
    for (std::size_t i = 1; i <= message_.SegmentCount(); ++i) {
      if (mapped_[i]) {
        continue;
      }
      Value extension(kObjectType);
      extension.AddMember("url", Lit(kUnmappedSegmentExtensionUrl), alloc());
      extension.AddMember("valueString", ctx_.Str(message_.Segment(i).raw()), alloc());
      extensions.PushBack(extension, alloc());
    }
    ctx_.Put(header, "extension", std::move(extensions));
  }
  {
    std::string scratch;
    const std::string_view processing = V2Text(Msh(11).Component(1), scratch);
    if (!processing.empty()) {
      Value meta(kObjectType);
      Value tags(kArrayType);
      tags.PushBack(
          CodingValue(ctx_, "http://terminology.hl7.org/CodeSystem/v2-0103", processing, {}),
          alloc());
      meta.AddMember("tag", tags, alloc());
      header.AddMember("meta", meta, alloc());
    }
  }
  header.AddMember("eventCoding", CodingValue(ctx_, kV2EventSystem, trigger_, {}), alloc());
  const auto endpoint = [&](Value& target, const hl7v2::Value& hd) {
    const std::string system = HdToSystem(ctx_, hd);
    if (!system.empty() && (system.starts_with("urn:") || system.starts_with("http"))) {
      target.AddMember("endpoint", ctx_.Str(system), alloc());
      return;
    }
    // MessageHeader.*.endpoint is required; a v2 application name is not a URL.
    Value extension(kObjectType);
    extension.AddMember("url", Lit(kDataAbsentReasonUrl), alloc());
    extension.AddMember("valueCode", "unknown", alloc());
    Value extensions(kArrayType);
    extensions.PushBack(extension, alloc());
    Value element(kObjectType);
    element.AddMember("extension", extensions, alloc());
    target.AddMember("_endpoint", element, alloc());
  };
  {
    const hl7v2::Value receiving_app = Msh(5);
    const hl7v2::Value receiving_facility = Msh(6);
    if (receiving_app.HasValue() || receiving_facility.HasValue()) {
      Value destination(kObjectType);
      ctx_.Put(destination, "name", ctx_.Str(receiving_app.Component(1)));
      endpoint(destination, receiving_app);
      const std::string receiver = OrganizationForHd(receiving_facility);
      if (!receiver.empty()) {
        destination.AddMember("receiver", Reference(receiver), alloc());
      }
      Value destinations(kArrayType);
      destinations.PushBack(destination, alloc());
      header.AddMember("destination", destinations, alloc());
    }
  }
  {
    const std::string sender = OrganizationForHd(Msh(4));
    if (!sender.empty()) {
      header.AddMember("sender", Reference(sender), alloc());
    }
  }
  {
    const hl7v2::Value sending_app = Msh(3);
    Value source(kObjectType);
    ctx_.Put(source, "name", ctx_.Str(sending_app.Component(1)));
    endpoint(source, sending_app);
    header.AddMember("source", source, alloc());
  }
  Value focus(kArrayType);
  for (const std::string& id : focus_) {
    focus.PushBack(Reference(id), alloc());
  }
  ctx_.Put(header, "focus", std::move(focus));
  return header;
}

core::Result<std::string> Mapper::Run() {
  BROKER_RETURN_IF_ERROR(CheckType());
  {
    const std::string_view control_id = message_.ControlId();
    std::string name;
    if (!control_id.empty()) {
      name.append(message_.Get("MSH-3").raw()).append("|");
      name.append(message_.Get("MSH-4").raw()).append("|").append(control_id);
    } else {
      name.append(message_.er7());
    }
    namespace_ = UuidV5(V2ToFhirNamespace(), name);
  }
  mapped_[1] = true;  // MSH
  entries_.reserve(32);
  focus_.reserve(8);
  dedup_.reserve(8);
  const std::size_t count = message_.SegmentCount();
  {
    const std::string_view er7 = message_.er7();
    fields_.reserve(
        static_cast<std::size_t>(std::count(er7.begin(), er7.end(), message_.encoding().field)) +
        count);
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // (first field, count)
    spans.reserve(count);
    for (std::size_t i = 1; i <= count; ++i) {
      const std::size_t first = fields_.size();
      spans.emplace_back(first, CachedSegment::Split(message_.Segment(i), fields_));
    }
    segments_.reserve(count);
    for (std::size_t i = 1; i <= count; ++i) {
      segments_.emplace_back(message_.Segment(i), fields_.data() + spans[i - 1].first,
                             spans[i - 1].second);
    }
  }
  const auto pid = message_.FindSegment("PID");
  if (!pid) {
    if (kind_ != MessageKind::kOru) {
      return MakeError(ErrorCode::kRequiredFieldMissing, "PID segment is required", "PID");
    }
  } else {
    for (std::size_t i = 1; i <= count; ++i) {
      if (message_.Segment(i).id() == "PID") {
        MapPatient(Seg(i), i);
        KeepIfLossy(i);
        break;
      }
    }
  }
  // Patient-level segments and the visit come first, so that later resources can refer to them.
  bool has_pd1 = false;
  for (std::size_t i = 1; i <= count; ++i) {
    const CachedSegment& segment = Seg(i);
    const std::string_view id = segment.id();
    if (id == "PD1" && has_patient_ && !has_pd1) {
      has_pd1 = true;  // a second PD1 is not expected; it is kept verbatim
      mapped_[i] = true;
      MapPd1(segment);
      KeepIfLossy(i);
    } else if (id == "PV1" && has_patient_ && !has_encounter_ && IsEmptyVisit(segment)) {
      mapped_[i] = true;  // "PV1|1|N": no visit to describe, nothing lost
    } else if (id == "PV1" && has_patient_ && !has_encounter_) {
      const CachedSegment* pv2 = nullptr;
      if (i + 1 <= count && Seg(i + 1).id() == "PV2") {
        pv2 = &Seg(i + 1);
        mapped_[i + 1] = true;
      }
      mapped_[i] = true;
      MapEncounter(segment, pv2);
      if (ctx_.TakeLossy()) {
        mapped_[i] = false;
        if (pv2) {
          mapped_[i + 1] = false;
        }
      }
    }
  }
  if (kind_ == MessageKind::kAdt && trigger_ == "A40") {
    const auto mrg = message_.FindSegment("MRG");
    if (!mrg) {
      return MakeError(ErrorCode::kRequiredFieldMissing, "MRG segment is required in A40", "MRG");
    }
    std::size_t mrg_index = 0;
    for (std::size_t i = 1; i <= count; ++i) {
      if (Seg(i).id() == "MRG") {
        mapped_[i] = true;
        mrg_index = i;
        break;
      }
    }
    MapMerge(Seg(mrg_index));
    if (ctx_.TakeLossy()) {
      for (std::size_t i = 1; i <= count; ++i) {
        if (message_.Segment(i).id() == "MRG") {
          mapped_[i] = false;
          break;
        }
      }
    }
  }
  std::size_t nk1 = 0;
  std::size_t al1 = 0;
  std::size_t dg1 = 0;
  std::size_t obr_count = 0;
  std::size_t obx_count = 0;
  // Entry indexes; kNone when there is none (plain values: GCC 12 -O3 misreads optionals here).
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t report_entry = kNone;
  const CachedSegment* current_obr = nullptr;
  std::size_t last_observation = kNone;  // the entry NTEs attach to
  bool in_report_notes = false;
  std::vector<std::pair<std::size_t, std::string>> report_results;  // (report entry, obs id)
  std::vector<std::pair<std::size_t, std::string>> report_notes;
  // Orders (ORM^O01, OML^O21): an ORC waits for the OBR that completes it.
  std::size_t order_count = 0;
  std::size_t request_entry = kNone;
  const CachedSegment* pending_orc = nullptr;
  std::size_t pending_orc_index = 0;
  const auto flush_orc = [&] {
    if (pending_orc) {
      request_entry = MapServiceRequest(pending_orc, nullptr, ++order_count);
      KeepIfLossy(pending_orc_index);
      pending_orc = nullptr;
      in_report_notes = true;
    }
  };
  const auto add_reference = [&](std::size_t entry, const char* member, const std::string& to) {
    Value& resource = entries_[entry].resource;
    if (!resource.HasMember(member)) {
      resource.AddMember(StringRef(member), Value(kArrayType), alloc());
    }
    resource[member].PushBack(Reference(to), alloc());
  };
  for (std::size_t i = 1; i <= count; ++i) {
    const CachedSegment& segment = Seg(i);
    const std::string_view id = segment.id();
    if (id != "OBR") {
      flush_orc();
    }
    if (id != "NTE") {
      in_report_notes = false;
      if (id != "OBX") {
        last_observation = kNone;
      }
    }
    if (id == "NK1" && has_patient_) {
      mapped_[i] = true;
      MapNextOfKin(segment, ++nk1);
      KeepIfLossy(i);
    } else if (id == "AL1" && has_patient_) {
      mapped_[i] = true;
      MapAllergy(segment, ++al1);
      KeepIfLossy(i);
    } else if (id == "DG1" && has_patient_) {
      mapped_[i] = true;
      MapDiagnosis(segment, ++dg1);  // the Condition is the last entry it adds
      KeepIfLossy(i);
      if (kind_ == MessageKind::kOrder && request_entry != kNone) {
        add_reference(request_entry, "reasonReference", entries_.back().id);
      }
    } else if (id == "ORC" && kind_ == MessageKind::kOrder) {
      mapped_[i] = true;
      pending_orc = &segment;
      pending_orc_index = i;
    } else if (id == "OBR" && kind_ == MessageKind::kOrder) {
      mapped_[i] = true;
      request_entry = MapServiceRequest(pending_orc, &segment, ++order_count);
      if (ctx_.TakeLossy()) {
        mapped_[i] = false;
        if (pending_orc) {
          mapped_[pending_orc_index] = false;
        }
      }
      pending_orc = nullptr;
      current_obr = &segment;
      in_report_notes = true;
    } else if (id == "OBR" && kind_ == MessageKind::kOru) {
      mapped_[i] = true;
      report_entry = MapObservationRequest(segment, ++obr_count);
      current_obr = &segment;
      KeepIfLossy(i);
      in_report_notes = true;
    } else if (id == "OBX" && (kind_ == MessageKind::kOru || has_patient_)) {
      mapped_[i] = true;
      const std::size_t entry = MapObservation(segment, ++obx_count, current_obr);
      last_observation = entry;
      KeepIfLossy(i);
      if (report_entry != kNone) {
        report_results.emplace_back(report_entry, entries_[entry].id);
      }
      if (kind_ == MessageKind::kOrder && request_entry != kNone) {
        add_reference(request_entry, "supportingInfo", entries_[entry].id);
      }
    } else if (id == "NTE" &&
               (last_observation != kNone ||
                (in_report_notes && (report_entry != kNone || request_entry != kNone)))) {
      mapped_[i] = true;
      std::string text;
      bool first = true;
      for (const hl7v2::Value& rep : segment.Field(3).Repetitions()) {
        if (!first) {
          text.push_back('\n');
        }
        first = false;
        if (rep.HasValue()) {
          text.append(rep.Text());
        }
      }
      if (text.empty()) {
        // An empty NTE carries nothing.
      } else if (last_observation != kNone) {
        Value& observation = entries_[last_observation].resource;
        if (!observation.HasMember("note")) {
          observation.AddMember("note", Value(kArrayType), alloc());
        }
        Value note(kObjectType);
        note.AddMember("text", ctx_.Str(text), alloc());
        observation["note"].PushBack(note, alloc());
      } else if (kind_ == MessageKind::kOrder) {
        Value& request = entries_[request_entry].resource;
        if (!request.HasMember("note")) {
          request.AddMember("note", Value(kArrayType), alloc());
        }
        Value note(kObjectType);
        note.AddMember("text", ctx_.Str(text), alloc());
        request["note"].PushBack(note, alloc());
      } else {
        report_notes.emplace_back(report_entry, std::move(text));
      }
    }
  }
  flush_orc();
  if (kind_ == MessageKind::kOrder && order_count == 0) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "an order message needs ORC or OBR", "ORC");
  }
  if (kind_ == MessageKind::kOru && obr_count == 0) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "ORU^R01 needs an OBR segment", "OBR");
  }
  for (auto& [entry, obs_id] : report_results) {
    Value& report = entries_[entry].resource;
    if (!report.HasMember("result")) {
      report.AddMember("result", Value(kArrayType), alloc());
    }
    report["result"].PushBack(Reference(obs_id), alloc());
  }
  // NTEs after an OBR are the report's comments; R4 DiagnosticReport has no note, so they become
  // the conclusion text (line breaks kept).
  for (auto& [entry, text] : report_notes) {
    if (text.empty()) {
      continue;
    }
    Value& report = entries_[entry].resource;
    if (const auto previous = fhir::FindString(report, "conclusion")) {
      std::string joined(*previous);
      joined.append("\n").append(text);
      report["conclusion"] = ctx_.Str(joined);
    } else {
      report.AddMember("conclusion", ctx_.Str(text), alloc());
    }
  }
  Value timestamp = TimeValue(ctx_, Msh(7), FhirTimeType::kInstant, "MSH-7");
  KeepIfLossy(1);
  Value header = MessageHeader();
  if (ctx_.failed()) {
    return *ctx_.error();
  }
  // The Bundle.
  Value& bundle = document_.SetObject();
  bundle.AddMember("resourceType", "Bundle", alloc());
  bundle.AddMember("id", ctx_.Str(NewId("Bundle")), alloc());
  {
    std::string scratch;
    const std::string_view control_id = V2Text(Msh(10), scratch);
    if (!control_id.empty()) {
      Value identifier(kObjectType);
      identifier.AddMember("value", ctx_.Str(control_id), alloc());
      bundle.AddMember("identifier", identifier, alloc());
    }
  }
  bundle.AddMember("type", "message", alloc());
  ctx_.Put(bundle, "timestamp", std::move(timestamp));
  if (ctx_.failed()) {
    return *ctx_.error();
  }
  Value entries(kArrayType);
  const std::string header_id = NewId("MessageHeader");
  {
    Value resource(kObjectType);
    resource.AddMember("resourceType", "MessageHeader", alloc());
    resource.AddMember("id", ctx_.Str(header_id), alloc());
    MoveMembers(header, resource, alloc());
    Value entry(kObjectType);
    entry.AddMember("fullUrl", Urn(header_id), alloc());
    entry.AddMember("resource", resource, alloc());
    entries.PushBack(entry, alloc());
  }
  for (Entry& e : entries_) {
    Value entry(kObjectType);
    entry.AddMember("fullUrl", Urn(e.id), alloc());
    entry.AddMember("resource", e.resource, alloc());
    entries.PushBack(entry, alloc());
  }
  bundle.AddMember("entry", entries, alloc());
  ctx_.SortNumbers();
  JsonOut out(ctx_);
  out.Write(document_);
  return out.Finish();
}

}  // namespace

core::Result<std::string> MapV2ToFhir(std::string_view er7, const MappingTables& tables,
                                      const V2ToFhirOptions& options) {
  core::Result<hl7v2::Message> message = hl7v2::Message::Parse(std::string(er7));
  if (!message) {
    return message.error();
  }
  return MapV2ToFhir(*message, tables, options);
}

core::Result<std::string> MapV2ToFhir(const hl7v2::Message& message, const MappingTables& tables,
                                      const V2ToFhirOptions& options) {
  Mapper mapper(message, tables, options);
  return mapper.Run();
}

}  // namespace tb::mappings
