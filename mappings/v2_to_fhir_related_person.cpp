// v2 -> FHIR: NK1 -> RelatedPerson.
#include "mappings/v2_to_fhir_mapper.h"

namespace tb::mappings::v2fhir {

void Mapper::MapNextOfKin(const CachedSegment& nk1, std::size_t index) {
  const ResourceId id = NewId("RelatedPerson/NK1", index);
  JsonBuffer text;
  JsonText out(text);
  BeginResource(out, "RelatedPerson", id);
  const auto list = [&](std::string_view quoted_key, auto&& write_items) {
    const std::size_t mark = out.Key(quoted_key);
    out.Put('[');
    write_items();
    return out.CloseOrDrop(mark, ']');
  };
  list("\"identifier\":", [&] {
    for (const hl7v2::Value& rep : nk1.Field(33).Repetitions()) {
      out.Item([&] {
        IdentifierFacts identifier;
        if (ReadCx(ctx_, rep, "NK1-33", identifier)) {
          WriteIdentifier(ctx_, out, identifier);
        }
      });
    }
  });
  out.Key("\"patient\":");
  WriteReference(out, patient_id_);
  list("\"relationship\":", [&] {
    const auto concept_of = [&](std::size_t field, KnownTable table, std::string_view v2_table) {
      std::string s1, s2;
      const hl7v2::Value value = nk1.Field(field);
      out.Item([&] {
        WriteTableCodeableConcept(ctx_, out, table, V2Text(ComponentOf(value, 1), s1),
                                  V2Text(ComponentOf(value, 2), s2), v2_table);
      });
    };
    concept_of(3, KnownTable::kRelationship, "HL70063");
    concept_of(7, KnownTable::kContactRole, "HL70131");
  });
  const auto names = [&](std::size_t field) {
    return list("\"name\":", [&] {
      for (const hl7v2::Value& rep : nk1.Field(field).Repetitions()) {
        out.Item([&] { WriteHumanName(ctx_, out, rep); });
      }
    });
  };
  if (!names(2)) {
    names(30);
  }
  list("\"telecom\":", [&] {
    for (const hl7v2::Value& rep : nk1.Field(5).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "home"); });
    }
    for (const hl7v2::Value& rep : nk1.Field(6).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "work"); });
    }
    for (const hl7v2::Value& rep : nk1.Field(40).Repetitions()) {
      out.Item([&] { WriteContactPoint(ctx_, out, rep, "home"); });
    }
  });
  {
    std::string scratch;
    WriteMappedCode(ctx_, out, "gender", KnownTable::kAdministrativeGender,
                    V2Text(ComponentOf(nk1.Field(15), 1), scratch), "HL70001");
  }
  out.Member("\"birthDate\":",
             [&] { WriteTime(ctx_, out, nk1.Field(16), FhirTimeType::kDate, "NK1-16"); });
  list("\"address\":", [&] {
    for (const hl7v2::Value& rep : nk1.Field(4).Repetitions()) {
      out.Item([&] { WriteAddress(ctx_, out, rep); });
    }
  });
  out.Member("\"period\":", [&] {
    out.Put('{');
    out.Member("\"start\":",
               [&] { WriteTime(ctx_, out, nk1.Field(8), FhirTimeType::kDateTime, "NK1-8"); });
    out.Member("\"end\":",
               [&] { WriteTime(ctx_, out, nk1.Field(9), FhirTimeType::kDateTime, "NK1-9"); });
    out.Put('}');
  });
  {
    const std::size_t communication = out.Key("\"communication\":[{\"language\":");
    const std::size_t value_start = out.Mark();
    WriteCweCodeableConcept(ctx_, out, nk1.Field(20));
    if (out.Mark() == value_start) {
      out.Rollback(communication);
    } else {
      out.Raw("}]");
    }
  }
  entries_.push_back(Entry{id, std::move(text), {}, {}});
}

}  // namespace tb::mappings::v2fhir
