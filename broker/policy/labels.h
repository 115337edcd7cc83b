#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "broker/core/result.h"
#include "broker/policy/consent.h"

// Sensitivity labelling: sources do not reliably put security labels on their data, so the
// broker derives them from the codes a resource carries (e.g. an HIV test's LOINC code -> the
// v3-ActCode label HIV) before the consent engine sees the resource.
// Thread-safety: a SensitivityTable is immutable after loading; share it freely.
namespace tb::policy {

struct LabelRule {
  Coding code;   // matched against every coding in the resource (system and code must be equal)
  Coding label;  // the security label it implies, e.g. {kActCodeSystem, "HIV"}
};

class SensitivityTable {
 public:
  SensitivityTable() = default;
  explicit SensitivityTable(std::vector<LabelRule> rules) : rules_(std::move(rules)) {}

  // CSV, one rule a line: `code_system,code,label`. `label` is a bare v3-ActCode code ("HIV",
  // "PSY", "ETH", "SEX") or `system|code`. Blank lines and lines starting with '#' are skipped;
  // a first line `code_system,code,label` is a header. Errors: kInvalidValue at "line N".
  static core::Result<SensitivityTable> ParseCsv(std::string_view text);
  // JSON: {"rules": [{"system": "...", "code": "...", "label": "HIV" | "system|code"}, ...]}.
  // Errors: kInvalidValue at "rules[i]...".
  static core::Result<SensitivityTable> ParseJson(std::string_view text);

  // The labels implied by `codes`, without duplicates, in table order.
  std::vector<Coding> LabelsFor(const std::vector<Coding>& codes) const;

  const std::vector<LabelRule>& rules() const { return rules_; }

 private:
  std::vector<LabelRule> rules_;
};

// Every Coding (an object with string `code`, and `system` when present) anywhere in the
// resource, contained resources included; meta.security and meta.tag excluded. Bounded by the
// document's depth limit.
std::vector<Coding> ResourceCodings(const rapidjson::Value& resource);

// The resource's meta.security labels.
std::vector<Coding> SecurityLabels(const rapidjson::Value& resource);

// What the consent engine needs to know about one resource.
struct ResourceFacts {
  std::string resource_type;
  std::string id;
  std::vector<Coding> codes;
  std::vector<Coding> security_labels;  // meta.security plus the table's labels
};
ResourceFacts FactsOf(const rapidjson::Value& resource, const SensitivityTable& table);

// Adds the table's labels to resource.meta.security (creating meta/security as needed), skipping
// labels already there. Returns the labels added. No-op for anything that is not an object.
std::vector<Coding> LabelResource(rapidjson::Value& resource,
                                  rapidjson::Document::AllocatorType& allocator,
                                  const SensitivityTable& table);

}  // namespace tb::policy
