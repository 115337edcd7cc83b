// Conversion functions (spec 5.5): toX() gives the converted value or empty, convertsToX() says
// whether toX() would give one. Both need a single-item focus.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <string>

#include "adapters/fhir/fhirpath/compare.h"
#include "adapters/fhir/fhirpath/function_call.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool IsIntegerText(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    ++i;
  }
  if (i >= text.size()) {
    return false;
  }
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
  }
  return true;
}

// [+-]digits[.digits]; the number of digits after the point in `decimals`.
bool IsDecimalText(std::string_view text, int& decimals) {
  std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) {
    decimals = 0;
    return IsIntegerText(text);
  }
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = text.substr(dot + 1);
  if (!IsIntegerText(whole) || fraction.empty()) {
    return false;
  }
  for (char c : fraction) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  decimals = static_cast<int>(fraction.size());
  return true;
}

std::optional<Value> ToBooleanValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kBoolean:
      return v;
    case Kind::kInteger:
      if (v.integer() == 0 || v.integer() == 1) {
        return Value::Boolean(v.integer() == 1);
      }
      return std::nullopt;
    case Kind::kDecimal:
      if (v.decimal() == 0.0 || v.decimal() == 1.0) {
        return Value::Boolean(v.decimal() == 1.0);
      }
      return std::nullopt;
    case Kind::kString: {
      std::string s = Lower(v.string());
      if (s == "true" || s == "t" || s == "yes" || s == "y" || s == "1" || s == "1.0") {
        return Value::Boolean(true);
      }
      if (s == "false" || s == "f" || s == "no" || s == "n" || s == "0" || s == "0.0") {
        return Value::Boolean(false);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<Value> ToIntegerValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kInteger:
      return v;
    case Kind::kBoolean:
      return Value::Integer(v.boolean() ? 1 : 0);
    case Kind::kString:
      if (IsIntegerText(v.string()) && v.string().size() < 12) {
        long long n = std::strtoll(v.string().c_str(), nullptr, 10);
        if (n >= INT32_MIN && n <= INT32_MAX) {
          return Value::Integer(n);
        }
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<Value> ToDecimalValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kDecimal:
      return v;
    case Kind::kInteger:
      return Value::Decimal(static_cast<double>(v.integer()), 0);
    case Kind::kBoolean:
      return Value::Decimal(v.boolean() ? 1.0 : 0.0, 1);
    case Kind::kString: {
      int decimals = 0;
      if (IsDecimalText(v.string(), decimals)) {
        return Value::Decimal(std::strtod(v.string().c_str(), nullptr), decimals);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<Value> ToStringValue(const Value& v) {
  if (v.is_node()) {
    return std::nullopt;
  }
  return Value::String(ToString(v));
}

std::optional<Value> ToDateValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kDate:
      return v;
    case Kind::kDateTime: {
      DateTime d = v.date_time();
      d.precision = std::min(d.precision, Precision::kDay);
      d.hour = d.minute = d.second = d.millisecond = 0;
      d.tz_offset_minutes.reset();
      return Value::Date(d);
    }
    case Kind::kString: {
      auto d = ParseDateTime(v.string());
      if (!d || d->precision > Precision::kDay || d->tz_offset_minutes) {
        return std::nullopt;
      }
      return Value::Date(*d);
    }
    default:
      return std::nullopt;
  }
}

std::optional<Value> ToDateTimeValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kDateTime:
      return v;
    case Kind::kDate:
      return Value::DateTimeValue(v.date_time());
    case Kind::kString: {
      auto d = ParseDateTime(v.string());
      return d ? std::optional<Value>(Value::DateTimeValue(*d)) : std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<Value> ToTimeValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kTime:
      return v;
    case Kind::kString: {
      std::string_view text = v.string();
      if (!text.empty() && text[0] == 'T') {
        text.remove_prefix(1);
      }
      auto t = ParseTime(text);
      return t ? std::optional<Value>(Value::Time(*t)) : std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

bool IsCalendarWord(std::string_view unit) {
  static constexpr std::string_view kWords[] = {
      "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
      "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  for (std::string_view w : kWords) {
    if (w == unit) {
      return true;
    }
  }
  return false;
}

std::optional<Value> ToQuantityValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kQuantity:
      return v;
    case Kind::kInteger:
      return Value::QuantityValue(Quantity{static_cast<double>(v.integer()), 0, "1"});
    case Kind::kDecimal:
      return Value::QuantityValue(Quantity{v.decimal(), v.decimals(), "1"});
    case Kind::kBoolean:
      return Value::QuantityValue(Quantity{v.boolean() ? 1.0 : 0.0, 1, "1"});
    case Kind::kString: {
      // "<number>" or "<number> '<ucum>'" or "<number> <calendar word>".
      static const std::regex kQuantity(
          R"(^\s*([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-z]+))?\s*$)");
      std::smatch m;
      if (!std::regex_match(v.string(), m, kQuantity)) {
        return std::nullopt;
      }
      std::string number = m[1].str();
      std::string unit = m[2].matched ? m[2].str() : m[3].matched ? m[3].str() : "1";
      if (m[3].matched && !IsCalendarWord(unit)) {
        return std::nullopt;
      }
      int decimals = 0;
      IsDecimalText(number, decimals);
      return Value::QuantityValue(
          Quantity{std::strtod(number.c_str(), nullptr), decimals, std::move(unit)});
    }
    default:
      return std::nullopt;
  }
}

// The focus converted with `convert`: empty focus -> empty; several items -> error.
core::Result<std::optional<Value>> Convert(const Call& c,
                                           std::optional<Value> (*convert)(const Value&)) {
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return std::optional<Value>();
  }
  return convert(**single);
}

template <std::optional<Value> (*Converter)(const Value&)>
core::Result<Collection> To(const Call& c) {
  auto converted = Convert(c, Converter);
  if (!converted) {
    return converted.error();
  }
  return *converted ? One(**converted) : Collection{};
}

template <std::optional<Value> (*Converter)(const Value&)>
core::Result<Collection> ConvertsTo(const Call& c) {
  if (c.focus.empty()) {
    return Collection{};
  }
  auto converted = Convert(c, Converter);
  if (!converted) {
    return converted.error();
  }
  return Bool(converted->has_value());
}

core::Result<Collection> FnToQuantity(const Call& c) {
  auto converted = Convert(c, ToQuantityValue);
  if (!converted) {
    return converted.error();
  }
  if (!*converted) {
    return Collection{};
  }
  if (c.arg_count() == 0) {
    return One(**converted);
  }
  auto unit = c.ArgString(0);
  if (!unit) {
    return unit.error();
  }
  if (!*unit) {
    return Collection{};
  }
  auto value = ConvertQuantity((*converted)->quantity(), **unit);
  if (!value) {
    return Collection{};
  }
  return One(Value::QuantityValue(Quantity{*value, -1, **unit}));
}

core::Result<Collection> FnConvertsToQuantity(const Call& c) {
  if (c.focus.empty()) {
    return Collection{};
  }
  auto converted = FnToQuantity(c);
  if (!converted) {
    return converted;
  }
  return Bool(!converted->empty());
}

}  // namespace

void AddConversionFunctions(FunctionTable& table) {
  table.insert({
      {"toBoolean", {To<ToBooleanValue>, 0, 0}},
      {"convertsToBoolean", {ConvertsTo<ToBooleanValue>, 0, 0}},
      {"toInteger", {To<ToIntegerValue>, 0, 0}},
      {"convertsToInteger", {ConvertsTo<ToIntegerValue>, 0, 0}},
      {"toDecimal", {To<ToDecimalValue>, 0, 0}},
      {"convertsToDecimal", {ConvertsTo<ToDecimalValue>, 0, 0}},
      {"toString", {To<ToStringValue>, 0, 0}},
      {"convertsToString", {ConvertsTo<ToStringValue>, 0, 0}},
      {"toDate", {To<ToDateValue>, 0, 0}},
      {"convertsToDate", {ConvertsTo<ToDateValue>, 0, 0}},
      {"toDateTime", {To<ToDateTimeValue>, 0, 0}},
      {"convertsToDateTime", {ConvertsTo<ToDateTimeValue>, 0, 0}},
      {"toTime", {To<ToTimeValue>, 0, 0}},
      {"convertsToTime", {ConvertsTo<ToTimeValue>, 0, 0}},
      {"toQuantity", {FnToQuantity, 0, 1}},
      {"convertsToQuantity", {FnConvertsToQuantity, 0, 1}},
  });
}

}  // namespace tb::fhirpath::detail
