// FHIRPath arithmetic (spec 6.6): + - * / div mod on numbers and Quantities, + and & on strings,
// and date/time plus or minus a duration Quantity.
#include <cmath>
#include <limits>
#include <string>

#include "adapters/fhir/fhirpath/compare.h"
#include "adapters/fhir/fhirpath/eval.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

bool IsNumber(const Value& v) { return v.kind() == Kind::kInteger || v.kind() == Kind::kDecimal; }
double AsDouble(const Value& v) {
  return v.kind() == Kind::kInteger ? static_cast<double>(v.integer()) : v.decimal();
}
bool IsTemporal(const Value& v) {
  return v.kind() == Kind::kDate || v.kind() == Kind::kDateTime || v.kind() == Kind::kTime;
}

int SumDecimals(const Value& a, const Value& b) {
  int da = a.kind() == Kind::kInteger ? 0 : a.decimals();
  int db = b.kind() == Kind::kInteger ? 0 : b.decimals();
  if (da < 0 || db < 0) {
    return -1;
  }
  return std::max(da, db);
}

// Integer results outside 32 bits are an overflow (FHIRPath Integer is 32-bit): empty.
Collection IntegerResult(long double value) {
  if (value > std::numeric_limits<std::int32_t>::max() ||
      value < std::numeric_limits<std::int32_t>::min()) {
    return {};
  }
  return {Value::Integer(static_cast<std::int64_t>(value))};
}

// Multiplies or divides units in the simplest written form ("cm" * "m" -> "cm.m").
std::string CombineUnits(const std::string& a, const std::string& b, bool divide) {
  if (b == "1") {
    return a;
  }
  if (a == "1" && !divide) {
    return b;
  }
  if (divide && a == b) {
    return "1";
  }
  return a + (divide ? "/" : ".") + b;
}

core::Result<Collection> QuantityArithmetic(std::string_view op, const Value& a, const Value& b) {
  if (a.kind() == Kind::kQuantity && b.kind() == Kind::kQuantity) {
    const Quantity& qa = a.quantity();
    const Quantity& qb = b.quantity();
    if (op == "+" || op == "-") {
      auto converted = ConvertQuantity(qb, qa.unit);
      if (!converted) {
        return EvalError("cannot " + std::string(op == "+" ? "add" : "subtract") +
                         " Quantities of units '" + qa.unit + "' and '" + qb.unit + "'");
      }
      double value = op == "+" ? qa.value + *converted : qa.value - *converted;
      // After a unit conversion the written precision no longer applies.
      int decimals = qa.decimals >= 0 && qb.decimals >= 0 && qa.unit == qb.unit
                         ? std::max(qa.decimals, qb.decimals)
                         : -1;
      return Collection{Value::QuantityValue(Quantity{value, decimals, qa.unit})};
    }
    if (op == "*") {
      return Collection{Value::QuantityValue(
          Quantity{qa.value * qb.value, -1, CombineUnits(qa.unit, qb.unit, false)})};
    }
    if (op == "/") {
      if (qb.value == 0) {
        return Collection{};
      }
      auto converted = ConvertQuantity(qb, qa.unit);
      if (converted) {
        return Collection{Value::QuantityValue(Quantity{qa.value / *converted, -1, "1"})};
      }
      return Collection{Value::QuantityValue(
          Quantity{qa.value / qb.value, -1, CombineUnits(qa.unit, qb.unit, true)})};
    }
    return EvalError("operator " + std::string(op) + " is not defined for Quantities");
  }
  // Quantity and a number.
  if (a.kind() == Kind::kQuantity && IsNumber(b) && (op == "*" || op == "/")) {
    Quantity q = a.quantity();
    double factor = AsDouble(b);
    if (op == "/" && factor == 0) {
      return Collection{};
    }
    q.value = op == "*" ? q.value * factor : q.value / factor;
    q.decimals = -1;
    return Collection{Value::QuantityValue(std::move(q))};
  }
  if (IsNumber(a) && b.kind() == Kind::kQuantity && op == "*") {
    Quantity q = b.quantity();
    q.value *= AsDouble(a);
    q.decimals = -1;
    return Collection{Value::QuantityValue(std::move(q))};
  }
  return EvalError("operator " + std::string(op) + " cannot combine " + std::string(a.type_name()) +
                   " and " + std::string(b.type_name()));
}

core::Result<Collection> NumberArithmetic(std::string_view op, const Value& a, const Value& b) {
  bool integers = a.kind() == Kind::kInteger && b.kind() == Kind::kInteger;
  double x = AsDouble(a);
  double y = AsDouble(b);
  if (op == "+" || op == "-" || op == "*") {
    if (integers) {
      long double ix = static_cast<long double>(a.integer());
      long double iy = static_cast<long double>(b.integer());
      return IntegerResult(op == "+" ? ix + iy : op == "-" ? ix - iy : ix * iy);
    }
    double r = op == "+" ? x + y : op == "-" ? x - y : x * y;
    return Collection{Value::Decimal(r, op == "*" ? -1 : SumDecimals(a, b))};
  }
  if (op == "/") {
    if (y == 0) {
      return Collection{};
    }
    return Collection{Value::Decimal(x / y)};
  }
  if (op == "div") {
    if (y == 0) {
      return Collection{};
    }
    return IntegerResult(std::trunc(static_cast<long double>(x) / y));
  }
  if (op == "mod") {
    if (y == 0) {
      return Collection{};
    }
    if (integers) {
      return Collection{Value::Integer(a.integer() % b.integer())};
    }
    return Collection{Value::Decimal(std::fmod(x, y), SumDecimals(a, b))};
  }
  return EvalError("unknown operator " + std::string(op));
}

// Truncates a duration to a whole number of `unit`s.
std::int64_t Whole(double value) { return static_cast<std::int64_t>(std::trunc(value)); }

}  // namespace

core::Result<Value> AddDuration(const Value& date, const Quantity& amount, int sign) {
  std::string unit = amount.unit;
  if (unit.size() > 1 && unit.back() == 's' && unit != "ms") {
    unit.pop_back();  // years -> year
  }
  static constexpr std::pair<std::string_view, std::string_view> kUcum[] = {
      {"wk", "week"},    {"d", "day"},    {"h", "hour"},
      {"min", "minute"}, {"s", "second"}, {"ms", "millisecond"}};
  for (auto [code, word] : kUcum) {
    if (unit == code) {
      unit = word;
    }
  }
  DateTime d = date.date_time();
  double value = amount.value * sign;
  if (unit == "year" || unit == "month") {
    if (date.kind() == Kind::kTime) {
      return EvalError("cannot add " + unit + "s to a Time");
    }
    std::int64_t months = unit == "year" ? Whole(value) * 12 : Whole(value);
    if (d.precision == Precision::kYear) {
      d.year += static_cast<int>(months / 12);
    } else {
      std::int64_t total = static_cast<std::int64_t>(d.year) * 12 + (d.month - 1) + months;
      d.year = static_cast<int>(total / 12);
      d.month = static_cast<int>(total % 12) + 1;
      if (d.precision >= Precision::kDay) {
        d.day = std::min(d.day, DaysInMonth(d.year, d.month));
      }
    }
  } else if (unit == "week" || unit == "day" || unit == "hour" || unit == "minute" ||
             unit == "second" || unit == "millisecond") {
    double ms_per = unit == "week"     ? 604800000.0
                    : unit == "day"    ? 86400000.0
                    : unit == "hour"   ? 3600000.0
                    : unit == "minute" ? 60000.0
                    : unit == "second" ? 1000.0
                                       : 1.0;
    // Durations finer than the value's precision are truncated to that precision.
    double precision_ms = d.precision <= Precision::kDay      ? 86400000.0
                          : d.precision == Precision::kHour   ? 3600000.0
                          : d.precision == Precision::kMinute ? 60000.0
                          : d.precision == Precision::kSecond ? 1000.0
                                                              : 1.0;
    if (date.kind() != Kind::kTime && d.precision < Precision::kDay) {
      // Year or month precision: whole days do not change it.
      return date;
    }
    double whole_units = std::trunc(value);
    auto delta = static_cast<std::int64_t>(std::trunc(whole_units * ms_per / precision_ms)) *
                 static_cast<std::int64_t>(precision_ms);
    std::int64_t day_ms = 86400000;
    std::int64_t time_ms =
        ((static_cast<std::int64_t>(d.hour) * 60 + d.minute) * 60 + d.second) * 1000 +
        d.millisecond;
    if (date.kind() == Kind::kTime) {
      std::int64_t t = ((time_ms + delta) % day_ms + day_ms) % day_ms;
      d.hour = static_cast<int>(t / 3600000);
      d.minute = static_cast<int>(t / 60000 % 60);
      d.second = static_cast<int>(t / 1000 % 60);
      d.millisecond = static_cast<int>(t % 1000);
      return Value::Time(d);
    }
    std::int64_t total =
        static_cast<std::int64_t>(DaysFromCivil(d.year, d.month, d.day)) * day_ms + time_ms + delta;
    std::int64_t days = total >= 0 ? total / day_ms : (total - day_ms + 1) / day_ms;
    std::int64_t rest = total - days * day_ms;
    CivilFromDays(static_cast<long>(days), d.year, d.month, d.day);
    d.hour = static_cast<int>(rest / 3600000);
    d.minute = static_cast<int>(rest / 60000 % 60);
    d.second = static_cast<int>(rest / 1000 % 60);
    d.millisecond = static_cast<int>(rest % 1000);
  } else {
    return EvalError("'" + amount.unit + "' is not a calendar duration");
  }
  switch (date.kind()) {
    case Kind::kDate:
      return Value::Date(d);
    case Kind::kTime:
      return Value::Time(d);
    default:
      return Value::DateTimeValue(d);
  }
}

core::Result<Collection> Arithmetic(std::string_view op, const Collection& left,
                                    const Collection& right) {
  if (op == "&") {
    std::string text;
    for (const Collection* side : {&left, &right}) {
      auto single = Singleton(*side, "&");
      if (!single) {
        return single.error();
      }
      if (*single) {
        if ((*single)->kind() != Kind::kString) {
          return EvalError("'&' expects Strings");
        }
        text += (*single)->string();
      }
    }
    return Collection{Value::String(std::move(text))};
  }
  auto a = Singleton(left, std::string(op));
  if (!a) {
    return a.error();
  }
  auto b = Singleton(right, std::string(op));
  if (!b) {
    return b.error();
  }
  if (!*a || !*b) {
    return Collection{};
  }
  const Value& x = **a;
  const Value& y = **b;
  if (op == "+" && x.kind() == Kind::kString && y.kind() == Kind::kString) {
    return Collection{Value::String(x.string() + y.string())};
  }
  if (IsNumber(x) && IsNumber(y)) {
    return NumberArithmetic(op, x, y);
  }
  if (IsTemporal(x) && y.kind() == Kind::kQuantity && (op == "+" || op == "-")) {
    auto moved = AddDuration(x, y.quantity(), op == "+" ? 1 : -1);
    if (!moved) {
      return moved.error();
    }
    return Collection{std::move(*moved)};
  }
  if (x.kind() == Kind::kQuantity || y.kind() == Kind::kQuantity) {
    return QuantityArithmetic(op, x, y);
  }
  return EvalError("operator " + std::string(op) + " cannot combine " + std::string(x.type_name()) +
                   " and " + std::string(y.type_name()));
}

}  // namespace tb::fhirpath::detail
