#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/fhirpath/ast.h"
#include "adapters/fhir/fhirpath/fhirpath.h"
#include "adapters/fhir/fhirpath/value.h"
#include "broker/core/result.h"

// The tree-walking evaluator shared by evaluator.cpp (expressions, operators, navigation) and
// functions.cpp (the function library). One Evaluator serves one Evaluate() call.
namespace tb::fhirpath::detail {

// What $this, $index and $total mean inside a function argument.
struct Frame {
  const Value* this_item = nullptr;
  std::int64_t index = 0;
  const Collection* total = nullptr;
};

class Evaluator {
 public:
  Evaluator(const Environment& environment, const rapidjson::Value& context)
      : environment_(environment), context_(context) {}

  // Evaluates `node` with `input` as its focus. `depth` counts nested evaluations.
  core::Result<Collection> Eval(const Node& node, const Collection& input, const Frame& frame,
                                int depth) const;

  // Evaluates `argument` once per item of `focus` with $this = the item and $index = its index.
  // Used by where, select, all, exists(criteria), repeat, sort ...
  core::Result<Collection> EvalFor(const Node& argument, const Value& item, std::int64_t index,
                                   int depth, const Collection* total = nullptr) const;

  // The function library (functions.cpp). `focus` is the evaluated collection the function is
  // invoked on; `call.children[1..]` are its unevaluated arguments.
  core::Result<Collection> CallFunction(const Node& call, const Collection& focus,
                                        const Collection& input, const Frame& frame,
                                        int depth) const;

  // Child elements named `name` of `item` (choice elements included: value -> valueQuantity).
  core::Result<Collection> Children(const Value& item, std::string_view name) const;
  // All child elements of `item`, in document order.
  Collection AllChildren(const Value& item) const;

  const Environment& environment() const { return environment_; }
  const rapidjson::Value& context() const { return context_; }
  const rapidjson::Value& resource() const {
    return environment_.resource != nullptr ? *environment_.resource : context_;
  }
  const rapidjson::Value& root_resource() const {
    return environment_.root_resource != nullptr ? *environment_.root_resource : resource();
  }

 private:
  core::Result<Collection> EvalBinary(const Node& node, const Collection& input, const Frame& frame,
                                      int depth) const;
  core::Result<Collection> EvalVariable(const Node& node) const;

  const Environment& environment_;
  const rapidjson::Value& context_;
};

core::Error EvalError(std::string message);

// A name the FHIR model allows on no item of `focus` (name.given1, or valueQuantity, which
// FHIRPath spells value.ofType(Quantity)) is an error, as the specification asks of a typed
// engine, rather than a silent empty result. Items of unknown type allow anything. `found`: the
// document had such members anyway (then only a choice form is refused).
core::Status CheckElementName(const Collection& focus, std::string_view name, bool found);

// The singleton-boolean rule for operands of and/or/not/iif/where: empty -> nullopt, one
// Boolean -> it, one other item -> true; several items -> error.
core::Result<std::optional<bool>> ToBoolean(const Collection& collection, std::string_view what);

// The one item of `collection` as a System value; nullopt when empty; error when several.
core::Result<std::optional<Value>> Singleton(const Collection& collection, std::string_view what);

// True when `value` is of the type named by `type_spec` ("Quantity", "FHIR.Patient",
// "System.String"). `exact` (as/ofType) does not accept subtypes of FHIR primitives. A name that
// is neither a System nor a FHIR type is an error.
core::Result<bool> IsOfType(const Value& value, std::string_view type_spec, bool exact);

// The type name written as a function argument (ofType(FHIR.Patient)), from its syntax tree.
std::optional<std::string> TypeSpecifier(const Node& argument);

// Arithmetic operators (+ - * / div mod &) on two evaluated operands (arithmetic.cpp).
core::Result<Collection> Arithmetic(std::string_view op, const Collection& left,
                                    const Collection& right);

// Adds `sign` times `amount` to a Date/DateTime/Time (calendar arithmetic). Errors for units that
// are not durations (or 'a'/'mo', whose length is not fixed).
core::Result<Value> AddDuration(const Value& date, const Quantity& amount, int sign);

}  // namespace tb::fhirpath::detail
