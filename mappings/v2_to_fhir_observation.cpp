// v2 -> FHIR: OBX -> Observation (value by OBX-2).
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

std::size_t Mapper::MapObservation(const CachedSegment& obx, std::size_t index,
                                   const CachedSegment* obr) {
  const ResourceId id = NewId("Observation/OBX", index);
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
      const ResourceId pid = PractitionerFor(rep);
      if (!pid.empty()) {
        performers.PushBack(Reference(pid), alloc());
      }
    }
    for (const hl7v2::Value& rep : obx.Field(23).Repetitions()) {
      const ResourceId oid = OrganizationForXon(rep);
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

}  // namespace tb::mappings::v2fhir
