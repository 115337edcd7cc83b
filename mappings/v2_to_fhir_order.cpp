// v2 -> FHIR: ORC and/or OBR (in ORM^O01 / OML^O21) -> ServiceRequest.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

std::size_t Mapper::MapServiceRequest(const CachedSegment* orc, const CachedSegment* obr,
                                      std::size_t index) {
  const ResourceId id = NewId("ServiceRequest/ORDER", index);
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "ServiceRequest", id);
  {
    const auto order_identifier = [&](std::size_t orc_field, std::size_t obr_field,
                                      std::string_view type) {
      hl7v2::Value ei = orc != nullptr ? orc->Field(orc_field) : hl7v2::Value();
      if (!ei.HasValue() && obr != nullptr) {
        ei = obr->Field(obr_field);
      }
      out.Item([&] { WriteEiIdentifier(ctx_, out, ei, type); });
    };
    const std::size_t identifiers = out.Key("\"identifier\":");
    out.Put('[');
    order_identifier(2, 2, "PLAC");
    order_identifier(3, 3, "FILL");
    out.CloseOrDrop(identifiers, ']');
  }
  {
    // ORC-5 (order status) says where the order is; ORC-1 (order control) what the message does.
    std::string s5, s1;
    const std::string_view order_status = orc != nullptr ? V2Text(orc->Field(5), s5) : "";
    const std::string_view control = orc != nullptr ? V2Text(orc->Field(1), s1) : "";
    const CodeMapRow* row = MapCode(ctx_, KnownTable::kOrderStatus, order_status);
    if (row == nullptr) {
      row = MapCode(ctx_, KnownTable::kOrderControlStatus, control);
    }
    out.Key("\"status\":");
    if (row != nullptr) {
      out.StringOrNull(row->fhir_code);
    } else {
      out.Raw("\"unknown\"");
      if (!order_status.empty()) {
        WriteMappedCode(ctx_, out, "status", KnownTable::kOrderStatus, order_status, "HL70038");
      } else {
        WriteMappedCode(ctx_, out, "status", KnownTable::kOrderControlStatus, control, "HL70119");
      }
    }
  }
  out.Raw(",\"intent\":\"order\",\"code\":");
  {
    const std::size_t value_start = out.Mark();
    if (obr != nullptr) {
      WriteCweCodeableConcept(ctx_, out, obr->Field(4));
    }
    if (out.Mark() == value_start) {
      WriteDataAbsentUnknown(out);
    }
  }
  out.Key("\"subject\":");
  WriteReference(out, patient_id_);
  WriteEncounterReference(out);
  if (orc != nullptr) {
    out.Member("\"authoredOn\":",
               [&] { WriteTime(ctx_, out, orc->Field(9), FhirTimeType::kDateTime, "ORC-9"); });
  }
  {
    ResourceId requester;
    if (orc != nullptr) {
      requester = PractitionerFor(orc->Field(12).Repetition(1));
    }
    if (requester.empty() && obr != nullptr) {
      requester = PractitionerFor(obr->Field(16).Repetition(1));
    }
    if (!requester.empty()) {
      out.Key("\"requester\":");
      WriteReference(out, requester);
    }
  }
  if (obr != nullptr) {
    const std::size_t reasons = out.Key("\"reasonCode\":");
    out.Put('[');
    for (const hl7v2::Value& rep : obr->Field(31).Repetitions()) {
      out.Item([&] { WriteCweCodeableConcept(ctx_, out, rep); });
    }
    out.CloseOrDrop(reasons, ']');
  }
  const std::size_t entry = entries_.size();
  entries_.push_back(Entry{id, std::move(text), {}, {}});
  focus_.push_back(id);
  return entry;
}

}  // namespace tb::mappings::v2fhir
