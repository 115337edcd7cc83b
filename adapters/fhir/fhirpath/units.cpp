#include "adapters/fhir/fhirpath/units.h"

#include <cctype>
#include <cmath>
#include <string>

namespace tb::fhirpath::detail {
namespace {

constexpr std::size_t kMaxUnitBytes = 256;
constexpr int kMaxParentheses = 8;
constexpr int kMaxExponent = 100;  // |exponent| of any dimension after combining

using Exponents = std::array<int, static_cast<std::size_t>(Dimension::kCount)>;

// A unit while it is being read: exponents kept as int so overflow can be checked at the end.
struct Partial {
  double factor = 1;
  Exponents exponents{};
};

struct Atom {
  std::string_view symbol;
  bool metric;  // takes a prefix
  double factor;
  // Exponents of length, mass, time, amount, equivalents, international, a, mo, year, month.
  Exponents exponents;
};

// In base units m, g, s, mol. Factors of derived units follow UCUM's definitions.
constexpr Atom kAtoms[] = {
    {"m", true, 1, {1}},
    {"g", true, 1, {0, 1}},
    {"s", true, 1, {0, 0, 1}},
    {"L", true, 1e-3, {3}},
    {"l", true, 1e-3, {3}},
    {"mol", true, 1, {0, 0, 0, 1}},
    {"eq", true, 1, {0, 0, 0, 0, 1}},
    {"U", true, 1e-6 / 60, {0, 0, -1, 1}},  // umol/min
    {"[iU]", true, 1, {0, 0, 0, 0, 0, 1}},
    {"[IU]", true, 1, {0, 0, 0, 0, 0, 1}},
    {"Hz", true, 1, {0, 0, -1}},
    {"N", true, 1e3, {1, 1, -2}},            // kg.m/s2
    {"Pa", true, 1e3, {-1, 1, -2}},          // N/m2
    {"J", true, 1e3, {2, 1, -2}},            // N.m
    {"W", true, 1e3, {2, 1, -3}},            // J/s
    {"bar", true, 1e8, {-1, 1, -2}},         // 1e5 Pa
    {"m[Hg]", true, 133322e3, {-1, 1, -2}},  // 133.322 kPa
    {"%", false, 1e-2, {}},
    {"min", false, 60, {0, 0, 1}},
    {"h", false, 3600, {0, 0, 1}},
    {"d", false, 86400, {0, 0, 1}},
    {"wk", false, 604800, {0, 0, 1}},
    {"a", false, 1, {0, 0, 0, 0, 0, 0, 1}},
    {"mo", false, 1, {0, 0, 0, 0, 0, 0, 0, 1}},
    {"[in_i]", false, 0.0254, {1}},
    {"[ft_i]", false, 0.3048, {1}},
    {"[lb_av]", false, 453.59237, {0, 1}},
    {"[oz_av]", false, 28.349523125, {0, 1}},
};

// FHIRPath calendar duration keywords (spec 5.6.4 / 6.3): only year and month have no fixed
// length; week .. millisecond equal their UCUM counterparts.
constexpr Atom kCalendarWords[] = {
    {"year", false, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {"years", false, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {"month", false, 1, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {"months", false, 1, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {"week", false, 604800, {0, 0, 1}},
    {"weeks", false, 604800, {0, 0, 1}},
    {"day", false, 86400, {0, 0, 1}},
    {"days", false, 86400, {0, 0, 1}},
    {"hour", false, 3600, {0, 0, 1}},
    {"hours", false, 3600, {0, 0, 1}},
    {"minute", false, 60, {0, 0, 1}},
    {"minutes", false, 60, {0, 0, 1}},
    {"second", false, 1, {0, 0, 1}},
    {"seconds", false, 1, {0, 0, 1}},
    {"millisecond", false, 1e-3, {0, 0, 1}},
    {"milliseconds", false, 1e-3, {0, 0, 1}},
};

struct Prefix {
  std::string_view symbol;
  double factor;
};

// "da" first so it is not read as deci + a.
constexpr Prefix kPrefixes[] = {
    {"da", 1e1}, {"Y", 1e24},  {"Z", 1e21},  {"E", 1e18},  {"P", 1e15},  {"T", 1e12},  {"G", 1e9},
    {"M", 1e6},  {"k", 1e3},   {"h", 1e2},   {"d", 1e-1},  {"c", 1e-2},  {"m", 1e-3},  {"u", 1e-6},
    {"n", 1e-9}, {"p", 1e-12}, {"f", 1e-15}, {"a", 1e-18}, {"z", 1e-21}, {"y", 1e-24},
};

const Atom* FindAtom(std::string_view symbol) {
  for (const Atom& atom : kAtoms) {
    if (atom.symbol == symbol) {
      return &atom;
    }
  }
  return nullptr;
}

// Multiplies `into` by `unit` raised to `power`.
void Combine(Partial& into, const Partial& unit, int power) {
  into.factor *= std::pow(unit.factor, power);
  for (std::size_t i = 0; i < into.exponents.size(); ++i) {
    into.exponents[i] += unit.exponents[i] * power;
  }
}

// A signed integer at the end of a symbol ("m2", "s-1"); the symbol is shortened to what
// precedes it. 1 when there is none.
std::optional<int> TakeExponent(std::string_view& symbol) {
  std::size_t start = symbol.size();
  while (start > 0 && std::isdigit(static_cast<unsigned char>(symbol[start - 1])) != 0) {
    --start;
  }
  if (start == symbol.size()) {
    return 1;
  }
  std::string_view digits = symbol.substr(start);
  if (digits.size() > 2) {
    return std::nullopt;
  }
  int exponent = std::stoi(std::string(digits));
  if (start > 0 && (symbol[start - 1] == '-' || symbol[start - 1] == '+')) {
    exponent = symbol[start - 1] == '-' ? -exponent : exponent;
    --start;
  }
  symbol = symbol.substr(0, start);
  return exponent;
}

// A simple unit: an integer factor ("10*3", "1000") or a prefixed atom with an exponent.
std::optional<Partial> ReadSimple(std::string_view symbol) {
  Partial unit;
  if (std::isdigit(static_cast<unsigned char>(symbol.front())) != 0) {
    std::size_t end = 0;
    while (end < symbol.size() && std::isdigit(static_cast<unsigned char>(symbol[end])) != 0) {
      ++end;
    }
    if (end > 9) {
      return std::nullopt;
    }
    const double base = std::stod(std::string(symbol.substr(0, end)));
    std::string_view rest = symbol.substr(end);
    if (rest.empty()) {
      unit.factor = base;
      return unit;
    }
    if (rest.front() != '*' && rest.front() != '^') {
      return std::nullopt;
    }
    rest.remove_prefix(1);
    std::string_view exponent_text = rest;
    auto exponent = TakeExponent(exponent_text);
    if (!exponent || !exponent_text.empty() || rest.empty()) {
      return std::nullopt;
    }
    unit.factor = std::pow(base, *exponent);
    return unit;
  }
  auto exponent = TakeExponent(symbol);
  if (!exponent || symbol.empty()) {
    return std::nullopt;
  }
  Partial atom_unit;
  if (const Atom* atom = FindAtom(symbol)) {
    atom_unit.factor = atom->factor;
    atom_unit.exponents = atom->exponents;
  } else {
    bool found = false;
    for (const Prefix& prefix : kPrefixes) {
      if (symbol.size() <= prefix.symbol.size() ||
          symbol.substr(0, prefix.symbol.size()) != prefix.symbol) {
        continue;
      }
      const Atom* prefixed = FindAtom(symbol.substr(prefix.symbol.size()));
      if (prefixed != nullptr && prefixed->metric) {
        atom_unit.factor = prefix.factor * prefixed->factor;
        atom_unit.exponents = prefixed->exponents;
        found = true;
        break;
      }
    }
    if (!found) {
      return std::nullopt;
    }
  }
  Combine(unit, atom_unit, *exponent);
  return unit;
}

class UnitReader {
 public:
  explicit UnitReader(std::string_view text) : text_(text) {}

  std::optional<Partial> ReadAll() {
    auto unit = ReadTerm(0);
    if (!unit || pos_ != text_.size()) {
      return std::nullopt;
    }
    return unit;
  }

 private:
  // term := ['/'] component (('.' | '/') component)*
  std::optional<Partial> ReadTerm(int depth) {
    Partial unit;
    int power = 1;
    if (pos_ < text_.size() && text_[pos_] == '/') {
      ++pos_;
      power = -1;
    }
    while (true) {
      auto component = ReadComponent(depth);
      if (!component) {
        return std::nullopt;
      }
      Combine(unit, *component, power);
      if (pos_ >= text_.size() || (text_[pos_] != '.' && text_[pos_] != '/')) {
        return unit;
      }
      power = text_[pos_] == '/' ? -1 : 1;
      ++pos_;
    }
  }

  // component := annotation | '(' term ')' [annotation] | simple [annotation]
  std::optional<Partial> ReadComponent(int depth) {
    if (pos_ >= text_.size()) {
      return std::nullopt;
    }
    if (text_[pos_] == '{') {
      return SkipAnnotation() ? std::optional<Partial>(Partial{}) : std::nullopt;
    }
    std::optional<Partial> unit;
    if (text_[pos_] == '(') {
      if (depth >= kMaxParentheses) {
        return std::nullopt;
      }
      ++pos_;
      unit = ReadTerm(depth + 1);
      if (!unit || pos_ >= text_.size() || text_[pos_] != ')') {
        return std::nullopt;
      }
      ++pos_;
    } else {
      const std::size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != '.' && text_[pos_] != '/' &&
             text_[pos_] != '(' && text_[pos_] != ')' && text_[pos_] != '{') {
        if (text_[pos_] == '[') {  // a bracketed symbol is read whole: [in_i]
          const std::size_t close = text_.find(']', pos_);
          if (close == std::string_view::npos) {
            return std::nullopt;
          }
          pos_ = close;
        }
        ++pos_;
      }
      if (pos_ == start) {
        return std::nullopt;
      }
      unit = ReadSimple(text_.substr(start, pos_ - start));
      if (!unit) {
        return std::nullopt;
      }
    }
    if (pos_ < text_.size() && text_[pos_] == '{' && !SkipAnnotation()) {
      return std::nullopt;
    }
    return unit;
  }

  bool SkipAnnotation() {
    const std::size_t close = text_.find('}', pos_);
    if (close == std::string_view::npos) {
      return false;
    }
    pos_ = close + 1;
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

UnitMeaning FromAtom(const Atom& atom) {
  UnitMeaning meaning;
  meaning.factor = atom.factor;
  for (std::size_t i = 0; i < meaning.exponents.size(); ++i) {
    meaning.exponents[i] = static_cast<std::int8_t>(atom.exponents[i]);
  }
  return meaning;
}

}  // namespace

std::optional<UnitMeaning> ReadUnit(std::string_view unit) {
  if (unit.empty() || unit.size() > kMaxUnitBytes) {
    return std::nullopt;
  }
  for (const Atom& word : kCalendarWords) {
    if (word.symbol == unit) {
      return FromAtom(word);
    }
  }
  auto partial = UnitReader(unit).ReadAll();
  if (!partial || !std::isfinite(partial->factor) || partial->factor == 0) {
    return std::nullopt;
  }
  UnitMeaning meaning;
  meaning.factor = partial->factor;
  for (std::size_t i = 0; i < meaning.exponents.size(); ++i) {
    if (std::abs(partial->exponents[i]) > kMaxExponent) {
      return std::nullopt;
    }
    meaning.exponents[i] = static_cast<std::int8_t>(partial->exponents[i]);
  }
  return meaning;
}

}  // namespace tb::fhirpath::detail
