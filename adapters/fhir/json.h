#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/json_string.h"  // AppendJsonString, used with ToJson
#include "broker/core/result.h"

// FHIR JSON on RapidJSON: parsing untrusted text with limits, and accessors that never call a
// RapidJSON getter without checking the type first (RapidJSON's getters only assert).
//
// Ownership: a rapidjson::Document owns its values through its allocator. Values returned by the
// accessors below are borrowed from the Document passed in and must not outlive it. To move a
// value into another Document, deep-copy it with CopyFrom(value, other.GetAllocator()).
// Thread-safety: all functions are reentrant; a Document may be read from several threads at
// once but not written while read.
namespace tb::fhir {

struct JsonLimits {
  // Bodies larger than this are refused before parsing (kTooLarge).
  std::size_t max_bytes = 16 * 1024 * 1024;
  // Deepest nesting of objects and arrays; the root object is depth 1 (kTooLarge). FHIR content
  // rarely goes beyond 20 (Bundle > entry > resource > contained > extension > ...).
  std::size_t max_depth = 64;
  // FHIR forbids repeated member names; allowing them lets two readers see different values.
  bool reject_duplicate_keys = true;
};

// Parses `text` as one JSON value with RapidJSON's iterative parser (bounded stack), validating
// UTF-8 and the limits above. Errors:
//   kTooLarge     size or depth over the limit; location "offset N" (or empty for size)
//   kInvalidValue not JSON, invalid UTF-8 or a duplicate key; location "offset N" (byte offset),
//                 or the JSON pointer of the object holding a duplicate key.
// Messages never contain any of the payload text.
core::Result<rapidjson::Document> ParseJson(std::string_view text, const JsonLimits& limits = {});

// ParseJson with the same checks and errors, parsed in place: the Document's strings point into
// `text` (unescaped there) instead of being copied, about half the cost of copying each string.
// `text` is overwritten and must outlive the Document, at the same address (hold it where it
// never moves: a short std::string's bytes move with it). On an error `text` may already be
// overwritten.
core::Result<rapidjson::Document> ParseJsonInPlace(std::string& text,
                                                   const JsonLimits& limits = {});

// Compact JSON, the same text as RapidJSON's Writer<StringBuffer> (same escapes and number
// forms), written a run of plain characters at a time instead of a character at a time. Invalid
// UTF-8 inside strings cannot arise from ParseJson; values built by hand are written as they are.
// A NaN or infinite double (never parsed, only built by hand) is written as null.
std::string ToJson(const rapidjson::Value& value);
// ToJson appended to `out`.
void AppendJson(std::string& out, const rapidjson::Value& value);
// Indented JSON (PrettyWriter, 2 spaces), for humans and golden files.
std::string ToPrettyJson(const rapidjson::Value& value);

// ---- accessors -------------------------------------------------------------------------------
// `path` is the FHIRPath of `object` (e.g. "Patient.name[0]") and prefixes the location of any
// error, so "Patient" + "birthDate" reports at "Patient.birthDate". A member that is present but
// JSON null counts as present with the wrong type.

// The member `name` of `object`, or nullptr when `object` is not an object or has no such member.
const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name);

// Optional members: nullopt / nullptr when absent *or* of another type. Use the Get* forms when
// a wrong type must be reported.
std::optional<std::string_view> FindString(const rapidjson::Value& object, std::string_view name);
const rapidjson::Value* FindObject(const rapidjson::Value& object, std::string_view name);
const rapidjson::Value* FindArray(const rapidjson::Value& object, std::string_view name);

// Required members: kRequiredFieldMissing when absent, kInvalidValue when of another type.
// The string_view borrows from `object`'s Document. Pointers are never null on success.
core::Result<std::string_view> GetString(const rapidjson::Value& object, std::string_view name,
                                         std::string_view path = {});
core::Result<const rapidjson::Value*> GetObject(const rapidjson::Value& object,
                                                std::string_view name, std::string_view path = {});
core::Result<const rapidjson::Value*> GetArray(const rapidjson::Value& object,
                                               std::string_view name, std::string_view path = {});
core::Result<bool> GetBool(const rapidjson::Value& object, std::string_view name,
                           std::string_view path = {});
// Integers must be JSON integers that fit in int64 (1.0 is refused).
core::Result<std::int64_t> GetInt64(const rapidjson::Value& object, std::string_view name,
                                    std::string_view path = {});
core::Result<double> GetNumber(const rapidjson::Value& object, std::string_view name,
                               std::string_view path = {});

// A string view of a value that IsString(); the caller has checked.
inline std::string_view StringOf(const rapidjson::Value& string_value) {
  return {string_value.GetString(), string_value.GetStringLength()};
}

// A RapidJSON string reference to `text` without copying; `text` must outlive the use.
inline rapidjson::Value::StringRefType Ref(std::string_view text) {
  // RapidJSON asserts on a null pointer even for length 0.
  return text.empty()
             ? rapidjson::StringRef("", 0)
             : rapidjson::StringRef(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// A string value copying `text` into `allocator`.
rapidjson::Value StringValue(std::string_view text, rapidjson::Document::AllocatorType& allocator);

}  // namespace tb::fhir
