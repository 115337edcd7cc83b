#include "adapters/fhir/fhirpath/compare.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "adapters/fhir/fhirpath/units.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

core::Error NotComparable(const Value& a, const Value& b) {
  return core::MakeError(
      core::ErrorCode::kInvalidValue,
      "cannot compare " + std::string(a.type_name()) + " with " + std::string(b.type_name()));
}

bool IsNumber(const Value& v) { return v.kind() == Kind::kInteger || v.kind() == Kind::kDecimal; }
double AsDouble(const Value& v) {
  return v.kind() == Kind::kInteger ? static_cast<double>(v.integer()) : v.decimal();
}
bool IsDateLike(const Value& v) { return v.kind() == Kind::kDate || v.kind() == Kind::kDateTime; }

// Decimals compare equal when they agree to about 15 significant digits, so 0.1 + 0.2 = 0.3.
bool NumbersEqual(double a, double b) {
  double scale = std::max({1.0, std::fabs(a), std::fabs(b)});
  return std::fabs(a - b) <= 1e-12 * scale;
}

int Sign(double d) { return d < 0 ? -1 : (d > 0 ? 1 : 0); }

// A String item met by a date/time is read as one (FHIR JSON has no date type of its own).
std::optional<Value> CoerceString(const Value& s, const Value& like) {
  if (s.kind() != Kind::kString) {
    return std::nullopt;
  }
  if (like.kind() == Kind::kTime) {
    auto t = ParseTime(s.string());
    return t ? std::optional<Value>(Value::Time(*t)) : std::nullopt;
  }
  if (IsDateLike(like)) {
    auto d = ParseDateTime(s.string());
    if (!d) {
      return std::nullopt;
    }
    return d->precision <= Precision::kDay && !d->tz_offset_minutes ? Value::Date(*d)
                                                                    : Value::DateTimeValue(*d);
  }
  return std::nullopt;
}

// The levels compared: year, month, day, hour, minute, and seconds with milliseconds as one.
int Level(Precision p) { return p == Precision::kMillisecond ? 5 : static_cast<int>(p); }

std::optional<int> CompareDateTimes(const DateTime& raw_a, const DateTime& raw_b, bool time_only) {
  DateTime a = raw_a;
  DateTime b = raw_b;
  // One with an offset and one without: the local one's offset is unknown, so beyond the day
  // the order is unknown too (spec 6.1.1: "15:00Z = 10:00" is empty).
  if (!time_only && a.tz_offset_minutes.has_value() != b.tz_offset_minutes.has_value() &&
      a.precision >= Precision::kHour && b.precision >= Precision::kHour) {
    DateTime da = a;
    DateTime db = b;
    da.precision = db.precision = Precision::kDay;
    auto day_order = CompareDateTimes(da, db, false);
    if (day_order && *day_order != 0) {
      return day_order;
    }
    return std::nullopt;
  }
  if (!time_only && (a.tz_offset_minutes || b.tz_offset_minutes)) {
    a = ToUtc(a);
    b = ToUtc(b);
  }
  int la = Level(a.precision);
  int lb = Level(b.precision);
  int first = time_only ? 3 : 0;
  for (int level = first; level <= std::min(la, lb); ++level) {
    long va = 0;
    long vb = 0;
    switch (level) {
      case 0:
        va = a.year, vb = b.year;
        break;
      case 1:
        va = a.month, vb = b.month;
        break;
      case 2:
        va = a.day, vb = b.day;
        break;
      case 3:
        va = a.hour, vb = b.hour;
        break;
      case 4:
        va = a.minute, vb = b.minute;
        break;
      default:
        va = a.second * 1000L + a.millisecond;
        vb = b.second * 1000L + b.millisecond;
        break;
    }
    if (va != vb) {
      return va < vb ? -1 : 1;
    }
  }
  if (la != lb) {
    return std::nullopt;
  }
  return 0;
}

std::string NormalizeForEquivalence(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

int DecimalsOf(const Value& v) {
  if (v.kind() == Kind::kInteger) {
    return 0;
  }
  if (v.decimals() >= 0) {
    return v.decimals();
  }
  std::string text = FormatDecimal(v.decimal());
  std::size_t dot = text.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
}

bool JsonEqual(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    return NumbersEqual(a.GetDouble(), b.GetDouble());
  }
  if (a.IsObject() && b.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) {
      return false;
    }
    for (auto& member : a.GetObject()) {
      auto other = b.FindMember(member.name);
      if (other == b.MemberEnd() || !JsonEqual(member.value, other->value)) {
        return false;
      }
    }
    return true;
  }
  if (a.IsArray() && b.IsArray()) {
    if (a.Size() != b.Size()) {
      return false;
    }
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!JsonEqual(a[i], b[i])) {
        return false;
      }
    }
    return true;
  }
  return a == b;
}

// Both quantities in the unit of `a`; nullopt when they do not convert.
std::optional<std::pair<double, double>> CommonUnit(const Quantity& a, const Quantity& b) {
  if (a.unit == b.unit) {
    return std::make_pair(a.value, b.value);
  }
  auto converted = ConvertQuantity(b, a.unit);
  if (!converted) {
    return std::nullopt;
  }
  return std::make_pair(a.value, *converted);
}

// A calendar year or month against UCUM 'a' or 'mo': their lengths differ (a UCUM year is
// 365.25 days), so equality is unknown.
bool CalendarVersusUcum(const std::string& a, const std::string& b) {
  auto calendar = [](const std::string& u) {
    return u == "year" || u == "years" || u == "month" || u == "months";
  };
  auto ucum = [](const std::string& u) { return u == "a" || u == "mo"; };
  return (calendar(a) && ucum(b)) || (ucum(a) && calendar(b));
}

}  // namespace

long DaysFromCivil(int year, int month, int day) {
  // Howard Hinnant's days_from_civil.
  long y = year - (month <= 2 ? 1 : 0);
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long mp = (month + 9) % 12;
  long doy = (153 * mp + 2) / 5 + day - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(long days, int& year, int& month, int& day) {
  days += 719468;
  long era = (days >= 0 ? days : days - 146096) / 146097;
  long doe = days - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = yoe + era * 400;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = static_cast<int>(y + (month <= 2 ? 1 : 0));
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) {
    return 29;
  }
  return kDays[(month - 1) % 12];
}

DateTime ToUtc(const DateTime& value) {
  if (!value.tz_offset_minutes || *value.tz_offset_minutes == 0 ||
      value.precision < Precision::kHour) {
    DateTime out = value;
    if (out.tz_offset_minutes) {
      out.tz_offset_minutes = 0;
    }
    return out;
  }
  long minutes =
      DaysFromCivil(value.year, std::max(value.month, 1), std::max(value.day, 1)) * 1440L +
      value.hour * 60L + value.minute - *value.tz_offset_minutes;
  DateTime out = value;
  long days = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440;
  long rest = minutes - days * 1440;
  CivilFromDays(days, out.year, out.month, out.day);
  out.hour = static_cast<int>(rest / 60);
  out.minute = static_cast<int>(rest % 60);
  out.tz_offset_minutes = 0;
  return out;
}

std::optional<double> ConvertQuantity(const Quantity& q, std::string_view unit) {
  if (q.unit == unit) {
    return q.value;
  }
  auto from = ReadUnit(q.unit);
  auto to = ReadUnit(unit);
  if (!from || !to || from->exponents != to->exponents) {
    return std::nullopt;
  }
  return q.value * from->factor / to->factor;
}

std::optional<bool> ItemsEqual(const Value& raw_a, const Value& raw_b) {
  // The common cases without copying: two computed values of one kind (distinct() and | on
  // long collections compare many pairs).
  if (!raw_a.is_node() && !raw_b.is_node() && raw_a.kind() == raw_b.kind()) {
    switch (raw_a.kind()) {
      case Kind::kInteger:
        return raw_a.integer() == raw_b.integer();
      case Kind::kString:
        return raw_a.string() == raw_b.string();
      case Kind::kBoolean:
        return raw_a.boolean() == raw_b.boolean();
      default:
        break;
    }
  }
  if (raw_a.is_node() && raw_b.is_node() && raw_a.node() != nullptr && raw_b.node() != nullptr &&
      (raw_a.node()->IsObject() || raw_b.node()->IsObject())) {
    bool a_quantity = raw_a.ToSystem() && raw_a.ToSystem()->kind() == Kind::kQuantity;
    bool b_quantity = raw_b.ToSystem() && raw_b.ToSystem()->kind() == Kind::kQuantity;
    if (!a_quantity || !b_quantity) {
      return JsonEqual(*raw_a.node(), *raw_b.node());
    }
  }
  std::optional<Value> a = raw_a.ToSystem();
  std::optional<Value> b = raw_b.ToSystem();
  if (!a || !b) {
    return false;
  }
  if (auto coerced = CoerceString(*a, *b)) {
    a = coerced;
  } else if (auto coerced_b = CoerceString(*b, *a)) {
    b = coerced_b;
  }
  if (IsNumber(*a) && IsNumber(*b)) {
    return NumbersEqual(AsDouble(*a), AsDouble(*b));
  }
  if (IsDateLike(*a) && IsDateLike(*b)) {
    auto order = CompareDateTimes(a->date_time(), b->date_time(), false);
    return order ? std::optional<bool>(*order == 0) : std::nullopt;
  }
  if (a->kind() != b->kind()) {
    return false;
  }
  switch (a->kind()) {
    case Kind::kBoolean:
      return a->boolean() == b->boolean();
    case Kind::kString:
      return a->string() == b->string();
    case Kind::kTime: {
      auto order = CompareDateTimes(a->date_time(), b->date_time(), true);
      return order ? std::optional<bool>(*order == 0) : std::nullopt;
    }
    case Kind::kQuantity: {
      if (CalendarVersusUcum(a->quantity().unit, b->quantity().unit)) {
        return std::nullopt;
      }
      auto values = CommonUnit(a->quantity(), b->quantity());
      if (!values) {
        return false;
      }
      return NumbersEqual(values->first, values->second);
    }
    default:
      return false;
  }
}

bool ItemsEquivalent(const Value& raw_a, const Value& raw_b) {
  std::optional<Value> a = raw_a.ToSystem();
  std::optional<Value> b = raw_b.ToSystem();
  if (!a || !b) {
    if (raw_a.is_node() && raw_b.is_node() && raw_a.node() != nullptr && raw_b.node() != nullptr) {
      return JsonEqual(*raw_a.node(), *raw_b.node());
    }
    return false;
  }
  if (auto coerced = CoerceString(*a, *b)) {
    a = coerced;
  } else if (auto coerced_b = CoerceString(*b, *a)) {
    b = coerced_b;
  }
  if (IsNumber(*a) && IsNumber(*b)) {
    int decimals = std::min(DecimalsOf(*a), DecimalsOf(*b));
    double scale = std::pow(10.0, decimals);
    return NumbersEqual(std::round(AsDouble(*a) * scale), std::round(AsDouble(*b) * scale));
  }
  if (IsDateLike(*a) && IsDateLike(*b)) {
    auto order = CompareDateTimes(a->date_time(), b->date_time(), false);
    return order && *order == 0;
  }
  if (a->kind() != b->kind()) {
    return false;
  }
  switch (a->kind()) {
    case Kind::kBoolean:
      return a->boolean() == b->boolean();
    case Kind::kString:
      return NormalizeForEquivalence(a->string()) == NormalizeForEquivalence(b->string());
    case Kind::kTime: {
      auto order = CompareDateTimes(a->date_time(), b->date_time(), true);
      return order && *order == 0;
    }
    case Kind::kQuantity: {
      auto values = CommonUnit(a->quantity(), b->quantity());
      if (!values) {
        return false;
      }
      // Compared at the precision of the less precise value, as decimals are (4 'g' ~ 4040 'mg').
      int da = a->quantity().decimals;
      int db = b->quantity().decimals;
      if (da < 0 && db < 0) {
        return NumbersEqual(values->first, values->second);
      }
      int decimals = da < 0 ? db : db < 0 ? da : std::min(da, db);
      double scale = std::pow(10.0, decimals);
      return NumbersEqual(std::round(values->first * scale), std::round(values->second * scale));
    }
    default:
      return false;
  }
}

std::optional<bool> CollectionsEqual(const Collection& a, const Collection& b) {
  if (a.empty() || b.empty()) {
    return std::nullopt;
  }
  if (a.size() != b.size()) {
    return false;
  }
  bool unknown = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto equal = ItemsEqual(a[i], b[i]);
    if (!equal) {
      unknown = true;
    } else if (!*equal) {
      return false;
    }
  }
  if (unknown) {
    return std::nullopt;
  }
  return true;
}

bool CollectionsEquivalent(const Collection& a, const Collection& b) {
  if (a.size() != b.size()) {
    return false;
  }
  std::vector<bool> used(b.size(), false);
  for (const Value& item : a) {
    bool found = false;
    for (std::size_t j = 0; j < b.size(); ++j) {
      if (!used[j] && ItemsEquivalent(item, b[j])) {
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) {
      return false;
    }
  }
  return true;
}

core::Result<std::optional<int>> CompareItems(const Value& raw_a, const Value& raw_b) {
  std::optional<Value> a = raw_a.ToSystem();
  std::optional<Value> b = raw_b.ToSystem();
  if (!a || !b) {
    return NotComparable(raw_a, raw_b);
  }
  if (auto coerced = CoerceString(*a, *b)) {
    a = coerced;
  } else if (auto coerced_b = CoerceString(*b, *a)) {
    b = coerced_b;
  }
  if (IsNumber(*a) && IsNumber(*b)) {
    double x = AsDouble(*a);
    double y = AsDouble(*b);
    return std::optional<int>(NumbersEqual(x, y) ? 0 : Sign(x - y));
  }
  if (IsDateLike(*a) && IsDateLike(*b)) {
    return CompareDateTimes(a->date_time(), b->date_time(), false);
  }
  if (a->kind() != b->kind()) {
    return NotComparable(*a, *b);
  }
  switch (a->kind()) {
    case Kind::kString: {
      int c = a->string().compare(b->string());
      return std::optional<int>(c < 0 ? -1 : (c > 0 ? 1 : 0));
    }
    case Kind::kTime:
      return CompareDateTimes(a->date_time(), b->date_time(), true);
    case Kind::kQuantity: {
      auto values = CommonUnit(a->quantity(), b->quantity());
      if (!values) {
        return std::optional<int>();  // different dimensions: unknown
      }
      double x = values->first;
      double y = values->second;
      return std::optional<int>(NumbersEqual(x, y) ? 0 : Sign(x - y));
    }
    default:
      return NotComparable(*a, *b);
  }
}

}  // namespace tb::fhirpath::detail
