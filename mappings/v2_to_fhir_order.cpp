// v2 -> FHIR: ORC and/or OBR (in ORM^O01 / OML^O21) -> ServiceRequest.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

std::size_t Mapper::MapServiceRequest(const CachedSegment* orc, const CachedSegment* obr,
                                      std::size_t index) {
  const ResourceId id = NewId("ServiceRequest/ORDER", index);
  Value request(kObjectType);
  Value identifiers(kArrayType);
  const auto order_identifier = [&](std::size_t orc_field, std::size_t obr_field,
                                    std::string_view type) {
    hl7v2::Value ei = orc != nullptr ? orc->Field(orc_field) : hl7v2::Value();
    if (!ei.HasValue() && obr != nullptr) {
      ei = obr->Field(obr_field);
    }
    Value identifier = EiToIdentifier(ctx_, ei, type);
    if (!identifier.IsNull()) {
      identifiers.PushBack(identifier, alloc());
    }
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

}  // namespace tb::mappings::v2fhir
