#include "adapters/fhir/fhirpath/semantic_check.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/fhir/fhirpath/eval.h"
#include "adapters/fhir/fhirpath/model.h"

namespace tb::fhirpath::detail {
namespace {

core::Error SemanticError(const std::string& message, std::size_t offset) {
  return core::MakeError(core::ErrorCode::kInvalidValue, message,
                         "offset " + std::to_string(offset));
}

// The FHIR type a member's focus was cast to (`x as T`, `x.as(T)`, `x.ofType(T)`), when it is a
// concrete type the model can answer for.
std::optional<std::string> CastType(const Node& focus) {
  std::optional<std::string> type;
  if (focus.kind == NodeKind::kTypeOp && focus.name == "as") {
    type = focus.type_name;
  } else if (focus.kind == NodeKind::kFunction && (focus.name == "as" || focus.name == "ofType") &&
             focus.children.size() == 2 && focus.children[1] != nullptr) {
    type = TypeSpecifier(*focus.children[1]);
  }
  if (!type) {
    return std::nullopt;
  }
  constexpr std::string_view kFhirNamespace = "FHIR.";
  if (type->starts_with(kFhirNamespace)) {
    type->erase(0, kFhirNamespace.size());
  }
  static constexpr std::array<std::string_view, 4> kAbstract = {"Resource", "DomainResource",
                                                                "Element", "BackboneElement"};
  for (std::string_view abstract : kAbstract) {
    if (*type == abstract) {
      return std::nullopt;
    }
  }
  if (!IsFhirType(*type) || IsFhirPrimitive(*type)) {
    return std::nullopt;
  }
  return type;
}

bool PicksByPosition(const Node& node) {
  if (node.kind == NodeKind::kIndexer) {
    return true;
  }
  if (node.kind != NodeKind::kFunction) {
    return false;
  }
  static constexpr std::array<std::string_view, 5> kPositional = {"first", "last", "tail", "skip",
                                                                  "take"};
  for (std::string_view name : kPositional) {
    if (node.name == name) {
      return true;
    }
  }
  return false;
}

bool IsUnordered(const Node& node) {
  return node.kind == NodeKind::kFunction &&
         (node.name == "children" || node.name == "descendants");
}

}  // namespace

// Recursion is bounded by the parser's kMaxTreeHeight.
core::Status CheckSemantics(const Node& node) {
  const Node* focus = node.children.empty() ? nullptr : node.children[0].get();
  if (focus != nullptr) {
    if (node.kind == NodeKind::kMember) {
      if (auto type = CastType(*focus);
          type && ClassifyElement(*type, node.name) == ElementKind::kNoSuchElement) {
        return SemanticError("'" + node.name + "' is not an element of " + *type, node.offset);
      }
    }
    if (PicksByPosition(node) && IsUnordered(*focus)) {
      return SemanticError((node.kind == NodeKind::kIndexer ? "[]" : node.name + "()") +
                               " picks by position, but the order of " + focus->name +
                               "() is not defined",
                           node.offset);
    }
  }
  for (const auto& child : node.children) {
    if (child != nullptr) {
      BROKER_RETURN_IF_ERROR(CheckSemantics(*child));
    }
  }
  return core::Ok();
}

}  // namespace tb::fhirpath::detail
