#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/operation_outcome.h"

// Building FHIR R4 Bundles as a DOM (never by gluing strings). Resources are deep-copied into
// the Bundle's own allocator, so the source Documents may be destroyed afterwards.
// Thread-safety: a BundleBuilder is a plain value; use one per thread.
namespace tb::fhir {

enum class BundleType {
  kSearchset,
  kCollection,
  kMessage,
  kTransactionResponse,
  kBatchResponse,
  kHistory,
  kDocument,
};

// "searchset" | "collection" | "message" | "transaction-response" | ...
const char* BundleTypeCode(BundleType type);

enum class SearchMode { kMatch, kInclude, kOutcome };
const char* SearchModeCode(SearchMode mode);

// Bundle.entry.response, for transaction-response and batch-response Bundles.
struct EntryResponse {
  std::string status;         // "201 Created", "200 OK", "404 Not Found" (required)
  std::string location;       // "Patient/123/_history/1"
  std::string etag;           // W/"1"
  std::string last_modified;  // FHIR instant
};

struct BundleEntry {
  std::string full_url;                       // absolute URL or urn:uuid:...; empty = none
  const rapidjson::Value* resource = nullptr;  // copied; not retained
  std::optional<SearchMode> search_mode;       // searchset only
  std::optional<double> search_score;          // 0..1
  std::optional<EntryResponse> response;
};

class BundleBuilder {
 public:
  explicit BundleBuilder(BundleType type);

  BundleBuilder& SetId(std::string_view id);
  // FHIR instant, supplied by the caller (from an injected Clock).
  BundleBuilder& SetTimestamp(std::string_view instant);
  // Bundle.total (searchset/history only): the number of matches, not of entries.
  BundleBuilder& SetTotal(std::uint64_t total);
  // Bundle.link, e.g. ("self", url).
  BundleBuilder& AddLink(std::string_view relation, std::string_view url);

  BundleBuilder& AddEntry(const BundleEntry& entry);
  // A resource entry; in a searchset it gets search.mode `mode`.
  BundleBuilder& AddResource(const rapidjson::Value& resource, std::string_view full_url = {},
                             SearchMode mode = SearchMode::kMatch);
  // An OperationOutcome entry (search.mode "outcome" in a searchset), e.g. "trust RJ1 timed out"
  // with severity warning, so partial results are never silent.
  BundleBuilder& AddOutcome(const std::vector<Issue>& issues, std::string_view full_url = {});

  std::size_t entry_count() const { return entries_.Size(); }

  // The Bundle, members in the specification's order. The builder is left empty.
  rapidjson::Document Build();
  // Build() as compact JSON.
  std::string BuildJson();

 private:
  rapidjson::Document document_;  // owns the allocator of everything below
  BundleType type_;
  std::string id_;
  std::string timestamp_;
  std::optional<std::uint64_t> total_;
  rapidjson::Value links_{rapidjson::kArrayType};
  rapidjson::Value entries_{rapidjson::kArrayType};
};

}  // namespace tb::fhir
