// FHIR -> v2: DiagnosticReport + Observations -> the OBR/OBX/NTE groups of ORU^R01.
#include <unordered_set>

#include "mappings/fhir_to_v2_mapper.h"

namespace tb::mappings::f2v {

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
    m_.Set(At("OBR", obr_, 25).Field(),
           m_.StatusCode(maps::kReportStatus, kReportStatusSystem, dr, path));
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
    // OBX-4: the sub-id v2 -> FHIR kept (observation-v2-subid), else the group of components.
    const Value* sub_id_owner = fhir::FindMember(item, "extension") != nullptr ? &item : &parent;
    if (!WriteSubId(At("OBX", obx, 4), *sub_id_owner, sub_id_owner == &item ? path : parent_path)) {
      m_.Set(Field(base, 4), sub_id);
    }
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

    m_.Set(Field(base, 11),
           m_.StatusCode(maps::kObservationStatus, kObservationStatusSystem, parent, parent_path));
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

  // The observation-v2-subid extension of `owner` -> OG at `og` (OG-1..4; before v2.8.2 OBX-4 is
  // an ST, which is OG-1 alone). Returns whether there was one.
  bool WriteSubId(const Pos& og, const Value& owner, const std::string& path) {
    bool found = false;
    r_.ForEachObject(owner, "extension", path, [&](const Value& ext, const std::string& p) {
      if (found || r_.Str(ext, "url", p).value_or("") != kObservationSubIdUrl) {
        return;
      }
      found = true;
      r_.ForEachObject(ext, "extension", p, [&](const Value& part, const std::string& pp) {
        const std::string_view name = r_.Str(part, "url", pp).value_or("");
        if (name == "original-sub-identifier") {
          m_.Set(og.C(1), r_.Str(part, "valueString", pp).value_or(""));
        } else if (name == "identifier") {
          m_.Set(og.C(4), r_.Str(part, "valueString", pp).value_or(""));
        } else if (name == "group" || name == "sequence") {
          if (const Value* number = r_.Num(part, "valueDecimal", pp)) {
            m_.Set(og.C(name == "group" ? 2 : 3), FormatNumber(*number));
          }
        }
      });
    });
    return found;
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
    // R4 has no valueAttachment: v2 -> FHIR (and others) carry ED and RP values in the R5
    // cross-version extension.
    bool attached = false;
    r_.ForEachObject(item, "extension", path, [&](const Value& ext, const std::string& p) {
      if (attached || r_.Str(ext, "url", p).value_or("") != kObservationValueR5Url) {
        return;
      }
      if (const Value* attachment = r_.Obj(ext, "valueAttachment", p)) {
        WriteAttachment(obx, *attachment, p + ".valueAttachment");
        attached = true;
      }
    });
  }

  // Attachment -> ED (inline data) or RP (url).
  void WriteAttachment(std::size_t obx, const Value& attachment, const std::string& path) {
    const Pos value = At("OBX", obx, 5);
    const std::string type_field = At("OBX", obx, 2).Field();
    const std::optional<std::string_view> given_type = r_.Str(attachment, "contentType", path);
    const std::string_view content_type = given_type.value_or("application/octet-stream");
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
      if (given_type) {  // a pointer needs no type; none is made up
        m_.Set(value.C(3), kind);
        m_.Set(value.C(4), subtype);
      }
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
                       // The report's status, in table 0085 (which shares its codes with 0123).
                       m_.Set(At("OBX", obx, 11).Field(),
                              m_.StatusCode(maps::kObservationStatus, kObservationStatusSystem,
                                            *report.value, report.path));
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

void WriteOruGroups(Mapper& m, const Index& index, const std::vector<const Res*>& reports,
                    const std::vector<const Res*>& observations) {
  Reader& r = m.reader();
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

}  // namespace tb::mappings::f2v
