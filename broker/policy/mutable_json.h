#pragma once

#include <string_view>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"

// Internal to tb::policy: editing RapidJSON objects in place. Lookups go through HasMember and
// operator[], and member loops count instead of comparing iterators, because clang 14 in C++20
// mode flags comparisons of RapidJSON 1.1.0's non-const member iterators as ambiguous
// (-Wambiguous-reversed-operator), as adapters/fhir/validate.cpp notes too.
namespace tb::policy::internal {

// The member `name` of `object`, or nullptr when `object` is not an object or lacks it.
inline rapidjson::Value* MutableMember(rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) {
    return nullptr;
  }
  const rapidjson::Value key(fhir::Ref(name));
  if (!object.HasMember(key)) {
    return nullptr;
  }
  return &object[key];
}

// Removes `name`, keeping the order of the other members (RemoveMember would reorder them).
inline bool EraseMember(rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) {
    return false;
  }
  const rapidjson::Value key(fhir::Ref(name));
  return object.EraseMember(key);
}

// Calls fn(name, value) for every member of `object` (an object), in order. `fn` must not add
// or remove members.
template <typename Fn>
void ForEachMember(rapidjson::Value& object, Fn&& fn) {
  const rapidjson::SizeType count = object.MemberCount();
  rapidjson::Value::MemberIterator it = object.MemberBegin();
  for (rapidjson::SizeType i = 0; i < count; ++i, ++it) {
    fn(fhir::StringOf(it->name), it->value);
  }
}

}  // namespace tb::policy::internal
