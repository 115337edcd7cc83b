// Math functions (spec 5.7): one numeric focus; results that are not real numbers (sqrt(-1),
// ln(0)) are empty rather than NaN or infinity.
#include <cmath>
#include <string>

#include "adapters/fhir/fhirpath/function_call.h"

namespace tb::fhirpath::detail {
namespace {

using Kind = Value::Kind;

core::Result<std::optional<Value>> FocusNumber(const Call& c) {
  auto single = c.FocusSingle();
  if (!single) {
    return single.error();
  }
  if (!*single) {
    return single;
  }
  Kind kind = (*single)->kind();
  if (kind != Kind::kInteger && kind != Kind::kDecimal &&
      !(kind == Kind::kQuantity && c.node.name == "abs")) {
    return EvalError(c.node.name + "() expects a number");
  }
  return single;
}

double AsDouble(const Value& v) {
  return v.kind() == Kind::kInteger ? static_cast<double>(v.integer()) : v.decimal();
}

Collection DecimalResult(double value) {
  if (!std::isfinite(value)) {
    return {};
  }
  return One(Value::Decimal(value));
}

core::Result<Collection> FnAbs(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  const Value& v = **n;
  if (v.kind() == Kind::kInteger) {
    return One(Value::Integer(v.integer() < 0 ? -v.integer() : v.integer()));
  }
  if (v.kind() == Kind::kQuantity) {
    Quantity q = v.quantity();
    q.value = std::fabs(q.value);
    return One(Value::QuantityValue(std::move(q)));
  }
  return One(Value::Decimal(std::fabs(v.decimal()), v.decimals()));
}

// ceiling floor truncate: an Integer result.
template <double (*Op)(double)>
core::Result<Collection> ToWhole(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  return One(Value::Integer(static_cast<std::int64_t>(Op(AsDouble(**n)))));
}

// exp ln sqrt: a Decimal result.
template <double (*Op)(double)>
core::Result<Collection> Unary(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  return DecimalResult(Op(AsDouble(**n)));  // NaN and infinities become empty
}

core::Result<Collection> FnLog(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  auto base = c.ArgSingle(0);
  if (!base) {
    return base.error();
  }
  if (!*base) {
    return Collection{};
  }
  double x = AsDouble(**n);
  double b = AsDouble(**base);
  if (x <= 0 || b <= 0 || b == 1) {
    return Collection{};
  }
  return DecimalResult(std::log(x) / std::log(b));
}

core::Result<Collection> FnPower(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  auto exponent = c.ArgSingle(0);
  if (!exponent) {
    return exponent.error();
  }
  if (!*exponent) {
    return Collection{};
  }
  double x = AsDouble(**n);
  double y = AsDouble(**exponent);
  double r = std::pow(x, y);
  if (!std::isfinite(r)) {
    return Collection{};
  }
  if ((*n)->kind() == Kind::kInteger && (*exponent)->kind() == Kind::kInteger && y >= 0) {
    return One(Value::Integer(static_cast<std::int64_t>(r)));
  }
  return DecimalResult(r);
}

core::Result<Collection> FnRound(const Call& c) {
  auto n = FocusNumber(c);
  if (!n || !*n) {
    return n ? Collection{} : core::Result<Collection>(n.error());
  }
  std::int64_t precision = 0;
  if (c.arg_count() > 0) {
    auto p = c.ArgInteger(0);
    if (!p) {
      return p.error();
    }
    if (*p) {
      precision = **p;
    }
  }
  if (precision < 0 || precision > 15) {
    return EvalError("round() precision must be 0..15");
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double r = std::round(AsDouble(**n) * scale) / scale;
  return One(Value::Decimal(r, static_cast<int>(precision)));
}

double Truncate(double x) { return std::trunc(x); }
double Ceiling(double x) { return std::ceil(x); }
double Floor(double x) { return std::floor(x); }
double Exp(double x) { return std::exp(x); }
double Ln(double x) { return std::log(x); }
double Sqrt(double x) { return std::sqrt(x); }

}  // namespace

void AddMathFunctions(FunctionTable& table) {
  table.insert({
      {"abs", {FnAbs, 0, 0}},
      {"ceiling", {ToWhole<Ceiling>, 0, 0}},
      {"floor", {ToWhole<Floor>, 0, 0}},
      {"truncate", {ToWhole<Truncate>, 0, 0}},
      {"exp", {Unary<Exp>, 0, 0}},
      {"ln", {Unary<Ln>, 0, 0}},
      {"sqrt", {Unary<Sqrt>, 0, 0}},
      {"log", {FnLog, 1, 1}},
      {"power", {FnPower, 1, 1}},
      {"round", {FnRound, 0, 1}},
  });
}

}  // namespace tb::fhirpath::detail
