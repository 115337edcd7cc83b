#include "adapters/fhir/fhirpath/model.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/embedded_schema.h"

namespace tb::fhirpath::detail {
namespace {

constexpr std::string_view kPrimitives[] = {
    "base64Binary", "boolean",     "canonical", "code",     "date", "dateTime",    "decimal",
    "id",           "instant",     "integer",   "markdown", "oid",  "positiveInt", "string",
    "time",         "unsignedInt", "uri",       "url",      "uuid", "xhtml"};

struct Model {
  // type -> element -> element type ("" for a contained resource).
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> elements;
  std::set<std::string, std::less<>> resources;
  // type -> choice element base names (value) and their typed forms (valueQuantity).
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> choice_bases;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> choice_forms;
};

std::string RefName(const rapidjson::Value& property) {
  const rapidjson::Value* holder = &property;
  auto items = property.FindMember("items");
  if (items != property.MemberEnd() && items->value.IsObject()) {
    holder = &items->value;
  }
  auto ref = holder->FindMember("$ref");
  if (ref != holder->MemberEnd() && ref->value.IsString()) {
    std::string_view text(ref->value.GetString(), ref->value.GetStringLength());
    std::size_t slash = text.rfind('/');
    std::string name(slash == std::string_view::npos ? text : text.substr(slash + 1));
    return name == "ResourceList" ? std::string() : name;
  }
  if (holder->HasMember("enum")) {
    return "code";  // the schema writes required code bindings as enums
  }
  return {};
}

bool IsPrimitiveName(std::string_view name) {
  for (std::string_view p : kPrimitives) {
    if (p == name) {
      return true;
    }
  }
  return false;
}

// The type a choice suffix names ("Quantity" -> "Quantity", "DateTime" -> "dateTime"), or "".
std::string SuffixType(std::string_view suffix,
                       const std::map<std::string, std::map<std::string, std::string, std::less<>>,
                                      std::less<>>& types) {
  if (suffix.empty() || suffix[0] < 'A' || suffix[0] > 'Z') {
    return {};
  }
  std::string lowered(suffix);
  lowered[0] = static_cast<char>(lowered[0] - 'A' + 'a');
  if (IsPrimitiveName(lowered)) {
    return lowered;
  }
  return types.count(suffix) > 0 ? std::string(suffix) : std::string();
}

// A choice element value[x] appears in the schema as valueQuantity, valueString, ...: at least
// two members sharing a base name followed by a type name. Their primitive forms have no $ref,
// so their type is set from the suffix.
void FindChoices(const std::string& type, std::map<std::string, std::string, std::less<>>& elements,
                 Model& model) {
  std::map<std::string, std::vector<std::string>> forms_by_base;
  for (const auto& [name, element_type] : elements) {
    for (std::size_t i = 1; i < name.size(); ++i) {
      if (name[i] < 'A' || name[i] > 'Z') {
        continue;
      }
      std::string suffix_type = SuffixType(std::string_view(name).substr(i), model.elements);
      if (!suffix_type.empty() && (element_type.empty() || element_type == suffix_type)) {
        forms_by_base[name.substr(0, i)].push_back(name);
      }
    }
  }
  for (const auto& [base, forms] : forms_by_base) {
    if (forms.size() < 2 || elements.count(base) > 0) {
      continue;
    }
    model.choice_bases[type].insert(base);
    for (const std::string& form : forms) {
      model.choice_forms[type].insert(form);
      std::string& element_type = elements[form];
      if (element_type.empty()) {
        element_type = SuffixType(std::string_view(form).substr(base.size()), model.elements);
      }
    }
  }
}

Model BuildModel() {
  Model model;
  std::string_view text = fhir::EmbeddedSchema();
  rapidjson::Document parsed;
  parsed.Parse(text.data(), text.size());
  if (parsed.HasParseError() || !parsed.IsObject()) {
    return model;
  }
  // Read through a const view: Clang in C++20 mode finds comparisons of non-const member
  // iterators ambiguous (-Wambiguous-reversed-operator).
  const rapidjson::Value& schema = parsed;
  auto definitions = schema.FindMember("definitions");
  if (definitions == schema.MemberEnd() || !definitions->value.IsObject()) {
    return model;
  }
  for (const auto& def : definitions->value.GetObject()) {
    auto properties = def.value.FindMember("properties");
    auto& elements = model.elements[def.name.GetString()];
    if (properties == def.value.MemberEnd() || !properties->value.IsObject()) {
      continue;
    }
    for (const auto& prop : properties->value.GetObject()) {
      std::string_view name(prop.name.GetString(), prop.name.GetStringLength());
      if (name == "resourceType") {
        model.resources.insert(def.name.GetString());
        continue;
      }
      if (!prop.value.IsObject()) {
        continue;
      }
      elements.emplace(std::string(name), RefName(prop.value));
    }
  }
  for (auto& [type, elements] : model.elements) {
    FindChoices(type, elements, model);
  }
  return model;
}

const Model& TheModel() {
  static const Model model = BuildModel();
  return model;
}

bool IsQuantityKind(std::string_view type) {
  return type == "Age" || type == "Count" || type == "Distance" || type == "Duration" ||
         type == "MoneyQuantity" || type == "SimpleQuantity";
}

}  // namespace

std::string_view ElementType(std::string_view parent_type, std::string_view name) {
  const Model& model = TheModel();
  auto type = model.elements.find(parent_type);
  if (type == model.elements.end()) {
    return {};
  }
  auto element = type->second.find(name);
  if (element == type->second.end()) {
    return {};
  }
  return element->second;
}

std::string_view ChoiceType(std::string_view parent_type, std::string_view base,
                            std::string_view member) {
  if (member.size() <= base.size() || member.substr(0, base.size()) != base) {
    return {};
  }
  char first = member[base.size()];
  if (first < 'A' || first > 'Z') {
    return {};
  }
  const Model& model = TheModel();
  auto type = model.elements.find(parent_type);
  if (type != model.elements.end() && !type->second.empty()) {
    auto forms = model.choice_forms.find(parent_type);
    if (forms == model.choice_forms.end() || forms->second.count(member) == 0) {
      return {};
    }
    auto element = type->second.find(member);
    return element == type->second.end() ? std::string_view() : element->second;
  }
  // Unknown parent: the suffix names the type; primitives are written with a capital there.
  std::string suffix(member.substr(base.size()));
  std::string lowered = suffix;
  lowered[0] = static_cast<char>(lowered[0] - 'A' + 'a');
  for (std::string_view p : kPrimitives) {
    if (p == lowered) {
      return p;
    }
  }
  auto known = model.elements.find(suffix);
  return known == model.elements.end() ? std::string_view() : std::string_view(known->first);
}

ElementKind ClassifyElement(std::string_view parent_type, std::string_view name) {
  const Model& model = TheModel();
  auto type = model.elements.find(parent_type);
  if (type == model.elements.end() || type->second.empty()) {
    return ElementKind::kUnknownType;
  }
  auto forms = model.choice_forms.find(parent_type);
  if (forms != model.choice_forms.end() && forms->second.count(name) > 0) {
    return ElementKind::kChoiceForm;
  }
  if (type->second.count(name) > 0) {
    return ElementKind::kElement;
  }
  auto bases = model.choice_bases.find(parent_type);
  if (bases != model.choice_bases.end() && bases->second.count(name) > 0) {
    return ElementKind::kElement;
  }
  return ElementKind::kNoSuchElement;
}

bool IsResourceType(std::string_view name) { return TheModel().resources.count(name) > 0; }

bool IsFhirType(std::string_view name) {
  const Model& model = TheModel();
  return model.elements.count(name) > 0 || name == "Resource" || name == "DomainResource" ||
         name == "Element" || name == "BackboneElement";
}

bool IsFhirPrimitive(std::string_view name) { return IsPrimitiveName(name); }

bool IsSubtypeOf(std::string_view type, std::string_view base) {
  if (type == base) {
    return true;
  }
  if (base == "string") {
    return type == "code" || type == "id" || type == "markdown";
  }
  if (base == "uri") {
    return type == "url" || type == "canonical" || type == "uuid" || type == "oid";
  }
  if (base == "integer") {
    return type == "positiveInt" || type == "unsignedInt";
  }
  if (base == "Quantity") {
    return IsQuantityKind(type);
  }
  const Model& model = TheModel();
  bool is_resource = model.resources.count(type) > 0;
  if (base == "Resource") {
    return is_resource || type == "DomainResource";
  }
  if (base == "DomainResource") {
    return is_resource && type != "Bundle" && type != "Binary" && type != "Parameters";
  }
  if (base == "Element") {
    return !is_resource && !type.empty();
  }
  return false;
}

}  // namespace tb::fhirpath::detail
