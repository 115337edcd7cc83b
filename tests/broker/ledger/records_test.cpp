#include "broker/ledger/records.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "broker/ledger/base64.h"
#include "broker/ledger/canonical_json.h"
#include "tests/broker/ledger/ledger_test_util.h"

namespace tb::ledger {
namespace {

using testing::MakeHop;

TEST(CanonicalJson, SortsKeysAndDropsWhitespace) {
  auto doc = fhir::ParseJson(
      R"({ "b": [3, {"z": 1, "a": "x"}], "a": true, "é": null, "ab": "\u00e9\"" })");
  ASSERT_TRUE(doc);
  auto canonical = CanonicalJson(*doc);
  ASSERT_TRUE(canonical);
  EXPECT_EQ(
      *canonical,
      "{\"a\":true,\"ab\":\"\xC3\xA9\\\"\",\"b\":[3,{\"a\":\"x\",\"z\":1}],\"\xC3\xA9\":null}");
}

TEST(CanonicalJson, EscapesStringsExactlyAsRapidJsonWriter) {
  std::string text = "quote\" back\\ slash/ \xC3\xA9 del\x7F";
  for (char c = 0; c < 0x20; ++c) {
    text.push_back(c);
  }
  rapidjson::Document doc(rapidjson::kObjectType);
  doc.AddMember("k", fhir::StringValue(text, doc.GetAllocator()), doc.GetAllocator());
  doc.AddMember("n", std::numeric_limits<std::int64_t>::min(), doc.GetAllocator());
  doc.AddMember("u", std::numeric_limits<std::uint64_t>::max(), doc.GetAllocator());
  EXPECT_EQ(CanonicalJson(doc).value_or(""), fhir::ToJson(doc));
}

TEST(CanonicalJson, RefusesNonIntegerNumbers) {
  auto doc = fhir::ParseJson(R"({"a": 1.5})");
  ASSERT_TRUE(doc);
  auto canonical = CanonicalJson(*doc);
  ASSERT_FALSE(canonical);
  EXPECT_EQ(canonical.error().code, core::ErrorCode::kInvalidValue);
}

TEST(CanonicalJson, IsStableUnderReordering) {
  auto a = fhir::ParseJson(R"({"x": {"q": 1, "p": 2}, "y": -7})");
  auto b = fhir::ParseJson(R"({"y": -7, "x": {"p": 2, "q": 1}})");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(CanonicalJson(*a).value_or("a"), CanonicalJson(*b).value_or("b"));
}

TEST(Base64, RoundTripsAndRefusesNonCanonical) {
  for (const std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64Decode(Base64Encode(text)).value_or("?"), text);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm9=").has_value());  // bits under the padding
  EXPECT_FALSE(Base64Decode("Zm8").has_value());
  EXPECT_FALSE(Base64Decode("Zm8=Zm8=").has_value());
  EXPECT_FALSE(Base64Decode("Zm*=").has_value());
}

TEST(Records, ProvenanceNamesAgentsEntityPolicyAndActivity) {
  HopRecord hop = MakeHop(HopKind::kInbound, testing::kPatientA, 1);
  hop.mapped_v2_to_fhir = true;
  hop.target = "Bundle/b1";
  ASSERT_TRUE(ValidateHop(hop));
  rapidjson::Document provenance = BuildProvenance(hop);
  const std::string json = fhir::ToJson(provenance);
  EXPECT_NE(json.find("\"resourceType\":\"Provenance\""), std::string::npos);
  EXPECT_NE(json.find("\"reference\":\"Bundle/b1\""), std::string::npos);
  EXPECT_NE(json.find("\"recorded\":\"2025-11-23T12:13:20.001Z\""), std::string::npos);
  EXPECT_NE(json.find(std::string(kV2ToFhirActivityCode)), std::string::npos);
  EXPECT_NE(json.find("\"role\":\"derivation\""), std::string::npos);
  EXPECT_NE(json.find(hop.source_digest), std::string::npos);
  EXPECT_NE(json.find("urn:trustbridge:consent:permit"), std::string::npos);
  EXPECT_NE(json.find("urn:trustbridge:scope:patient/*.read"), std::string::npos);
  for (const char* role : {"custodian", "assembler", "informant", "enterer"}) {
    EXPECT_NE(json.find(std::string("\"code\":\"") + role + "\""), std::string::npos) << role;
  }
}

TEST(Records, ProvenanceWithoutMappingUsesSourceRole) {
  const HopRecord hop = MakeHop(HopKind::kQuery, testing::kPatientA);
  const std::string json = fhir::ToJson(BuildProvenance(hop));
  EXPECT_NE(json.find("\"role\":\"source\""), std::string::npos);
  EXPECT_NE(json.find("\"code\":\"EXECUTE\""), std::string::npos);
  EXPECT_EQ(json.find(std::string(kV2ToFhirActivityCode)), std::string::npos);
}

TEST(Records, AuditEventHasRequesterNetworkPurposePatientAndQuery) {
  HopRecord hop = MakeHop(HopKind::kRefusal, testing::kPatientA);
  hop.outcome = HopOutcome::kMinorFailure;
  hop.outcome_detail = "kForbidden";
  rapidjson::Document event = BuildAuditEvent(hop);
  ASSERT_TRUE(event.IsObject());
  EXPECT_EQ(fhir::GetString(event, "outcome").value_or(""), "4");
  EXPECT_EQ(fhir::GetString(event, "action").value_or(""), "E");
  const rapidjson::Value* agents = fhir::FindArray(event, "agent");
  ASSERT_NE(agents, nullptr);
  const rapidjson::Value& requester = (*agents)[0];
  EXPECT_TRUE(requester["requestor"].GetBool());
  EXPECT_EQ(fhir::StringOf(requester["network"]["address"]), "127.0.0.1");
  EXPECT_EQ(fhir::StringOf(requester["who"]["identifier"]["value"]), "RJ1");
  EXPECT_EQ(fhir::StringOf(requester["purposeOfUse"][0]["coding"][0]["code"]), "TREAT");
  const std::string json = fhir::ToJson(event);
  EXPECT_NE(json.find(testing::kPatientA), std::string::npos);
  EXPECT_NE(json.find(Base64Encode(hop.query)), std::string::npos);
}

TEST(Records, ValidateRefusesBadInput) {
  HopRecord hop = MakeHop(HopKind::kQuery, "1234567890");
  EXPECT_EQ(ValidateHop(hop).error().location, "HopRecord.nhs_number");
  hop = MakeHop(HopKind::kQuery, testing::kPatientA);
  hop.source_digest = "ABC";
  EXPECT_EQ(ValidateHop(hop).error().location, "HopRecord.source_digest");
  hop = MakeHop(HopKind::kQuery, testing::kPatientA);
  hop.broker_ods.clear();
  EXPECT_EQ(ValidateHop(hop).error().location, "HopRecord.broker_ods");
  hop = MakeHop(HopKind::kQuery, testing::kPatientA);
  hop.time_ms = 0;
  EXPECT_FALSE(ValidateHop(hop));
}

TEST(Records, HopKindsRoundTrip) {
  for (const HopKind kind : {HopKind::kInbound, HopKind::kDelivery, HopKind::kQuery,
                             HopKind::kResponse, HopKind::kRefusal}) {
    EXPECT_EQ(ParseHopKind(ToString(kind)).value_or(HopKind::kInbound), kind);
  }
  EXPECT_FALSE(ParseHopKind("bogus"));
}

// A hop about several patients is one record per patient, the first as given; a number that is
// not a valid NHS number names nobody and gets none.
TEST(HopPerPatient, OneRecordPerValidPatientTheGivenOneFirst) {
  const HopRecord hop = MakeHop(HopKind::kDelivery, testing::kPatientA);
  const std::vector<std::string> others = {"9434765870", "1234567890", "9434765919"};
  const std::vector<HopRecord> hops = HopPerPatient(hop, others);
  ASSERT_EQ(hops.size(), 3u);
  EXPECT_EQ(hops[0].nhs_number, testing::kPatientA);
  EXPECT_EQ(hops[1].nhs_number, "9434765870");
  EXPECT_EQ(hops[2].nhs_number, "9434765919");
  for (const HopRecord& each : hops) {
    EXPECT_EQ(each.kind, HopKind::kDelivery);
    EXPECT_EQ(each.time_ms, hop.time_ms);
  }
  EXPECT_EQ(HopPerPatient(hop, {}).size(), 1u);
}

}  // namespace
}  // namespace tb::ledger
