#include "adapters/fhir/fhirpath/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tb::fhirpath {
namespace {

const std::string kEmptyString;
const DateTime kEmptyDateTime;
const Quantity kEmptyQuantity;

// Reads exactly `width` digits at `pos`; advances `pos`.
std::optional<int> Digits(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) {
    return std::nullopt;
  }
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  pos += width;
  return value;
}

// Parses "HH[:mm[:ss[.fff]]]" into `out`, starting at `pos`.
bool ParseTimePart(std::string_view text, std::size_t& pos, DateTime& out) {
  auto hour = Digits(text, pos, 2);
  if (!hour || *hour > 23) {
    return false;
  }
  out.hour = *hour;
  out.precision = Precision::kHour;
  if (pos >= text.size() || text[pos] != ':') {
    return true;
  }
  ++pos;
  auto minute = Digits(text, pos, 2);
  if (!minute || *minute > 59) {
    return false;
  }
  out.minute = *minute;
  out.precision = Precision::kMinute;
  if (pos >= text.size() || text[pos] != ':') {
    return true;
  }
  ++pos;
  auto second = Digits(text, pos, 2);
  if (!second || *second > 59) {
    return false;
  }
  out.second = *second;
  out.precision = Precision::kSecond;
  if (pos >= text.size() || text[pos] != '.') {
    return true;
  }
  ++pos;
  std::size_t start = pos;
  int ms = 0;
  int scale = 100;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    ms += (text[pos] - '0') * scale;
    scale /= 10;
    ++pos;
  }
  if (pos == start) {
    return false;
  }
  out.millisecond = ms;
  out.precision = Precision::kMillisecond;
  return true;
}

// Parses "Z" or "+HH:MM" / "-HH:MM" at `pos`.
bool ParseZone(std::string_view text, std::size_t& pos, DateTime& out) {
  if (pos >= text.size()) {
    return true;
  }
  if (text[pos] == 'Z') {
    ++pos;
    out.tz_offset_minutes = 0;
    return true;
  }
  if (text[pos] != '+' && text[pos] != '-') {
    return false;
  }
  int sign = text[pos] == '-' ? -1 : 1;
  ++pos;
  auto hours = Digits(text, pos, 2);
  if (!hours || pos >= text.size() || text[pos] != ':') {
    return false;
  }
  ++pos;
  auto minutes = Digits(text, pos, 2);
  if (!minutes || *hours > 14 || *minutes > 59) {
    return false;
  }
  out.tz_offset_minutes = sign * (*hours * 60 + *minutes);
  return true;
}

std::string Pad(int value, int width) {
  std::string text = std::to_string(value);
  if (static_cast<int>(text.size()) < width) {
    text.insert(0, static_cast<std::size_t>(width) - text.size(), '0');
  }
  return text;
}

std::string FormatTime(const DateTime& t) {
  std::string out = Pad(t.hour, 2);
  if (t.precision >= Precision::kMinute) {
    out += ":" + Pad(t.minute, 2);
  }
  if (t.precision >= Precision::kSecond) {
    out += ":" + Pad(t.second, 2);
  }
  if (t.precision >= Precision::kMillisecond) {
    out += "." + Pad(t.millisecond, 3);
  }
  return out;
}

std::string FormatDate(const DateTime& d) {
  std::string out = Pad(d.year, 4);
  if (d.precision >= Precision::kMonth) {
    out += "-" + Pad(d.month, 2);
  }
  if (d.precision >= Precision::kDay) {
    out += "-" + Pad(d.day, 2);
  }
  return out;
}

std::string FormatZone(const DateTime& d) {
  if (!d.tz_offset_minutes) {
    return {};
  }
  int offset = *d.tz_offset_minutes;
  if (offset == 0) {
    return "Z";
  }
  std::string sign = offset < 0 ? "-" : "+";
  offset = std::abs(offset);
  return sign + Pad(offset / 60, 2) + ":" + Pad(offset % 60, 2);
}

}  // namespace

std::string FormatDecimal(double value, int decimals) {
  char buffer[64];
  if (decimals >= 0 && decimals <= 17) {
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
  }
  // Shortest text that reads back as the same double, without an exponent for usual magnitudes.
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    if (std::strtod(buffer, nullptr) == value) {
      break;
    }
  }
  std::string text = buffer;
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') {
      text.pop_back();
    }
    if (text.back() == '.') {
      text.pop_back();
    }
  }
  return text;
}

Value Value::Node(const rapidjson::Value* node, std::string_view type_name, std::string_view name,
                  const rapidjson::Value* extension) {
  Value v;
  v.kind_ = Kind::kNode;
  v.node_ = node;
  v.type_name_ = type_name;
  v.name_ = name;
  v.extension_ = extension;
  return v;
}

Value Value::OwnedNode(std::shared_ptr<const rapidjson::Document> owner,
                       std::string_view type_name) {
  Value v;
  v.kind_ = Kind::kNode;
  v.node_ = owner.get();
  v.type_name_ = type_name;
  v.owner_ = std::move(owner);
  return v;
}

Value Value::Boolean(bool value) {
  Value v;
  v.kind_ = Kind::kBoolean;
  v.data_ = value;
  return v;
}

Value Value::String(std::string value) {
  Value v;
  v.kind_ = Kind::kString;
  v.data_ = std::move(value);
  return v;
}

Value Value::Integer(std::int64_t value) {
  Value v;
  v.kind_ = Kind::kInteger;
  v.data_ = value;
  return v;
}

Value Value::Decimal(double value, int decimals) {
  Value v;
  v.kind_ = Kind::kDecimal;
  v.data_ = value;
  v.decimals_ = decimals;
  return v;
}

Value Value::Date(const DateTime& value) {
  Value v;
  v.kind_ = Kind::kDate;
  v.data_ = value;
  return v;
}

Value Value::DateTimeValue(const DateTime& value) {
  Value v;
  v.kind_ = Kind::kDateTime;
  v.data_ = value;
  return v;
}

Value Value::Time(const DateTime& value) {
  Value v;
  v.kind_ = Kind::kTime;
  v.data_ = value;
  return v;
}

Value Value::QuantityValue(tb::fhirpath::Quantity value) {
  Value v;
  v.kind_ = Kind::kQuantity;
  v.decimals_ = value.decimals;
  v.data_ = std::move(value);
  return v;
}

std::string_view Value::type_name() const {
  switch (kind_) {
    case Kind::kNode:
      if (type_name_.empty() && node_ != nullptr && node_->IsObject()) {
        auto it = node_->FindMember("resourceType");
        if (it != node_->MemberEnd() && it->value.IsString()) {
          return {it->value.GetString(), it->value.GetStringLength()};
        }
      }
      return type_name_;
    case Kind::kBoolean:
      return "Boolean";
    case Kind::kString:
      return "String";
    case Kind::kInteger:
      return "Integer";
    case Kind::kDecimal:
      return "Decimal";
    case Kind::kDate:
      return "Date";
    case Kind::kDateTime:
      return "DateTime";
    case Kind::kTime:
      return "Time";
    case Kind::kQuantity:
      return "Quantity";
  }
  return {};
}

bool Value::boolean() const {
  const bool* v = std::get_if<bool>(&data_);
  return v != nullptr && *v;
}

const std::string& Value::string() const {
  const std::string* v = std::get_if<std::string>(&data_);
  return v != nullptr ? *v : kEmptyString;
}

std::int64_t Value::integer() const {
  const std::int64_t* v = std::get_if<std::int64_t>(&data_);
  return v != nullptr ? *v : 0;
}

double Value::decimal() const {
  const double* v = std::get_if<double>(&data_);
  return v != nullptr ? *v : 0;
}

const DateTime& Value::date_time() const {
  const DateTime* v = std::get_if<DateTime>(&data_);
  return v != nullptr ? *v : kEmptyDateTime;
}

const Quantity& Value::quantity() const {
  const tb::fhirpath::Quantity* v = std::get_if<tb::fhirpath::Quantity>(&data_);
  return v != nullptr ? *v : kEmptyQuantity;
}

namespace {

// Digits after the decimal point in a JSON number's source form cannot be recovered from a
// double; RapidJSON keeps no text. The shortest round-trip form is used instead.
std::optional<Value> NumberToSystem(const rapidjson::Value& node, std::string_view type) {
  bool decimal_type = type == "decimal";
  if (!decimal_type && (node.IsInt64() || node.IsUint64())) {
    if (node.IsInt64()) {
      return Value::Integer(node.GetInt64());
    }
    return Value::Decimal(static_cast<double>(node.GetUint64()));
  }
  return Value::Decimal(node.GetDouble());
}

std::optional<Value> StringToSystem(std::string_view text, std::string_view type) {
  if (type == "date" || type == "dateTime" || type == "instant") {
    if (auto parsed = ParseDateTime(text)) {
      if (type == "date") {
        if (parsed->precision > Precision::kDay) {
          return Value::String(std::string(text));  // not a valid date: keep the text
        }
        return Value::Date(*parsed);
      }
      return Value::DateTimeValue(*parsed);  // dateTime "2001-05-06" is a DateTime to the day
    }
  } else if (type == "time") {
    if (auto parsed = ParseTime(text)) {
      return Value::Time(*parsed);
    }
  }
  return Value::String(std::string(text));
}

}  // namespace

std::optional<Value> Value::ToSystem() const {
  if (kind_ != Kind::kNode) {
    return *this;
  }
  if (node_ == nullptr) {
    return std::nullopt;
  }
  std::string_view type = type_name();
  if (node_->IsString()) {
    return StringToSystem({node_->GetString(), node_->GetStringLength()}, type);
  }
  if (node_->IsBool()) {
    return Boolean(node_->GetBool());
  }
  if (node_->IsNumber()) {
    return NumberToSystem(*node_, type);
  }
  if (node_->IsObject()) {
    bool quantity_type = type == "Quantity" || type == "Age" || type == "Duration" ||
                         type == "Distance" || type == "Count" || type == "SimpleQuantity" ||
                         type == "MoneyQuantity";
    auto value = node_->FindMember("value");
    if (quantity_type && value != node_->MemberEnd() && value->value.IsNumber()) {
      tb::fhirpath::Quantity q;
      q.value = value->value.GetDouble();
      q.decimals = -1;
      auto code = node_->FindMember("code");
      auto unit = node_->FindMember("unit");
      if (code != node_->MemberEnd() && code->value.IsString()) {
        q.unit = code->value.GetString();
      } else if (unit != node_->MemberEnd() && unit->value.IsString()) {
        q.unit = unit->value.GetString();
      } else {
        q.unit = "1";
      }
      return QuantityValue(std::move(q));
    }
  }
  return std::nullopt;
}

std::string ToString(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kNode: {
      if (auto system = value.ToSystem(); system && !system->is_node()) {
        if (system->kind() == Value::Kind::kQuantity && value.node() != nullptr &&
            value.node()->IsObject()) {
          // A FHIR Quantity node prints as its value and unit.
          return ToString(*system);
        }
        return ToString(*system);
      }
      if (value.node() == nullptr) {
        return {};
      }
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      value.node()->Accept(writer);
      return {buffer.GetString(), buffer.GetSize()};
    }
    case Value::Kind::kBoolean:
      return value.boolean() ? "true" : "false";
    case Value::Kind::kString:
      return value.string();
    case Value::Kind::kInteger:
      return std::to_string(value.integer());
    case Value::Kind::kDecimal:
      return FormatDecimal(value.decimal(), value.decimals());
    case Value::Kind::kDate:
      return FormatDate(value.date_time());
    case Value::Kind::kDateTime: {
      const DateTime& d = value.date_time();
      std::string out = FormatDate(d);
      if (d.precision >= Precision::kHour) {
        out += "T" + FormatTime(d);
      }
      return out + FormatZone(d);
    }
    case Value::Kind::kTime:
      return FormatTime(value.date_time());
    case Value::Kind::kQuantity: {
      const Quantity& q = value.quantity();
      static constexpr std::string_view kCalendar[] = {
          "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
          "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
      for (std::string_view word : kCalendar) {
        if (q.unit == word) {
          return FormatDecimal(q.value, q.decimals) + " " + q.unit;  // 1 week, not 1 'week'
        }
      }
      return FormatDecimal(q.value, q.decimals) + " '" + q.unit + "'";
    }
  }
  return {};
}

std::string ToString(const Collection& collection) {
  std::string out;
  for (std::size_t i = 0; i < collection.size(); ++i) {
    if (i > 0) {
      out += ", ";
    }
    out += ToString(collection[i]);
  }
  return out;
}

std::optional<DateTime> ParseDateTime(std::string_view text) {
  DateTime out;
  std::size_t pos = 0;
  auto year = Digits(text, pos, 4);
  if (!year) {
    return std::nullopt;
  }
  out.year = *year;
  out.precision = Precision::kYear;
  if (pos < text.size() && text[pos] == '-') {
    ++pos;
    auto month = Digits(text, pos, 2);
    if (!month || *month < 1 || *month > 12) {
      return std::nullopt;
    }
    out.month = *month;
    out.precision = Precision::kMonth;
    if (pos < text.size() && text[pos] == '-') {
      ++pos;
      auto day = Digits(text, pos, 2);
      if (!day || *day < 1 || *day > 31) {
        return std::nullopt;
      }
      out.day = *day;
      out.precision = Precision::kDay;
    }
  }
  if (pos < text.size() && text[pos] == 'T') {
    ++pos;
    if (pos < text.size() && out.precision == Precision::kDay) {
      if (!ParseTimePart(text, pos, out)) {
        return std::nullopt;
      }
    } else if (pos < text.size()) {
      return std::nullopt;
    }
    // "2015T" / "2015-02-04T" name a DateTime with no time part; the caller checks for 'T'.
  }
  if (!ParseZone(text, pos, out) || pos != text.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<DateTime> ParseTime(std::string_view text) {
  DateTime out;
  std::size_t pos = 0;
  if (!ParseTimePart(text, pos, out) || pos != text.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace tb::fhirpath
