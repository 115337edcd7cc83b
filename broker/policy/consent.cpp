#include "broker/policy/consent.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"
#include "broker/policy/purpose.h"

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using core::Status;
using rapidjson::Value;

constexpr int kMaxDepth = 16;
constexpr int kMaxProvisions = 1000;

// ---- dates -------------------------------------------------------------------------------------

bool ReadDigits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) {
    return false;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
    value = value * 10 + (text[i] - '0');
  }
  out = value;
  return true;
}

TimePoint DayStart(int year, unsigned month, unsigned day) {
  const std::chrono::sys_days days{std::chrono::year{year} / std::chrono::month{month} /
                                   std::chrono::day{day}};
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(days.time_since_epoch()));
}

// ---- parsing helpers --------------------------------------------------------------------------

std::string Path(std::string_view base, std::string_view member) {
  std::string out(base);
  out += '.';
  out += member;
  return out;
}

std::string Indexed(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

// Reads `member` of `object` as an array (a lone object is accepted as one element). Returns
// nullptr when absent; an error when of another type.
Result<const Value*> OptionalArray(const Value& object, std::string_view member,
                                   std::string_view path) {
  const Value* value = fhir::FindMember(object, member);
  if (value == nullptr) {
    return static_cast<const Value*>(nullptr);
  }
  if (!value->IsArray()) {
    return MakeError(ErrorCode::kInvalidValue, "expected an array", Path(path, member));
  }
  return value;
}

Result<Coding> ReadCoding(const Value& coding, const std::string& path) {
  if (!coding.IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "expected a Coding object", path);
  }
  Coding out;
  if (const Value* system = fhir::FindMember(coding, "system")) {
    if (!system->IsString()) {
      return MakeError(ErrorCode::kInvalidValue, "expected a string", Path(path, "system"));
    }
    out.system = std::string(fhir::StringOf(*system));
  }
  if (const Value* code = fhir::FindMember(coding, "code")) {
    if (!code->IsString()) {
      return MakeError(ErrorCode::kInvalidValue, "expected a string", Path(path, "code"));
    }
    out.code = std::string(fhir::StringOf(*code));
  }
  return out;
}

// Codings of a CodeableConcept, validated.
Result<std::vector<Coding>> ReadCodeableConcept(const Value& concept_value,
                                                const std::string& path) {
  if (!concept_value.IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "expected a CodeableConcept object", path);
  }
  std::vector<Coding> out;
  Result<const Value*> codings = OptionalArray(concept_value, "coding", path);
  if (!codings) {
    return std::move(codings).error();
  }
  if (*codings != nullptr) {
    for (rapidjson::SizeType i = 0; i < (*codings)->Size(); ++i) {
      Result<Coding> coding = ReadCoding((**codings)[i], Indexed(Path(path, "coding"), i));
      if (!coding) {
        return std::move(coding).error();
      }
      out.push_back(std::move(coding).value());
    }
  }
  return out;
}

// Adds `coding` to `criterion` when its system is one of `systems` (or empty, and `code` set);
// otherwise marks the criterion unevaluable and records `path`.
void AddCoding(Criterion& criterion, Coding coding, std::initializer_list<std::string_view> systems,
               const std::string& path, Provision& provision) {
  const bool system_ok = coding.system.empty() ||
                         std::find(systems.begin(), systems.end(), coding.system) != systems.end();
  if (system_ok && !coding.code.empty()) {
    criterion.any_of.push_back(std::move(coding));
    return;
  }
  criterion.has_unevaluable = true;
  provision.unevaluable.push_back(path);
}

struct ParseState {
  int count = 0;
};

Result<Provision> ParseProvision(const Value& value, const std::string& path,
                                 ProvisionType inherited, int depth, ParseState& state);

Status ParsePeriod(const Value& provision_json, const std::string& path, Provision& provision) {
  const Value* period = fhir::FindMember(provision_json, "period");
  if (period == nullptr) {
    return core::Ok();
  }
  const std::string period_path = Path(path, "period");
  if (!period->IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "expected a Period object", period_path);
  }
  for (const std::string_view member : {std::string_view("start"), std::string_view("end")}) {
    const Value* text = fhir::FindMember(*period, member);
    if (text == nullptr) {
      continue;
    }
    const std::string member_path = Path(period_path, member);
    if (!text->IsString()) {
      return MakeError(ErrorCode::kInvalidValue, "expected a dateTime string", member_path);
    }
    const std::optional<TimeInterval> interval = ParseFhirDateTime(fhir::StringOf(*text));
    if (!interval) {
      return MakeError(ErrorCode::kInvalidValue, "not a valid FHIR dateTime", member_path);
    }
    if (member == "start") {
      provision.period_start = interval->begin;
    } else {
      provision.period_end = interval->end;
    }
  }
  return core::Ok();
}

Status ParseActors(const Value& provision_json, const std::string& path, Provision& provision) {
  Result<const Value*> actors = OptionalArray(provision_json, "actor", path);
  if (!actors) {
    return std::move(actors).error();
  }
  if (*actors == nullptr) {
    return core::Ok();
  }
  for (rapidjson::SizeType i = 0; i < (*actors)->Size(); ++i) {
    const Value& actor = (**actors)[i];
    const std::string actor_path = Indexed(Path(path, "actor"), i);
    if (!actor.IsObject()) {
      return MakeError(ErrorCode::kInvalidValue, "expected an actor object", actor_path);
    }
    // actor.reference.identifier with the ODS system is the one form the broker can compare with
    // the requester's certificate-derived ODS code.
    const Value* reference = fhir::FindObject(actor, "reference");
    const Value* identifier =
        reference != nullptr ? fhir::FindObject(*reference, "identifier") : nullptr;
    const std::optional<std::string_view> type =
        reference != nullptr ? fhir::FindString(*reference, "type") : std::nullopt;
    const std::optional<std::string_view> system =
        identifier != nullptr ? fhir::FindString(*identifier, "system") : std::nullopt;
    const std::optional<std::string_view> ods =
        identifier != nullptr ? fhir::FindString(*identifier, "value") : std::nullopt;
    if (system && *system == core::kOdsCodeSystem && ods && !ods->empty() &&
        (!type || *type == "Organization")) {
      provision.actor.any_of.push_back(Coding{std::string(*system), std::string(*ods)});
    } else {
      provision.actor.has_unevaluable = true;
      provision.unevaluable.push_back(actor_path);
    }
  }
  return core::Ok();
}

// Elements holding CodeableConcepts (action, code) or Codings (purpose, class, securityLabel).
Status ParseCodedElements(const Value& provision_json, const std::string& path,
                          Provision& provision) {
  struct Element {
    std::string_view member;
    bool codeable_concept;
    Criterion Provision::*criterion;
  };
  constexpr std::array<Element, 5> kElements = {{
      {"action", true, &Provision::action},
      {"purpose", false, &Provision::purpose},
      {"class", false, &Provision::resource_class},
      {"code", true, &Provision::code},
      {"securityLabel", false, &Provision::security_label},
  }};
  for (const Element& element : kElements) {
    Result<const Value*> array = OptionalArray(provision_json, element.member, path);
    if (!array) {
      return std::move(array).error();
    }
    if (*array == nullptr) {
      continue;
    }
    Criterion& criterion = provision.*element.criterion;
    for (rapidjson::SizeType i = 0; i < (*array)->Size(); ++i) {
      const std::string item_path = Indexed(Path(path, element.member), i);
      std::vector<Coding> codings;
      if (element.codeable_concept) {
        Result<std::vector<Coding>> read = ReadCodeableConcept((**array)[i], item_path);
        if (!read) {
          return std::move(read).error();
        }
        codings = std::move(read).value();
      } else {
        Result<Coding> read = ReadCoding((**array)[i], item_path);
        if (!read) {
          return std::move(read).error();
        }
        codings.push_back(std::move(read).value());
      }
      if (codings.empty()) {  // a CodeableConcept with text only
        criterion.has_unevaluable = true;
        provision.unevaluable.push_back(item_path);
        continue;
      }
      for (Coding& coding : codings) {
        if (element.member == "action") {
          AddCoding(criterion, std::move(coding), {kConsentActionSystem}, item_path, provision);
        } else if (element.member == "purpose") {
          AddCoding(criterion, std::move(coding), {kActReasonSystem}, item_path, provision);
        } else if (element.member == "class") {
          AddCoding(criterion, std::move(coding), {kResourceTypesSystem}, item_path, provision);
        } else if (!coding.code.empty()) {  // code, securityLabel: any system compares
          criterion.any_of.push_back(std::move(coding));
        } else {
          criterion.has_unevaluable = true;
          provision.unevaluable.push_back(item_path);
        }
      }
    }
  }
  return core::Ok();
}

Result<Provision> ParseProvision(const Value& value, const std::string& path,
                                 ProvisionType inherited, int depth, ParseState& state) {
  if (depth > kMaxDepth) {
    return MakeError(ErrorCode::kTooLarge,
                     "provisions nested deeper than " + std::to_string(kMaxDepth), path);
  }
  if (++state.count > kMaxProvisions) {
    return MakeError(ErrorCode::kTooLarge,
                     "more than " + std::to_string(kMaxProvisions) + " provisions", path);
  }
  if (!value.IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "expected a provision object", path);
  }
  Provision provision;
  provision.path = path;
  if (const Value* type = fhir::FindMember(value, "type")) {
    const std::string_view code = type->IsString() ? fhir::StringOf(*type) : "";
    if (code == "deny") {
      provision.type = ProvisionType::kDeny;
    } else if (code == "permit") {
      provision.type = ProvisionType::kPermit;
    } else {
      return MakeError(ErrorCode::kInvalidValue, "provision type must be 'deny' or 'permit'",
                       Path(path, "type"));
    }
  }
  provision.effective_type = provision.type.value_or(inherited);

  BROKER_RETURN_IF_ERROR(ParsePeriod(value, path, provision));
  BROKER_RETURN_IF_ERROR(ParseActors(value, path, provision));
  BROKER_RETURN_IF_ERROR(ParseCodedElements(value, path, provision));
  for (const std::string_view member : {std::string_view("data"), std::string_view("dataPeriod")}) {
    if (fhir::FindMember(value, member) != nullptr) {
      provision.has_data = true;
      provision.unevaluable.push_back(Path(path, member));
    }
  }

  Result<const Value*> children = OptionalArray(value, "provision", path);
  if (!children) {
    return std::move(children).error();
  }
  if (*children != nullptr) {
    for (rapidjson::SizeType i = 0; i < (*children)->Size(); ++i) {
      Result<Provision> child = ParseProvision((**children)[i], Indexed(Path(path, "provision"), i),
                                               provision.effective_type, depth + 1, state);
      if (!child) {
        return std::move(child).error();
      }
      provision.provisions.push_back(std::move(child).value());
    }
  }
  return provision;
}

Result<ConsentStatus> ParseStatus(const Value& resource) {
  Result<std::string_view> status = fhir::GetString(resource, "status", "Consent");
  if (!status) {
    return std::move(status).error();
  }
  struct Row {
    std::string_view code;
    ConsentStatus status;
  };
  constexpr std::array<Row, 6> kRows = {{
      {"draft", ConsentStatus::kDraft},
      {"proposed", ConsentStatus::kProposed},
      {"active", ConsentStatus::kActive},
      {"rejected", ConsentStatus::kRejected},
      {"inactive", ConsentStatus::kInactive},
      {"entered-in-error", ConsentStatus::kEnteredInError},
  }};
  for (const Row& row : kRows) {
    if (row.code == *status) {
      return row.status;
    }
  }
  return MakeError(ErrorCode::kInvalidValue, "unknown Consent status code", "Consent.status");
}

Status CheckScope(const Value& resource) {
  Result<const Value*> scope = fhir::GetObject(resource, "scope", "Consent");
  if (!scope) {
    return std::move(scope).error();
  }
  Result<std::vector<Coding>> codings = ReadCodeableConcept(**scope, "Consent.scope");
  if (!codings) {
    return std::move(codings).error();
  }
  for (const Coding& coding : *codings) {
    if (coding.system == kConsentScopeSystem && coding.code == "patient-privacy") {
      return core::Ok();
    }
  }
  return MakeError(ErrorCode::kInvalidValue,
                   "only patient-privacy consents are supported (scope " +
                       std::string(kConsentScopeSystem) + "|patient-privacy)",
                   "Consent.scope");
}

Result<std::string> ParsePatient(const Value& resource) {
  Result<const Value*> patient = fhir::GetObject(resource, "patient", "Consent");
  if (!patient) {
    return std::move(patient).error();
  }
  const Value* identifier = fhir::FindObject(**patient, "identifier");
  const std::optional<std::string_view> system =
      identifier != nullptr ? fhir::FindString(*identifier, "system") : std::nullopt;
  if (!system || *system != core::kNhsNumberSystem) {
    return MakeError(ErrorCode::kRequiredFieldMissing,
                     "Consent.patient must identify the patient by NHS number (identifier "
                     "with system " +
                         std::string(core::kNhsNumberSystem) + ")",
                     "Consent.patient.identifier");
  }
  const std::optional<std::string_view> value = fhir::FindString(*identifier, "value");
  if (!value) {
    return MakeError(ErrorCode::kRequiredFieldMissing, "NHS number value missing",
                     "Consent.patient.identifier.value");
  }
  if (!core::IsValidNhsNumber(*value)) {
    return MakeError(ErrorCode::kInvalidValue,
                     "not a valid NHS number (10 digits with a Modulus 11 check digit)",
                     "Consent.patient.identifier.value");
  }
  return std::string(*value);
}

// ---- evaluation -------------------------------------------------------------------------------

enum class Tri { kMatch, kNoMatch, kUnevaluable, kRequestUnknown };

bool CodingMatches(const Coding& wanted, const Coding& actual) {
  return wanted.code == actual.code && (wanted.system.empty() || wanted.system == actual.system);
}

// A criterion against a set of request codings.
Tri MatchCodings(const Criterion& criterion, const std::optional<std::vector<Coding>>& actual) {
  if (!actual) {
    return Tri::kRequestUnknown;
  }
  for (const Coding& wanted : criterion.any_of) {
    for (const Coding& coding : *actual) {
      if (CodingMatches(wanted, coding)) {
        return Tri::kMatch;
      }
    }
  }
  return criterion.has_unevaluable ? Tri::kUnevaluable : Tri::kNoMatch;
}

template <typename Predicate>
Tri MatchAny(const Criterion& criterion, Predicate predicate) {
  if (std::any_of(criterion.any_of.begin(), criterion.any_of.end(), predicate)) {
    return Tri::kMatch;
  }
  return criterion.has_unevaluable ? Tri::kUnevaluable : Tri::kNoMatch;
}

struct World {
  const AccessRequest& request;
  bool unknown_matches;  // how to resolve request attributes that are not known yet
};

// Combines the elements of one provision: any definite mismatch wins; then unevaluable.
Tri MatchElements(const Provision& provision, const World& world) {
  const AccessRequest& request = world.request;
  bool unevaluable = false;
  const auto fold = [&](Tri tri) {
    if (tri == Tri::kRequestUnknown) {
      tri = world.unknown_matches ? Tri::kMatch : Tri::kNoMatch;
    }
    if (tri == Tri::kUnevaluable) {
      unevaluable = true;
    }
    return tri != Tri::kNoMatch;
  };

  if (provision.period_start && request.at_time < *provision.period_start) {
    return Tri::kNoMatch;
  }
  if (provision.period_end && request.at_time >= *provision.period_end) {
    return Tri::kNoMatch;
  }
  if (provision.actor.present() && !fold(MatchAny(provision.actor, [&](const Coding& ods) {
        return ods.code == request.requester_ods;
      }))) {
    return Tri::kNoMatch;
  }
  if (provision.action.present() && !fold(MatchAny(provision.action, [](const Coding& action) {
        return action.code == "access" || action.code == "use" || action.code == "disclose";
      }))) {
    return Tri::kNoMatch;
  }
  if (provision.purpose.present() && !fold(MatchAny(provision.purpose, [&](const Coding& purpose) {
        return PurposeIsA(request.purpose, purpose.code);
      }))) {
    return Tri::kNoMatch;
  }
  if (provision.resource_class.present()) {
    const Tri tri = request.resource_type.empty()
                        ? Tri::kRequestUnknown
                        : MatchAny(provision.resource_class, [&](const Coding& type) {
                            return type.code == request.resource_type;
                          });
    if (!fold(tri)) {
      return Tri::kNoMatch;
    }
  }
  if (provision.code.present() && !fold(MatchCodings(provision.code, request.codes))) {
    return Tri::kNoMatch;
  }
  if (provision.security_label.present() &&
      !fold(MatchCodings(provision.security_label, request.security_labels))) {
    return Tri::kNoMatch;
  }
  if (provision.has_data) {
    unevaluable = true;
  }
  return unevaluable ? Tri::kUnevaluable : Tri::kMatch;
}

struct Hit {
  ProvisionType type;
  const Provision* provision;
};

std::optional<Hit> Visit(const Provision& provision, const World& world) {
  const Tri tri = MatchElements(provision, world);
  const bool matches = tri == Tri::kMatch || (tri == Tri::kUnevaluable &&
                                              provision.effective_type == ProvisionType::kDeny);
  if (!matches) {
    return std::nullopt;
  }
  std::optional<Hit> best;
  for (const Provision& child : provision.provisions) {
    std::optional<Hit> hit = Visit(child, world);
    if (hit &&
        (!best || (hit->type == ProvisionType::kDeny && best->type != ProvisionType::kDeny))) {
      best = hit;
    }
  }
  if (best) {
    return best;
  }
  return Hit{provision.effective_type, &provision};
}

// ---- ingress analysis (content not known yet) ---------------------------------------------------

enum class MatchStatus { kNo, kMaybe, kYes };

// Matching is monotone in the unknown request attributes: if the provision matches even when
// every unknown is taken as not matching, it matches for every resource.
MatchStatus StatusOf(const Provision& provision, const AccessRequest& request) {
  const auto matches = [&](Tri tri) {
    return tri == Tri::kMatch ||
           (tri == Tri::kUnevaluable && provision.effective_type == ProvisionType::kDeny);
  };
  if (matches(MatchElements(provision, World{request, false}))) {
    return MatchStatus::kYes;
  }
  if (matches(MatchElements(provision, World{request, true}))) {
    return MatchStatus::kMaybe;
  }
  return MatchStatus::kNo;
}

// The outcomes a matching provision can still produce for some resource.
struct Possible {
  bool deny = false;
  bool permit = false;
  const Provision* deny_by = nullptr;  // the provision that forces or may cause the deny
};

Possible Analyse(const Provision& provision, const AccessRequest& request) {
  Possible out;
  bool child_certain = false;
  for (const Provision& child : provision.provisions) {
    const MatchStatus status = StatusOf(child, request);
    if (status == MatchStatus::kNo) {
      continue;
    }
    const Possible possible = Analyse(child, request);
    if (status == MatchStatus::kYes && possible.deny && !possible.permit) {
      return possible;  // a certain deny among siblings wins whatever the others do
    }
    child_certain = child_certain || status == MatchStatus::kYes;
    if (possible.deny && out.deny_by == nullptr) {
      out.deny_by = possible.deny_by;
    }
    out.deny = out.deny || possible.deny;
    out.permit = out.permit || possible.permit;
  }
  if (!child_certain) {  // no exception certainly applies: this provision may decide itself
    if (provision.effective_type == ProvisionType::kDeny) {
      out.deny = true;
      if (out.deny_by == nullptr) {
        out.deny_by = &provision;
      }
    } else {
      out.permit = true;
    }
  }
  return out;
}

// A deny that holds for every resource the request could return, or nullopt.
std::optional<Decision> ForcedDeny(const std::vector<Consent>& consents,
                                   const AccessRequest& request) {
  for (const Consent& consent : consents) {
    if (consent.status != ConsentStatus::kActive || !consent.provision ||
        StatusOf(*consent.provision, request) != MatchStatus::kYes) {
      continue;
    }
    const Possible possible = Analyse(*consent.provision, request);
    if (possible.deny && !possible.permit) {
      Decision decision;
      decision.effect = Effect::kDeny;
      decision.basis = DecisionBasis::kConsent;
      decision.consent_id = consent.id;
      decision.provision_path = possible.deny_by != nullptr ? possible.deny_by->path : "";
      return decision;
    }
  }
  return std::nullopt;
}

DecisionBasis DefaultBasis(std::string_view purpose) {
  const std::optional<PurposeKind> kind = KindOfPurpose(purpose);
  return kind && *kind != PurposeKind::kSecondary ? DecisionBasis::kImpliedConsent
                                                  : DecisionBasis::kNoObjection;
}

Decision EvaluateIn(const std::vector<Consent>& consents, const World& world) {
  const AccessRequest& request = world.request;
  std::optional<Decision> permit;
  for (const Consent& consent : consents) {
    if (consent.status != ConsentStatus::kActive || !consent.provision) {
      continue;
    }
    const std::optional<Hit> hit = Visit(*consent.provision, world);
    if (!hit) {
      continue;
    }
    Decision decision;
    decision.basis = DecisionBasis::kConsent;
    decision.consent_id = consent.id;
    decision.provision_path = hit->provision->path;
    if (hit->type == ProvisionType::kDeny) {
      decision.effect = Effect::kDeny;
      return decision;  // deny wins across consents
    }
    decision.effect = Effect::kPermit;
    if (!permit) {
      permit = std::move(decision);
    }
  }
  if (permit) {
    return *permit;
  }
  Decision decision;
  decision.effect = Effect::kPermit;
  decision.basis = DefaultBasis(request.purpose);
  return decision;
}

// TimePoint counts nanoseconds in 64 bits, years 1678 to 2261: the arithmetic below stays well
// inside that for these years.
constexpr int kFirstComputedYear = 1700;
constexpr int kLastComputedYear = 2200;

bool IsLeapYear(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

// ParseFhirDateTime for a text whose year is within [kFirstComputedYear, kLastComputedYear].
std::optional<TimeInterval> ParseComputableDateTime(std::string_view text) {
  int year = 0;
  int month = 1;
  int day = 1;
  if (!ReadDigits(text, 0, 4, year)) {
    return std::nullopt;
  }
  using std::chrono::days;
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  if (text.size() == 4) {
    return TimeInterval{DayStart(year, 1, 1), DayStart(year + 1, 1, 1)};
  }
  if (text[4] != '-' || !ReadDigits(text, 5, 2, month) || month < 1 || month > 12) {
    return std::nullopt;
  }
  const auto umonth = static_cast<unsigned>(month);
  if (text.size() == 7) {
    const int next_year = month == 12 ? year + 1 : year;
    const unsigned next_month = month == 12 ? 1U : umonth + 1;
    return TimeInterval{DayStart(year, umonth, 1), DayStart(next_year, next_month, 1)};
  }
  if (text[7] != '-' || !ReadDigits(text, 8, 2, day)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{umonth},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  const TimePoint day_start = DayStart(year, umonth, static_cast<unsigned>(day));
  if (text.size() == 10) {
    return TimeInterval{day_start, day_start + days(1)};
  }
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (text[10] != 'T' || !ReadDigits(text, 11, 2, hour) || text.size() < 19 || text[13] != ':' ||
      !ReadDigits(text, 14, 2, minute) || text[16] != ':' || !ReadDigits(text, 17, 2, second) ||
      hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  TimePoint::duration fraction{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t digits_start = pos;
    std::int64_t millis = 0;
    int scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == digits_start) {
      return std::nullopt;
    }
    fraction = std::chrono::duration_cast<TimePoint::duration>(milliseconds(millis));
  }
  minutes offset{0};
  if (pos < text.size()) {
    if (text[pos] == 'Z' && pos + 1 == text.size()) {
      pos = text.size();
    } else if ((text[pos] == '+' || text[pos] == '-') && text.size() == pos + 6 &&
               text[pos + 3] == ':') {
      int offset_hours = 0;
      int offset_minutes = 0;
      if (!ReadDigits(text, pos + 1, 2, offset_hours) ||
          !ReadDigits(text, pos + 4, 2, offset_minutes) || offset_hours > 14 ||
          offset_minutes > 59) {
        return std::nullopt;
      }
      offset = minutes(offset_hours * 60 + offset_minutes);
      if (text[pos] == '-') {
        offset = -offset;
      }
    } else {
      return std::nullopt;
    }
  }
  const TimePoint instant = day_start + hours(hour) + minutes(minute) + seconds(second) + fraction -
                            std::chrono::duration_cast<TimePoint::duration>(offset);
  return TimeInterval{instant, instant + seconds(1)};
}

}  // namespace

std::optional<TimeInterval> ParseFhirDateTime(std::string_view text) {
  int year = 0;
  if (!ReadDigits(text, 0, 4, year)) {
    return std::nullopt;
  }
  if (year >= kFirstComputedYear && year <= kLastComputedYear) {
    return ParseComputableDateTime(text);
  }
  // Earlier or later than any instant the broker compares it with: the text is checked as written
  // (with a stand-in year of the same leap-ness, so "1010-02-29" is still refused) and the date
  // becomes the earliest or latest instant. Computed, it overflowed: "9999-12-31", a common "no
  // end" for a consent's period, was undefined behaviour and in practice a wrapped-around time
  // (found by tests/fuzz/policy/policy_inputs_fuzz).
  std::string stand_in(text);
  stand_in.replace(0, 4, IsLeapYear(year) ? "2000" : "2001");
  if (!ParseComputableDateTime(stand_in)) {
    return std::nullopt;
  }
  const TimePoint edge = year < kFirstComputedYear ? TimePoint::min() : TimePoint::max();
  return TimeInterval{edge, edge};
}

std::string_view ProvisionTypeCode(ProvisionType type) {
  return type == ProvisionType::kDeny ? "deny" : "permit";
}

Result<Consent> ParseConsent(const Value& resource) {
  if (!resource.IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "expected a JSON object", "Consent");
  }
  const std::optional<std::string_view> type = fhir::FindString(resource, "resourceType");
  if (!type || *type != "Consent") {
    return MakeError(ErrorCode::kInvalidValue, "resourceType must be Consent", "resourceType");
  }
  Consent consent;
  if (const Value* id = fhir::FindMember(resource, "id")) {
    if (!id->IsString()) {
      return MakeError(ErrorCode::kInvalidValue, "expected a string", "Consent.id");
    }
    consent.id = std::string(fhir::StringOf(*id));
  }
  Result<ConsentStatus> status = ParseStatus(resource);
  if (!status) {
    return std::move(status).error();
  }
  consent.status = *status;
  BROKER_RETURN_IF_ERROR(CheckScope(resource));
  Result<std::string> nhs_number = ParsePatient(resource);
  if (!nhs_number) {
    return std::move(nhs_number).error();
  }
  consent.nhs_number = std::move(nhs_number).value();
  if (const Value* provision = fhir::FindMember(resource, "provision")) {
    ParseState state;
    Result<Provision> root =
        ParseProvision(*provision, "Consent.provision", ProvisionType::kPermit, 1, state);
    if (!root) {
      return std::move(root).error();
    }
    consent.provision = std::move(root).value();
  }
  consent.json = fhir::ToJson(resource);
  return consent;
}

Result<Consent> ParseConsentJson(std::string_view json) {
  Result<rapidjson::Document> document = fhir::ParseJson(json);
  if (!document) {
    return std::move(document).error();
  }
  return ParseConsent(*document);
}

std::vector<std::string> UnevaluableElements(const Consent& consent) {
  std::vector<std::string> out;
  if (!consent.provision) {
    return out;
  }
  std::vector<const Provision*> stack = {&*consent.provision};
  while (!stack.empty()) {
    const Provision* provision = stack.back();
    stack.pop_back();
    out.insert(out.end(), provision->unevaluable.begin(), provision->unevaluable.end());
    for (auto it = provision->provisions.rbegin(); it != provision->provisions.rend(); ++it) {
      stack.push_back(&*it);
    }
  }
  return out;
}

Decision Evaluate(const std::vector<Consent>& consents, const AccessRequest& request) {
  const bool complete = !request.resource_type.empty() && request.codes.has_value() &&
                        request.security_labels.has_value();
  Decision decision;
  if (complete) {
    decision = EvaluateIn(consents, World{request, true});
  } else if (std::optional<Decision> forced = ForcedDeny(consents, request)) {
    // Content not known yet, but some consent denies whatever the content turns out to be.
    decision = std::move(forced).value();
  } else {
    // Some resource may be permitted: let the request through; each resource is decided again.
    decision.effect = Effect::kPermit;
    decision.basis = DefaultBasis(request.purpose);
    decision.final = false;
  }
  decision.break_glass_requested = request.break_glass;
  if (!decision.permitted() && request.break_glass) {
    decision.effect = Effect::kPermit;
    decision.basis = DecisionBasis::kBreakGlass;
    decision.break_glass_used = true;
  }
  return decision;
}

std::string Describe(const Decision& decision) {
  std::string out = decision.permitted() ? "permit" : "deny";
  switch (decision.basis) {
    case DecisionBasis::kImpliedConsent:
      out += ": implied consent";
      break;
    case DecisionBasis::kNoObjection:
      out += ": no objection recorded";
      break;
    case DecisionBasis::kConsent:
      out += ": Consent/" + decision.consent_id + " " + decision.provision_path;
      break;
    case DecisionBasis::kBreakGlass:
      out += ": break-glass over Consent/" + decision.consent_id + " " + decision.provision_path;
      break;
  }
  if (!decision.final) {
    out += " (per resource)";
  }
  return out;
}

}  // namespace tb::policy
