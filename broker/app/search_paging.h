#pragma once

// Keyset paging shared by the audit ledger's searches (ledger_search_api) and the patient's
// journey (journey_api): `_count` and `_cursor` (the seq of the last record shown; the next page
// starts after it), and a searchset Bundle's self and next links.

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/search_params.h"
#include "broker/core/result.h"

namespace tb::app {

// A `_count` or `_cursor` value: digits only, at most 18 of them; else a 400 naming `param`.
core::Result<std::int64_t> NonNegativeNumber(const fhir::SearchParam& param);

// `query` (a request's query string) without its `_cursor` pairs.
std::string QueryWithoutCursor(std::string_view query);

// Bundle.link: self (`base`?`query`) and, when `next_cursor` > 0, next (the same with
// `_cursor=next_cursor`). `query` comes from QueryWithoutCursor.
rapidjson::Value PagingLinks(const std::string& base, const std::string& query,
                             std::int64_t next_cursor,
                             rapidjson::Document::AllocatorType& allocator);

}  // namespace tb::app
