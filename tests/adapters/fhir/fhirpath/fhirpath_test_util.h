#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/fhir/fhirpath/fhirpath.h"

// Helpers for the FHIRPath unit tests: parse a JSON literal, evaluate and render results.
namespace tb::fhirpath::testing {

inline rapidjson::Document Json(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// The items of the result as FHIRPath strings; a failed evaluation gives {"ERROR: message"}.
inline std::vector<std::string> Eval(std::string_view expression, const rapidjson::Value& context,
                                     const Environment& environment = {}) {
  auto result = Evaluate(expression, context, environment);
  if (!result) {
    return {"ERROR: " + result.error().message};
  }
  std::vector<std::string> out;
  for (const Value& item : *result) {
    out.push_back(ToString(item));
  }
  return out;
}

// Evaluates against an empty object: for expressions that need no document.
inline std::vector<std::string> Eval(std::string_view expression) {
  static const rapidjson::Document kEmpty = Json("{}");
  return Eval(expression, kEmpty);
}

inline bool IsError(std::string_view expression, const rapidjson::Value& context) {
  return !Evaluate(expression, context).has_value();
}

using Strings = std::vector<std::string>;

}  // namespace tb::fhirpath::testing
