#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/fhirpath/value.h"
#include "broker/core/result.h"

// The FHIRPath syntax tree, built by ParseExpression and walked by the evaluator. Immutable once
// built, so one tree serves any number of concurrent evaluations.
namespace tb::fhirpath::detail {

enum class NodeKind {
  kEmpty,     // {}
  kLiteral,   // literal holds the value
  kMember,    // children[0] (or null = the input) . name
  kFunction,  // children[0] (or null = the input) . name(children[1..])
  kIndexer,   // children[0] [ children[1] ]
  kVariable,  // %name
  kThis,      // $this
  kIndex,     // $index
  kTotal,     // $total
  kUnary,     // name ("-" or "+") children[0]
  kBinary,    // children[0] name children[1]
  kTypeOp,    // children[0] is|as type_name (name holds "is" or "as")
};

struct Node {
  NodeKind kind = NodeKind::kEmpty;
  std::string name;
  std::string type_name;  // kTypeOp: the type specifier, e.g. "FHIR.Patient" or "Quantity"
  std::optional<Value> literal;
  std::vector<std::unique_ptr<Node>> children;
  std::size_t offset = 0;  // byte offset in the expression text, for messages
  int height = 1;          // of this subtree; the parser refuses trees over kMaxTreeHeight
};

// The tallest syntax tree accepted: evaluation recurses about twice per level.
inline constexpr int kMaxTreeHeight = 400;

// Parses a whole expression. Syntax errors -> kInvalidValue with location "offset N".
core::Result<std::unique_ptr<Node>> ParseExpression(std::string_view text);

}  // namespace tb::fhirpath::detail
