// precision(), lowBoundary(), highBoundary() and comparable() (FHIRPath 2.0 / R5 additions the
// R4 suite already tests): the least and greatest values a decimal, quantity or partial date
// could stand for. Precision counts digits: 1.587 has 3; @2014-01 has 6; @T10:30 has 4.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "adapters/fhir/fhirpath/compare.h"
#include "adapters/fhir/fhirpath/function_call.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

constexpr int kDefaultDecimalPrecision = 8;
constexpr int kMaxDecimalPrecision = 31;

int DecimalsOf(const Value& v) {
  if (v.kind() == Kind::kInteger) {
    return 0;
  }
  int decimals = v.kind() == Kind::kQuantity ? v.quantity().decimals : v.decimals();
  if (decimals >= 0) {
    return decimals;
  }
  double value = v.kind() == Kind::kQuantity ? v.quantity().value : v.decimal();
  std::string text = FormatDecimal(value);
  std::size_t dot = text.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
}

int DateDigits(Precision p) {
  static constexpr int kDigits[] = {4, 6, 8, 10, 12, 14, 17};
  return kDigits[static_cast<int>(p)];
}
int TimeDigits(Precision p) {
  static constexpr int kDigits[] = {0, 0, 0, 2, 4, 6, 9};
  return kDigits[static_cast<int>(p)];
}

std::optional<Precision> DatePrecisionFromDigits(std::int64_t digits) {
  static constexpr std::pair<int, Precision> kMap[] = {
      {4, Precision::kYear},        {6, Precision::kMonth},   {8, Precision::kDay},
      {10, Precision::kHour},       {12, Precision::kMinute}, {14, Precision::kSecond},
      {17, Precision::kMillisecond}};
  for (auto [d, p] : kMap) {
    if (d == digits) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<Precision> TimePrecisionFromDigits(std::int64_t digits) {
  switch (digits) {
    case 2:
      return Precision::kHour;
    case 4:
      return Precision::kMinute;
    case 6:
      return Precision::kSecond;
    case 9:
      return Precision::kMillisecond;
    default:
      return std::nullopt;
  }
}

core::Result<Collection> FnPrecision(const Call& c) {
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return Collection{};
  }
  const Value& v = **single;
  switch (v.kind()) {
    case Kind::kInteger:
    case Kind::kDecimal:
    case Kind::kQuantity:
      return One(Value::Integer(DecimalsOf(v)));
    case Kind::kDate:
    case Kind::kDateTime:
      return One(Value::Integer(DateDigits(v.date_time().precision)));
    case Kind::kTime:
      return One(Value::Integer(TimeDigits(v.date_time().precision)));
    default:
      return Collection{};
  }
}

// Adds one to a string of decimal digits ("199" -> "200", "99" -> "100").
void IncrementDigits(std::string& digits) {
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it != '9') {
      ++*it;
      return;
    }
    *it = '0';
  }
  digits.insert(digits.begin(), '1');
}

// Subtracts one from a string of decimal digits that is not all zeros ("200" -> "199").
void DecrementDigits(std::string& digits) {
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it != '0') {
      --*it;
      return;
    }
    *it = '9';
  }
}

// The boundary of a decimal known to `decimals` places, written with `precision` places; nullopt
// when the value is too large to write out. Computed on the digits, so no binary rounding
// creeps in. The value stands for [v - u/2, v + u/2] with u one unit in its last place. Of the
// two ends, the one farther from zero rounds half up (away from zero) to `precision` places and
// the one nearer zero is cut (towards zero): 1.587 -> [1.58, 1.59] at 2 places, -1.587 ->
// [-1.59, -1.58], 0.0034 -> [0.0, 0.0] at 1 place. That is the rule of the HL7 reference
// implementation, from which the official suite's answers come; zero's low end (-u/2) is cut.
std::optional<double> DecimalBoundary(double value, int decimals, int precision, bool high) {
  std::string text = FormatDecimal(std::fabs(value), decimals);
  if (text.size() > 60) {
    return std::nullopt;
  }
  std::string digits;
  for (char ch : text) {
    if (ch != '.') {
      digits += ch;
    }
  }
  const bool zero = digits.find_first_not_of('0') == std::string::npos;
  const bool negative = value < 0 && !zero;
  // Farther from zero: the high end of a positive value, the low end of a negative one.
  const bool away = zero || high != negative;
  const bool round_half_up = zero ? high : away;
  if (!away) {
    DecrementDigits(digits);
  }
  digits += '5';  // the half unit: the boundary has one more place than the value
  const int scale = decimals + 1;
  if (precision >= scale) {
    digits.append(static_cast<std::size_t>(precision - scale), '0');
  } else {
    const std::size_t cut = static_cast<std::size_t>(scale - precision);
    const char next = cut <= digits.size() ? digits[digits.size() - cut] : '0';
    digits = cut < digits.size() ? digits.substr(0, digits.size() - cut) : "0";
    if (round_half_up && next >= '5') {
      IncrementDigits(digits);
    }
  }
  if (digits.size() <= static_cast<std::size_t>(precision)) {
    digits.insert(0, static_cast<std::size_t>(precision) + 1 - digits.size(), '0');
  }
  std::string boundary = (zero ? !high : negative) ? "-" : "";
  boundary += digits.substr(0, digits.size() - static_cast<std::size_t>(precision));
  if (precision > 0) {
    boundary += "." + digits.substr(digits.size() - static_cast<std::size_t>(precision));
  }
  return std::strtod(boundary.c_str(), nullptr);
}

DateTime DateBoundary(DateTime d, Precision precision, bool high, bool is_time) {
  if (!is_time) {
    if (d.precision < Precision::kMonth) {
      d.month = high ? 12 : 1;
    }
    if (d.precision < Precision::kDay) {
      d.day = high ? DaysInMonth(d.year, d.month) : 1;
    }
  }
  if (d.precision < Precision::kHour) {
    d.hour = high ? 23 : 0;
  }
  if (d.precision < Precision::kMinute) {
    d.minute = high ? 59 : 0;
  }
  if (d.precision < Precision::kSecond) {
    d.second = high ? 59 : 0;
  }
  if (d.precision < Precision::kMillisecond) {
    d.millisecond = high ? 999 : 0;
  }
  d.precision = precision;
  // Without an offset the time could be anywhere from UTC+14 to UTC-12.
  if (!is_time && precision >= Precision::kHour && !d.tz_offset_minutes) {
    d.tz_offset_minutes = high ? -12 * 60 : 14 * 60;
  }
  if (precision < Precision::kHour) {
    d.tz_offset_minutes.reset();
  }
  return d;
}

core::Result<Collection> Boundary(const Call& c, bool high) {
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return Collection{};
  }
  std::optional<std::int64_t> precision;
  if (c.arg_count() > 0) {
    auto p = c.ArgInteger(0);
    if (!p) {
      return p.error();
    }
    precision = *p;
  }
  const Value& v = **single;
  switch (v.kind()) {
    case Kind::kInteger:
    case Kind::kDecimal:
    case Kind::kQuantity: {
      std::int64_t places = precision.value_or(kDefaultDecimalPrecision);
      if (places < 0 || places > kMaxDecimalPrecision) {
        return Collection{};
      }
      int p = static_cast<int>(places);
      double value = v.kind() == Kind::kInteger    ? static_cast<double>(v.integer())
                     : v.kind() == Kind::kQuantity ? v.quantity().value
                                                   : v.decimal();
      std::optional<double> boundary = DecimalBoundary(value, DecimalsOf(v), p, high);
      if (!boundary) {
        return Collection{};
      }
      if (v.kind() == Kind::kQuantity) {
        return One(Value::QuantityValue(Quantity{*boundary, p, v.quantity().unit}));
      }
      return One(Value::Decimal(*boundary, p));
    }
    case Kind::kDate:
    case Kind::kDateTime: {
      auto p = DatePrecisionFromDigits(precision.value_or(v.kind() == Kind::kDate ? 8 : 17));
      if (!p || (v.kind() == Kind::kDate && *p > Precision::kDay)) {
        return Collection{};
      }
      DateTime d = DateBoundary(v.date_time(), *p, high, false);
      return One(*p <= Precision::kDay ? Value::Date(d) : Value::DateTimeValue(d));
    }
    case Kind::kTime: {
      auto p = TimePrecisionFromDigits(precision.value_or(9));
      if (!p) {
        return Collection{};
      }
      return One(Value::Time(DateBoundary(v.date_time(), *p, high, true)));
    }
    default:
      return Collection{};
  }
}
core::Result<Collection> FnLowBoundary(const Call& c) { return Boundary(c, false); }
core::Result<Collection> FnHighBoundary(const Call& c) { return Boundary(c, true); }

core::Result<Collection> FnComparable(const Call& c) {
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  auto other = c.ArgSingle(0);
  if (!other) {
    return other.error();
  }
  if (!*single || !*other) {
    return Collection{};
  }
  if ((*single)->kind() != Kind::kQuantity || (*other)->kind() != Kind::kQuantity) {
    return EvalError("comparable() expects Quantities");
  }
  return Bool(ConvertQuantity((*other)->quantity(), (*single)->quantity().unit).has_value());
}

}  // namespace

void AddBoundaryFunctions(FunctionTable& table) {
  table.insert({
      {"precision", {FnPrecision, 0, 0}},
      {"lowBoundary", {FnLowBoundary, 0, 1}},
      {"highBoundary", {FnHighBoundary, 0, 1}},
      {"comparable", {FnComparable, 1, 1}},
  });
}

}  // namespace tb::fhirpath::detail
