// Fuzzes the broker's FHIR REST surface (FhirApi::Handle, and AdminApi for /admin) without
// sockets: requests as the HTTPS server hands them over (after Beast's parser and the TLS
// handshake's identity), from a requester (also an administrator), a secondary-use trust, a peer
// broker or an unknown certificate, against a broker whose record locator lists two trusts for
// two patients and one peer, with the consent API over an in-memory store, SMART tokens and
// pseudonymisation on. Trusts answer through a fake UpstreamClient; blocking work and answers
// run on one queue drained after each request, so a run is deterministic.
//
// Input: up to four requests separated by "\n\x1d\n" (so a Consent stored by one applies to the
// next). Each starts with a flags byte (who asks; whether RGT answers 500, is down or is late),
// then "METHOD TARGET", header lines "Name: value", an empty line, the body, and optionally
// "\n\x1e\n" and the trusts' answer body (else a searchset with the patient and a laboratory
// Observation). "@TOKEN@" in a header becomes an access token issued to RJ1 for
// system/Observation.rs and "@ASSERTION@" in a body a valid client assertion of RJ1's.
//
// Checked, besides no crash or sanitizer report:
//  - every request is answered exactly once, with a status of 200-599 and header fields that
//    need no dropping (no CR, LF or NUL);
//  - a JSON answer parses; an error answer is an OperationOutcome (OAuth JSON at the token
//    endpoint);
//  - an unknown certificate gets 403 (recorded), and a 403 (any refusal of access) sent nothing
//    upstream;
//  - a refusal, released data, and a read or change of where a patient is held (/admin/locator)
//    are on the ledger before they are answered;
//  - upstream requests go only to a registered base URL with its certificate CN, with a target
//    and header fields that cannot split or smuggle a request;
//  - a secondary-use answer carries no NHS number identifier;
//  - a federated answer about one patient holds no resource that names another (a trust's answer
//    may: the fuzzer writes it);
//  - whatever consent the API stored reads back and parses (else every later request for that
//    patient fails closed).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Poco/Crypto/ECKey.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Timestamp.h>
#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "adapters/net/request_id.h"
#include "broker/app/access_record.h"
#include "broker/app/admin_api.h"
#include "broker/app/config.h"
#include "broker/app/consent_api.h"
#include "broker/app/fhir_api.h"
#include "broker/core/clock.h"
#include "broker/core/consent_records.h"
#include "broker/core/log.h"
#include "broker/core/upstream_client.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/access_token.h"
#include "broker/policy/pseudonymise.h"
#include "broker/policy/purpose.h"
#include "broker/routing/federated_query.h"
#include "broker/routing/participant.h"
#include "tests/fuzz/fhir_checks.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/in_memory_inbound_store.h"
#include "tests/support/in_memory_record_locator.h"

namespace {

using namespace tb;
using tb::fuzz::Check;

constexpr std::string_view kRequestSeparator = "\n\x1d\n";
constexpr std::string_view kAnswerSeparator = "\n\x1e\n";
constexpr std::string_view kTokenUrl = "https://broker.test/fhir/auth/token";

constexpr std::string_view kConfig = R"({
  "broker": { "id": "broker-a", "ods": "X26" },
  "listen": { "fhir": "127.0.0.1:8443", "mllp": "127.0.0.1:2575" },
  "tls": { "cert": "b.crt", "key": "b.key", "ca": "ca.crt" },
  "store": { "url": "sqlite::memory:" },
  "participants": [
    { "ods": "RJ1", "cert_cn": "RJ1",
      "scopes": ["system/Patient.rs", "system/Observation.rs", "system/Encounter.rs",
                 "system/Consent.crus"],
      "purposes": ["TREAT", "ETREAT"], "break_glass": true },
    { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:9201/fhir",
      "scopes": ["system/*.rs"], "purposes": ["TREAT"] },
    { "ods": "RXH", "cert_cn": "RXH", "fhir_base": "https://127.0.0.1:9301/fhir/r4",
      "scopes": ["system/Observation.rs?category=laboratory", "system/Patient.rs"],
      "purposes": ["HRESCH"] }
  ],
  "peers": [
    { "id": "broker-b", "cert_cn": "broker-b", "fhir_base": "https://127.0.0.1:9401/fhir",
      "scopes": ["system/*.rs"] }
  ]
})";

constexpr std::string_view kAnswer = R"({"resourceType": "Bundle", "type": "searchset",
 "total": 2, "entry": [
 {"fullUrl": "https://t/fhir/Patient/p1", "search": {"mode": "match"},
  "resource": {"resourceType": "Patient", "id": "p1",
   "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
   "name": [{"family": "Jones", "given": ["Rhian"]}], "birthDate": "1970-01-01"}},
 {"fullUrl": "https://t/fhir/Observation/o1", "search": {"mode": "match"},
  "resource": {"resourceType": "Observation", "id": "o1", "status": "final",
   "category": [{"coding": [{"system":
     "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
   "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
   "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 13.2}}}]})";

std::chrono::system_clock::time_point FixedNow() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1795521600));  // 2026-11-24
}

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return FixedNow(); }
};

// core::ConsentRecords in memory, for one input: the store's checks that the API relies on.
class MemoryConsents final : public core::ConsentRecords {
 public:
  core::Status Put(const core::ConsentRecord& record) override {
    if (record.id.empty() || record.nhs_number.empty() || record.status.empty() ||
        record.json.empty()) {
      return core::MakeError(core::ErrorCode::kInvalidValue, "empty field");
    }
    auto [it, inserted] = records_.insert_or_assign(record.id, record);
    if (!inserted) {
      it->second.created_at_ms = record.created_at_ms;
    }
    return core::Ok();
  }
  core::Result<std::vector<core::ConsentRecord>> GetByNhsNumber(
      const std::string& nhs_number) override {
    std::vector<core::ConsentRecord> found;
    for (const auto& [id, record] : records_) {
      if (record.nhs_number == nhs_number) {
        found.push_back(record);
      }
    }
    return found;
  }
  core::Result<core::ConsentRecord> GetById(const std::string& id) override {
    const auto it = records_.find(id);
    if (it == records_.end()) {
      return core::MakeError(core::ErrorCode::kNotFound, "no such consent");
    }
    return it->second;
  }
  const std::map<std::string, core::ConsentRecord>& records() const { return records_; }

 private:
  std::map<std::string, core::ConsentRecord> records_;
};

// Blocking work and upstream answers, run in order on the fuzzing thread; answers made after an
// audit record is durable come from the ledger's committer thread.
class WorkQueue {
 public:
  void Post(std::function<void()> job) {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    ready_.notify_all();
  }
  void Respond(core::HttpResponse response) {
    std::lock_guard lock(mutex_);
    responses_.push_back(std::move(response));
    ready_.notify_all();
  }
  // Runs jobs until the request has been answered and nothing is left to run; a request left
  // unanswered for seconds with nothing to run is a hang.
  void RunUntilAnswered() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!jobs_.empty()) {
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        job();
        lock.lock();
        continue;
      }
      if (!responses_.empty()) {
        return;
      }
      Check(ready_.wait_for(lock, std::chrono::seconds(10),
                            [this] { return !jobs_.empty() || !responses_.empty(); }));
    }
  }
  std::vector<core::HttpResponse> TakeResponses() {
    std::lock_guard lock(mutex_);
    return std::exchange(responses_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<core::HttpResponse> responses_;
};

enum class TrustState { kAnswers, kServerError, kDown, kLate };

class FakeUpstream final : public core::UpstreamClient {
 public:
  explicit FakeUpstream(WorkQueue& queue) : queue_(queue) {}
  void Send(core::UpstreamRequest request, std::chrono::steady_clock::time_point,
            Callback done) override {
    sent.push_back(request);
    core::Result<core::HttpResponse> reply = core::HttpResponse{};
    const bool rgt = request.expected_cn == "RGT";
    if (rgt && rgt_state == TrustState::kDown) {
      reply = core::MakeError(core::ErrorCode::kUpstreamUnavailable, "connection refused");
    } else if (rgt && rgt_state == TrustState::kLate) {
      reply = core::MakeError(core::ErrorCode::kTimeout, "deadline passed");
    } else {
      reply->status = rgt && rgt_state == TrustState::kServerError ? 500 : 200;
      reply->headers.Set("Content-Type", "application/fhir+json");
      reply->body = answer;
    }
    queue_.Post(
        [done = std::move(done), reply = std::move(reply)]() mutable { done(std::move(reply)); });
  }
  std::vector<core::UpstreamRequest> sent;
  std::string answer;
  TrustState rgt_state = TrustState::kAnswers;

 private:
  WorkQueue& queue_;
};

Poco::Timestamp At(std::chrono::system_clock::time_point time) {
  return Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count()));
}

// What stays the same for every input: the config, the keys, a token and an assertion of RJ1's.
struct Fixture {
  Fixture() {
    auto load = app::ParseBrokerConfig(kConfig, ".", /*check_files=*/false);
    Check(load.config.has_value());
    config = std::move(*load.config);
    directory.emplace(config.participants, config.peers);
    auto pseudonyms = policy::Pseudonymiser::Create("fuzz-key-fuzz-key-fuzz-key-fuzz-key");
    Check(pseudonyms.has_value());
    pseudonymiser.emplace(std::move(*pseudonyms));
    broker_key = NewKey(nullptr);
    client_key = NewKey(&client_public_key);
    rj1_scopes = policy::ScopeSet::Parse(config.participants[0].scopes).value();
    assertion = Assertion("a-startup");
    auto service = NewTokenService();
    auto issued =
        service->Issue({"client_credentials", std::string(policy::kJwtBearerAssertionType),
                        Assertion("a-token"), "system/Observation.rs"},
                       Caller("RJ1"));
    Check(issued.has_value());
    token = "Bearer " + issued->access_token;
  }

  static std::string NewKey(std::string* public_pem) {
    Poco::Crypto::ECKey key("prime256v1");
    std::ostringstream public_out;
    std::ostringstream private_out;
    key.save(&public_out, &private_out);
    if (public_pem != nullptr) {
      *public_pem = public_out.str();
    }
    return private_out.str();
  }

  std::string Assertion(const std::string& jti) const {
    std::istringstream private_pem(client_key);
    Poco::SharedPtr<Poco::Crypto::ECKey> ec = new Poco::Crypto::ECKey(nullptr, &private_pem);
    Poco::JWT::Token claims;
    claims.setType("JWT");
    claims.setIssuer("RJ1");
    claims.setSubject("RJ1");
    claims.setAudience(std::string(kTokenUrl));
    claims.setExpiration(At(FixedNow() + std::chrono::seconds(240)));
    claims.setId(jti);
    Poco::JWT::Signer signer(ec);
    signer.addAlgorithm(Poco::JWT::Signer::ALGO_ES256);
    return signer.sign(claims, Poco::JWT::Signer::ALGO_ES256);
  }

  std::unique_ptr<policy::TokenService> NewTokenService() const {
    auto service = policy::TokenService::Create({"broker-a"}, broker_key, clock);
    Check(service.has_value());
    Check((*service)->AddClient("RJ1", client_public_key).has_value());
    return std::move(*service);
  }

  policy::TokenCaller Caller(const std::string& cn) const {
    return {cn, Fingerprint(cn), std::string(kTokenUrl), &rj1_scopes};
  }

  // A stable stand-in for each certificate's SHA-256 thumbprint.
  static std::string Fingerprint(std::string_view cn) {
    std::string hex(64, '0');
    for (std::size_t i = 0; i < cn.size() && i < 32; ++i) {
      constexpr char kDigits[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(cn[i]);
      hex[2 * i] = kDigits[byte >> 4];
      hex[2 * i + 1] = kDigits[byte & 15];
    }
    return hex;
  }

  app::BrokerConfig config;
  std::optional<routing::ParticipantDirectory> directory;
  std::optional<policy::Pseudonymiser> pseudonymiser;
  FixedClock clock;
  std::string broker_key;
  std::string client_key;
  std::string client_public_key;
  policy::ScopeSet rj1_scopes;
  std::string assertion;
  std::string token;
};

std::vector<std::string_view> Split(std::string_view text, std::string_view separator,
                                    std::size_t at_most) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < at_most) {
    const std::size_t at = text.find(separator);
    if (at == std::string_view::npos) {
      break;
    }
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + separator.size());
  }
  parts.push_back(text);
  return parts;
}

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool IsToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    if (!IsTokenChar(c)) {
      return false;
    }
  }
  return true;
}
// What Beast's parser lets through in a request target or a field value.
bool IsTargetText(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return !text.empty();
}
bool IsFieldValue(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
      return false;
    }
  }
  return true;
}
std::string_view TrimSpace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// The request as the HTTPS server would hand it to the API, or nothing where Beast's parser
// would have refused it. "@CONSENT@" in the target becomes `consent_id`.
std::optional<core::HttpRequest> ReadRequest(std::string_view text, const Fixture& fixture,
                                             std::string_view consent_id) {
  core::HttpRequest request;
  std::size_t line_end = text.find('\n');
  const std::string_view start = TrimSpace(text.substr(0, line_end));
  const std::size_t space = start.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  request.method = std::string(start.substr(0, space));
  request.target = std::string(start.substr(space + 1));
  ReplaceAll(request.target, "@CONSENT@", consent_id);
  if (!IsToken(request.method) || !IsTargetText(request.target)) {
    return std::nullopt;
  }
  while (line_end != std::string_view::npos) {
    text.remove_prefix(line_end + 1);
    line_end = text.find('\n');
    std::string_view line = text.substr(0, line_end);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      request.body =
          line_end == std::string_view::npos ? "" : std::string(text.substr(line_end + 1));
      break;
    }
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view() : TrimSpace(line.substr(colon + 1));
    if (colon == std::string_view::npos || !IsToken(name) || !IsFieldValue(value)) {
      return std::nullopt;
    }
    std::string field(value);
    ReplaceAll(field, "@TOKEN@", fixture.token);
    request.headers.fields.emplace_back(std::string(name), std::move(field));
  }
  ReplaceAll(request.body, "@ASSERTION@", fixture.assertion);
  // The server keeps a well-formed X-Request-ID and replaces any other with a fresh one (here a
  // fixed one, so that a run repeats).
  const std::string offered(request.headers.Get("X-Request-ID"));
  const std::string kept = net::AcceptOrMakeRequestId(offered);
  request.headers.Set("X-Request-ID", kept == offered ? kept : "req-fuzz");
  return request;
}

bool HasNoLineBreaks(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void CheckUpstream(const core::UpstreamRequest& sent, const Fixture& fixture) {
  bool registered = false;
  for (const routing::Participant& participant : fixture.config.participants) {
    registered = registered || (sent.base_url == participant.fhir_base &&
                                sent.expected_cn == participant.cert_cn);
  }
  for (const routing::Peer& peer : fixture.config.peers) {
    registered =
        registered || (sent.base_url == peer.fhir_base && sent.expected_cn == peer.cert_cn);
  }
  Check(registered);
  Check(IsToken(sent.request.method));
  Check(sent.request.target.starts_with("/"));
  for (const char c : sent.request.target) {
    const auto byte = static_cast<unsigned char>(c);
    Check(byte > 0x20 && byte < 0x7f && c != '#');
  }
  for (const auto& [name, value] : sent.request.headers.fields) {
    Check(IsToken(name) && HasNoLineBreaks(value));
  }
}

void CheckResponse(const core::HttpResponse& response, const core::HttpRequest& request,
                   bool secondary_use) {
  Check(response.status >= 200 && response.status <= 599);
  std::string_view content_type;
  for (const auto& [name, value] : response.headers.fields) {
    Check(IsToken(name) && HasNoLineBreaks(value));
    if (core::EqualsIgnoreCase(name, "Content-Type")) {
      content_type = value;
    }
  }
  if (content_type.find("json") == std::string_view::npos) {
    return;
  }
  auto body = fhir::ParseJson(response.body);
  Check(body.has_value() && body->IsObject());
  if (response.status >= 400 && request.Path() != "/fhir/auth/token") {
    Check(fhir::FindString(*body, "resourceType") == "OperationOutcome");
  }
  if (secondary_use && response.status == 200) {
    tb::fuzz::CheckNoNhsNumberSystem(*body);
  }
}

// A federated answer about `patient` holds nothing that names another patient: no Patient whose
// NHS numbers leave this one out, no resource whose subject or patient is another NHS number.
void CheckOnlyThePatient(const core::HttpResponse& response, std::string_view patient) {
  auto body = fhir::ParseJson(response.body);
  const rapidjson::Value* entries =
      body && body->IsObject() ? fhir::FindArray(*body, "entry") : nullptr;
  if (patient.empty() || entries == nullptr) {
    return;
  }
  const auto nhs_number_of =
      [](const rapidjson::Value* identifier) -> std::optional<std::string_view> {
    if (identifier == nullptr || !identifier->IsObject() ||
        fhir::FindString(*identifier, "system") != "https://fhir.nhs.uk/Id/nhs-number") {
      return std::nullopt;
    }
    return fhir::FindString(*identifier, "value");
  };
  for (const rapidjson::Value& entry : entries->GetArray()) {
    const rapidjson::Value* resource =
        entry.IsObject() ? fhir::FindObject(entry, "resource") : nullptr;
    if (resource == nullptr) {
      continue;
    }
    if (fhir::FindString(*resource, "resourceType") == "Patient") {
      bool named = false;
      bool has_nhs_number = false;
      if (const rapidjson::Value* identifiers = fhir::FindArray(*resource, "identifier")) {
        for (const rapidjson::Value& identifier : identifiers->GetArray()) {
          const auto nhs_number = nhs_number_of(&identifier);
          named = named || nhs_number == patient;
          has_nhs_number = has_nhs_number || nhs_number.has_value();
        }
      }
      Check(named || !has_nhs_number);
    }
    for (const char* member : {"subject", "patient"}) {
      const rapidjson::Value* reference = fhir::FindObject(*resource, member);
      const auto nhs_number = nhs_number_of(
          reference != nullptr ? fhir::FindObject(*reference, "identifier") : nullptr);
      Check(!nhs_number || *nhs_number == patient);
    }
  }
}

void CheckStoredConsents(const MemoryConsents& records, const core::Clock& clock) {
  app::RecordsConsentStore store(const_cast<MemoryConsents&>(records), clock);
  for (const auto& [id, record] : records.records()) {
    Check(store.GetById(id).has_value());
    Check(store.GetByNhsNumber(record.nhs_number).has_value());
  }
}

// The info lines the broker logs, collected per request: each must be one JSON object and name
// no patient (docs/policy.md: no NHS numbers or clinical data at info level).
class LogLines {
 public:
  static LogLines& Install() {
    static LogLines lines;
    core::SetLogLevel(core::LogLevel::kInfo);
    core::SetLogSink([](std::string_view line) { lines.lines_.emplace_back(line); });
    return lines;
  }
  // `allowed` may appear: a value the client chose itself (its X-Request-ID).
  void Check(std::string_view allowed) {
    core::FlushLog();
    for (const std::string& line : lines_) {
      auto parsed = fhir::ParseJson(line);
      tb::fuzz::Check(parsed.has_value() && parsed->IsObject());
      for (const std::string_view patient : {"9000000009", "9434765919"}) {
        tb::fuzz::Check(line.find(patient) == std::string::npos ||
                        allowed.find(patient) != std::string_view::npos);
      }
    }
    lines_.clear();
  }

 private:
  std::vector<std::string> lines_;
};

// The records in the ledger so far.
std::int64_t Recorded(ledger::InMemoryLedgerStore& store) {
  auto last = store.Last();
  Check(last.has_value());
  return *last ? (*last)->seq : 0;
}

// Whether a 200 answer released any resource other than an OperationOutcome.
bool ReleasesData(const core::HttpResponse& response) {
  if (response.status != 200) {
    return false;
  }
  auto body = fhir::ParseJson(response.body);
  if (!body || !body->IsObject()) {
    return false;
  }
  if (fhir::FindString(*body, "resourceType") != "Bundle") {
    return false;
  }
  const rapidjson::Value* entries = fhir::FindArray(*body, "entry");
  if (entries == nullptr) {
    return false;
  }
  for (const rapidjson::Value& entry : entries->GetArray()) {
    const rapidjson::Value* resource =
        entry.IsObject() ? fhir::FindObject(entry, "resource") : nullptr;
    if (resource != nullptr && fhir::FindString(*resource, "resourceType") != "OperationOutcome") {
      return true;
    }
  }
  return false;
}

// The "next" link of a paged searchset, as a target on this broker ("/fhir/_page?...",
// "/fhir/AuditEvent?..._cursor=..."), or empty.
std::string NextPage(const core::HttpResponse& response) {
  auto body = fhir::ParseJson(response.body);
  const rapidjson::Value* links =
      body && body->IsObject() ? fhir::FindArray(*body, "link") : nullptr;
  if (links == nullptr) {
    return {};
  }
  for (const rapidjson::Value& link : links->GetArray()) {
    if (link.IsObject() && fhir::FindString(link, "relation") == "next") {
      const std::string_view url = fhir::FindString(link, "url").value_or("");
      const std::size_t at = url.find("/fhir/");
      return at == std::string_view::npos ? std::string() : std::string(url.substr(at));
    }
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  static LogLines& log = LogLines::Install();
  static const bool trace = std::getenv("TB_FUZZ_TRACE") != nullptr;
  if (size == 0 || size > 64 * 1024) {
    return 0;
  }
  WorkQueue queue;
  FakeUpstream upstream(queue);
  MemoryConsents consents;
  ledger::InMemoryLedgerStore ledger_store;
  auto ledger = ledger::Ledger::Open(ledger_store, fixture.clock, nullptr, {0, 1024});
  Check(ledger.has_value());
  const std::unique_ptr<policy::TokenService> tokens = fixture.NewTokenService();
  routing::FederatedQuerySettings settings;
  settings.self_id = fixture.config.broker_id;
  settings.self_ods = fixture.config.broker_ods;
  const auto blocking = [&queue](std::function<void()> work) { queue.Post(std::move(work)); };
  // Per input: the admin endpoints change it.
  testing::InMemoryRecordLocator locator;
  for (const char* nhs_number : {"9000000009", "9434765919"}) {
    for (const char* ods : {"RGT", "RXH"}) {
      Check(locator.Announce(nhs_number, ods, "admin", 0).has_value());
    }
  }
  testing::InMemoryOutboundQueue outbound(fixture.clock);
  routing::FederatedQuery federation(settings, *fixture.directory, locator, upstream, fixture.clock,
                                     blocking);
  app::PolicyServices policy;
  policy.consents = &consents;
  policy.pseudonymiser = &*fixture.pseudonymiser;
  policy.clock = &fixture.clock;
  policy.ledger = ledger->get();
  policy.tokens = tokens.get();
  const app::FhirApi api(fixture.config, *fixture.directory, &federation, blocking, policy);
  // /admin/..., as the broker's HTTPS server routes it: RJ1 is an administrator.
  const app::AdminApi admin({"RJ1"}, *fixture.directory, locator, &outbound, fixture.clock,
                            blocking, ledger->get(), fixture.config.broker_ods);

  // One request through the API; returns its answer after the checks that need only it.
  const auto exchange = [&](core::HttpRequest request) {
    const std::string who = request.peer.subject_cn;
    const auto purpose = policy::ParsePurposeOfUse(
        request.headers.Has("X-Purpose-Of-Use")
            ? std::optional<std::string_view>(request.headers.Get("X-Purpose-Of-Use"))
            : std::nullopt);
    const bool secondary_use = purpose && policy::RequiresPseudonymisation(*purpose);
    const core::HttpRequest sent_request = request;
    upstream.sent.clear();
    const std::int64_t recorded_before = Recorded(ledger_store);
    const auto respond = [&queue](core::HttpResponse response) {
      queue.Respond(std::move(response));
    };
    if (app::AdminApi::Handles(request.Path())) {
      admin.Handle(std::move(request), respond);
    } else {
      api.Handle(std::move(request), respond);
    }
    queue.RunUntilAnswered();
    std::vector<core::HttpResponse> responses = queue.TakeResponses();
    Check(responses.size() == 1);
    const core::HttpResponse& response = responses.front();
    if (trace) {  // TB_FUZZ_TRACE=1: what each request got, to check that seeds reach their path
      std::fprintf(stderr, "%s %s %s -> %d, %zu upstream\n", who.c_str(),
                   sent_request.method.c_str(), sent_request.target.c_str(), response.status,
                   upstream.sent.size());
      if (std::getenv("TB_FUZZ_TRACE_BODY") != nullptr) {
        std::fprintf(stderr, "%s\n", response.body.c_str());
      }
    }
    CheckResponse(response, sent_request, secondary_use);
    // The stores here do not fail: a 5xx would be the broker's own fault.
    Check(response.status < 500 || response.status == 501);
    if (who == "EVIL") {  // refused and recorded (unless it asked the admin API)
      Check(response.status == 403);
      Check(Recorded(ledger_store) > recorded_before || sent_request.Path().starts_with("/admin/"));
    } else if (response.status == 403 || ReleasesData(response) ||
               (sent_request.Path().starts_with("/admin/locator") && response.status < 300)) {
      // Refusals and disclosures are both on the record before they are answered, and so is
      // where a patient is held (read or changed); a refused administrator is only logged.
      Check(Recorded(ledger_store) > recorded_before ||
            (response.status == 403 && sent_request.Path().starts_with("/admin/")));
    }
    if (response.status == 403) {
      Check(upstream.sent.empty());
    }
    if (!upstream.sent.empty()) {  // a federated search or $everything: about one patient only
      std::string patient = app::PatientNamedIn(sent_request.Query());
      if (patient.empty() && sent_request.method == "POST") {
        patient = app::PatientNamedIn(sent_request.body);
      }
      CheckOnlyThePatient(response, patient);
    }
    for (const core::UpstreamRequest& sent : upstream.sent) {
      CheckUpstream(sent, fixture);
    }
    CheckStoredConsents(consents, fixture.clock);
    log.Check(sent_request.headers.Get("X-Request-ID"));
    return std::move(responses.front());
  };

  constexpr const char* kWho[] = {"RJ1", "RXH", "broker-b", "EVIL"};
  std::string consent_id = "none";  // the last Consent created, for "@CONSENT@"
  for (const std::string_view part :
       Split(std::string_view(reinterpret_cast<const char*>(data), size), kRequestSeparator, 4)) {
    if (part.empty()) {
      continue;
    }
    const auto flags = static_cast<std::uint8_t>(part[0]);
    const std::vector<std::string_view> pieces = Split(part.substr(1), kAnswerSeparator, 2);
    auto request = ReadRequest(pieces[0], fixture, consent_id);
    if (!request) {
      continue;
    }
    const std::string who = kWho[flags & 3u];
    request->peer.subject_cn = who;
    request->peer.fingerprint_sha256 = Fixture::Fingerprint(who);
    request->peer.remote_address = "127.0.0.1:50000";
    upstream.answer = std::string(pieces.size() > 1 ? pieces[1] : kAnswer);
    upstream.rgt_state = static_cast<TrustState>((flags >> 2) & 3u);
    const core::HttpRequest first = *request;
    const core::HttpResponse answer = exchange(std::move(*request));
    if (const std::string_view location = answer.headers.Get("Location");
        answer.status == 201 && location.starts_with("Consent/")) {
      consent_id = std::string(location.substr(8, location.find('/', 8) - 8));
    }
    // A paged search (federated or of the ledger): its next page, by the same requester. A
    // journey asked by POST keeps its identifier in the form: the same form goes to the link.
    if (const std::string next = NextPage(answer); !next.empty() && answer.status == 200) {
      core::HttpRequest page = first;
      page.target = next;
      if (!(first.method == "POST" && first.Path() == "/fhir/Patient/$journey")) {
        page.method = "GET";
        page.body.clear();
      }
      const core::HttpResponse second = exchange(std::move(page));
      Check(second.status == 200);
    }
  }
  return 0;
}
