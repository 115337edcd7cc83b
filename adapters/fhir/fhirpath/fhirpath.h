#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/fhirpath/value.h"
#include "broker/core/result.h"

// FHIRPath (R4, normative N1) over FHIR JSON documents held in RapidJSON.
//
//   auto expr = fhirpath::Expression::Compile("Patient.name.where(use = 'official').given");
//   auto given = fhirpath::Evaluate(*expr, patient_json);          // Result<Collection>
//   bool ok = *fhirpath::EvaluateBoolean("birthDate < @2000", patient_json);
//
// Errors are values: a syntax error gives kInvalidValue at "offset N" (kTooLarge beyond
// kMaxExpressionBytes); evaluation errors (a
// singleton expected but several items, an unknown function, wrong argument types) give
// kInvalidValue with the function or operator in the message. Nothing throws. Expressions nested
// deeper than kMaxNesting and evaluations recursing deeper than kMaxEvalDepth are refused, so a
// hostile expression cannot exhaust the stack. Messages never contain document values.
namespace tb::fhirpath {

inline constexpr std::size_t kMaxExpressionBytes = 64 * 1024;  // longer -> kTooLarge
inline constexpr int kMaxNesting = 100;
inline constexpr int kMaxEvalDepth = 1000;

namespace detail {
struct Node;
}

// A compiled expression. Compile once, evaluate many times; evaluating is const and thread-safe
// (the syntax tree is immutable and shared between copies).
class Expression {
 public:
  // Syntax error -> kInvalidValue, location "offset N" (byte offset in `text`).
  static core::Result<Expression> Compile(std::string_view text);

  const std::string& text() const { return text_; }
  const detail::Node& root() const { return *root_; }

 private:
  Expression(std::string text, std::shared_ptr<const detail::Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}

  std::string text_;
  std::shared_ptr<const detail::Node> root_;
};

// What an expression can see besides its context.
struct Environment {
  // %resource (and %rootResource): the resource that holds the context. nullptr -> the context.
  const rapidjson::Value* resource = nullptr;
  // %rootResource when different from %resource (a contained resource's container). nullptr ->
  // %resource.
  const rapidjson::Value* root_resource = nullptr;
  // %name -> value. Built-in %ucum, %sct, %loinc, %context, %resource cannot be overridden.
  std::map<std::string, Collection, std::less<>> variables;
  // trace(name[, projection]) sends its collection here; ignored when empty. Beware: the
  // collection may hold clinical data, so never log it at info level.
  std::function<void(std::string_view name, const Collection& collection)> trace;
};

// Evaluates against `context` (also %context; %resource defaults to it). The result borrows
// from `context` and from the environment's documents.
core::Result<Collection> Evaluate(const Expression& expression, const rapidjson::Value& context,
                                  const Environment& environment = {});
// Compiles and evaluates (a syntax error is returned as from Compile).
core::Result<Collection> Evaluate(std::string_view expression, const rapidjson::Value& context,
                                  const Environment& environment = {});

// Evaluates and applies the FHIRPath singleton-boolean rule: empty -> false; one Boolean -> it;
// one other item -> true; several items -> kInvalidValue.
core::Result<bool> EvaluateBoolean(const Expression& expression, const rapidjson::Value& context,
                                   const Environment& environment = {});
core::Result<bool> EvaluateBoolean(std::string_view expression, const rapidjson::Value& context,
                                   const Environment& environment = {});

}  // namespace tb::fhirpath
