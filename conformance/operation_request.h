#pragma once

#include <string>
#include <string_view>

#include "broker/core/result.h"
#include "conformance/test_script.h"

namespace tb::conformance {

struct PlannedRequest {
  std::string method;  // upper case
  std::string url;     // absolute
};

// The method and URL of a TestScript operation whose strings are already substituted.
//   url set:      the url (absolute, or relative to `base_url`);
//   read/vread/update/patch/delete:  [type][params], or [type]/[target_id] without params;
//   search/create/history: [type][params] (history without params: [type][/target_id]/_history);
//   capabilities: metadata;  transaction/batch: the base;
//   other codes:  custom operations, [type/][target_id/]$code[params].
// Default methods: GET for reads, searches, history, capabilities and custom operations
// without a body; POST for create, transaction, batch and custom operations with a body; PUT
// for update; PATCH; DELETE. `operation.method` overrides. Errors: kInvalidValue for an
// operation without type code and url, or a read/update/delete with neither params nor target.
core::Result<PlannedRequest> PlanRequest(const Operation& operation, std::string_view base_url,
                                         std::string_view target_id, bool has_body);

// encodeRequestUrl: percent-encodes the bytes a URL may not carry literally (space, '|', '"',
// '<', '>', '\\', '^', '`', '{', '}', non-ASCII and controls); '%' escapes already present stay.
std::string EncodeRequestUrl(std::string_view url);

}  // namespace tb::conformance
