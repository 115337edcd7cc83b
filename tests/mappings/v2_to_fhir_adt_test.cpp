#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/mappings/v2_to_fhir_test_util.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

using testing::Json;
using testing::MapToDocument;
using testing::PassesValidator;
using testing::Resolve;
using testing::Resource;
using testing::Resources;
using testing::Seg;
using testing::Str;

constexpr std::string_view kNhsNumber = "9449305552";

std::string UkAdmission(std::string_view trigger = "A01") {
  return Seg("MSH", {{3, "PAS"},
                     {4, "RX1"},
                     {5, "TRUSTBRIDGE"},
                     {6, "X26"},
                     {7, "20240315143000"},
                     {9, "ADT^" + std::string(trigger) + "^ADT_A01"},
                     {10, "MSG0001"},
                     {11, "P"},
                     {12, "2.5"}}) +
         Seg("EVN", {{1, std::string(trigger)}, {2, "20240315142500"}}) +
         Seg("PID", {{1, "1"},
                     {3, "RX1234567^^^RX1^MR~" + std::string(kNhsNumber) + "^^^NHS^NH"},
                     {5, "O'BRIEN^Siobhan^Mary^^Mrs^^L"},
                     {7, "19800229"},
                     {8, "F"},
                     {11, "Flat 2\\T\\3^12 High Street^Leeds^West Yorkshire^LS1 4AP^GBR^H"},
                     {13, "01132 123456^PRN^PH~07700 900123^PRS^CP"},
                     {16, "M"},
                     {32, "01"}}) +
         Seg("PD1", {{3, "Leeds Practice^^^^^^^^^B86001"}, {4, "G1234567^SMITH^JOHN^^^DR"}}) +
         Seg("PV1", {{1, "1"},
                     {2, "I"},
                     {3, "WARD 12^Bay 3^Bed 4^RX1"},
                     {4, "E"},
                     {7, "C1234567^JONES^ALAN^^^DR"},
                     {10, "MED"},
                     {14, "19"},
                     {17, "C1234567^JONES^ALAN^^^DR"},
                     {19, "VN123456^^^RX1^VN"},
                     {44, "20240315143000"}}) +
         Seg("PV2", {{3, "^Chest pain"}}) +
         Seg("NK1", {{1, "1"},
                     {2, "O'BRIEN^Patrick"},
                     {3, "SPO^Spouse"},
                     {4, "12 High Street^^Leeds^^LS1 4AP"},
                     {5, "07700 900456^PRN^CP"}}) +
         Seg("AL1", {{1, "1"}, {2, "DA"}, {3, "^Penicillin"}, {4, "SV"}, {5, "Anaphylaxis"}}) +
         Seg("DG1", {{1, "1"},
                     {3, "I21.9^Acute myocardial infarction, unspecified^I10"},
                     {5, "20240315"},
                     {6, "A"}}) +
         Seg("ZPI", {{1, "1"}, {2, "Local\\T\\data"}});
}

TEST(V2ToFhirAdt, MapsUkAdmissionToAValidMessageBundle) {
  const auto doc = MapToDocument(UkAdmission());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(Str(doc, "type"), "message");
  EXPECT_EQ(Str(doc, "timestamp"), "2024-03-15T14:30:00+00:00");
  EXPECT_TRUE(PassesValidator(doc));
  // The MessageHeader comes first.
  EXPECT_EQ(Str(doc["entry"][0]["resource"], "resourceType"), "MessageHeader");
  const auto* header = Resource(doc, "MessageHeader");
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(Str((*header)["eventCoding"], "code"), "A01");
  EXPECT_EQ(Str((*header)["source"], "name"), "PAS");
  const auto* sender = Resolve(doc, (*header)["sender"]);
  ASSERT_NE(sender, nullptr);
  EXPECT_EQ(Str((*sender)["identifier"][0], "system"),
            "https://fhir.nhs.uk/Id/ods-organization-code");
  EXPECT_EQ(Str((*sender)["identifier"][0], "value"), "RX1");
}

TEST(V2ToFhirAdt, PatientHasNhsNumberFromSecondRepetitionWithVerificationStatus) {
  const auto doc = MapToDocument(UkAdmission());
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  const auto& ids = (*patient)["identifier"];
  ASSERT_EQ(ids.Size(), 2u) << Json(ids);
  EXPECT_EQ(Str(ids[0], "system"), "https://fhir.nhs.uk/Id/nhs-number");
  EXPECT_EQ(Str(ids[0], "value"), kNhsNumber);
  ASSERT_TRUE(ids[0].HasMember("extension"));
  const auto& status = ids[0]["extension"][0];
  EXPECT_EQ(
      Str(status, "url"),
      "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus");
  EXPECT_EQ(Str(status["valueCodeableConcept"]["coding"][0], "code"), "01");
  // The hospital number keeps its assigning authority.
  EXPECT_EQ(Str(ids[1], "value"), "RX1234567");
  EXPECT_EQ(Str(ids[1]["assigner"], "display"), "RX1");
  EXPECT_EQ(Str(ids[1]["type"]["coding"][0], "code"), "MR");
  EXPECT_EQ(Str(*patient, "gender"), "female");
  EXPECT_EQ(Str(*patient, "birthDate"), "1980-02-29");
  EXPECT_EQ(Str((*patient)["name"][0], "family"), "O'BRIEN");
  EXPECT_EQ(Str((*patient)["name"][0], "use"), "official");
  EXPECT_EQ(fhir::StringOf((*patient)["name"][0]["given"][0]), "Siobhan");
  EXPECT_EQ(fhir::StringOf((*patient)["name"][0]["given"][1]), "Mary");
  EXPECT_EQ(fhir::StringOf((*patient)["name"][0]["prefix"][0]), "Mrs");
  // Escapes resolved in address lines.
  const auto& address = (*patient)["address"][0];
  EXPECT_EQ(fhir::StringOf(address["line"][0]), "Flat 2&3");
  EXPECT_EQ(fhir::StringOf(address["line"][1]), "12 High Street");
  EXPECT_EQ(Str(address, "city"), "Leeds");
  EXPECT_EQ(Str(address, "postalCode"), "LS1 4AP");
  EXPECT_EQ(Str(address, "use"), "home");
  // Telecom: home phone and mobile.
  const auto& telecom = (*patient)["telecom"];
  ASSERT_EQ(telecom.Size(), 2u);
  EXPECT_EQ(Str(telecom[0], "use"), "home");
  EXPECT_EQ(Str(telecom[1], "use"), "mobile");
  EXPECT_EQ(Str(telecom[1], "system"), "phone");
  EXPECT_EQ(Str((*patient)["maritalStatus"]["coding"][0], "code"), "M");
  // GP practice and GP from PD1.
  const auto& gps = (*patient)["generalPractitioner"];
  ASSERT_EQ(gps.Size(), 2u);
  const auto* practice = Resolve(doc, gps[0]);
  ASSERT_NE(practice, nullptr);
  EXPECT_EQ(Str((*practice)["identifier"][0], "system"),
            "https://fhir.nhs.uk/Id/ods-organization-code");
  EXPECT_EQ(Str((*practice)["identifier"][0], "value"), "B86001");
  const auto* gp = Resolve(doc, gps[1]);
  ASSERT_NE(gp, nullptr);
  EXPECT_EQ(Str((*gp)["identifier"][0], "system"), "https://fhir.hl7.org.uk/Id/gmp-number");
}

TEST(V2ToFhirAdt, EncounterHasClassStatusPeriodLocationAndParticipants) {
  const auto doc = MapToDocument(UkAdmission());
  const auto* encounter = Resource(doc, "Encounter");
  ASSERT_NE(encounter, nullptr);
  EXPECT_EQ(Str(*encounter, "status"), "in-progress");
  EXPECT_EQ(Str((*encounter)["class"], "code"), "IMP");
  EXPECT_EQ(Str((*encounter)["period"], "start"), "2024-03-15T14:30:00+00:00");
  EXPECT_FALSE((*encounter)["period"].HasMember("end"));
  const auto* location = Resolve(doc, (*encounter)["location"][0]["location"]);
  ASSERT_NE(location, nullptr);
  EXPECT_EQ(Str(*location, "name"), "WARD 12, Bay 3, Bed 4");
  EXPECT_EQ(Str((*encounter)["identifier"][0], "value"), "VN123456");
  // Attending and admitting doctor are the same person: one Practitioner, two participations.
  ASSERT_EQ((*encounter)["participant"].Size(), 2u);
  EXPECT_EQ(Str((*encounter)["participant"][0]["individual"], "reference"),
            Str((*encounter)["participant"][1]["individual"], "reference"));
  const auto* doctor = Resolve(doc, (*encounter)["participant"][0]["individual"]);
  ASSERT_NE(doctor, nullptr);
  EXPECT_EQ(Str((*doctor)["identifier"][0], "system"), "https://fhir.hl7.org.uk/Id/gmc-number");
  EXPECT_EQ(Str((*encounter)["reasonCode"][0], "text"), "Chest pain");
  EXPECT_EQ(Str(*Resolve(doc, (*encounter)["subject"]), "resourceType"), "Patient");
  ASSERT_TRUE((*encounter).HasMember("diagnosis"));
  EXPECT_EQ(Str((*encounter)["diagnosis"][0]["use"]["coding"][0], "code"), "AD");
}

TEST(V2ToFhirAdt, NextOfKinAllergyAndDiagnosis) {
  const auto doc = MapToDocument(UkAdmission());
  const auto* kin = Resource(doc, "RelatedPerson");
  ASSERT_NE(kin, nullptr);
  EXPECT_EQ(Str((*kin)["relationship"][0]["coding"][0], "code"), "SPS");
  EXPECT_EQ(Str((*kin)["name"][0], "family"), "O'BRIEN");
  EXPECT_EQ(Str((*kin)["telecom"][0], "use"), "mobile");
  const auto* allergy = Resource(doc, "AllergyIntolerance");
  ASSERT_NE(allergy, nullptr);
  EXPECT_EQ(Str((*allergy)["code"], "text"), "Penicillin");
  EXPECT_EQ(fhir::StringOf((*allergy)["category"][0]), "medication");
  EXPECT_EQ(Str(*allergy, "criticality"), "high");
  EXPECT_EQ(Str((*allergy)["reaction"][0]["manifestation"][0], "text"), "Anaphylaxis");
  EXPECT_EQ(Str((*allergy)["reaction"][0], "severity"), "severe");
  const auto* condition = Resource(doc, "Condition");
  ASSERT_NE(condition, nullptr);
  EXPECT_EQ(Str((*condition)["code"]["coding"][0], "system"), "http://hl7.org/fhir/sid/icd-10");
  EXPECT_EQ(Str((*condition)["code"]["coding"][0], "code"), "I21.9");
  EXPECT_EQ(Str(*condition, "onsetDateTime"), "2024-03-15");
}

TEST(V2ToFhirAdt, UnknownSegmentsAreKeptOnTheMessageHeader) {
  const auto doc = MapToDocument(UkAdmission());
  const auto* header = Resource(doc, "MessageHeader");
  ASSERT_TRUE(header->HasMember("extension"));
  bool found = false;
  for (const auto& extension : (*header)["extension"].GetArray()) {
    EXPECT_EQ(Str(extension, "url"), kUnmappedSegmentExtensionUrl);
    if (Str(extension, "valueString") == "ZPI|1|Local\\T\\data") {
      found = true;
    }
  }
  EXPECT_TRUE(found) << Json((*header)["extension"]);
}

TEST(V2ToFhirAdt, SameMessageMapsToByteIdenticalBundle) {
  auto first = MapV2ToFhir(UkAdmission(), testing::Tables());
  auto second = MapV2ToFhir(UkAdmission(), testing::Tables());
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*first, *second);
  // A different control id gives different ids.
  std::string other = UkAdmission();
  other.replace(other.find("MSG0001"), 7, "MSG0002");
  auto third = MapV2ToFhir(other, testing::Tables());
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(*first, *third);
}

std::string AdmissionWithPid(const std::map<int, std::string>& pid) {
  return Seg("MSH", {{3, "PAS"},
                     {4, "RX1"},
                     {7, "20240315143000"},
                     {9, "ADT^A01^ADT_A01"},
                     {10, "MSG0002"},
                     {12, "2.5"}}) +
         Seg("PID", pid) + Seg("PV1", {{1, "1"}, {2, "I"}});
}

TEST(V2ToFhirAdt, SameValueFromTwoAuthoritiesIsTwoIdentifiers) {
  // RXX01 and RYY02 are in no table, so neither gets a system: the authority (assigner) still
  // tells the two hospital numbers apart.
  const auto doc = MapToDocument(AdmissionWithPid(
      {{1, "1"}, {3, "123456^^^RXX01^MR~123456^^^RYY02^MR~9434765919^^^NHS^NH"}, {8, "F"}}));
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  const auto& identifiers = (*patient)["identifier"];
  ASSERT_EQ(identifiers.Size(), 3u) << Json(*patient);
  EXPECT_EQ(Str(identifiers[0], "value"), "9434765919");
  EXPECT_EQ(Str(identifiers[1]["assigner"], "display"), "RXX01");
  EXPECT_EQ(Str(identifiers[2]["assigner"], "display"), "RYY02");
  // The same identifier twice is still one.
  const auto twice = MapToDocument(
      AdmissionWithPid({{1, "1"}, {3, "123456^^^RXX01^MR~123456^^^RXX01^MR"}, {8, "F"}}));
  EXPECT_EQ((*Resource(twice, "Patient"))["identifier"].Size(), 1u);
}

TEST(V2ToFhirAdt, BirthTimeExtendsBirthDate) {
  // IG PID rows 12-13: the time of birth is the patient-birthTime extension on birthDate.
  const auto doc = MapToDocument(
      AdmissionWithPid({{1, "1"}, {3, "9434765919^^^NHS^NH"}, {7, "19800101120000"}, {8, "F"}}));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(Str(*patient, "birthDate"), "1980-01-01");
  ASSERT_TRUE(patient->HasMember("_birthDate")) << Json(*patient);
  const auto& extension = (*patient)["_birthDate"]["extension"][0];
  EXPECT_EQ(Str(extension, "url"), "http://hl7.org/fhir/StructureDefinition/patient-birthTime");
  EXPECT_EQ(Str(extension, "valueDateTime"), "1980-01-01T12:00:00+00:00");
  EXPECT_FALSE(patient->HasMember("extension")) << Json(*patient);
}

}  // namespace
}  // namespace tb::mappings

namespace tb::mappings {
namespace {

// The perf-kit's typical UK ADT^A01 (also the benchmark input).
TEST(V2ToFhirAdt, PerfKitAdmissionMapsAndValidates) {
  const std::string er7 = tb::testing::ReadFile(std::filesystem::path(TB_SOURCE_DIR) /
                                                "bench/mappings/data/adt_a01.hl7");
  const auto doc = testing::MapToDocument(er7);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(testing::PassesValidator(doc));
  const auto* patient = testing::Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(testing::Str((*patient)["identifier"][0], "value"), "9000000009");
  EXPECT_EQ(testing::Str((*patient)["telecom"][1], "system"), "email");
  EXPECT_EQ(testing::Str((*patient)["telecom"][1], "value"), "jane.smith@example.com");
  // Its PID-29 (death date) holds "N": left out, and PID is kept verbatim on the header.
  EXPECT_FALSE(patient->HasMember("deceasedDateTime"));
  const auto* header = testing::Resource(doc, "MessageHeader");
  bool pid_kept = false;
  for (const auto& extension : (*header)["extension"].GetArray()) {
    pid_kept = pid_kept || testing::Str(extension, "valueString").starts_with("PID|");
  }
  EXPECT_TRUE(pid_kept);
}

}  // namespace
}  // namespace tb::mappings
