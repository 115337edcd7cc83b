#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "adapters/fhir/fhirpath/eval.h"

// What a function of the library sees of its call, and the table the library is built from.
// functions.cpp holds existence, filtering, subsetting, combining, utility and FHIR functions;
// string_functions.cpp, conversion_functions.cpp, math_functions.cpp and
// boundary_functions.cpp add theirs.
namespace tb::fhirpath::detail {

// One function call being evaluated.
struct Call {
  const Evaluator& evaluator;
  const Node& node;         // the kFunction node: name, children[1..] = arguments
  const Collection& focus;  // what the function is invoked on
  const Collection& input;  // the enclosing scope, for arguments that are not per-item
  const Frame& frame;
  int depth;

  std::size_t arg_count() const { return node.children.size() - 1; }
  const Node& arg_node(std::size_t i) const { return *node.children[i + 1]; }

  // Evaluates argument i in the enclosing scope (once, not per item).
  core::Result<Collection> Arg(std::size_t i) const {
    return evaluator.Eval(arg_node(i), input, frame, depth + 1);
  }
  // Evaluates argument i once for `item` ($this) at `index`.
  core::Result<Collection> ArgFor(std::size_t i, const Value& item, std::int64_t index,
                                  const Collection* total = nullptr) const {
    return evaluator.EvalFor(arg_node(i), item, index, depth, total);
  }
  core::Result<std::optional<Value>> ArgSingle(std::size_t i) const;
  // Argument i as a String / Integer; nullopt when it is empty; error for another type.
  core::Result<std::optional<std::string>> ArgString(std::size_t i) const;
  core::Result<std::optional<std::int64_t>> ArgInteger(std::size_t i) const;
  // The focus as one System value; nullopt when empty; error when several items.
  core::Result<std::optional<Value>> FocusSingle() const;
  // The focus as one String; nullopt when empty; error for several items or another type.
  core::Result<std::optional<std::string>> FocusString() const;
};

using Handler = core::Result<Collection> (*)(const Call&);

struct FunctionInfo {
  Handler handler;
  std::size_t min_args;
  std::size_t max_args;
};

using FunctionTable = std::map<std::string, FunctionInfo, std::less<>>;

void AddStringFunctions(FunctionTable& table);
void AddConversionFunctions(FunctionTable& table);
void AddMathFunctions(FunctionTable& table);
void AddBoundaryFunctions(FunctionTable& table);

inline Collection One(Value v) { return Collection{std::move(v)}; }
inline Collection Bool(bool b) { return One(Value::Boolean(b)); }

}  // namespace tb::fhirpath::detail
