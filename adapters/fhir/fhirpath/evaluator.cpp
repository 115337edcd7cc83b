#include <cctype>
#include <string>

#include "adapters/fhir/fhirpath/compare.h"
#include "adapters/fhir/fhirpath/eval.h"
#include "adapters/fhir/fhirpath/fhirpath.h"
#include "adapters/fhir/fhirpath/model.h"
#include "adapters/fhir/fhirpath/semantic_check.h"

namespace tb::fhirpath {
namespace detail {
namespace {

using Kind = Value::Kind;

std::string_view NameOf(const rapidjson::Value& name) {
  return {name.GetString(), name.GetStringLength()};
}

// Pushes the items of element `member` (array or single), pairing each with its `_member`
// extension sibling.
void PushElement(Collection& out, const rapidjson::Value* value, const rapidjson::Value* extension,
                 std::string_view type, std::string_view name) {
  const rapidjson::Value* array = value != nullptr && value->IsArray() ? value : nullptr;
  const rapidjson::Value* ext_array =
      extension != nullptr && extension->IsArray() ? extension : nullptr;
  if (array != nullptr || ext_array != nullptr) {
    rapidjson::SizeType size = array != nullptr ? array->Size() : ext_array->Size();
    for (rapidjson::SizeType i = 0; i < size; ++i) {
      const rapidjson::Value* item = array != nullptr ? &(*array)[i] : nullptr;
      const rapidjson::Value* ext =
          ext_array != nullptr && i < ext_array->Size() ? &(*ext_array)[i] : nullptr;
      if (item != nullptr && item->IsNull()) {
        item = nullptr;
      }
      if (ext != nullptr && ext->IsNull()) {
        ext = nullptr;
      }
      if (item == nullptr && ext == nullptr) {
        continue;
      }
      out.push_back(Value::Node(item, type, name, ext));
    }
    return;
  }
  if (value != nullptr && value->IsNull()) {
    value = nullptr;
  }
  if (value == nullptr && extension == nullptr) {
    return;
  }
  out.push_back(Value::Node(value, type, name, extension));
}

// Children of a node of a document built during evaluation share that document, so they stay
// valid once the parent Value is gone.
void ShareDocument(Collection& out, const Value& parent) {
  if (!parent.owns_document()) {
    return;
  }
  for (Value& child : out) {
    child.ShareDocumentOf(parent);
  }
}

// The object whose members are the children of `item`: the node itself, or for a primitive its
// `_name` sibling (which holds id and extension).
const rapidjson::Value* ChildHolder(const Value& item) {
  if (!item.is_node()) {
    return nullptr;
  }
  if (item.node() != nullptr && item.node()->IsObject()) {
    return item.node();
  }
  if (item.extension_node() != nullptr && item.extension_node()->IsObject()) {
    return item.extension_node();
  }
  return nullptr;
}

Collection Distinct(const Collection& items) {
  Collection out;
  for (const Value& item : items) {
    bool seen = false;
    for (const Value& kept : out) {
      auto equal = ItemsEqual(item, kept);
      if (equal && *equal) {
        seen = true;
        break;
      }
    }
    if (!seen) {
      out.push_back(item);
    }
  }
  return out;
}

std::string_view StripNamespace(std::string_view spec, std::string_view& ns) {
  std::size_t dot = spec.find('.');
  if (dot == std::string_view::npos) {
    ns = {};
    return spec;
  }
  ns = spec.substr(0, dot);
  return spec.substr(dot + 1);
}

bool IsSystemTypeName(std::string_view name) {
  return name == "Boolean" || name == "String" || name == "Integer" || name == "Decimal" ||
         name == "Date" || name == "DateTime" || name == "Time" || name == "Quantity";
}

// The type whose elements the children of `item` are, or "" when unknown.
std::string_view ParentType(const Value& item) {
  const rapidjson::Value* holder = ChildHolder(item);
  if (holder == nullptr) {
    return {};
  }
  return holder == item.node() ? item.type_name() : "Element";
}

}  // namespace

core::Status CheckElementName(const Collection& focus, std::string_view name, bool found) {
  // Only when no item of the focus could have the element: a mixed collection (descendants())
  // legitimately holds items without it.
  std::string_view parent_type;
  bool choice_form = false;
  for (const Value& item : focus) {
    std::string_view type = ParentType(item);
    if (type.empty() && item.is_node() && IsFhirPrimitive(item.type_name())) {
      type = "Element";  // a primitive's only children are id and extension
    }
    switch (ClassifyElement(type, name)) {
      case ElementKind::kNoSuchElement:
        parent_type = type;
        break;
      case ElementKind::kChoiceForm:
        parent_type = type;
        choice_form = true;
        break;
      default:
        return core::Ok();
    }
  }
  if (parent_type.empty() || (found && !choice_form)) {
    return core::Ok();
  }
  if (choice_form) {
    return EvalError(std::string(name) + " is a choice element: write it as value.ofType(T)");
  }
  return EvalError(std::string(parent_type) + " has no element " + std::string(name));
}

core::Error EvalError(std::string message) {
  return core::MakeError(core::ErrorCode::kInvalidValue, "FHIRPath: " + std::move(message));
}

core::Result<std::optional<bool>> ToBoolean(const Collection& collection, std::string_view what) {
  if (collection.empty()) {
    return std::optional<bool>();
  }
  if (collection.size() > 1) {
    return EvalError(std::string(what) + " expects a single item, got " +
                     std::to_string(collection.size()));
  }
  std::optional<Value> system = collection[0].ToSystem();
  if (system && system->kind() == Kind::kBoolean) {
    return std::optional<bool>(system->boolean());
  }
  return std::optional<bool>(true);
}

core::Result<std::optional<Value>> Singleton(const Collection& collection, std::string_view what) {
  if (collection.empty()) {
    return std::optional<Value>();
  }
  if (collection.size() > 1) {
    return EvalError(std::string(what) + " expects a single item, got " +
                     std::to_string(collection.size()));
  }
  std::optional<Value> system = collection[0].ToSystem();
  if (!system) {
    return std::optional<Value>(collection[0]);
  }
  return system;
}

core::Result<bool> IsOfType(const Value& value, std::string_view type_spec, bool exact) {
  std::string_view ns;
  std::string_view name = StripNamespace(type_spec, ns);
  bool known = (ns != "FHIR" && IsSystemTypeName(name)) || (ns != "System" && IsFhirType(name));
  if (!known && ns == "System") {
    return false;  // System.Patient: a valid name for a type nothing is
  }
  if (!known) {
    return EvalError("unknown type " + std::string(type_spec));
  }
  if (!value.is_node()) {
    if (ns == "FHIR") {
      return false;
    }
    return value.type_name() == name;
  }
  if (ns == "System") {
    return false;
  }
  std::string_view type = value.type_name();
  if (type.empty()) {
    // A node of unknown type: judge by its JSON form, as the System type it converts to.
    std::optional<Value> system = value.ToSystem();
    if (system && !system->is_node() && IsSystemTypeName(name)) {
      return system->type_name() == name;
    }
    return false;
  }
  if (exact) {
    return type == name ||
           ((name == "Resource" || name == "DomainResource") && IsSubtypeOf(type, name));
  }
  return IsSubtypeOf(type, name);
}

std::optional<std::string> TypeSpecifier(const Node& argument) {
  if (argument.kind == NodeKind::kMember) {
    if (argument.children.empty() || argument.children[0] == nullptr) {
      return argument.name;
    }
    auto prefix = TypeSpecifier(*argument.children[0]);
    if (!prefix) {
      return std::nullopt;
    }
    return *prefix + "." + argument.name;
  }
  if (argument.kind == NodeKind::kLiteral && argument.literal &&
      argument.literal->kind() == Kind::kString) {
    return argument.literal->string();
  }
  return std::nullopt;
}

core::Result<Collection> Evaluator::Children(const Value& item, std::string_view name) const {
  Collection out;
  const rapidjson::Value* holder = ChildHolder(item);
  if (holder == nullptr) {
    return out;
  }
  std::string_view parent_type = holder == item.node() ? item.type_name() : "Element";
  auto member = holder->FindMember(rapidjson::StringRef(name.data(), name.size()));
  std::string ext_name = "_" + std::string(name);
  auto ext = holder->FindMember(rapidjson::StringRef(ext_name.data(), ext_name.size()));
  const rapidjson::Value* value = member != holder->MemberEnd() ? &member->value : nullptr;
  const rapidjson::Value* extension = ext != holder->MemberEnd() ? &ext->value : nullptr;
  if (value != nullptr || extension != nullptr) {
    std::string_view stable_name =
        value != nullptr ? NameOf(member->name) : NameOf(ext->name).substr(1);
    PushElement(out, value, extension, ElementType(parent_type, name), stable_name);
    ShareDocument(out, item);
    return out;
  }
  // A choice element: value -> valueQuantity, valueString, ...
  for (auto& candidate : holder->GetObject()) {
    std::string_view candidate_name = NameOf(candidate.name);
    std::string_view type = ChoiceType(parent_type, name, candidate_name);
    if (type.empty()) {
      continue;
    }
    std::string choice_ext = "_" + std::string(candidate_name);
    auto choice_extension =
        holder->FindMember(rapidjson::StringRef(choice_ext.data(), choice_ext.size()));
    PushElement(out, &candidate.value,
                choice_extension != holder->MemberEnd() ? &choice_extension->value : nullptr, type,
                candidate_name);
    break;
  }
  ShareDocument(out, item);
  return out;
}

Collection Evaluator::AllChildren(const Value& item) const {
  Collection out;
  const rapidjson::Value* holder = ChildHolder(item);
  if (holder == nullptr) {
    return out;
  }
  std::string_view parent_type = holder == item.node() ? item.type_name() : "Element";
  for (auto& member : holder->GetObject()) {
    std::string_view name = NameOf(member.name);
    if (name == "resourceType") {
      continue;
    }
    if (!name.empty() && name[0] == '_') {
      // Only when the primitive itself is absent; otherwise it was paired with it below.
      std::string base(name.substr(1));
      if (holder->HasMember(base.c_str())) {
        continue;
      }
      PushElement(out, nullptr, &member.value, ElementType(parent_type, base), name.substr(1));
      continue;
    }
    std::string ext_name = "_" + std::string(name);
    auto ext = holder->FindMember(rapidjson::StringRef(ext_name.data(), ext_name.size()));
    PushElement(out, &member.value, ext != holder->MemberEnd() ? &ext->value : nullptr,
                ElementType(parent_type, name), name);
  }
  ShareDocument(out, item);
  return out;
}

core::Result<Collection> Evaluator::EvalFor(const Node& argument, const Value& item,
                                            std::int64_t index, int depth,
                                            const Collection* total) const {
  Frame frame{&item, index, total};
  Collection input{item};
  return Eval(argument, input, frame, depth + 1);
}

core::Result<Collection> Evaluator::EvalVariable(const Node& node) const {
  const std::string& name = node.name;
  if (name == "context") {
    return Collection{Value::Node(&context_)};
  }
  if (name == "resource") {
    return Collection{Value::Node(&resource())};
  }
  if (name == "rootResource") {
    return Collection{Value::Node(&root_resource())};
  }
  if (name == "ucum") {
    return Collection{Value::String("http://unitsofmeasure.org")};
  }
  if (name == "sct") {
    return Collection{Value::String("http://snomed.info/sct")};
  }
  if (name == "loinc") {
    return Collection{Value::String("http://loinc.org")};
  }
  if (name.rfind("vs-", 0) == 0) {
    return Collection{Value::String("http://hl7.org/fhir/ValueSet/" + name.substr(3))};
  }
  if (name.rfind("ext-", 0) == 0) {
    return Collection{Value::String("http://hl7.org/fhir/StructureDefinition/" + name.substr(4))};
  }
  auto it = environment_.variables.find(name);
  if (it == environment_.variables.end()) {
    return EvalError("unknown variable %" + name);
  }
  return it->second;
}

core::Result<Collection> Evaluator::Eval(const Node& node, const Collection& input,
                                         const Frame& frame, int depth) const {
  if (depth > kMaxEvalDepth) {
    return EvalError("expression evaluation nested too deeply");
  }
  switch (node.kind) {
    case NodeKind::kEmpty:
      return Collection{};
    case NodeKind::kLiteral:
      return Collection{*node.literal};
    case NodeKind::kThis:
      if (frame.this_item != nullptr) {
        return Collection{*frame.this_item};
      }
      return input;
    case NodeKind::kIndex:
      return Collection{Value::Integer(frame.index)};
    case NodeKind::kTotal:
      if (frame.total == nullptr) {
        return EvalError("$total outside aggregate()");
      }
      return *frame.total;
    case NodeKind::kVariable:
      return EvalVariable(node);
    case NodeKind::kMember: {
      bool at_start = node.children.empty() || node.children[0] == nullptr;
      Collection focus;
      if (at_start) {
        focus = input;
      } else {
        auto evaluated = Eval(*node.children[0], input, frame, depth + 1);
        if (!evaluated) {
          return evaluated;
        }
        focus = std::move(*evaluated);
      }
      Collection out;
      for (const Value& item : focus) {
        // A leading type name (Patient.name) selects the context when it is of that type.
        if (at_start && !node.name.empty() &&
            std::isupper(static_cast<unsigned char>(node.name[0])) != 0) {
          if (item.is_node() && IsSubtypeOf(item.type_name(), node.name)) {
            out.push_back(item);
          } else if (item.is_node() && IsResourceType(node.name) &&
                     IsResourceType(item.type_name())) {
            return EvalError("the expression is for " + node.name + " but the context is " +
                             std::string(item.type_name()));
          }
          continue;
        }
        auto children = Children(item, node.name);
        if (!children) {
          return children;
        }
        out.insert(out.end(), children->begin(), children->end());
      }
      if (!at_start) {
        BROKER_RETURN_IF_ERROR(CheckElementName(focus, node.name, !out.empty()));
      }
      return out;
    }
    case NodeKind::kFunction: {
      Collection focus;
      if (node.children.empty() || node.children[0] == nullptr) {
        focus = input;
      } else {
        auto evaluated = Eval(*node.children[0], input, frame, depth + 1);
        if (!evaluated) {
          return evaluated;
        }
        focus = std::move(*evaluated);
      }
      return CallFunction(node, focus, input, frame, depth + 1);
    }
    case NodeKind::kIndexer: {
      auto focus = Eval(*node.children[0], input, frame, depth + 1);
      if (!focus) {
        return focus;
      }
      auto index = Eval(*node.children[1], input, frame, depth + 1);
      if (!index) {
        return index;
      }
      auto single = Singleton(*index, "indexer");
      if (!single) {
        return single.error();
      }
      if (!*single) {
        return Collection{};
      }
      if ((*single)->kind() != Kind::kInteger) {
        return EvalError("indexer expects an Integer");
      }
      std::int64_t i = (*single)->integer();
      if (i < 0 || static_cast<std::size_t>(i) >= focus->size()) {
        return Collection{};
      }
      return Collection{(*focus)[static_cast<std::size_t>(i)]};
    }
    case NodeKind::kUnary: {
      auto operand = Eval(*node.children[0], input, frame, depth + 1);
      if (!operand) {
        return operand;
      }
      if (node.name == "+") {
        return operand;
      }
      auto single = Singleton(*operand, "unary -");
      if (!single) {
        return single.error();
      }
      if (!*single) {
        return Collection{};
      }
      const Value& v = **single;
      switch (v.kind()) {
        case Kind::kInteger:
          return Collection{Value::Integer(-v.integer())};
        // 0 - x rather than -x: negating 0.0 gives 0.0, not the binary -0.0 (which would be
        // written "-0.0"; the suite's -0.0034.highBoundary(1) is 0.0).
        case Kind::kDecimal:
          return Collection{Value::Decimal(0.0 - v.decimal(), v.decimals())};
        case Kind::kQuantity: {
          Quantity q = v.quantity();
          q.value = 0.0 - q.value;
          return Collection{Value::QuantityValue(std::move(q))};
        }
        default:
          return EvalError("unary - expects a number or Quantity");
      }
    }
    case NodeKind::kTypeOp: {
      auto operand = Eval(*node.children[0], input, frame, depth + 1);
      if (!operand) {
        return operand;
      }
      if (operand->empty()) {
        return Collection{};
      }
      if (operand->size() > 1) {
        return EvalError("'" + node.name + "' expects a single item");
      }
      auto match = IsOfType((*operand)[0], node.type_name, node.name == "as");
      if (!match) {
        return match.error();
      }
      if (node.name == "is") {
        return Collection{Value::Boolean(*match)};
      }
      return *match ? *operand : Collection{};
    }
    case NodeKind::kBinary:
      return EvalBinary(node, input, frame, depth);
  }
  return EvalError("unknown expression node");
}

core::Result<Collection> Evaluator::EvalBinary(const Node& node, const Collection& input,
                                               const Frame& frame, int depth) const {
  const std::string& op = node.name;
  auto left = Eval(*node.children[0], input, frame, depth + 1);
  if (!left) {
    return left;
  }
  bool logical = op == "and" || op == "or" || op == "xor" || op == "implies";
  if (logical) {
    auto l = ToBoolean(*left, op);
    if (!l) {
      return l.error();
    }
    // Short cuts that hold whatever the right side is (and spare evaluating it).
    if (op == "and" && *l && !**l) {
      return Collection{Value::Boolean(false)};
    }
    if (op == "or" && *l && **l) {
      return Collection{Value::Boolean(true)};
    }
    if (op == "implies" && *l && !**l) {
      return Collection{Value::Boolean(true)};
    }
    auto right = Eval(*node.children[1], input, frame, depth + 1);
    if (!right) {
      return right;
    }
    auto r = ToBoolean(*right, op);
    if (!r) {
      return r.error();
    }
    std::optional<bool> a = *l;
    std::optional<bool> b = *r;
    std::optional<bool> result;
    if (op == "and") {
      if (b && !*b) {
        result = false;
      } else if (a && b) {
        result = true;
      }
    } else if (op == "or") {
      if (b && *b) {
        result = true;
      } else if (a && b) {
        result = false;
      }
    } else if (op == "xor") {
      if (a && b) {
        result = *a != *b;
      }
    } else {  // implies; a is true or empty here
      if (b && *b) {
        result = true;
      } else if (a && b) {
        result = false;
      }
    }
    return result ? Collection{Value::Boolean(*result)} : Collection{};
  }
  auto right = Eval(*node.children[1], input, frame, depth + 1);
  if (!right) {
    return right;
  }
  if (op == "|") {
    Collection all = *left;
    all.insert(all.end(), right->begin(), right->end());
    return Distinct(all);
  }
  if (op == "=" || op == "!=") {
    auto equal = CollectionsEqual(*left, *right);
    if (!equal) {
      return Collection{};
    }
    return Collection{Value::Boolean(op == "=" ? *equal : !*equal)};
  }
  if (op == "~" || op == "!~") {
    bool equivalent = CollectionsEquivalent(*left, *right);
    return Collection{Value::Boolean(op == "~" ? equivalent : !equivalent)};
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    if (left->empty() || right->empty()) {
      return Collection{};
    }
    if (left->size() > 1 || right->size() > 1) {
      return EvalError("'" + op + "' expects single items");
    }
    auto order = CompareItems((*left)[0], (*right)[0]);
    if (!order) {
      return order.error();
    }
    if (!*order) {
      return Collection{};
    }
    int c = **order;
    bool result = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    return Collection{Value::Boolean(result)};
  }
  if (op == "in" || op == "contains") {
    const Collection& element = op == "in" ? *left : *right;
    const Collection& container = op == "in" ? *right : *left;
    if (element.empty()) {
      return Collection{};
    }
    if (element.size() > 1) {
      return EvalError("'" + op + "' expects a single item");
    }
    for (const Value& candidate : container) {
      auto equal = ItemsEqual(element[0], candidate);
      if (equal && *equal) {
        return Collection{Value::Boolean(true)};
      }
    }
    return Collection{Value::Boolean(false)};
  }
  return Arithmetic(op, *left, *right);
}

}  // namespace detail

core::Result<Expression> Expression::Compile(std::string_view text) {
  auto root = detail::ParseExpression(text);
  if (!root) {
    return root.error();
  }
  BROKER_RETURN_IF_ERROR(detail::CheckSemantics(**root));
  return Expression(std::string(text), std::shared_ptr<const detail::Node>(std::move(*root)));
}

core::Result<Collection> Evaluate(const Expression& expression, const rapidjson::Value& context,
                                  const Environment& environment) {
  detail::Evaluator evaluator(environment, context);
  Collection input{Value::Node(&context)};
  return evaluator.Eval(expression.root(), input, detail::Frame{}, 0);
}

core::Result<Collection> Evaluate(std::string_view expression, const rapidjson::Value& context,
                                  const Environment& environment) {
  auto compiled = Expression::Compile(expression);
  if (!compiled) {
    return compiled.error();
  }
  return Evaluate(*compiled, context, environment);
}

core::Result<bool> EvaluateBoolean(const Expression& expression, const rapidjson::Value& context,
                                   const Environment& environment) {
  auto result = Evaluate(expression, context, environment);
  if (!result) {
    return result.error();
  }
  auto value = detail::ToBoolean(*result, "the expression result");
  if (!value) {
    return value.error();
  }
  return value->value_or(false);
}

core::Result<bool> EvaluateBoolean(std::string_view expression, const rapidjson::Value& context,
                                   const Environment& environment) {
  auto compiled = Expression::Compile(expression);
  if (!compiled) {
    return compiled.error();
  }
  return EvaluateBoolean(*compiled, context, environment);
}

}  // namespace tb::fhirpath
