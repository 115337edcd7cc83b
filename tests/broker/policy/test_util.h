#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/fhir/json.h"

namespace tb::policy::testing {

template <typename T>
std::string CaseName(const ::testing::TestParamInfo<T>& param_info) {
  return param_info.param.name;
}

inline rapidjson::Document Json(std::string_view text) {
  core::Result<rapidjson::Document> document = fhir::ParseJson(text);
  EXPECT_TRUE(document.has_value()) << (document ? "" : document.error().message);
  return document ? std::move(document).value() : rapidjson::Document();
}

}  // namespace tb::policy::testing
