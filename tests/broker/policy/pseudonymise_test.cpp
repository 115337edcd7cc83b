#include "broker/policy/pseudonymise.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::Json;

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kOtherKey = "fedcba9876543210fedcba9876543210";
constexpr std::string_view kNhsNumber = "9434765919";

constexpr std::string_view kPatient = R"({
  "resourceType": "Patient", "id": "p1",
  "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann Smith</div>"},
  "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                 "valueAddress": {"city": "Leeds"}},
                {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                 "valueCodeableConcept": {"coding": [{"code": "A"}]}}],
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
                 {"system": "https://trust.example/mrn", "value": "MRN123456"}],
  "name": [{"family": "Smith", "given": ["Ann"]}],
  "telecom": [{"system": "phone", "value": "07700900123"}],
  "gender": "female",
  "birthDate": "1980-05-12",
  "address": [{"line": ["1 Acacia Avenue"], "postalCode": "LS1 1AA"}],
  "photo": [{"contentType": "image/png", "data": "AAAA"}],
  "contact": [{"name": {"family": "Smith"}}],
  "generalPractitioner": [{"reference": "Practitioner/gp1", "display": "Dr Jones"}]
})";

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation", "id": "o1", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
  "subject": {"reference": "Patient/p1", "display": "Ann Smith",
              "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
  "effectiveDateTime": "2026-01-02T10:00:00Z",
  "valueQuantity": {"value": 5.4, "unit": "mmol/L"}
})";

Pseudonymiser Make(std::string_view key) { return Pseudonymiser::Create(key).value(); }

TEST(Pseudonymiser, IsKeyedHmacSha256InHex) {
  // Reference values: Python hmac.new(key, msg, hashlib.sha256).hexdigest().
  EXPECT_EQ(Make(kKey).PseudonymOf(kNhsNumber),
            "f23090a36451bfa74057a971b116cdad5a9d5c7377e58349eaf336b19a372a5d");
  EXPECT_EQ(Make(kKey).PseudonymousId("Patient", "p1"),
            "938a6a4904de22c0ca93050f60728d6ef761bfd8d6ab8ce1105dda5a4401ace0");
}

TEST(Pseudonymiser, DeterministicPerKeyAndDifferentAcrossKeys) {
  const Pseudonymiser one = Make(kKey);
  const Pseudonymiser again = Make(kKey);
  const Pseudonymiser other = Make(kOtherKey);
  EXPECT_EQ(one.PseudonymOf(kNhsNumber), again.PseudonymOf(kNhsNumber));
  EXPECT_NE(one.PseudonymOf(kNhsNumber), other.PseudonymOf(kNhsNumber));
  EXPECT_NE(one.PseudonymOf(kNhsNumber), one.PseudonymOf("9000000009"));
  EXPECT_EQ(one.PseudonymOf(kNhsNumber).size(), 64U);
}

TEST(Pseudonymiser, RefusesShortKeyWithoutShowingIt) {
  core::Result<Pseudonymiser> short_key = Pseudonymiser::Create("secret-but-short");
  ASSERT_FALSE(short_key.has_value());
  EXPECT_EQ(short_key.error().code, core::ErrorCode::kConfig);
  EXPECT_EQ(short_key.error().message.find("secret"), std::string::npos);
}

TEST(Pseudonymiser, FromHexKeyFile) {
  const std::string hex =
      "30313233343536373839616263646566"
      "30313233343536373839616263646566\n";  // kKey, as openssl rand -hex
  core::Result<Pseudonymiser> from_hex = Pseudonymiser::CreateFromHex(hex);
  ASSERT_TRUE(from_hex.has_value()) << from_hex.error().message;
  EXPECT_EQ(from_hex->PseudonymOf(kNhsNumber), Make(kKey).PseudonymOf(kNhsNumber));
  EXPECT_FALSE(Pseudonymiser::CreateFromHex("zz").has_value());
  EXPECT_FALSE(Pseudonymiser::CreateFromHex(hex.substr(0, 63)).has_value());  // odd
  EXPECT_FALSE(Pseudonymiser::CreateFromHex("0011").has_value());             // short
}

TEST(Pseudonymise, PatientLosesDirectIdentifiers) {
  rapidjson::Document patient = Json(kPatient);
  const Pseudonymiser pseudonymiser = Make(kKey);
  const PseudonymisationReport report =
      Pseudonymise(patient, patient.GetAllocator(), pseudonymiser);
  const std::string out = fhir::ToJson(patient);
  for (const char* gone : {"9434765919", "MRN123456", "Smith", "Ann", "07700900123", "Acacia",
                           "LS1 1AA", "Leeds", "AAAA", "1980-05", "Dr Jones", "\"p1\""}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " still in " << out;
  }
  for (const char* member : {"text", "name", "telecom", "address", "photo", "contact"}) {
    EXPECT_FALSE(patient.HasMember(member)) << member;
  }
  EXPECT_STREQ(patient["birthDate"].GetString(), "1980");
  EXPECT_STREQ(patient["gender"].GetString(), "female");
  ASSERT_EQ(patient["identifier"].Size(), 1U);
  EXPECT_EQ(fhir::StringOf(patient["identifier"][0]["system"]), kPseudonymSystem);
  EXPECT_EQ(fhir::StringOf(patient["identifier"][0]["value"]),
            pseudonymiser.PseudonymOf(kNhsNumber));
  EXPECT_EQ(fhir::StringOf(patient["id"]), pseudonymiser.PseudonymousId("Patient", "p1"));
  EXPECT_EQ(patient["extension"].Size(), 1U);  // ethnic category kept, birth place gone
  EXPECT_STREQ(patient["resourceType"].GetString(), "Patient");
  EXPECT_EQ(patient.MemberBegin()->name, "resourceType");  // order kept
  EXPECT_EQ(report.identifiers_replaced, 1U);
  EXPECT_GE(report.elements_removed, 8U);
}

TEST(Pseudonymise, OtherResourcesKeepClinicalContentAndLinkToThePseudonym) {
  rapidjson::Document observation = Json(kObservation);
  const Pseudonymiser pseudonymiser = Make(kKey);
  Pseudonymise(observation, observation.GetAllocator(), pseudonymiser);
  const std::string out = fhir::ToJson(observation);
  EXPECT_EQ(out.find("9434765919"), std::string::npos);
  EXPECT_EQ(out.find("Ann Smith"), std::string::npos);
  EXPECT_EQ(fhir::StringOf(observation["subject"]["reference"]),
            "Patient/" + pseudonymiser.PseudonymousId("Patient", "p1"));
  EXPECT_EQ(fhir::StringOf(observation["subject"]["identifier"]["value"]),
            pseudonymiser.PseudonymOf(kNhsNumber));
  EXPECT_STREQ(observation["effectiveDateTime"].GetString(), "2026-01-02T10:00:00Z");
  EXPECT_EQ(observation["valueQuantity"]["value"].GetDouble(), 5.4);
  EXPECT_STREQ(observation["code"]["coding"][0]["code"].GetString(), "2345-7");
}

TEST(Pseudonymise, BundleEntriesAndFullUrls) {
  rapidjson::Document bundle = Json(R"({"resourceType": "Bundle", "type": "searchset",
      "entry": [{"fullUrl": "https://trust.example/fhir/Patient/p1", "resource": )" +
                                    std::string(kPatient) +
                                    R"(}, {"fullUrl": "https://trust.example/fhir/Observation/o1",
      "resource": )" + std::string(kObservation) +
                                    R"(}]})");
  const Pseudonymiser pseudonymiser = Make(kKey);
  const PseudonymisationReport report = Pseudonymise(bundle, bundle.GetAllocator(), pseudonymiser);
  const std::string out = fhir::ToJson(bundle);
  EXPECT_EQ(out.find("9434765919"), std::string::npos);
  EXPECT_EQ(out.find("Patient/p1"), std::string::npos);
  const std::string pid = pseudonymiser.PseudonymousId("Patient", "p1");
  EXPECT_EQ(fhir::StringOf(bundle["entry"][0]["fullUrl"]),
            "https://trust.example/fhir/Patient/" + pid);
  EXPECT_EQ(fhir::StringOf(bundle["entry"][1]["fullUrl"]),
            "https://trust.example/fhir/Observation/o1");
  EXPECT_EQ(fhir::StringOf(bundle["entry"][0]["resource"]["id"]), pid);
  EXPECT_EQ(report.identifiers_replaced, 2U);
}

TEST(Pseudonymise, SearchLinksLoseTheNhsNumber) {
  rapidjson::Document bundle = Json(R"({"resourceType": "Bundle", "type": "searchset",
      "link": [{"relation": "self", "url":
        "https://broker/fhir/Observation?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919"},
               {"relation": "next", "url":
        "https://broker/fhir/Observation?patient%3Aidentifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&page=2"}]})");
  const Pseudonymiser pseudonymiser = Make(kKey);
  Pseudonymise(bundle, bundle.GetAllocator(), pseudonymiser);
  const std::string out = fhir::ToJson(bundle);
  EXPECT_EQ(out.find("9434765919"), std::string::npos) << out;
  EXPECT_NE(out.find(pseudonymiser.PseudonymOf(kNhsNumber) + "&page=2"), std::string::npos);
}

TEST(Pseudonymise, DifferentKeysGiveUnlinkableOutputs) {
  rapidjson::Document one = Json(kPatient);
  rapidjson::Document two = Json(kPatient);
  Pseudonymise(one, one.GetAllocator(), Make(kKey));
  Pseudonymise(two, two.GetAllocator(), Make(kOtherKey));
  EXPECT_NE(fhir::ToJson(one), fhir::ToJson(two));
  rapidjson::Document three = Json(kPatient);
  Pseudonymise(three, three.GetAllocator(), Make(kKey));
  EXPECT_EQ(fhir::ToJson(one), fhir::ToJson(three));
}

}  // namespace
}  // namespace tb::policy
