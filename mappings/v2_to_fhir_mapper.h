#pragma once

// Internal to the v2 -> FHIR mapper (v2_to_fhir*.cpp): the Mapper, which walks one message's
// segments and builds the Bundle's resources, and what its segment maps share. Each segment map
// lives in its own file (v2_to_fhir_patient.cpp, _encounter, _observation, ...); the walk over the
// segments and the Bundle assembly are in v2_to_fhir.cpp. Not part of the library's interface.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "broker/core/result.h"
#include "mappings/deterministic_id.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings::v2fhir {

using core::ErrorCode;
using core::MakeError;

inline constexpr std::string_view kUkCorePatientProfile =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";
inline constexpr std::string_view kNhsVerificationExtensionUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
inline constexpr std::string_view kDataAbsentReasonUrl =
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
// The value of a required element the message leaves empty:
// {"extension":[{"url":"<data-absent-reason>","valueCode":"unknown"}]}.
inline void WriteDataAbsentUnknown(JsonText& out) {
  out.Raw("{\"extension\":[{\"url\":");
  out.String(kDataAbsentReasonUrl);
  out.Raw(",\"valueCode\":\"unknown\"}]}");
}
inline constexpr std::string_view kMothersMaidenNameUrl =
    "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName";
inline constexpr std::string_view kV2EventSystem = "http://terminology.hl7.org/CodeSystem/v2-0003";
inline constexpr std::string_view kParticipationTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

// Whether segment id `id` is `expected` (three characters): inline, where string_view's == called
// compare and memcmp for each of the hundred tests of a message's segments.
inline bool IdIs(std::string_view id, const char (&expected)[4]) {
  return id.size() == 3 && id[0] == expected[0] && id[1] == expected[1] && id[2] == expected[2];
}

inline bool In(std::string_view value, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// HL7 table 0074 (diagnostic service section): the laboratory sections, and the imaging ones.
bool IsLabSection(std::string_view section);
bool IsImagingSection(std::string_view section);

// A segment with its fields split once: the segment maps read 20-40 fields each, and
// SegmentView::Field(n) rescans from the start of the segment on every call. The fields of all
// segments of a message live in one vector (Split appends to it).
class CachedSegment {
 public:
  // Appends the raw text of field 0 (empty: the segment id) and of each field of `view` to `out`
  // and returns the segment, whose fields are found once Resolve is given out's data.
  static CachedSegment Split(const hl7v2::SegmentView& view, std::vector<std::string_view>& out);
  // Points at the fields once the vector holding them no longer moves.
  void Resolve(const std::string_view* fields) { fields_ = fields + first_; }

  std::string_view raw() const { return view_.raw(); }
  std::string_view id() const { return view_.id(); }
  hl7v2::Value Field(std::size_t n) const {
    if (n == 0 || n >= count_) {
      return {};
    }
    // MSH-2 (field 1 of a header) holds the escape character itself: the message's encoding.
    return {fields_[n], n == 1 && header_ ? view_.encoding() : encoding_, hl7v2::Level::kField};
  }

 private:
  CachedSegment(const hl7v2::SegmentView& view, const hl7v2::Encoding& encoding, bool header,
                std::size_t first, std::size_t count)
      : view_(view), encoding_(encoding), header_(header), first_(first), count_(count) {}

  hl7v2::SegmentView view_;
  // The encoding of the segment's values: the message's, without the escape character when the
  // segment holds none (past MSH-2), so that V2Text need not search each value for one.
  hl7v2::Encoding encoding_;
  bool header_;
  const std::string_view* fields_ = nullptr;
  std::size_t first_;
  std::size_t count_;
};

// A std::vector that starts with the buffer a previous mapping on this thread left (emptied) and
// leaves its own for the next: a mapping per message would otherwise allocate its segment, field
// and entry vectors anew every time. A buffer over 64 KB (a very large message) is not kept. Two
// alive on one thread (not the mapper's use) simply allocate.
template <typename T>
class ReusedVector : public std::vector<T> {
 public:
  ReusedVector() {
    this->swap(Spare());
    this->clear();
  }
  ~ReusedVector() {
    this->clear();  // elements go now (entries hand their buffers back to JsonBuffer's list)
    constexpr std::size_t kMaxKeptBytes = 64 * 1024;
    if (Spare().capacity() < this->capacity() && this->capacity() * sizeof(T) <= kMaxKeptBytes) {
      this->swap(Spare());
    }
  }
  ReusedVector(const ReusedVector&) = delete;
  ReusedVector& operator=(const ReusedVector&) = delete;

 private:
  static std::vector<T>& Spare() {
    thread_local std::vector<T> spare;
    return spare;
  }
};

enum class MessageKind { kAdt, kOru, kOrder };

// A resource id: the 36 characters of a UUID, held inline (a std::string of 36 allocates, and a
// message has a dozen ids, each copied into references and the dedup table).
class ResourceId {
 public:
  ResourceId() = default;
  explicit ResourceId(const Uuid& uuid) : size_(kSize) { uuid.Format(text_.data()); }
  std::string_view view() const { return {text_.data(), size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: ids are used as text
  bool empty() const { return size_ == 0; }

 private:
  static constexpr std::size_t kSize = 36;
  std::array<char, kSize> text_{};
  std::size_t size_ = 0;
};

class Mapper {
 public:
  Mapper(const hl7v2::Message& message, const MappingTables& tables, const V2ToFhirOptions& options)
      : message_(message),
        ctx_(pool_, tables, options),
        mapped_(message.SegmentCount() + 1, false) {}

  core::Result<std::string> Run();

 private:
  // A resource of the Bundle: `text` is its JSON without the closing '}', so that later segments
  // can still add members (PD1 -> Patient.generalPractitioner, MRG -> Patient.link).
  struct Entry {
    ResourceId id;
    JsonBuffer text;
    JsonBuffer notes;  // Observation.note elements from NTE segments (text entries)
    // Arrays later segments add to a text entry, in the order they were first added: (quoted key,
    // elements). ServiceRequest: reasonReference (DG1), supportingInfo (OBX), note (NTE).
    std::vector<std::pair<std::string_view, JsonBuffer>> arrays;
  };
  // The elements of array `quoted_key` of text entry `entry` (made empty when first asked for).
  JsonBuffer& EntryArray(std::size_t entry, std::string_view quoted_key) {
    auto& arrays = entries_[entry].arrays;
    for (auto& [key, elements] : arrays) {
      if (key == quoted_key) {
        return elements;
      }
    }
    arrays.emplace_back(quoted_key, JsonBuffer());
    return arrays.back().second;
  }

  ResourceId NewId(std::string_view key) const { return ResourceId(DerivedUuid(namespace_, key)); }
  // The id for key "<prefix>[<index>]" (the n-th segment of a kind).
  ResourceId NewId(std::string_view prefix, std::size_t index) const {
    char key[96];
    if (prefix.size() + 24 > sizeof(key)) {
      return NewId(std::string(prefix) + "[" + std::to_string(index) + "]");
    }
    std::memcpy(key, prefix.data(), prefix.size());
    char* out = key + prefix.size();
    *out++ = '[';
    out = std::to_chars(out, key + sizeof(key), index).ptr;
    *out++ = ']';
    return NewId(std::string_view(key, static_cast<std::size_t>(out - key)));
  }
  // A Reference to the entry with `id` (its urn:uuid fullUrl).
  static void WriteReference(JsonText& out, std::string_view id, std::string_view display = {});
  // "encounter": the message's Encounter, when it has one.
  void WriteEncounterReference(JsonText& out) const;
  // "code": a required CWE (OBR-4, OBX-3); when empty, a data-absent-reason value rather than
  // dropping the resource.
  void WriteRequiredCode(JsonText& out, const hl7v2::Value& cwe);
  // Writes {"resourceType":type,"id":id (the start of a text entry; neither is escaped: a type
  // name and a UUID).
  static void BeginResource(JsonText& out, std::string_view type, std::string_view id);
  // Deduplicated Practitioner / Organization / Location resources; the id, or empty.
  // SharedResourceFor is the common path: the id already mapped for prefix + raw value, else
  // the resource `write` writes added under a new id (empty when it writes nothing). `prefix` must
  // be a string literal (the dedup table keeps a view of it).
  ResourceId SharedResourceFor(std::string_view type, std::string_view prefix,
                               const hl7v2::Value& value,
                               bool (*write)(V2MapContext&, JsonText&, const hl7v2::Value&));
  ResourceId PractitionerFor(const hl7v2::Value& xcn);
  ResourceId OrganizationForXon(const hl7v2::Value& xon);
  ResourceId OrganizationForHd(const hl7v2::Value& hd);
  ResourceId LocationFor(const hl7v2::Value& pl, std::string* display);

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
  // The MessageHeader's members after its id (written last: it names the unmapped segments and
  // the focus, but comes first in the Bundle).
  void WriteMessageHeader(JsonText& out);
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
  std::string EncounterStatus(const CachedSegment& pv1) const;

  const hl7v2::Message& message_;
  // The context keeps coding-system names and URIs in a pool whose first chunk is a per-thread
  // buffer kept between calls.
  static constexpr std::size_t kPoolBufferSize = 16 * 1024;
  static void* PoolBuffer() {
    thread_local const std::unique_ptr<char[]> buffer =
        std::make_unique_for_overwrite<char[]>(kPoolBufferSize);
    return buffer.get();
  }
  rapidjson::MemoryPoolAllocator<> pool_{PoolBuffer(), kPoolBufferSize};
  V2MapContext ctx_;
  std::vector<bool> mapped_;  // by segment index (1-based)
  // Every segment, its fields split once per message (by segment index - 1), and their fields.
  ReusedVector<std::string_view> fields_;  // the raw fields of every segment, in order
  ReusedVector<CachedSegment> segments_;
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
  ReusedVector<Entry> entries_;
  // Deduplicated resources by key (prefix + raw v2 value, as hashed into the id); few per message.
  struct Dedup {
    std::string_view prefix;  // a literal
    std::string_view raw;     // into the message, which outlives the mapper
    ResourceId id;
  };
  ReusedVector<Dedup> dedup_;
  // The key being looked up (prefix + raw), in key_buffer_ or, when longer, key_long_.
  std::string_view key_;
  std::array<char, 128> key_buffer_;
  std::string key_long_;
  // Sets key_ to prefix + raw and returns the id already mapped for that key, or nullptr.
  const ResourceId* FindDedup(std::string_view prefix, std::string_view raw) {
    const std::size_t size = prefix.size() + raw.size();
    char* out = key_buffer_.data();
    if (size > key_buffer_.size()) {
      key_long_.resize(size);
      out = key_long_.data();
    }
    std::copy(raw.begin(), raw.end(), std::copy(prefix.begin(), prefix.end(), out));
    key_ = std::string_view(out, size);
    const std::string_view key = key_;
    for (const Dedup& d : dedup_) {
      if (d.prefix.size() + d.raw.size() == key.size() && key.starts_with(d.prefix) &&
          key.substr(d.prefix.size()) == d.raw) {
        return &d.id;
      }
    }
    return nullptr;
  }
  ResourceId patient_id_;
  ResourceId encounter_id_;
  std::size_t patient_entry_ = 0;
  std::size_t encounter_entry_ = 0;
  bool has_patient_ = false;
  bool has_encounter_ = false;
  ReusedVector<ResourceId> focus_;
  // Encounter.diagnosis elements from the DG1 segments (written when the Bundle is assembled).
  JsonBuffer diagnoses_;
};

}  // namespace tb::mappings::v2fhir
