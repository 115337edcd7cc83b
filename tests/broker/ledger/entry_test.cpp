#include "broker/ledger/entry.h"

#include <string>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/fhir/json.h"
#include "broker/ledger/canonical_json.h"

namespace tb::ledger {
namespace {

// The entry text as RapidJSON's Writer wrote it before HopFactsJson and EntryJson wrote the text
// themselves: the bytes under every stored hash, so they must not change.
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriterMember(Writer& writer, const char* key, const std::string& value) {
  if (!value.empty()) {
    writer.Key(key);
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
}

std::string WriterFacts(const HopRecord& hop) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  WriterMember(writer, "broker", hop.broker_ods);
  WriterMember(writer, "consent", hop.consent_decision);
  if (hop.derived) {
    writer.Key("derived");
    writer.Bool(true);
  }
  WriterMember(writer, "destination", hop.destination_ods);
  WriterMember(writer, "digest", hop.source_digest);
  if (hop.mapped_v2_to_fhir) {
    writer.Key("mapped");
    writer.Bool(true);
  }
  if (hop.outcome != HopOutcome::kSuccess) {
    writer.Key("outcome");
    writer.Int(OutcomeNumber(hop.outcome));
  }
  WriterMember(writer, "outcome_detail", hop.outcome_detail);
  WriterMember(writer, "purpose", hop.purpose_of_use);
  WriterMember(writer, "query", hop.query);
  WriterMember(writer, "request_id", hop.request_id);
  WriterMember(writer, "requester", hop.requester_ods);
  WriterMember(writer, "requester_address", hop.requester_address);
  WriterMember(writer, "scope", hop.scope);
  WriterMember(writer, "source", hop.source_ods);
  WriterMember(writer, "target", hop.target);
  writer.Key("time_ms");
  writer.Int64(hop.time_ms);
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string WriterEntry(std::int64_t seq, std::int64_t recorded_ms, const std::string& kind,
                        const std::string& nhs_number, const std::string& facts) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("hop");
  writer.RawValue(facts.data(), facts.size(), rapidjson::kObjectType);
  writer.Key("kind");
  writer.String(kind.data(), static_cast<rapidjson::SizeType>(kind.size()));
  writer.Key("nhs_number");
  writer.String(nhs_number.data(), static_cast<rapidjson::SizeType>(nhs_number.size()));
  writer.Key("recorded_ms");
  writer.Int64(recorded_ms);
  writer.Key("seq");
  writer.Int64(seq);
  writer.Key("v");
  writer.Int(2);
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

HopRecord FullHop() {
  HopRecord hop;
  hop.kind = HopKind::kResponse;
  hop.time_ms = 1763900000123;
  hop.request_id = "req-\"quoted\"\\back\tslash";
  hop.broker_ods = "X26";
  hop.requester_ods = "RJ1";
  hop.requester_address = "10.0.0.5:443";
  hop.purpose_of_use = "TREAT";
  hop.source_ods = "T00";
  hop.destination_ods = "RGT";
  hop.nhs_number = "9990001448";
  hop.source_digest = std::string(64, 'a');
  hop.derived = true;
  hop.mapped_v2_to_fhir = true;
  hop.target = "Bundle/abc\x01\x1f";
  hop.scope = "system/Patient.rs";
  hop.consent_decision = "permit";
  hop.query = "Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%7C9990001448&name=Jos\xc3\xa9";
  hop.outcome = HopOutcome::kSeriousFailure;
  hop.outcome_detail = "kUpstreamUnavailable: line\nbreak";
  return hop;
}

TEST(EntryText, IsTheBytesRapidJsonsWriterWrote) {
  const HopRecord full = FullHop();
  HopRecord sparse;
  sparse.kind = HopKind::kQuery;
  sparse.time_ms = -5;
  sparse.broker_ods = "X26";
  for (const HopRecord& hop : {full, sparse}) {
    const std::string facts = HopFactsJson(hop);
    EXPECT_EQ(facts, WriterFacts(hop));
    EXPECT_EQ(EntryJson(42, 1763900000999, "response", hop.nhs_number, facts),
              WriterEntry(42, 1763900000999, "response", hop.nhs_number, facts));
  }
}

TEST(EntryText, IsCanonicalJson) {
  const std::string entry =
      EntryJson(7, 1763900000999, "response", "9990001448", HopFactsJson(FullHop()));
  auto parsed = fhir::ParseJson(entry);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  auto canonical = CanonicalJson(*parsed);
  ASSERT_TRUE(canonical.has_value());
  EXPECT_EQ(*canonical, entry);
}

}  // namespace
}  // namespace tb::ledger
