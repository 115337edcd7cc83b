#pragma once

#include <optional>

#include "adapters/fhir/fhirpath/value.h"
#include "broker/core/result.h"

// Equality, equivalence and ordering of FHIRPath items and collections (spec section 6.1, 6.4).
// Date/time values compare component by component down to the coarser precision; when they are
// equal that far but their precisions differ, the answer is unknown (nullopt -> empty result).
namespace tb::fhirpath::detail {

// `=` on two items: true/false, or nullopt when unknown (date/time precision).
std::optional<bool> ItemsEqual(const Value& a, const Value& b);
// `~` on two items: never unknown.
bool ItemsEquivalent(const Value& a, const Value& b);
// `=` on collections: empty when either is empty, false when sizes differ, else item by item
// in order (unknown when any pair is unknown and none is false).
std::optional<bool> CollectionsEqual(const Collection& a, const Collection& b);
// `~` on collections: both empty -> true; same size and each item of `a` equivalent to an item
// of `b`, in any order.
bool CollectionsEquivalent(const Collection& a, const Collection& b);

// Ordering for < <= > >=: -1, 0 or 1; nullopt when unknown (precision). Items of kinds that do
// not compare (a String and an Integer, two Quantities of different dimensions) ->
// kInvalidValue.
core::Result<std::optional<int>> CompareItems(const Value& a, const Value& b);

// The date/time with any time-zone offset applied (so it is in UTC), for comparison and
// arithmetic. Values without an offset are left as they are.
DateTime ToUtc(const DateTime& value);

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
long DaysFromCivil(int year, int month, int day);
void CivilFromDays(long days, int& year, int& month, int& day);
int DaysInMonth(int year, int month);

// Converts a Quantity to `unit` when both are UCUM terms or calendar keywords of the same
// dimensions (mg -> g, min -> s, 'wk' -> 'd', 'cm.m' -> 'm2', 'mg/dL' -> 'g/L'; see units.h);
// nullopt otherwise.
std::optional<double> ConvertQuantity(const Quantity& q, std::string_view unit);

}  // namespace tb::fhirpath::detail
