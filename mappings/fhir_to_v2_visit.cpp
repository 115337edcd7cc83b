// FHIR -> v2: Encounter (+ Location, Practitioner) -> PV1 and PV2.
#include "broker/core/nhs_number.h"
#include "mappings/fhir_to_v2_mapper.h"

namespace tb::mappings::f2v {

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

}  // namespace tb::mappings::f2v
