#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

// FHIRPath values: one item of a collection. An item is either a node of a FHIR JSON document
// (borrowed, never copied) or a computed System value (Boolean, String, Integer, Decimal, Date,
// DateTime, Time, Quantity).
//
// Ownership: a node Value points into a rapidjson document owned by the caller; it must not
// outlive that document. Computed values own their data. Values are cheap to copy (the largest
// member is a std::string). Thread-safety: a Value is a plain value.
namespace tb::fhirpath {

// How much of a date/time is known. Comparison of two values with different precisions is
// ambiguous (empty) when the common part is equal.
enum class Precision : std::uint8_t { kYear, kMonth, kDay, kHour, kMinute, kSecond, kMillisecond };

// A partial date, date-time or time. Fields beyond `precision` are zero. A Time uses only
// hour..millisecond (precision kHour..kMillisecond); a Date only year..day.
struct DateTime {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millisecond = 0;
  Precision precision = Precision::kYear;
  // Offset from UTC in minutes (Z = 0); nullopt when the text gave none (local time).
  std::optional<int> tz_offset_minutes;
};

// A Quantity: a decimal value and a unit. UCUM units are kept as written ('mg'); calendar
// durations as keywords (year, month, week, day, hour, minute, second, millisecond). `decimals`
// is the number of digits after the point that the value was written with (for ToString).
struct Quantity {
  double value = 0;
  int decimals = 0;
  std::string unit;
};

class Value {
 public:
  enum class Kind : std::uint8_t {
    kNode,  // a JSON node (object, array element or primitive), see node()
    kBoolean,
    kString,
    kInteger,
    kDecimal,
    kDate,
    kDateTime,
    kTime,
    kQuantity,
  };

  // A JSON node. `type_name` is its FHIR type when known ("Patient", "Quantity", "date",
  // "string"; a resource's resourceType is found by itself), `name` the element name it was
  // reached by (for messages and trace), `extension` the `_name` sibling of a primitive
  // (carrying id/extension), or nullptr. `node` may be nullptr when only `_name` exists.
  // The string_views must live as long as the document (names from the document or literals).
  static Value Node(const rapidjson::Value* node, std::string_view type_name = {},
                    std::string_view name = {}, const rapidjson::Value* extension = nullptr);
  // A node of a document built during evaluation (type(), resolve() results ...): the Value
  // shares ownership of `owner`, so the node stays valid as long as any copy of the Value.
  static Value OwnedNode(std::shared_ptr<const rapidjson::Document> owner,
                         std::string_view type_name = {});
  static Value Boolean(bool value);
  static Value String(std::string value);
  static Value Integer(std::int64_t value);
  // `decimals`: digits after the point as written (1.50 -> 2); -1 = shortest form that round-trips.
  static Value Decimal(double value, int decimals = -1);
  static Value Date(const DateTime& value);
  static Value DateTimeValue(const DateTime& value);
  static Value Time(const DateTime& value);
  static Value QuantityValue(Quantity value);

  Kind kind() const { return kind_; }
  bool is_node() const { return kind_ == Kind::kNode; }

  // The JSON node (nullptr for computed values, or for a primitive that has only `_name`).
  const rapidjson::Value* node() const { return node_; }
  // The `_name` sibling of a primitive node (id / extension), or nullptr.
  const rapidjson::Value* extension_node() const { return extension_; }
  // The FHIR type of a node when known ("" otherwise): an object's resourceType, the type of a
  // choice element (valueQuantity -> "Quantity") or from the small built-in model. For System
  // values, the System type name ("Boolean", "String", ...).
  std::string_view type_name() const;
  // The element name a node was reached by ("" for roots and computed values).
  std::string_view name() const { return name_; }
  // True for a node of a document built during evaluation (OwnedNode).
  bool owns_document() const { return owner_ != nullptr; }
  // Makes this node share `parent`'s document: a child reached from an OwnedNode must keep that
  // document alive after the parent Value is gone (type().name).
  void ShareDocumentOf(const Value& parent) { owner_ = parent.owner_; }

  // The System value of this item: computed values as they are; primitive nodes converted from
  // JSON (string -> String, or Date/DateTime/Time when the FHIR type says so; integral number ->
  // Integer; other number -> Decimal; true/false -> Boolean; a Quantity object -> Quantity).
  // nullopt for complex nodes (objects that are not Quantities) and arrays.
  std::optional<Value> ToSystem() const;

  // Accessors, valid for the matching Kind only (others return a default).
  bool boolean() const;
  const std::string& string() const;
  std::int64_t integer() const;
  double decimal() const;
  int decimals() const { return decimals_; }
  const DateTime& date_time() const;  // kDate, kDateTime, kTime
  const tb::fhirpath::Quantity& quantity() const;

 private:
  Value() = default;

  Kind kind_ = Kind::kNode;
  const rapidjson::Value* node_ = nullptr;
  const rapidjson::Value* extension_ = nullptr;
  std::string_view type_name_;
  std::string_view name_;
  std::shared_ptr<const rapidjson::Document> owner_;
  int decimals_ = -1;
  std::variant<std::monostate, bool, std::string, std::int64_t, double, DateTime,
               tb::fhirpath::Quantity>
      data_;
};

using Collection = std::vector<Value>;

// The FHIRPath string form of one item: what toString() gives ("true", "1.50", "2020-01-01",
// "T12:00" is written "12:00", "5 'mg'"); a complex node gives its compact JSON. Used for
// ${var} substitution and messages.
std::string ToString(const Value& value);
// A decimal as text: `decimals` digits after the point, or the shortest form that reads back as
// the same double when `decimals` < 0 (1.5, 0.1, 3).
std::string FormatDecimal(double value, int decimals = -1);
// Items joined by ", " (an empty collection gives "").
std::string ToString(const Collection& collection);

// Parses FHIR/FHIRPath date and time text without the leading '@' or 'T' marker:
// "2020", "2020-01", "2020-01-01", "2020-01-01T10:00:00.123+01:00" and "10:00[:00[.000]]".
// nullopt when it is not one.
std::optional<DateTime> ParseDateTime(std::string_view text);
std::optional<DateTime> ParseTime(std::string_view text);

}  // namespace tb::fhirpath
