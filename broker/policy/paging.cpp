#include "broker/policy/paging.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

#include <openssl/rand.h>

#include "adapters/fhir/json.h"
#include "broker/core/whole_number.h"
#include "broker/policy/mutable_json.h"

namespace tb::policy {
namespace {

using core::ErrorCode;
using core::MakeError;
using rapidjson::Value;

bool IsMatch(const Value& entry) {
  const Value* resource = fhir::FindObject(entry, "resource");
  if (resource != nullptr &&
      fhir::FindString(*resource, "resourceType").value_or("") == "OperationOutcome") {
    return false;
  }
  const Value* search = fhir::FindObject(entry, "search");
  const std::optional<std::string_view> mode =
      search != nullptr ? fhir::FindString(*search, "mode") : std::nullopt;
  return !mode || *mode == "match";
}

bool IsOutcome(const Value& entry) {
  const Value* resource = fhir::FindObject(entry, "resource");
  return resource != nullptr &&
         fhir::FindString(*resource, "resourceType").value_or("") == "OperationOutcome";
}

void AddLink(Value& links, std::string_view relation, const std::string& url,
             rapidjson::Document::AllocatorType& alloc) {
  Value link(rapidjson::kObjectType);
  link.AddMember("relation",
                 Value(relation.data(), static_cast<rapidjson::SizeType>(relation.size()), alloc),
                 alloc);
  link.AddMember("url", Value(url.c_str(), static_cast<rapidjson::SizeType>(url.size()), alloc),
                 alloc);
  links.PushBack(link, alloc);
}

// _summary and _elements, in any letter case (a trust may match names loosely; stricter to drop).
bool IsSubsettingParameter(std::string_view name) {
  const auto equals = [&](std::string_view expected) {
    return name.size() == expected.size() &&
           std::equal(name.begin(), name.end(), expected.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  return equals("_summary") || equals("_elements");
}

}  // namespace

core::Result<ResultControl> TakeResultControl(std::vector<fhir::SearchParam>& params) {
  ResultControl control;
  bool seen_total = false;
  bool seen_summary = false;
  std::vector<fhir::SearchParam> kept;
  kept.reserve(params.size());
  for (fhir::SearchParam& param : params) {
    if (param.name == "_count") {
      if (control.has_count) {
        return MakeError(ErrorCode::kInvalidValue, "_count may be given once", "_count");
      }
      const std::optional<std::size_t> parsed = core::ParseWholeNumber<std::size_t>(param.value);
      if (!parsed || *parsed > kMaxPageSize) {
        return MakeError(ErrorCode::kInvalidValue,
                         "_count must be a whole number from 0 to " + std::to_string(kMaxPageSize),
                         "_count");
      }
      control.has_count = true;
      control.count = *parsed;
      control.summary_count = control.summary_count || *parsed == 0;
      continue;
    }
    if (param.name == "_total") {
      if (seen_total) {
        return MakeError(ErrorCode::kInvalidValue, "_total may be given once", "_total");
      }
      seen_total = true;
      if (param.value == "none") {
        control.total_none = true;
      } else if (param.value != "estimate" && param.value != "accurate") {
        return MakeError(ErrorCode::kInvalidValue, "_total must be none, estimate or accurate",
                         "_total");
      }
      continue;  // the broker always counts exactly what it releases
    }
    if (IsSubsettingParameter(param.name)) {
      // Never forwarded: a trust that honours _summary or _elements leaves out the elements
      // consent is judged on (code, security labels), and the filter would release the rest.
      // The broker answers with full resources, as a server that does not support them does.
      if (param.name == "_summary") {
        if (seen_summary) {
          return MakeError(ErrorCode::kInvalidValue, "_summary may be given once", "_summary");
        }
        seen_summary = true;
        control.summary_count = control.summary_count || param.value == "count";
      }
      continue;
    }
    kept.push_back(std::move(param));
  }
  params = std::move(kept);
  return control;
}

std::size_t CountMatches(const Value& bundle) {
  const Value* entries = fhir::FindArray(bundle, "entry");
  std::size_t matches = 0;
  if (entries != nullptr) {
    for (const Value& entry : entries->GetArray()) {
      matches += IsMatch(entry) ? 1 : 0;
    }
  }
  return matches;
}

void MakeCountOnly(rapidjson::Document& bundle) {
  if (!bundle.IsObject()) {
    return;
  }
  const std::uint64_t matches = CountMatches(bundle);
  internal::EraseMember(bundle, "entry");
  internal::EraseMember(bundle, "total");
  bundle.AddMember("total", Value(matches), bundle.GetAllocator());
}

rapidjson::Document BuildPage(const Value& full, const PageSpec& spec, const ReleasePolicy& policy,
                              FilterReport& report) {
  rapidjson::Document page(rapidjson::kObjectType);
  auto& alloc = page.GetAllocator();
  for (const char* name : {"resourceType", "id", "meta", "type", "timestamp"}) {
    if (full.IsObject() && full.HasMember(name)) {
      page.AddMember(Value(name, alloc), Value(full[name], alloc), alloc);
    }
  }
  const std::size_t total = CountMatches(full);
  const Value* entries = fhir::FindArray(full, "entry");
  Value kept(rapidjson::kArrayType);
  if (entries != nullptr) {
    std::size_t match_index = 0;
    for (const Value& entry : entries->GetArray()) {
      if (IsOutcome(entry)) {
        if (spec.offset == 0) {
          kept.PushBack(Value(entry, alloc), alloc);
        }
        continue;
      }
      if (IsMatch(entry)) {
        const std::size_t index = match_index++;
        if (index >= spec.offset && index - spec.offset < spec.count) {
          kept.PushBack(Value(entry, alloc), alloc);
        }
        continue;
      }
      kept.PushBack(Value(entry, alloc), alloc);  // an include: FilterBundle keeps it if linked
    }
  }
  if (!kept.Empty()) {
    page.AddMember("entry", kept, alloc);
  }
  // Filtered once more: includes not linked to this page's matches go.
  ReleasePolicy again = policy;
  again.add_labels = false;
  report = FilterBundle(page, again);
  internal::EraseMember(page, "total");
  if (!spec.total_none) {
    page.AddMember("total", Value(static_cast<std::uint64_t>(total)), alloc);
  }
  Value links(rapidjson::kArrayType);
  const auto url = [&](std::size_t offset) {
    return spec.url_base + "&offset=" + std::to_string(offset);
  };
  AddLink(links, "self", url(spec.offset), alloc);
  AddLink(links, "first", url(0), alloc);
  if (spec.offset > 0) {
    AddLink(links, "previous", url(spec.offset > spec.count ? spec.offset - spec.count : 0), alloc);
  }
  if (spec.offset + spec.count < total) {
    AddLink(links, "next", url(spec.offset + spec.count), alloc);
  }
  page.AddMember("link", links, alloc);
  return page;
}

PageCache::PageCache(Settings settings, const core::Clock& clock)
    : settings_(settings), clock_(clock) {}

void PageCache::EvictLocked(std::chrono::system_clock::time_point now) {
  while (!slots_.empty() &&
         (now - slots_.front().stored >= settings_.ttl || slots_.size() > settings_.max_entries ||
          bytes_ > settings_.max_bytes)) {
    bytes_ -= slots_.front().search->bundle_json.size();
    slots_.pop_front();
  }
}

core::Result<std::string> PageCache::Put(CachedSearch search) {
  if (search.bundle_json.size() > settings_.max_bytes) {
    return MakeError(ErrorCode::kTooLarge, "the result is too large to page; narrow the search");
  }
  unsigned char random[16];
  if (RAND_bytes(random, sizeof random) != 1) {
    return MakeError(ErrorCode::kInternal, "no random page token");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * sizeof random);
  for (const unsigned char byte : random) {
    token += kHex[byte >> 4U];
    token += kHex[byte & 0x0FU];
  }
  const auto now = clock_.Now();
  std::lock_guard lock(mutex_);
  bytes_ += search.bundle_json.size();
  slots_.push_back(Slot{token, now, std::make_shared<const CachedSearch>(std::move(search))});
  EvictLocked(now);
  return token;
}

std::shared_ptr<const CachedSearch> PageCache::Get(std::string_view token, std::string_view owner) {
  std::lock_guard lock(mutex_);
  EvictLocked(clock_.Now());
  for (const Slot& slot : slots_) {
    if (slot.token == token) {
      return slot.search->owner == owner ? slot.search : nullptr;
    }
  }
  return nullptr;
}

std::size_t PageCache::size() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

}  // namespace tb::policy
