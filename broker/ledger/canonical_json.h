#pragma once

#include <string>

#include <rapidjson/document.h>

#include "broker/core/result.h"

namespace tb::ledger {

// The ledger's canonical JSON (docs/ledger.md): UTF-8, no whitespace, object members sorted by
// the bytes of their UTF-8 names (shorter first on a common prefix), strings escaped as
// RapidJSON's Writer does (only '"', '\\' and control characters; everything else verbatim),
// numbers only as integers (int64/uint64; a non-integer number is refused, kInvalidValue, so
// that no floating-point formatting enters a hash). Arrays keep their order.
// Thread-safety: reentrant. Recursion follows the value's depth: call it on values built here
// or parsed with fhir::ParseJson's depth limit.
core::Result<std::string> CanonicalJson(const rapidjson::Value& value);

}  // namespace tb::ledger
