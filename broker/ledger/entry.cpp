#include "broker/ledger/entry.h"

#include <string>
#include <string_view>
#include <utility>

#include "adapters/fhir/json.h"

namespace tb::ledger {
namespace {

constexpr int kEntryVersion = 2;
// The canonical text is written directly (fhir::AppendJsonString escapes exactly as RapidJSON's
// Writer did, so the bytes, and the chain's hashes, are unchanged), members in byte order.
// `first` is true until the object's first member is written.
void Key(std::string& out, bool& first, std::string_view key) {
  out += first ? "" : ",";
  first = false;
  fhir::AppendJsonString(out, key);
  out += ':';
}

void Member(std::string& out, bool& first, std::string_view key, const std::string& value) {
  if (!value.empty()) {
    Key(out, first, key);
    fhir::AppendJsonString(out, value);
  }
}

void Flag(std::string& out, bool& first, std::string_view key, bool value) {
  if (value) {
    Key(out, first, key);
    out += "true";
  }
}

std::string Text(const rapidjson::Value& object, const char* key) {
  const std::optional<std::string_view> value = fhir::FindString(object, key);
  return value ? std::string(*value) : std::string();
}

bool FlagOf(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = fhir::FindMember(object, key);
  return value != nullptr && value->IsBool() && value->GetBool();
}

core::Error NotAnEntry(std::string message) {
  return core::MakeError(core::ErrorCode::kInvalidValue, std::move(message), "ledger entry");
}

core::Result<HopRecord> HopFrom(const rapidjson::Value& facts, const std::string& kind,
                                const std::string& nhs_number) {
  core::Result<HopKind> parsed_kind = ParseHopKind(kind);
  if (!parsed_kind) {
    return std::move(parsed_kind).error();
  }
  core::Result<std::int64_t> time_ms = fhir::GetInt64(facts, "time_ms");
  if (!time_ms) {
    return NotAnEntry("the hop has no time_ms");
  }
  std::int64_t outcome_number = 0;
  if (const rapidjson::Value* outcome = fhir::FindMember(facts, "outcome"); outcome != nullptr) {
    if (!outcome->IsInt()) {
      return NotAnEntry("the hop's outcome is not a number");
    }
    outcome_number = outcome->GetInt();
  }
  core::Result<HopOutcome> outcome = OutcomeFromNumber(outcome_number);
  if (!outcome) {
    return std::move(outcome).error();
  }
  HopRecord hop;
  hop.kind = *parsed_kind;
  hop.time_ms = *time_ms;
  hop.nhs_number = nhs_number;
  hop.broker_ods = Text(facts, "broker");
  hop.consent_decision = Text(facts, "consent");
  hop.derived = FlagOf(facts, "derived");
  hop.destination_ods = Text(facts, "destination");
  hop.source_digest = Text(facts, "digest");
  hop.mapped_v2_to_fhir = FlagOf(facts, "mapped");
  hop.outcome = *outcome;
  hop.outcome_detail = Text(facts, "outcome_detail");
  hop.purpose_of_use = Text(facts, "purpose");
  hop.query = Text(facts, "query");
  hop.request_id = Text(facts, "request_id");
  hop.requester_ods = Text(facts, "requester");
  hop.requester_address = Text(facts, "requester_address");
  hop.scope = Text(facts, "scope");
  hop.source_ods = Text(facts, "source");
  hop.target = Text(facts, "target");
  return hop;
}

}  // namespace

std::string HopFactsJson(const HopRecord& hop) {
  std::string out;
  out.reserve(256);
  bool first = true;
  // Keys in canonical (byte) order; CanonicalJson of the parsed text gives the same bytes.
  out += '{';
  Member(out, first, "broker", hop.broker_ods);
  Member(out, first, "consent", hop.consent_decision);
  Flag(out, first, "derived", hop.derived);
  Member(out, first, "destination", hop.destination_ods);
  Member(out, first, "digest", hop.source_digest);
  Flag(out, first, "mapped", hop.mapped_v2_to_fhir);
  if (hop.outcome != HopOutcome::kSuccess) {
    Key(out, first, "outcome");
    out += std::to_string(OutcomeNumber(hop.outcome));
  }
  Member(out, first, "outcome_detail", hop.outcome_detail);
  Member(out, first, "purpose", hop.purpose_of_use);
  Member(out, first, "query", hop.query);
  Member(out, first, "request_id", hop.request_id);
  Member(out, first, "requester", hop.requester_ods);
  Member(out, first, "requester_address", hop.requester_address);
  Member(out, first, "scope", hop.scope);
  Member(out, first, "source", hop.source_ods);
  Member(out, first, "target", hop.target);
  Key(out, first, "time_ms");
  out += std::to_string(hop.time_ms);
  out += '}';
  return out;
}

std::string EntryJson(std::int64_t seq, std::int64_t recorded_ms, const std::string& kind,
                      const std::string& nhs_number, const std::string& hop_facts) {
  std::string out;
  out.reserve(hop_facts.size() + kind.size() + nhs_number.size() + 80);
  out += "{\"hop\":";
  out += hop_facts;
  out += ",\"kind\":";
  fhir::AppendJsonString(out, kind);
  out += ",\"nhs_number\":";
  fhir::AppendJsonString(out, nhs_number);
  out += ",\"recorded_ms\":";
  out += std::to_string(recorded_ms);
  out += ",\"seq\":";
  out += std::to_string(seq);
  out += ",\"v\":";
  out += std::to_string(kEntryVersion);
  out += '}';
  return out;
}

core::LedgerIndex IndexOf(const HopRecord& hop) {
  return core::LedgerIndex{hop.requester_ods, hop.source_ods, hop.destination_ods, hop.target,
                           OutcomeNumber(hop.outcome)};
}

core::Result<StoredEntry> ReadStoredEntry(const core::LedgerRecord& record) {
  core::Result<rapidjson::Document> doc = fhir::ParseJson(record.canonical);
  if (!doc) {
    return std::move(doc).error();
  }
  if (!doc->IsObject()) {
    return NotAnEntry("ledger entry is not an object");
  }
  StoredEntry entry;
  core::Result<std::int64_t> version = fhir::GetInt64(*doc, "v");
  core::Result<std::int64_t> seq = fhir::GetInt64(*doc, "seq");
  core::Result<std::int64_t> recorded = fhir::GetInt64(*doc, "recorded_ms");
  core::Result<std::string_view> kind = fhir::GetString(*doc, "kind");
  core::Result<std::string_view> nhs = fhir::GetString(*doc, "nhs_number");
  if (!version || !seq || !recorded || !kind || !nhs) {
    return NotAnEntry("ledger entry lacks an envelope member");
  }
  entry.seq = *seq;
  entry.recorded_ms = *recorded;
  entry.kind = std::string(*kind);
  entry.nhs_number = std::string(*nhs);
  if (*version == 1) {
    entry.version = 1;
  } else if (*version == kEntryVersion) {
    entry.version = kEntryVersion;
    const rapidjson::Value* facts = fhir::FindObject(*doc, "hop");
    if (facts == nullptr) {
      return NotAnEntry("a version 2 entry has no hop");
    }
    core::Result<HopRecord> hop = HopFrom(*facts, entry.kind, entry.nhs_number);
    if (!hop) {
      return std::move(hop).error();
    }
    entry.hop = std::move(*hop);
  } else {
    return NotAnEntry("unknown ledger entry version");
  }
  entry.doc = std::move(*doc);
  return entry;
}

core::LedgerIndex ExpectedIndex(const StoredEntry& entry) {
  return entry.hop ? IndexOf(*entry.hop) : core::LedgerIndex{};
}

}  // namespace tb::ledger
