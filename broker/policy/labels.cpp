#include "broker/policy/labels.h"

#include <algorithm>
#include <utility>

#include "adapters/fhir/json.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using rapidjson::Value;

constexpr int kMaxWalkDepth = 128;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// "HIV" -> {v3-ActCode, HIV}; "system|code" -> {system, code}. nullopt when malformed.
std::optional<Coding> ParseLabel(std::string_view text) {
  text = Trim(text);
  const std::size_t bar = text.find('|');
  if (bar == std::string_view::npos) {
    if (text.empty()) {
      return std::nullopt;
    }
    return Coding{std::string(kActCodeSystem), std::string(text)};
  }
  const std::string_view system = text.substr(0, bar);
  const std::string_view code = text.substr(bar + 1);
  if (system.empty() || code.empty() || code.find('|') != std::string_view::npos) {
    return std::nullopt;
  }
  return Coding{std::string(system), std::string(code)};
}

void Walk(const Value& value, int depth, std::vector<Coding>& out) {
  if (depth > kMaxWalkDepth) {
    return;
  }
  if (value.IsArray()) {
    for (const Value& item : value.GetArray()) {
      Walk(item, depth + 1, out);
    }
    return;
  }
  if (!value.IsObject()) {
    return;
  }
  const Value* code = fhir::FindMember(value, "code");
  if (code != nullptr && code->IsString() && code->GetStringLength() > 0) {
    Coding coding;
    coding.code = std::string(fhir::StringOf(*code));
    if (const std::optional<std::string_view> system = fhir::FindString(value, "system")) {
      coding.system = std::string(*system);
    }
    out.push_back(std::move(coding));
  }
  for (const auto& member : value.GetObject()) {
    if (fhir::StringOf(member.name) == "meta") {
      continue;  // security labels and tags are not clinical codes
    }
    Walk(member.value, depth + 1, out);
  }
}

void AddUnique(std::vector<Coding>& out, const Coding& coding) {
  if (std::find(out.begin(), out.end(), coding) == out.end()) {
    out.push_back(coding);
  }
}

}  // namespace

Result<SensitivityTable> SensitivityTable::ParseCsv(std::string_view text) {
  std::vector<LabelRule> rules;
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    if (line.empty() || line.front() == '#') {
      continue;
    }
    if (line_number == 1 && line == "code_system,code,label") {
      continue;
    }
    const std::size_t first = line.find(',');
    const std::size_t second =
        first == std::string_view::npos ? std::string_view::npos : line.find(',', first + 1);
    const std::string location = "line " + std::to_string(line_number);
    if (second == std::string_view::npos || line.find(',', second + 1) != std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidValue,
                       "expected three comma-separated fields: code_system,code,label", location);
    }
    const std::string_view system = Trim(line.substr(0, first));
    const std::string_view code = Trim(line.substr(first + 1, second - first - 1));
    const std::optional<Coding> label = ParseLabel(line.substr(second + 1));
    if (system.empty() || code.empty() || !label) {
      return MakeError(ErrorCode::kInvalidValue,
                       "empty code system or code, or a label that is not CODE or system|code",
                       location);
    }
    rules.push_back(LabelRule{Coding{std::string(system), std::string(code)}, *label});
  }
  return SensitivityTable(std::move(rules));
}

Result<SensitivityTable> SensitivityTable::ParseJson(std::string_view text) {
  Result<rapidjson::Document> document = fhir::ParseJson(text);
  if (!document) {
    return std::move(document).error();
  }
  Result<const Value*> rules_json = fhir::GetArray(*document, "rules");
  if (!rules_json) {
    return std::move(rules_json).error();
  }
  std::vector<LabelRule> rules;
  for (rapidjson::SizeType i = 0; i < (*rules_json)->Size(); ++i) {
    const Value& rule = (**rules_json)[i];
    const std::string path = "rules[" + std::to_string(i) + "]";
    Result<std::string_view> system = fhir::GetString(rule, "system", path);
    Result<std::string_view> code = fhir::GetString(rule, "code", path);
    Result<std::string_view> label_text = fhir::GetString(rule, "label", path);
    for (const auto* field : {&system, &code, &label_text}) {
      if (!*field) {
        return field->error();
      }
    }
    const std::optional<Coding> label = ParseLabel(*label_text);
    if (system->empty() || code->empty() || !label) {
      return MakeError(ErrorCode::kInvalidValue,
                       "empty system or code, or a label that is not CODE or system|code", path);
    }
    rules.push_back(LabelRule{Coding{std::string(*system), std::string(*code)}, *label});
  }
  return SensitivityTable(std::move(rules));
}

std::vector<Coding> SensitivityTable::LabelsFor(const std::vector<Coding>& codes) const {
  std::vector<Coding> labels;
  for (const LabelRule& rule : rules_) {
    if (std::find(codes.begin(), codes.end(), rule.code) != codes.end()) {
      AddUnique(labels, rule.label);
    }
  }
  return labels;
}

std::vector<Coding> ResourceCodings(const Value& resource) {
  std::vector<Coding> out;
  Walk(resource, 0, out);
  return out;
}

std::vector<Coding> SecurityLabels(const Value& resource) {
  std::vector<Coding> out;
  const Value* meta = fhir::FindObject(resource, "meta");
  const Value* security = meta != nullptr ? fhir::FindArray(*meta, "security") : nullptr;
  if (security == nullptr) {
    return out;
  }
  for (const Value& label : security->GetArray()) {
    const std::optional<std::string_view> code = fhir::FindString(label, "code");
    if (!code || code->empty()) {
      continue;
    }
    Coding coding;
    coding.code = std::string(*code);
    if (const std::optional<std::string_view> system = fhir::FindString(label, "system")) {
      coding.system = std::string(*system);
    }
    AddUnique(out, coding);
  }
  return out;
}

ResourceFacts FactsOf(const Value& resource, const SensitivityTable& table) {
  ResourceFacts facts;
  facts.resource_type = std::string(fhir::FindString(resource, "resourceType").value_or(""));
  facts.id = std::string(fhir::FindString(resource, "id").value_or(""));
  facts.codes = ResourceCodings(resource);
  facts.security_labels = SecurityLabels(resource);
  for (const Coding& label : table.LabelsFor(facts.codes)) {
    AddUnique(facts.security_labels, label);
  }
  return facts;
}

std::vector<Coding> LabelResource(Value& resource, rapidjson::Document::AllocatorType& allocator,
                                  const SensitivityTable& table) {
  std::vector<Coding> added;
  if (!resource.IsObject()) {
    return added;
  }
  const std::vector<Coding> existing = SecurityLabels(resource);
  for (const Coding& label : table.LabelsFor(ResourceCodings(resource))) {
    if (std::find(existing.begin(), existing.end(), label) == existing.end()) {
      AddUnique(added, label);
    }
  }
  if (added.empty()) {
    return added;
  }
  Value* meta = internal::MutableMember(resource, "meta");
  if (meta == nullptr) {
    resource.AddMember("meta", Value(rapidjson::kObjectType), allocator);
    meta = internal::MutableMember(resource, "meta");
  } else if (!meta->IsObject()) {
    meta->SetObject();
  }
  Value* security = internal::MutableMember(*meta, "security");
  if (security == nullptr) {
    meta->AddMember("security", Value(rapidjson::kArrayType), allocator);
    security = internal::MutableMember(*meta, "security");
  } else if (!security->IsArray()) {
    security->SetArray();
  }
  for (const Coding& label : added) {
    Value coding(rapidjson::kObjectType);
    coding.AddMember("system", fhir::StringValue(label.system, allocator), allocator);
    coding.AddMember("code", fhir::StringValue(label.code, allocator), allocator);
    security->PushBack(coding, allocator);
  }
  return added;
}

}  // namespace tb::policy
