#pragma once

#include "adapters/fhir/fhirpath/ast.h"
#include "broker/core/result.h"

// Errors an expression has whatever data it meets (what the FHIRPath suite calls "semantic"
// errors), found once at compile time rather than only when the data happens to reach them:
//
// - an element the type cast to does not have: `(Observation.value as Period).unit` (a Period
//   has no unit), also after ofType(T) and as(T). Only concrete FHIR complex types and resources
//   are checked; the model's other answers ("unknown type", primitives, abstract bases such as
//   Resource) let the expression through, and navigation checks the data at run time as ever.
// - picking items by position (first last tail skip take [n]) straight from children() or
//   descendants(), whose order FHIRPath leaves undefined: `Patient.children().skip(1)` would
//   differ between implementations.
//
// Errors: kInvalidValue, location "offset N" of the offending name.
namespace tb::fhirpath::detail {

core::Status CheckSemantics(const Node& root);

}  // namespace tb::fhirpath::detail
