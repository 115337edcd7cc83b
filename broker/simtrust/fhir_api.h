#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/error.h"
#include "broker/core/http_types.h"
#include "broker/simtrust/patient_store.h"
#include "broker/simtrust/received_log.h"

namespace tb::simtrust {

struct SimFhirApiSettings {
  std::string ods;
  std::string name;
  std::string base_url;              // "https://127.0.0.1:9201/fhir", for fullUrl and source
  std::vector<std::string> clients;  // allowed certificate CNs; empty: any
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  // Searchsets longer than this are answered a page at a time (SimTrustConfig::page_size).
  std::size_t page_size = 0;
};

// The FHIR R4 server of a simulated trust, as a plain function of the request: routing, search,
// read, $everything and message intake (docs/simulate-trust.md lists the routes). Transport,
// latency and failure injection belong to SimulatedTrust.
//
// Handle() is thread-safe and may block briefly: accepting a message appends to the received log
// (file I/O), so call it off the I/O threads; every other request (MayWrite false) only
// reads the in-memory store and may be handled on an I/O thread. Errors are answered as
// OperationOutcome with the status from error_codes.def; nothing throws. Logs no NHS numbers or
// payloads.
class SimFhirApi {
 public:
  // `store`, `received` (may be null: messages are then accepted but not recorded) and `clock`
  // must outlive the API.
  SimFhirApi(SimFhirApiSettings settings, const PatientStore& store, ReceivedLog* received,
             const core::Clock& clock);

  core::HttpResponse Handle(const core::HttpRequest& request);

  // False for the requests that only read the in-memory store (GET, POST .../_search and
  // POST .../$everything); true for every other POST (message intake writes the received log).
  static bool MayWrite(const core::HttpRequest& request);

  // An OperationOutcome response for `error` (application/fhir+json).
  static core::HttpResponse ErrorResponse(const core::Error& error);

  const std::string& capability_statement() const { return capability_statement_; }

 private:
  core::HttpResponse Dispatch(const core::HttpRequest& request);
  core::HttpResponse Search(std::string_view type, const core::HttpRequest& request, bool post);
  core::HttpResponse Read(std::string_view type, std::string_view id);
  core::HttpResponse Everything(const core::HttpRequest& request, std::string_view patient_id,
                                bool post);
  core::HttpResponse AcceptBundle(const core::HttpRequest& request, bool message_only);
  core::HttpResponse Searchset(std::string_view self_type,
                               const std::vector<const StoredResource*>& resources);
  // GET [base]/_page?token=...&offset=N: a further page of a searchset answered a page at a time.
  core::HttpResponse Page(const core::HttpRequest& request);
  // Entries [offset, offset + count) of `resources` as a searchset of `resources.size()` in all,
  // linking `next_url` when it is not empty.
  core::HttpResponse WriteSearchset(std::string_view self_type,
                                    const std::vector<const StoredResource*>& resources,
                                    std::size_t offset, std::size_t count,
                                    const std::string& next_url);
  std::string NextPageUrl(const std::string& token, std::size_t offset) const;
  std::string BuildCapabilityStatement() const;
  // Every stored resource's searchset entry as JSON text, written once at start.
  std::unordered_map<const StoredResource*, std::string> BuildEntryTexts() const;
  // "sim-<8 random hex digits>-": the ids of this trust's answers, unique across restarts.
  static std::string IdPrefix();
  std::string NextId();

  const SimFhirApiSettings settings_;
  const PatientStore& store_;
  ReceivedLog* const received_;
  const core::Clock& clock_;
  const std::string capability_statement_;
  // A searchset is written from these texts and its own id, timestamp, total and self link
  // (the same text BundleBuilder writes), so answering a search costs no DOM copy or
  // re-serialisation of the stored resources: the trusts share a CPU with the broker in
  // scripts/bench.sh and bench/fhir/fanout.sh.
  const std::unordered_map<const StoredResource*, std::string> entry_texts_;
  const std::string id_prefix_;
  std::atomic<std::uint64_t> id_counter_{0};
  // The searchsets being paged (page_size), by token, oldest first: the last kKeptSearchsets.
  struct PagedSearchset {
    std::string token;
    std::string self_type;
    std::vector<const StoredResource*> resources;
  };
  std::mutex pages_mutex_;
  std::deque<PagedSearchset> paged_;  // guarded by pages_mutex_
};

}  // namespace tb::simtrust
