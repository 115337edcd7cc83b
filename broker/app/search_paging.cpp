#include "broker/app/search_paging.h"

#include <algorithm>

#include "adapters/fhir/json.h"

namespace tb::app {
namespace {

rapidjson::Value Link(std::string_view relation, const std::string& url,
                      rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value link(rapidjson::kObjectType);
  link.AddMember("relation", fhir::StringValue(relation, allocator), allocator);
  link.AddMember("url", fhir::StringValue(url, allocator), allocator);
  return link;
}

}  // namespace

core::Result<std::int64_t> NonNegativeNumber(const fhir::SearchParam& param) {
  if (param.value.empty() || param.value.size() > 18 ||
      !std::all_of(param.value.begin(), param.value.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "expected a non-negative integer",
                           param.name);
  }
  return std::stoll(param.value);
}

std::string QueryWithoutCursor(std::string_view query) {
  std::string kept;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty() && pair.rfind("_cursor=", 0) != 0) {
      kept += kept.empty() ? "" : "&";
      kept += pair;
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return kept;
}

rapidjson::Value PagingLinks(const std::string& base, const std::string& query,
                             std::int64_t next_cursor,
                             rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value links(rapidjson::kArrayType);
  links.PushBack(Link("self", base + (query.empty() ? "" : "?" + query), allocator), allocator);
  if (next_cursor > 0) {
    const std::string next =
        base + "?" + query + (query.empty() ? "" : "&") + "_cursor=" + std::to_string(next_cursor);
    links.PushBack(Link("next", next, allocator), allocator);
  }
  return links;
}

}  // namespace tb::app
