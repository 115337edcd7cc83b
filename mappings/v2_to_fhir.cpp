#include "mappings/v2_to_fhir.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/charset.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/utf8.h"
#include "mappings/v2_to_fhir_mapper.h"

// The message type check, the walk over the segments (which segment map runs when, and the links
// between resources that later segments add), and the Bundle. The segment maps are in
// v2_to_fhir_<resource>.cpp; each writes its resource as JSON text (json_text.h).
namespace tb::mappings {

namespace v2fhir {

CachedSegment CachedSegment::Split(const hl7v2::SegmentView& view,
                                   std::vector<std::string_view>& out) {
  const std::string_view raw = view.raw();
  const std::size_t first = out.size();
  const bool header = view.IsHeader();
  out.emplace_back();
  if (raw.size() <= 4) {
    return {view, view.encoding(), header, first, 1};
  }
  std::string_view rest = raw.substr(4);
  const char separator = view.encoding().field;
  // A segment without the escape character (past MSH-2, which declares it) gets values that
  // declare none: their text is the same, and V2Text need not search each of the hundred values
  // a message's maps read for one.
  hl7v2::Encoding encoding = view.encoding();
  const std::size_t first_end = rest.find(separator);
  const std::string_view searched =
      header && first_end != std::string_view::npos ? rest.substr(first_end) : rest;
  if (encoding.escape != '\0' && searched.find(encoding.escape) == std::string_view::npos) {
    encoding.escape = '\0';
  }
  out.push_back(rest.substr(0, first_end));
  if (first_end == std::string_view::npos) {
    return {view, encoding, header, first, 2};
  }
  const char* p = rest.data() + first_end + 1;
  const char* const end = rest.data() + rest.size();
  const char* field = p;
#if defined(__SSE2__)
  // The separators of sixteen bytes at a time as a bit mask (a segment has dozens of short
  // fields: finding each with its own memchr call cost more than the scan).
  const __m128i separators = _mm_set1_epi8(separator);
  for (; p + 16 <= end; p += 16) {
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), separators)));
    while (mask != 0) {
      const char* hit = p + std::countr_zero(mask);
      out.emplace_back(field, static_cast<std::size_t>(hit - field));
      field = hit + 1;
      mask &= mask - 1;
    }
  }
#endif
  for (; p < end; ++p) {
    if (*p == separator) {
      out.emplace_back(field, static_cast<std::size_t>(p - field));
      field = p + 1;
    }
  }
  out.emplace_back(field, static_cast<std::size_t>(end - field));
  return {view, encoding, header, first, out.size() - first};
}

core::Status Mapper::CheckType() {
  // MSH-9.1 and MSH-9.2 raw, as message_.MessageType() and TriggerEvent() (which parse a path).
  const hl7v2::Value message_type = Msh(9);
  const std::string_view type = ComponentOf(message_type, 1).raw();
  trigger_ = std::string(ComponentOf(message_type, 2).raw());
  if (type == "ADT") {
    kind_ = MessageKind::kAdt;
  } else if (type == "ORU") {
    kind_ = MessageKind::kOru;
  } else if (type == "ORM" || type == "OML") {
    kind_ = MessageKind::kOrder;
  } else {
    return MakeError(ErrorCode::kUnsupportedMessage,
                     "message type not supported by the v2 -> FHIR mapping", "MSH-9.1");
  }
  if (!HasFhirMapping(type, trigger_)) {
    return MakeError(ErrorCode::kUnsupportedEvent,
                     "trigger event not supported by the v2 -> FHIR mapping", "MSH-9.2");
  }
  return core::Ok();
}

core::Result<std::string> Mapper::Run() {
  const std::size_t count = message_.SegmentCount();
  {
    const std::string_view er7 = message_.er7();
    // A guess, not a count (counting the separators cost more than it saved): the vector may
    // still grow, which is safe as segments_ is built from offsets once every field is split.
    fields_.reserve(er7.size() / 4 + count);
    // Each segment first records the offset of its fields (fields_ may still move), then, once
    // every segment is split, points at them.
    segments_.reserve(count);
    for (std::size_t i = 1; i <= count; ++i) {
      segments_.push_back(CachedSegment::Split(message_.Segment(i), fields_));
    }
    for (CachedSegment& segment : segments_) {
      segment.Resolve(fields_.data());
    }
  }
  BROKER_RETURN_IF_ERROR(CheckType());
  // Every result is filed under the first PID's Patient: a second patient's would be filed
  // under the wrong one (the edge refuses such a message too: hl7v2::Validate).
  if (const std::optional<std::size_t> other =
          hl7v2::PidOfAnotherPatient(message_, ctx_.tables().nhs_number_namespaces())) {
    return MakeError(ErrorCode::kUnsupportedMessage,
                     "results for more than one patient in one message",
                     "PID[" + std::to_string(*other) + "]");
  }
  mapped_[1] = true;  // MSH
  entries_.reserve(32);
  focus_.reserve(8);
  dedup_.reserve(8);
  {
    const std::string_view control_id = Msh(10).raw();  // message_.ControlId()
    const std::string_view sender = Msh(3).raw();
    const std::string_view facility = Msh(4).raw();
    std::array<char, 256> buffer;  // "sender|facility|control id" fits, without an allocation
    const std::size_t size = sender.size() + facility.size() + control_id.size() + 2;
    if (control_id.empty()) {
      namespace_ = UuidV5(V2ToFhirNamespace(), message_.er7());
    } else if (size <= buffer.size()) {
      char* out = std::copy(sender.begin(), sender.end(), buffer.data());
      *out++ = '|';
      out = std::copy(facility.begin(), facility.end(), out);
      *out++ = '|';
      std::copy(control_id.begin(), control_id.end(), out);
      namespace_ = UuidV5(V2ToFhirNamespace(), std::string_view(buffer.data(), size));
    } else {
      std::string name;
      name.append(sender).append("|").append(facility).append("|").append(control_id);
      namespace_ = UuidV5(V2ToFhirNamespace(), name);
    }
  }
  const auto pid = message_.FindSegment("PID");
  if (!pid) {
    if (kind_ != MessageKind::kOru) {
      return MakeError(ErrorCode::kRequiredFieldMissing, "PID segment is required", "PID");
    }
  } else {
    for (std::size_t i = 1; i <= count; ++i) {
      if (IdIs(message_.Segment(i).id(), "PID")) {
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
    if (IdIs(id, "PD1") && has_patient_ && !has_pd1) {
      has_pd1 = true;  // a second PD1 is not expected; it is kept verbatim
      mapped_[i] = true;
      MapPd1(segment);
      KeepIfLossy(i);
    } else if (IdIs(id, "PV1") && has_patient_ && !has_encounter_ && IsEmptyVisit(segment)) {
      mapped_[i] = true;  // "PV1|1|N": no visit to describe, nothing lost
    } else if (IdIs(id, "PV1") && has_patient_ && !has_encounter_) {
      const CachedSegment* pv2 = nullptr;
      if (i + 1 <= count && IdIs(Seg(i + 1).id(), "PV2")) {
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
      if (IdIs(Seg(i).id(), "MRG")) {
        mapped_[i] = true;
        mrg_index = i;
        break;
      }
    }
    MapMerge(Seg(mrg_index));
    if (ctx_.TakeLossy()) {
      for (std::size_t i = 1; i <= count; ++i) {
        if (IdIs(message_.Segment(i).id(), "MRG")) {
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
  std::vector<std::pair<std::size_t, ResourceId>> report_results;  // (report entry, obs id)
  std::vector<std::pair<std::size_t, std::string>> report_notes;
  std::vector<std::size_t> reports;  // DiagnosticReport entries
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
  const auto add_reference = [&](std::size_t entry, std::string_view quoted_key,
                                 std::string_view to) {
    JsonText elements(EntryArray(entry, quoted_key));  // added when the Bundle is assembled
    elements.Element();
    WriteReference(elements, to);
  };
  for (std::size_t i = 1; i <= count; ++i) {
    const CachedSegment& segment = Seg(i);
    const std::string_view id = segment.id();
    if (!IdIs(id, "OBR")) {
      flush_orc();
    }
    if (!IdIs(id, "NTE")) {
      in_report_notes = false;
      // v2.7+ puts an observation's participations between it and its notes (OBX, {PRT},
      // {NTE}): a PRT does not end the observation the NTEs after it belong to.
      if (!IdIs(id, "OBX") && !IdIs(id, "PRT")) {
        last_observation = kNone;
      }
    }
    if (IdIs(id, "NK1") && has_patient_) {
      mapped_[i] = true;
      MapNextOfKin(segment, ++nk1);
      KeepIfLossy(i);
    } else if (IdIs(id, "AL1") && has_patient_) {
      mapped_[i] = true;
      MapAllergy(segment, ++al1);
      KeepIfLossy(i);
    } else if (IdIs(id, "DG1") && has_patient_) {
      mapped_[i] = true;
      MapDiagnosis(segment, ++dg1);  // the Condition is the last entry it adds
      KeepIfLossy(i);
      if (kind_ == MessageKind::kOrder && request_entry != kNone) {
        add_reference(request_entry, "\"reasonReference\":", entries_.back().id);
      }
    } else if (IdIs(id, "ORC") && kind_ == MessageKind::kOrder) {
      mapped_[i] = true;
      pending_orc = &segment;
      pending_orc_index = i;
    } else if (IdIs(id, "OBR") && kind_ == MessageKind::kOrder) {
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
    } else if (IdIs(id, "OBR") && kind_ == MessageKind::kOru) {
      mapped_[i] = true;
      report_entry = MapObservationRequest(segment, ++obr_count);
      reports.push_back(report_entry);
      current_obr = &segment;
      KeepIfLossy(i);
      in_report_notes = true;
    } else if (IdIs(id, "OBX") && (kind_ == MessageKind::kOru || has_patient_)) {
      mapped_[i] = true;
      const std::size_t entry = MapObservation(segment, ++obx_count, current_obr);
      last_observation = entry;
      KeepIfLossy(i);
      if (report_entry != kNone) {
        report_results.emplace_back(report_entry, entries_[entry].id);
      }
      if (kind_ == MessageKind::kOrder && request_entry != kNone) {
        add_reference(request_entry, "\"supportingInfo\":", entries_[entry].id);
      }
    } else if (IdIs(id, "NTE") &&
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
        JsonText notes(entries_[last_observation].notes);  // added when the Bundle is assembled
        notes.Element();
        notes.Raw("{\"text\":");
        notes.String(text);
        notes.Put('}');
      } else if (kind_ == MessageKind::kOrder) {
        JsonText notes(EntryArray(request_entry, "\"note\":"));
        notes.Element();
        notes.Raw("{\"text\":");
        notes.String(text);
        notes.Put('}');
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
  // DiagnosticReport.result, and the NTEs after an OBR: the report's comments. R4
  // DiagnosticReport has no note, so they become the conclusion text (line breaks kept).
  for (const std::size_t report : reports) {
    JsonText out(entries_[report].text);
    bool any = false;
    for (const auto& [entry, obs_id] : report_results) {
      if (entry == report) {
        out.Raw(any ? "," : ",\"result\":[");
        any = true;
        WriteReference(out, obs_id);
      }
    }
    if (any) {
      out.Put(']');
    }
    std::string conclusion;
    for (const auto& [entry, text] : report_notes) {
      if (entry == report && !text.empty()) {
        if (!conclusion.empty()) {
          conclusion.push_back('\n');
        }
        conclusion.append(text);
      }
    }
    if (!conclusion.empty()) {
      out.Raw(",\"conclusion\":");
      out.String(conclusion);
    }
  }
  JsonBuffer timestamp;
  {
    JsonText out(timestamp);
    WriteTime(ctx_, out, Msh(7), FhirTimeType::kInstant, "MSH-7");
  }
  KeepIfLossy(1);
  const ResourceId header_id = NewId("MessageHeader");
  JsonBuffer header;
  {
    JsonText out(header);
    BeginResource(out, "MessageHeader", header_id);
    WriteMessageHeader(out);
    out.Put('}');
  }
  if (ctx_.failed()) {
    return *ctx_.error();
  }
  if (has_encounter_ && !diagnoses_.empty()) {
    JsonText encounter(entries_[encounter_entry_].text);
    encounter.Raw(",\"diagnosis\":[");
    encounter.Raw(diagnoses_.view());
    encounter.Put(']');
  }
  JsonBuffer head;
  {
    JsonText out(head);
    BeginResource(out, "Bundle", NewId("Bundle"));
    std::string scratch;
    const std::string_view control_id = V2Text(Msh(10), scratch);
    if (!control_id.empty()) {
      out.Raw(",\"identifier\":{\"value\":");
      out.String(control_id);
      out.Put('}');
    }
    out.Raw(",\"type\":\"message\"");
    if (!timestamp.empty()) {
      out.Raw(",\"timestamp\":");
      out.Raw(timestamp.view());
    }
    out.Raw(",\"entry\":[");
  }
  // The Bundle: its start, the MessageHeader, then every entry in the order it was made, each
  // with what later segments added to it; one string of the exact size.
  constexpr std::string_view kEntryStart = "{\"fullUrl\":\"urn:uuid:";
  constexpr std::string_view kEntryResource = "\",\"resource\":";
  std::size_t size = head.size() + header.size() + 2;
  for (Entry& e : entries_) {
    JsonText out(e.text);
    if (!e.notes.empty()) {
      out.Raw(",\"note\":[");
      out.Raw(e.notes.view());
      out.Put(']');
    }
    for (const auto& [key, elements] : e.arrays) {
      out.Put(',');
      out.Raw(key);
      out.Put('[');
      out.Raw(elements.view());
      out.Put(']');
    }
    out.Put('}');
    size += e.text.size() + 1;
  }
  constexpr std::size_t kIdSize = 36;  // a UUID
  size += (entries_.size() + 1) * (kEntryStart.size() + kIdSize + kEntryResource.size() + 2);
  std::string json;
  json.reserve(size);
  json.append(head.view());
  const auto entry = [&json, kEntryStart, kEntryResource](std::string_view id,
                                                          std::string_view resource) {
    json.append(kEntryStart).append(id).append(kEntryResource).append(resource).push_back('}');
  };
  entry(header_id, header.view());
  for (const Entry& e : entries_) {
    json.push_back(',');
    entry(e.id, e.text.view());
  }
  json.append("]}");
  return json;
}

}  // namespace v2fhir

bool HasFhirMapping(std::string_view type, std::string_view trigger) {
  if (type == "ADT") {
    return v2fhir::In(
        trigger, {"A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31", "A40"});
  }
  return (type == "ORU" && trigger == "R01") || (type == "ORM" && trigger == "O01") ||
         (type == "OML" && trigger == "O21");
}

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
  // The mapper copies v2 text into JSON byte for byte, so it must see UTF-8 only.
  const core::Result<hl7v2::CharacterSet> charset = hl7v2::ReadCharacterSet(message);
  if (!charset) {
    return charset.error();
  }
  if (*charset == hl7v2::CharacterSet::kLatin1) {
    // The same segments and fields as the message already parsed, in up to twice the bytes.
    hl7v2::ParseLimits limits;
    limits.max_message_bytes = std::max(limits.max_message_bytes, 2 * message.er7().size());
    limits.max_segments = std::max(limits.max_segments, message.SegmentCount());
    limits.max_fields = std::numeric_limits<std::size_t>::max();
    core::Result<hl7v2::Message> utf8 =
        hl7v2::Message::Parse(core::Latin1ToUtf8(message.er7()), limits);
    if (!utf8) {
      return utf8.error();
    }
    return v2fhir::Mapper(*utf8, tables, options).Run();
  }
  return v2fhir::Mapper(message, tables, options).Run();
}

}  // namespace tb::mappings
