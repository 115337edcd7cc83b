#include "adapters/fhir/bundle.h"

#include "adapters/fhir/json.h"

namespace tb::fhir {

const char* BundleTypeCode(BundleType type) {
  switch (type) {
    case BundleType::kSearchset:
      return "searchset";
    case BundleType::kCollection:
      return "collection";
    case BundleType::kMessage:
      return "message";
    case BundleType::kTransactionResponse:
      return "transaction-response";
    case BundleType::kBatchResponse:
      return "batch-response";
    case BundleType::kHistory:
      return "history";
    case BundleType::kDocument:
      return "document";
  }
  return "collection";
}

const char* SearchModeCode(SearchMode mode) {
  switch (mode) {
    case SearchMode::kMatch:
      return "match";
    case SearchMode::kInclude:
      return "include";
    case SearchMode::kOutcome:
      return "outcome";
  }
  return "match";
}

BundleBuilder::BundleBuilder(BundleType type) : type_(type) { document_.SetObject(); }

BundleBuilder& BundleBuilder::SetId(std::string_view id) {
  id_ = id;
  return *this;
}

BundleBuilder& BundleBuilder::SetTimestamp(std::string_view instant) {
  timestamp_ = instant;
  return *this;
}

BundleBuilder& BundleBuilder::SetTotal(std::uint64_t total) {
  total_ = total;
  return *this;
}

BundleBuilder& BundleBuilder::AddLink(std::string_view relation, std::string_view url) {
  auto& allocator = document_.GetAllocator();
  rapidjson::Value link(rapidjson::kObjectType);
  link.AddMember("relation", StringValue(relation, allocator), allocator);
  link.AddMember("url", StringValue(url, allocator), allocator);
  links_.PushBack(link, allocator);
  return *this;
}

BundleBuilder& BundleBuilder::AddEntry(const BundleEntry& entry) {
  auto& allocator = document_.GetAllocator();
  rapidjson::Value value(rapidjson::kObjectType);
  if (!entry.full_url.empty()) {
    value.AddMember("fullUrl", StringValue(entry.full_url, allocator), allocator);
  }
  if (entry.resource != nullptr) {
    rapidjson::Value copy;
    copy.CopyFrom(*entry.resource, allocator);
    value.AddMember("resource", copy, allocator);
  }
  if (entry.search_mode.has_value() || entry.search_score.has_value()) {
    rapidjson::Value search(rapidjson::kObjectType);
    if (entry.search_mode.has_value()) {
      search.AddMember("mode", rapidjson::StringRef(SearchModeCode(*entry.search_mode)),
                       allocator);
    }
    if (entry.search_score.has_value()) {
      search.AddMember("score", *entry.search_score, allocator);
    }
    value.AddMember("search", search, allocator);
  }
  if (entry.response.has_value()) {
    const EntryResponse& response = *entry.response;
    rapidjson::Value out(rapidjson::kObjectType);
    out.AddMember("status", StringValue(response.status, allocator), allocator);
    if (!response.location.empty()) {
      out.AddMember("location", StringValue(response.location, allocator), allocator);
    }
    if (!response.etag.empty()) {
      out.AddMember("etag", StringValue(response.etag, allocator), allocator);
    }
    if (!response.last_modified.empty()) {
      out.AddMember("lastModified", StringValue(response.last_modified, allocator), allocator);
    }
    value.AddMember("response", out, allocator);
  }
  entries_.PushBack(value, allocator);
  return *this;
}

BundleBuilder& BundleBuilder::AddResource(const rapidjson::Value& resource,
                                          std::string_view full_url, SearchMode mode) {
  BundleEntry entry;
  entry.full_url = full_url;
  entry.resource = &resource;
  if (type_ == BundleType::kSearchset) {
    entry.search_mode = mode;
  }
  return AddEntry(entry);
}

BundleBuilder& BundleBuilder::AddOutcome(const std::vector<Issue>& issues,
                                         std::string_view full_url) {
  // Built in a scratch Document and copied by AddEntry, which keeps one code path for entries.
  rapidjson::Document scratch;
  const rapidjson::Value outcome = MakeOperationOutcome(issues, scratch.GetAllocator());
  BundleEntry entry;
  entry.full_url = full_url;
  entry.resource = &outcome;
  if (type_ == BundleType::kSearchset) {
    entry.search_mode = SearchMode::kOutcome;
  }
  return AddEntry(entry);
}

rapidjson::Document BundleBuilder::Build() {
  // Take over the allocator that holds links_ and entries_, so nothing is copied a second time.
  rapidjson::Document bundle;
  bundle.Swap(document_);
  bundle.SetObject();
  auto& allocator = bundle.GetAllocator();
  bundle.AddMember("resourceType", "Bundle", allocator);
  if (!id_.empty()) {
    bundle.AddMember("id", StringValue(id_, allocator), allocator);
  }
  bundle.AddMember("type", rapidjson::StringRef(BundleTypeCode(type_)), allocator);
  if (!timestamp_.empty()) {
    bundle.AddMember("timestamp", StringValue(timestamp_, allocator), allocator);
  }
  if (total_.has_value()) {
    bundle.AddMember("total", static_cast<std::uint64_t>(*total_), allocator);
  }
  if (!links_.Empty()) {
    bundle.AddMember("link", links_, allocator);  // moves
  }
  if (!entries_.Empty()) {
    bundle.AddMember("entry", entries_, allocator);  // moves
  }
  // Leave the builder empty, as documented (document_ now has the fresh allocator).
  document_.SetObject();
  links_.SetArray();
  entries_.SetArray();
  id_.clear();
  timestamp_.clear();
  total_.reset();
  return bundle;
}

std::string BundleBuilder::BuildJson() { return ToJson(Build()); }

}  // namespace tb::fhir
