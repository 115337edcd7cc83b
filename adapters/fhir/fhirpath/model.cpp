#include "adapters/fhir/fhirpath/model.h"

#include <map>
#include <set>
#include <string>

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

Model BuildModel() {
  Model model;
  std::string_view text = fhir::EmbeddedSchema();
  rapidjson::Document schema;
  schema.Parse(text.data(), text.size());
  if (schema.HasParseError() || !schema.IsObject()) {
    return model;
  }
  auto definitions = schema.FindMember("definitions");
  if (definitions == schema.MemberEnd() || !definitions->value.IsObject()) {
    return model;
  }
  for (auto& def : definitions->value.GetObject()) {
    auto properties = def.value.FindMember("properties");
    auto& elements = model.elements[def.name.GetString()];
    if (properties == def.value.MemberEnd() || !properties->value.IsObject()) {
      continue;
    }
    for (auto& prop : properties->value.GetObject()) {
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
  return model;
}

const Model& TheModel() {
  static const Model model = BuildModel();
  return model;
}

bool IsPrimitiveName(std::string_view name) {
  for (std::string_view p : kPrimitives) {
    if (p == name) {
      return true;
    }
  }
  return false;
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
  if (type != model.elements.end()) {
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
