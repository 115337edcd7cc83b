// FHIR -> v2: MSH, and Patient (+ RelatedPerson, Patient.contact) -> PID and NK1.
#include "broker/core/nhs_number.h"
#include "mappings/fhir_to_v2_mapper.h"

namespace tb::mappings::f2v {

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

}  // namespace tb::mappings::f2v
