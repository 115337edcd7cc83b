#pragma once

// Internal to the FHIR -> v2 mapper (fhir_to_v2*.cpp): reading the input JSON while keeping the
// first error with its FHIRPath location (Reader), and the input's resources with reference
// resolution inside a Bundle and to contained resources (Index).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "broker/core/result.h"

namespace tb::mappings::f2v {

using core::ErrorCode;
using rapidjson::Value;

// ---- reading JSON, keeping the first error -----------------------------------------------------

// Reads optional members and remembers the first problem, so the mapping code reads like the
// field list it implements and still reports an exact location.
class Reader {
 public:
  std::optional<std::string_view> Str(const Value& obj, std::string_view name,
                                      std::string_view path) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->IsString()) {
      WrongType(path, name);
      return std::nullopt;
    }
    return fhir::StringOf(*v);
  }
  // The member if present and of the wanted kind; a wrong kind is recorded (WrongType).
  const Value* Typed(const Value& obj, std::string_view name, std::string_view path,
                     bool (Value::*is_kind)() const) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return nullptr;
    }
    if (!(v->*is_kind)()) {
      WrongType(path, name);
      return nullptr;
    }
    return v;
  }
  const Value* Obj(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsObject);
  }
  const Value* Arr(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsArray);
  }
  const Value* Num(const Value& obj, std::string_view name, std::string_view path) {
    return Typed(obj, name, path, &Value::IsNumber);
  }
  std::optional<bool> Bool(const Value& obj, std::string_view name, std::string_view path) {
    const Value* v = fhir::FindMember(obj, name);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->IsBool()) {
      WrongType(path, name);
      return std::nullopt;
    }
    return v->GetBool();
  }
  // Elements of an array member that are objects; others are reported as wrong types.
  template <typename F>
  void ForEachObject(const Value& obj, std::string_view name, std::string_view path, F&& f) {
    const Value* arr = Arr(obj, name, path);
    if (arr == nullptr) {
      return;
    }
    std::size_t i = 0;
    for (const Value& item : arr->GetArray()) {
      std::string item_path = Join(path, name) + "[" + std::to_string(i) + "]";
      if (!item.IsObject()) {
        Fail(ErrorCode::kInvalidValue, "wrong JSON type (object expected)", item_path);
      } else {
        f(item, item_path);
      }
      ++i;
    }
  }
  // Strings of an array member.
  std::vector<std::string_view> Strings(const Value& obj, std::string_view name,
                                        std::string_view path) {
    std::vector<std::string_view> out;
    const Value* arr = Arr(obj, name, path);
    if (arr == nullptr) {
      return out;
    }
    std::size_t i = 0;
    for (const Value& item : arr->GetArray()) {
      if (!item.IsString()) {
        Fail(ErrorCode::kInvalidValue, "wrong JSON type (string expected)",
             Join(path, name) + "[" + std::to_string(i) + "]");
      } else {
        out.push_back(fhir::StringOf(item));
      }
      ++i;
    }
    return out;
  }
  // A FHIR date/dateTime/instant member as DTM; empty when absent or bad (bad is reported).
  std::string Dtm(const Value& obj, std::string_view name, std::string_view path) {
    std::optional<std::string_view> text = Str(obj, name, path);
    if (!text) {
      return {};
    }
    core::Result<std::string> dtm = FhirDateTimeToDtm(*text);
    if (!dtm) {
      Fail(ErrorCode::kInvalidValue, dtm.error().message, Join(path, name));
      return {};
    }
    return *std::move(dtm);
  }

  void Fail(ErrorCode code, std::string message, std::string location) {
    if (!error_) {
      error_ = core::MakeError(code, std::move(message), std::move(location));
    }
  }
  void Fail(core::Error error) {
    if (!error_) {
      error_ = std::move(error);
    }
  }
  bool ok() const { return !error_.has_value(); }
  core::Error TakeError() { return std::move(*error_); }

  static std::string Join(std::string_view path, std::string_view name) {
    std::string out(path);
    if (!out.empty()) {
      out.push_back('.');
    }
    out.append(name);
    return out;
  }

 private:
  void WrongType(std::string_view path, std::string_view name) {
    Fail(ErrorCode::kInvalidValue, "wrong JSON type", Join(path, name));
  }

  std::optional<core::Error> error_;
};

// ---- the resources of the input and reference resolution --------------------------------------

struct Res {
  const Value* value = nullptr;
  std::string_view type;
  std::string_view id;
  std::string_view full_url;
  std::string path;               // FHIRPath of the resource, e.g. "Bundle.entry[2].resource"
  std::ptrdiff_t container = -1;  // index of the resource that contains this one
};

class Index {
 public:
  void Add(const Value& resource, std::string path, std::string_view full_url,
           std::ptrdiff_t container, Reader& reader) {
    Res res;
    res.value = &resource;
    res.type = reader.Str(resource, "resourceType", path).value_or("");
    res.id = reader.Str(resource, "id", path).value_or("");
    res.full_url = full_url;
    res.path = std::move(path);
    res.container = container;
    const std::ptrdiff_t self = static_cast<std::ptrdiff_t>(all_.size());
    all_.push_back(res);
    if (container < 0) {
      const std::string base = all_.back().path;
      reader.ForEachObject(resource, "contained", base,
                           [&](const Value& contained, const std::string& contained_path) {
                             Add(contained, contained_path, {}, self, reader);
                           });
    }
  }

  const std::vector<Res>& all() const { return all_; }

  std::vector<const Res*> OfType(std::string_view type) const {
    std::vector<const Res*> out;
    for (const Res& res : all_) {
      if (res.type == type && res.container < 0) {
        out.push_back(&res);
      }
    }
    return out;
  }

  // Builds the lookup tables; call once after the last Add. Lookups are hashed so a Bundle of
  // many entries with many references costs linear time, not quadratic.
  void Finish() {
    for (std::size_t i = 0; i < all_.size(); ++i) {
      const Res& res = all_[i];
      if (res.container >= 0) {
        contained_.try_emplace(std::to_string(res.container) + "#" + std::string(res.id), i);
        continue;
      }
      if (!res.full_url.empty()) {
        by_url_.try_emplace(std::string(res.full_url), i);
      }
      if (!res.id.empty()) {
        by_type_id_.try_emplace(std::string(res.type) + "/" + std::string(res.id), i);
      }
    }
  }

  // The resource a Reference points at, or nullptr (not in the input, or no reference string).
  const Res* Resolve(const Value* reference, const Res& from, Reader& reader,
                     std::string_view path) const {
    if (reference == nullptr) {
      return nullptr;
    }
    std::optional<std::string_view> ref = reader.Str(*reference, "reference", path);
    if (!ref || ref->empty()) {
      return nullptr;
    }
    if (ref->front() == '#') {
      const std::ptrdiff_t owner = from.container >= 0 ? from.container : IndexOf(from);
      return Lookup(contained_, std::to_string(owner) + std::string(*ref));
    }
    if (const Res* res = Lookup(by_url_, std::string(*ref))) {
      return res;
    }
    // "Type/id", or an absolute URL or versioned reference ending in Type/id[/_history/n].
    std::string_view rel = *ref;
    if (const std::size_t hist = rel.find("/_history/"); hist != std::string_view::npos) {
      rel = rel.substr(0, hist);
    }
    const std::size_t slash = rel.rfind('/');
    if (slash == std::string_view::npos || slash == 0) {
      return nullptr;
    }
    const std::string_view id = rel.substr(slash + 1);
    std::string_view type = rel.substr(0, slash);
    if (const std::size_t prev = type.rfind('/'); prev != std::string_view::npos) {
      type = type.substr(prev + 1);
    }
    return Lookup(by_type_id_, std::string(type) + "/" + std::string(id));
  }

 private:
  using Table = std::unordered_map<std::string, std::size_t>;

  const Res* Lookup(const Table& table, const std::string& key) const {
    const auto found = table.find(key);
    return found == table.end() ? nullptr : &all_[found->second];
  }
  std::ptrdiff_t IndexOf(const Res& res) const { return &res - all_.data(); }

  std::vector<Res> all_;
  Table by_url_;
  Table by_type_id_;
  Table contained_;
};

}  // namespace tb::mappings::f2v
