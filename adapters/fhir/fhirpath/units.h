#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

// What a Quantity's unit means, so Quantities convert and compare across units: 'mg' and 'g',
// 'cm.m' and 'm2', 'mg/dL' and 'g/L', 7 days and 1 'wk'.
//
// UCUM unit terms are read, not looked up: products ('.') and quotients ('/', each applying to
// the next component only, so 'mg/kg/d' is mg.kg-1.d-1), integer exponents ('m2', 's-1'),
// metric prefixes (Y .. y, 'da') on the metric atoms, parentheses, integer factors ('10*3',
// '10^3'), and annotations ('{cells}', which mean 1). The atoms are the ones clinical data uses:
// g m s L l mol eq U [iU] [IU] Hz N Pa J W bar m[Hg] % and the non-metric min h d wk a mo
// [in_i] [ft_i] [lb_av] [oz_av]; anything else is unknown (nullopt), never guessed.
// FHIRPath's calendar keywords (year(s), month(s), week(s) .. millisecond(s)) are read too.
//
// A UCUM year 'a' (365.25 days) and month 'mo' differ from calendar years and months and from
// each other, so each is a dimension of its own here: they convert only to themselves (scaled:
// 'a' and '10*3.a'). Thread-safety: pure functions.
namespace tb::fhirpath::detail {

// Exponents of the base dimensions a unit is made of.
enum class Dimension : std::uint8_t {
  kLength,
  kMass,
  kTime,
  kAmount,         // mol
  kEquivalents,    // eq
  kInternational,  // [iU]: arbitrary, never converts to anything else
  kUcumYear,       // a
  kUcumMonth,      // mo
  kCalendarYear,   // year(s)
  kCalendarMonth,  // month(s)
  kCount,
};

struct UnitMeaning {
  double factor = 1;  // how many of the base units (m, g, s, mol ...) one of this unit is
  std::array<std::int8_t, static_cast<std::size_t>(Dimension::kCount)> exponents{};
};

// The meaning of a UCUM unit term or calendar keyword; nullopt when it is not one this reader
// knows, or it is longer than 256 bytes or nested deeper than 8 parentheses.
std::optional<UnitMeaning> ReadUnit(std::string_view unit);

}  // namespace tb::fhirpath::detail
