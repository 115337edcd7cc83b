#include "mappings/fhir_to_v2.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "broker/core/clock.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

const std::filesystem::path kTestData = TB_SHARED_TESTDATA_DIR;

FhirToV2Options Fixed() {
  FhirToV2Options o;
  o.sending_application = "TB";
  o.sending_facility = "X26";
  o.receiving_application = "PAS";
  o.receiving_facility = "RJ1";
  o.control_id = "C1";
  o.timestamp = "20240301101500+0000";
  return o;
}

// Maps and parses the result back; fails the test on any error.
hl7v2::Message MapOk(const std::string& json, const FhirToV2Options& options = Fixed()) {
  core::Result<std::string> er7 = MapFhirToV2(json, options);
  EXPECT_TRUE(er7.has_value()) << (er7 ? "" : er7.error().message + " @ " + er7.error().location);
  if (!er7) {
    return *hl7v2::Message::Parse("MSH|^~\\&|\r");
  }
  core::Result<hl7v2::Message> msg = hl7v2::Message::Parse(*er7);
  EXPECT_TRUE(msg.has_value()) << er7.value();
  return msg ? *std::move(msg) : *hl7v2::Message::Parse("MSH|^~\\&|\r");
}

std::string D(const hl7v2::Message& m, std::string_view path) { return m.Get(path).Decoded(); }

std::string Bundle(const std::vector<std::string>& resources,
                   std::string_view type = "collection") {
  std::string out = R"({"resourceType":"Bundle","type":")" + std::string(type) + R"(","entry":[)";
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (i > 0) {
      out += ",";
    }
    out += R"({"resource":)" + resources[i] + "}";
  }
  return out + "]}";
}

const char* const kPatient = R"({
  "resourceType": "Patient", "id": "p1",
  "identifier": [
    {"system": "https://trust.example.nhs.uk/Id/mrn", "value": "MRN-1",
     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}},
    {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919",
     "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
       "valueCodeableConcept": {"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland", "code": "01"}]}}]},
    {"system": "urn:oid:1.2.3.4", "value": "OID-9"}
  ],
  "name": [
    {"use": "usual", "given": ["Jo"]},
    {"use": "official", "family": "O'Brien|Smith", "given": ["Mary", "Ann", "Beth"], "prefix": ["Dr"], "suffix": ["MBE"]}
  ],
  "gender": "female",
  "birthDate": "1970-02-03",
  "address": [{"use": "home", "line": ["1 High St", "Flat 2", "Old Town"], "city": "Leeds",
               "district": "West Yorkshire", "postalCode": "LS1 1AA", "country": "GBR"}],
  "telecom": [{"system": "phone", "value": "0113 496 0000", "use": "home"},
              {"system": "phone", "value": "07700 900000", "use": "mobile"},
              {"system": "email", "value": "mary@example.com"},
              {"system": "phone", "value": "0113 496 0999", "use": "work"}],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}]},
  "generalPractitioner": [{"type": "Organization", "display": "Leeds GP",
     "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "B86001"}}]
})";

const char* const kEncounter = R"({
  "resourceType": "Encounter", "id": "e1", "status": "in-progress",
  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
  "subject": {"reference": "Patient/p1"},
  "identifier": [{"system": "https://trust.example.nhs.uk/Id/visit", "value": "V42",
                  "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN"}]}}],
  "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM"}]},
  "participant": [{"type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}],
                   "individual": {"reference": "Practitioner/dr1"}}],
  "period": {"start": "2024-02-29T23:05:00+00:00", "end": "2024-03-01T08:30:15.25+01:00"},
  "location": [
    {"location": {"reference": "Location/old"}, "status": "completed"},
    {"location": {"reference": "Location/bed7"}, "status": "active"}
  ],
  "reasonCode": [{"text": "Chest pain"}]
})";

const char* const kLocations[] = {
    R"({"resourceType": "Location", "id": "bed7", "name": "Bed 7", "partOf": {"reference": "Location/ward"},
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "bd"}]}})",
    R"({"resourceType": "Location", "id": "ward", "name": "AMU", "partOf": {"reference": "Location/site"},
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "wa"}]}})",
    R"({"resourceType": "Location", "id": "site", "name": "LGI",
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "si"}]}})",
    R"({"resourceType": "Location", "id": "old", "name": "ED"})",
};

const char* const kPractitioner = R"({"resourceType": "Practitioner", "id": "dr1",
  "identifier": [{"system": "https://fhir.hl7.org.uk/Id/gmc-number", "value": "C1234567"}],
  "name": [{"family": "Who", "given": ["John", "H"], "prefix": ["Dr"]}]})";

// ---- dates --------------------------------------------------------------------------------------

TEST(FhirDateTimeToDtm, KeepsPrecisionAndZone) {
  const std::pair<const char*, const char*> cases[] = {
      {"2024", "2024"},
      {"2024-03", "202403"},
      {"2024-03-01", "20240301"},
      {"2024-03-01T10:15:00Z", "20240301101500+0000"},
      {"2024-03-01T10:15:00+01:00", "20240301101500+0100"},
      {"2024-03-01T10:15:00-05:30", "20240301101500-0530"},
      {"2024-03-01T10:15:00.1+00:00", "20240301101500.1+0000"},
      {"2024-03-01T10:15:00.123456Z", "20240301101500.1234+0000"},
      {"2024-03-01T10:15", "202403011015"},
  };
  for (const auto& [fhir, dtm] : cases) {
    core::Result<std::string> out = FhirDateTimeToDtm(fhir);
    ASSERT_TRUE(out.has_value()) << fhir;
    EXPECT_EQ(*out, dtm) << fhir;
  }
}

TEST(FhirDateTimeToDtm, RejectsWhatIsNotADate) {
  for (const char* bad :
       {"", "24", "2024-3-01", "2024-13-01", "2024-02-30x", "2024-03-01T25:00:00Z",
        "2024-03-01T10:15:00+0100", "2024-03-01T10:15:00.Z", "20240301", "2024-03-01 10:15:00Z",
        "2024-03-01T10:15:00+01:00junk"}) {
    core::Result<std::string> out = FhirDateTimeToDtm(bad);
    EXPECT_FALSE(out.has_value()) << bad;
    if (!out) {
      EXPECT_EQ(out.error().code, core::ErrorCode::kInvalidValue);
    }
  }
}

// ---- ADT ----------------------------------------------------------------------------------------

TEST(FhirToV2Adt, PatientAloneBecomesA31WithMshFromOptions) {
  const hl7v2::Message m = MapOk(kPatient);
  const std::string msh =
      "MSH|^~\\&|TB|X26|PAS|RJ1|20240301101500+0000||ADT^A31^ADT_A05|C1|P|2.5.1|";
  EXPECT_EQ(m.er7().substr(0, msh.size()), msh);
  EXPECT_EQ(D(m, "MSH-18"), "UNICODE UTF-8");
  EXPECT_EQ(D(m, "EVN-2"), "20240301101500+0000");
  EXPECT_EQ(D(m, "PV1-2"), "N");  // PV1 is required in ADT_A05; "not applicable"
  std::vector<std::string> ids;
  for (const hl7v2::Value& rep : m.Get("PID-3").Repetitions()) {
    ids.push_back(std::string(rep.raw()));
  }
  // NHS number first, as N^^^NHS^NH; the others keep their order and assigning authority.
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "9434765919^^^NHS^NH");
  EXPECT_EQ(ids[1], "MRN-1^^^&https://trust.example.nhs.uk/Id/mrn&URI^MR");
  EXPECT_EQ(ids[2], "OID-9^^^&1.2.3.4&ISO");
  EXPECT_EQ(D(m, "PID-32"), "01");
}

TEST(FhirToV2Adt, MapsNamesGenderBirthAddressTelecomAndGp) {
  const hl7v2::Message m = MapOk(kPatient);
  // Official name first, awkward characters survive the round trip through ER7.
  EXPECT_EQ(D(m, "PID-5(1).1"), "O'Brien|Smith");
  EXPECT_EQ(m.Get("PID-5(1).1").raw(), "O'Brien\\F\\Smith");
  EXPECT_EQ(D(m, "PID-5(1).2"), "Mary");
  EXPECT_EQ(D(m, "PID-5(1).3"), "Ann Beth");
  EXPECT_EQ(D(m, "PID-5(1).4"), "MBE");
  EXPECT_EQ(D(m, "PID-5(1).5"), "Dr");
  EXPECT_EQ(D(m, "PID-5(1).7"), "L");
  EXPECT_EQ(D(m, "PID-5(2).2"), "Jo");
  EXPECT_EQ(D(m, "PID-5(2).7"), "D");
  EXPECT_EQ(D(m, "PID-7"), "19700203");
  EXPECT_EQ(D(m, "PID-8"), "F");
  EXPECT_EQ(D(m, "PID-11.1"), "1 High St");
  EXPECT_EQ(D(m, "PID-11.2"), "Flat 2, Old Town");  // lines beyond two are kept, not dropped
  EXPECT_EQ(D(m, "PID-11.3"), "Leeds");
  EXPECT_EQ(D(m, "PID-11.5"), "LS1 1AA");
  EXPECT_EQ(D(m, "PID-11.6"), "GBR");
  EXPECT_EQ(D(m, "PID-11.7"), "H");
  EXPECT_EQ(D(m, "PID-11.9"), "West Yorkshire");
  EXPECT_EQ(D(m, "PID-13(1).1"), "0113 496 0000");
  EXPECT_EQ(D(m, "PID-13(1).2"), "PRN");
  EXPECT_EQ(D(m, "PID-13(1).3"), "PH");
  EXPECT_EQ(D(m, "PID-13(2).2"), "PRS");
  EXPECT_EQ(D(m, "PID-13(2).3"), "CP");
  EXPECT_EQ(D(m, "PID-13(3).2"), "NET");
  EXPECT_EQ(D(m, "PID-13(3).4"), "mary@example.com");
  EXPECT_EQ(D(m, "PID-14(1).1"), "0113 496 0999");
  EXPECT_EQ(D(m, "PID-14(1).2"), "WPN");
  EXPECT_EQ(D(m, "PID-16.1"), "M");
  EXPECT_EQ(D(m, "PD1-3.1"), "Leeds GP");
  EXPECT_EQ(D(m, "PD1-3.10"), "B86001");
  EXPECT_EQ(D(m, "PD1-3.6"), "ODS");
}

TEST(FhirToV2Adt, EncounterMakesA08WithPv1) {
  std::vector<std::string> resources = {kPatient, kEncounter, kPractitioner};
  resources.insert(resources.end(), std::begin(kLocations), std::end(kLocations));
  const hl7v2::Message m = MapOk(Bundle(resources, "transaction"));
  EXPECT_EQ(D(m, "MSH-9.1"), "ADT");
  EXPECT_EQ(D(m, "MSH-9.2"), "A08");
  EXPECT_EQ(D(m, "MSH-9.3"), "ADT_A01");
  EXPECT_EQ(D(m, "PV1-2"), "E");
  EXPECT_EQ(D(m, "PV1-3.1"), "AMU");
  EXPECT_EQ(D(m, "PV1-3.3"), "Bed 7");
  EXPECT_EQ(D(m, "PV1-3.4"), "LGI");
  EXPECT_EQ(D(m, "PV1-4"), "E");
  EXPECT_EQ(D(m, "PV1-7.1"), "C1234567");
  EXPECT_EQ(D(m, "PV1-7.2"), "Who");
  EXPECT_EQ(D(m, "PV1-7.3"), "John");
  EXPECT_EQ(D(m, "PV1-7.4"), "H");
  EXPECT_EQ(D(m, "PV1-7.6"), "Dr");
  EXPECT_EQ(D(m, "PV1-7.9"), "GMC");
  EXPECT_EQ(D(m, "PV1-19.1"), "V42");
  EXPECT_EQ(D(m, "PV1-19.5"), "VN");
  EXPECT_EQ(D(m, "PV1-44"), "20240229230500+0000");
  EXPECT_EQ(D(m, "PV1-45"), "20240301083015.25+0100");
  EXPECT_EQ(D(m, "PV2-3.2"), "Chest pain");
  // Segment order of ADT_A01: MSH EVN PID PD1 PV1 PV2.
  std::string order;
  for (std::size_t i = 1; i <= m.SegmentCount(); ++i) {
    order += std::string(m.Segment(i).id()) + " ";
  }
  EXPECT_EQ(order, "MSH EVN PID PD1 PV1 PV2 ");
}

TEST(FhirToV2Adt, ContactsAndRelatedPersonsBecomeNk1) {
  const std::string patient = R"({"resourceType":"Patient","id":"p1",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
    "contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"C","display":"Emergency Contact"}]}],
      "name":{"family":"Smith","given":["Ann"]},"telecom":[{"system":"phone","value":"0113 1"}],
      "address":{"line":["2 Low St"],"postalCode":"LS2 2BB"},"gender":"female"}]})";
  const std::string related =
      R"({"resourceType":"RelatedPerson","patient":{"reference":"Patient/p1"},
    "relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"WIFE"}]}],
    "name":[{"family":"Jones","given":["Beth"]}],"telecom":[{"system":"phone","value":"0113 2","use":"work"}],
    "period":{"start":"2020-01-01"}})";
  const std::string stranger =
      R"({"resourceType":"RelatedPerson","patient":{"reference":"Patient/other"},
    "name":[{"family":"Nobody"}]})";
  const hl7v2::Message m = MapOk(Bundle({patient, related, stranger}));
  ASSERT_EQ(m.CountSegments("NK1"), 2u);
  EXPECT_EQ(D(m, "NK1[1]-1"), "1");
  EXPECT_EQ(D(m, "NK1[1]-2.1"), "Smith");
  EXPECT_EQ(D(m, "NK1[1]-4.1"), "2 Low St");
  EXPECT_EQ(D(m, "NK1[1]-5.1"), "0113 1");
  EXPECT_EQ(D(m, "NK1[1]-7.1"), "C");
  EXPECT_EQ(D(m, "NK1[1]-15"), "F");
  EXPECT_EQ(D(m, "NK1[2]-2.1"), "Jones");
  EXPECT_EQ(D(m, "NK1[2]-3.1"), "SPO");
  EXPECT_EQ(D(m, "NK1[2]-3.3"), "HL70063");
  EXPECT_EQ(D(m, "NK1[2]-6.1"), "0113 2");
  EXPECT_EQ(D(m, "NK1[2]-8"), "20200101");
  std::string order;
  for (std::size_t i = 1; i <= m.SegmentCount(); ++i) {
    order += std::string(m.Segment(i).id()) + " ";
  }
  EXPECT_EQ(order, "MSH EVN PID NK1 NK1 PV1 ");
}

TEST(FhirToV2Adt, CallerPicksTheTrigger) {
  FhirToV2Options o = Fixed();
  o.adt_trigger = AdtTrigger::kA28;
  hl7v2::Message m = MapOk(kPatient, o);
  EXPECT_EQ(D(m, "MSH-9.2"), "A28");
  EXPECT_EQ(D(m, "MSH-9.3"), "ADT_A05");
  EXPECT_EQ(D(m, "EVN-1"), "A28");
  o.adt_trigger = AdtTrigger::kA08;
  m = MapOk(kPatient, o);
  EXPECT_EQ(D(m, "MSH-9.2"), "A08");
  o.adt_trigger = AdtTrigger::kA31;
  m = MapOk(Bundle({kPatient, kEncounter}), o);
  EXPECT_EQ(D(m, "MSH-9.2"), "A31");
  EXPECT_EQ(D(m, "PV1-2"), "E");
}

TEST(FhirToV2Adt, MessageHeaderEventPicksTheDefaultTrigger) {
  const std::string header = R"({"resourceType":"MessageHeader","source":{"endpoint":"x"},
    "eventCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0003","code":"A28"}})";
  EXPECT_EQ(D(MapOk(Bundle({header, kPatient, kEncounter}, "message")), "MSH-9.2"), "A28");
  // The caller's choice wins over the header.
  FhirToV2Options o = Fixed();
  o.adt_trigger = AdtTrigger::kA31;
  EXPECT_EQ(D(MapOk(Bundle({header, kPatient}, "message"), o), "MSH-9.2"), "A31");
  // Events this mapper does not send fall back to the default.
  const std::string a01 = R"({"resourceType":"MessageHeader","source":{"endpoint":"x"},
    "eventCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0003","code":"A01"}})";
  EXPECT_EQ(D(MapOk(Bundle({a01, kPatient, kEncounter}, "message")), "MSH-9.2"), "A08");
}

TEST(FhirToV2Adt, PdsPatientFromUkCore) {
  const hl7v2::Message m =
      MapOk(testing::ReadFile(kTestData / "ukcore/pds-fhir-api/sandbox-mocks/Patient.json"));
  EXPECT_EQ(m.Get("PID-3(1)").raw(), "9000000009^^^NHS^NH");
  EXPECT_EQ(D(m, "PID-32"), "01");
  EXPECT_EQ(D(m, "PID-5.1"), "Smith");
  EXPECT_EQ(D(m, "PID-5.2"), "Jane");
  EXPECT_EQ(D(m, "PID-5.5"), "Mrs");
  EXPECT_EQ(D(m, "PID-7"), "20101022");
  EXPECT_EQ(D(m, "PID-8"), "F");
  EXPECT_EQ(D(m, "PID-11(1).1"), "1 Trevelyan Square");
  EXPECT_EQ(D(m, "PID-11(1).5"), "LS1 6AE");
  EXPECT_EQ(D(m, "PID-11(2).7"), "C");  // temp -> current or temporary
  EXPECT_EQ(D(m, "PID-13(1).1"), "01632960587");
  EXPECT_EQ(D(m, "PID-13(2).4"), "jane.smith@example.com");
  EXPECT_EQ(D(m, "PID-29"), "20101022000000+0000");
  EXPECT_EQ(D(m, "PID-30"), "Y");
  EXPECT_EQ(D(m, "PD1-3.10"), "Y12345");
}

TEST(FhirToV2Adt, R4PatientAndEncounterExamples) {
  const std::string patient =
      testing::ReadFile(kTestData / "fhir-r4/examples-r4-spec/patient-example.json");
  const std::string encounter =
      testing::ReadFile(kTestData / "fhir-r4/examples-r4-spec/encounter-example.json");
  const hl7v2::Message m = MapOk(Bundle({patient, encounter}, "searchset"));
  EXPECT_EQ(D(m, "MSH-9.2"), "A08");
  EXPECT_EQ(m.Get("PID-3(1)").raw(), "12345^^^&1.2.36.146.595.217.0.1&ISO^MR^^20010506");
  EXPECT_EQ(D(m, "PID-5(1).1"), "Chalmers");
  EXPECT_EQ(D(m, "PID-5(1).3"), "James");
  EXPECT_EQ(D(m, "PID-5(3).7"), "M");  // maiden name
  // The birthTime extension gives the full birth date/time with its zone.
  EXPECT_EQ(D(m, "PID-7"), "19741225143545-0500");
  EXPECT_EQ(D(m, "PID-8"), "M");
  EXPECT_EQ(D(m, "PID-30"), "N");
  EXPECT_EQ(D(m, "PV1-2"), "I");
}

TEST(FhirToV2Adt, MessageBundleWithFullUrlReferences) {
  const std::string bundle = R"({"resourceType":"Bundle","type":"message","entry":[
    {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"MessageHeader",
      "eventCoding":{"system":"http://example.org/events","code":"admin-notify"},"source":{"endpoint":"x"}}},
    {"fullUrl":"urn:uuid:a7e1c6f1-2ad8-4f44-9d2b-111111111111","resource":{"resourceType":"Encounter","status":"finished",
      "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
      "subject":{"reference":"urn:uuid:5d1b2a3c-0000-4000-8000-000000000001"}}},
    {"fullUrl":"urn:uuid:5d1b2a3c-0000-4000-8000-000000000001","resource":{"resourceType":"Patient",
      "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"gender":"male"}}]})";
  const hl7v2::Message m = MapOk(bundle);
  EXPECT_EQ(D(m, "PID-3.1"), "9000000009");
  EXPECT_EQ(D(m, "PID-8"), "M");
  EXPECT_EQ(D(m, "PV1-2"), "O");
}

// ---- ORU ----------------------------------------------------------------------------------------

TEST(FhirToV2Oru, R4DiagnosticReportWithItsObservations) {
  // The R4 CBC example names Patient/pat2 without including it; add it.
  std::string report =
      testing::ReadFile(kTestData / "fhir-r4/examples-r4-spec/diagnosticreport-example.json");
  const std::string pat2 =
      R"({"fullUrl":"https://example.com/base/Patient/pat2","resource":{"resourceType":"Patient","id":"pat2",
      "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}},)";
  const std::size_t entries = report.find("\"entry\": [");
  ASSERT_NE(entries, std::string::npos);
  report.insert(entries + 10, pat2);
  const hl7v2::Message m = MapOk(report);
  EXPECT_EQ(D(m, "MSH-9.1"), "ORU");
  EXPECT_EQ(D(m, "MSH-9.2"), "R01");
  EXPECT_EQ(D(m, "PID-3.1"), "9434765919");
  EXPECT_EQ(D(m, "OBR-3.1"), "5234342");
  EXPECT_EQ(D(m, "OBR-4.1"), "58410-2");
  EXPECT_EQ(D(m, "OBR-4.3"), "LN");
  EXPECT_EQ(D(m, "OBR-4.4"), "CBC");  // the second coding is the alternate identifier
  EXPECT_EQ(D(m, "OBR-7"), "20110304083000+1100");
  EXPECT_EQ(D(m, "OBR-22"), "20110304114533+1100");
  EXPECT_EQ(D(m, "OBR-24"), "HM");
  EXPECT_EQ(D(m, "OBR-25"), "F");
  // 17 results plus the presented PDF as an ED.
  EXPECT_EQ(m.CountSegments("OBX"), 18u);
  EXPECT_EQ(D(m, "OBX[1]-1"), "1");
  EXPECT_EQ(D(m, "OBX[1]-2"), "NM");
  EXPECT_EQ(D(m, "OBX[1]-3.1"), "718-7");
  EXPECT_EQ(D(m, "OBX[1]-3.3"), "LN");
  EXPECT_EQ(D(m, "OBX[1]-5"), "176");
  EXPECT_EQ(D(m, "OBX[1]-6.1"), "g/L");
  EXPECT_EQ(D(m, "OBX[1]-6.3"), "UCUM");
  EXPECT_EQ(D(m, "OBX[1]-7"), "135-180");
  EXPECT_EQ(D(m, "OBX[1]-11"), "F");
  // Haematocrit 55 % is flagged high.
  EXPECT_EQ(D(m, "OBX[3]-5"), "55");
  EXPECT_EQ(D(m, "OBX[3]-6.1"), "%");
  EXPECT_EQ(D(m, "OBX[3]-7"), "38-52");
  EXPECT_EQ(D(m, "OBX[3]-8"), "H");
  EXPECT_EQ(D(m, "OBX[18]-2"), "ED");
  EXPECT_EQ(D(m, "OBX[18]-5.2"), "AP");
  EXPECT_EQ(D(m, "OBX[18]-5.3"), "PDF");
  EXPECT_EQ(D(m, "OBX[18]-5.4"), "Base64");
  EXPECT_EQ(D(m, "OBX[18]-5.5").substr(0, 8), "JVBERi0x");
}

const char* const kObsPatient = R"({"resourceType":"Patient","id":"p1",
  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]})";

std::string Obs(const std::string& id, const std::string& value_json,
                const std::string& status = "final") {
  return R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status + R"(",
    "code":{"coding":[{"system":"http://loinc.org","code":"1-)" +
         id + R"(","display":"Test )" + id +
         R"("}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-03-01T09:00:00Z",)" +
         value_json + "}";
}

TEST(FhirToV2Oru, ValueTypes) {
  const hl7v2::Message m = MapOk(Bundle({
      kObsPatient,
      Obs("q",
          R"("valueQuantity":{"value":5.40,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},
          "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"HH"}]}],
          "referenceRange":[{"low":{"value":3.5},"high":{"value":5.3}}])"),
      Obs("c", R"("valueQuantity":{"value":10,"comparator":"<","unit":"U/L"})"),
      Obs("s", R"("valueString":"Line one\nLine | two ^ & ~ \\ end")"),
      Obs("cc",
          R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}],"text":"neg"})"),
      Obs("dt", R"("valueDateTime":"2024-02-28T13:45:00+00:00")"),
      Obs("r", R"("valueRange":{"low":{"value":1,"unit":"g"},"high":{"value":2.5,"unit":"g"}})"),
      Obs("ra", R"("valueRatio":{"numerator":{"value":1},"denominator":{"value":128}})"),
      Obs("b", R"("valueBoolean":true)"),
      Obs("i", R"("valueInteger":42)", "preliminary"),
  }));
  EXPECT_EQ(D(m, "MSH-9.1"), "ORU");
  // Observations without a report go under one OBR named after the first.
  EXPECT_EQ(m.CountSegments("OBR"), 1u);
  EXPECT_EQ(D(m, "OBR-4.1"), "1-q");
  EXPECT_EQ(D(m, "OBX[1]-2"), "NM");
  EXPECT_EQ(D(m, "OBX[1]-5"), "5.4");
  EXPECT_EQ(D(m, "OBX[1]-6.1"), "mmol/L");
  EXPECT_EQ(D(m, "OBX[1]-7"), "3.5-5.3");
  EXPECT_EQ(D(m, "OBX[1]-8"), "HH");
  EXPECT_EQ(D(m, "OBX[1]-11"), "F");
  EXPECT_EQ(D(m, "OBX[1]-14"), "20240301090000+0000");
  EXPECT_EQ(D(m, "OBX[2]-2"), "SN");
  EXPECT_EQ(D(m, "OBX[2]-5.1"), "<");
  EXPECT_EQ(D(m, "OBX[2]-5.2"), "10");
  EXPECT_EQ(D(m, "OBX[2]-6.2"), "U/L");
  EXPECT_EQ(D(m, "OBX[3]-2"), "FT");
  EXPECT_EQ(m.Get("OBX[3]-5").raw(), "Line one\\.br\\Line \\F\\ two \\S\\ \\T\\ \\R\\ \\E\\ end");
  EXPECT_EQ(m.Get("OBX[3]-5").Text(), "Line one\nLine | two ^ & ~ \\ end");
  EXPECT_EQ(D(m, "OBX[4]-2"), "CWE");
  EXPECT_EQ(D(m, "OBX[4]-5.1"), "260385009");
  EXPECT_EQ(D(m, "OBX[4]-5.2"), "Negative");
  EXPECT_EQ(D(m, "OBX[4]-5.3"), "SCT");
  EXPECT_EQ(D(m, "OBX[4]-5.9"), "neg");
  EXPECT_EQ(D(m, "OBX[5]-2"), "DTM");
  EXPECT_EQ(D(m, "OBX[5]-5"), "20240228134500+0000");
  EXPECT_EQ(D(m, "OBX[6]-2"), "SN");
  EXPECT_EQ(m.Get("OBX[6]-5").raw(), "^1^-^2.5");
  EXPECT_EQ(D(m, "OBX[6]-6.1"), "g");
  EXPECT_EQ(m.Get("OBX[7]-5").raw(), "^1^:^128");
  EXPECT_EQ(m.Get("OBX[8]-5").raw(), "Y^Yes^HL70136");
  EXPECT_EQ(D(m, "OBX[9]-5"), "42");
  EXPECT_EQ(D(m, "OBX[9]-11"), "P");
}

TEST(FhirToV2Oru, DecimalsStayDecimals) {
  const hl7v2::Message m = MapOk(Bundle({kObsPatient, Obs("d", R"("valueQuantity":{"value":4.0},
      "referenceRange":[{"low":{"value":3.50},"high":{"value":11.0}}])"),
                                         Obs("i", R"("valueQuantity":{"value":4})")}));
  EXPECT_EQ(D(m, "OBX[1]-5"), "4.0");
  EXPECT_EQ(D(m, "OBX[1]-7"), "3.5-11.0");  // trailing zeros beyond one are lost (see docs)
  EXPECT_EQ(D(m, "OBX[2]-5"), "4");
}

TEST(FhirToV2Oru, LineBreaksAsRepetitions) {
  FhirToV2Options o = Fixed();
  o.line_breaks = TextLineBreaks::kRepetitions;
  const hl7v2::Message m =
      MapOk(Bundle({kObsPatient, Obs("s", R"("valueString":"one\r\ntwo~three\nfour")")}), o);
  EXPECT_EQ(D(m, "OBX-2"), "TX");
  EXPECT_EQ(m.Get("OBX-5").raw(), "one~two\\R\\three~four");
  EXPECT_EQ(D(m, "OBX-5(2)"), "two~three");
}

TEST(FhirToV2Oru, ComponentsShareASubIdAndNotesFollow) {
  const hl7v2::Message m = MapOk(Bundle({kObsPatient, R"({"resourceType":"Observation","id":"bp",
    "status":"final","subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "note":[{"text":"Taken after\nexercise"}],
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
       "valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
       "valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"},
       "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}]}]})"}));
  ASSERT_EQ(m.CountSegments("OBX"), 2u);
  EXPECT_EQ(D(m, "OBX[1]-3.1"), "8480-6");
  EXPECT_EQ(D(m, "OBX[1]-4"), "1");
  EXPECT_EQ(D(m, "OBX[1]-6.1"), "mm[Hg]");
  EXPECT_EQ(D(m, "OBX[1]-6.2"), "mmHg");
  EXPECT_EQ(D(m, "OBX[2]-3.1"), "8462-4");
  EXPECT_EQ(D(m, "OBX[2]-4"), "1");
  EXPECT_EQ(D(m, "OBX[2]-8"), "N");
  EXPECT_EQ(D(m, "OBX[2]-11"), "F");
  ASSERT_EQ(m.CountSegments("NTE"), 1u);
  EXPECT_EQ(m.Get("NTE-3").Text(), "Taken after\nexercise");
}

TEST(FhirToV2Oru, ReportWithConclusionStatusAndPv1) {
  const hl7v2::Message m = MapOk(Bundle({kPatient, kEncounter,
                                         R"({"resourceType":"DiagnosticReport","id":"r",
    "status":"corrected","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},
    "code":{"text":"U&E"},"conclusion":"All normal.\nNo action.",
    "result":[{"reference":"Observation/k"}]})",
                                         Obs("k", R"("valueQuantity":{"value":4.1})")}));
  EXPECT_EQ(D(m, "MSH-9.1"), "ORU");
  EXPECT_EQ(D(m, "PID-3.1"), "9434765919");
  EXPECT_EQ(D(m, "PV1-2"), "E");
  EXPECT_EQ(D(m, "OBR-4.2"), "U&E");
  EXPECT_EQ(D(m, "OBR-25"), "C");
  EXPECT_EQ(m.Get("NTE-3").Text(), "All normal.\nNo action.");
  std::string order;
  for (std::size_t i = 1; i <= m.SegmentCount(); ++i) {
    order += std::string(m.Segment(i).id()) + " ";
  }
  EXPECT_EQ(order, "MSH PID PD1 PV1 OBR NTE OBX ");
}

TEST(FhirToV2Oru, SubjectOnlyByIdentifierStillFillsPid) {
  const hl7v2::Message m = MapOk(R"({"resourceType":"Observation","status":"final",
    "code":{"text":"Weight"},"valueQuantity":{"value":70.5,"unit":"kg"},
    "subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}}})");
  EXPECT_EQ(m.Get("PID-3").raw(), "9434765919^^^NHS^NH");
  EXPECT_EQ(D(m, "OBX-5"), "70.5");
}

TEST(FhirToV2Oru, SubIdExtensionGoesBackToObx4) {
  const std::string ext_start =
      R"("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/observation-v2-subid","extension":[)";
  const hl7v2::Message m = MapOk(Bundle({
      kObsPatient,
      Obs("org", ext_start + R"({"url":"original-sub-identifier","valueString":"1"}]}],
          "valueString":"Staph")"),
      Obs("og", ext_start + R"({"url":"group","valueDecimal":2},{"url":"sequence","valueDecimal":1},
          {"url":"identifier","valueString":"ISO-1"}]}],"valueString":"S")"),
  }));
  ASSERT_EQ(m.CountSegments("OBX"), 2u);
  EXPECT_EQ(m.Get("OBX[1]-4").raw(), "1");
  EXPECT_EQ(m.Get("OBX[2]-4").raw(), "^2^1^ISO-1");
}

TEST(FhirToV2Oru, UnmappedStatusGoesBackAsTheOriginalV2Code) {
  // v2 -> FHIR keeps a status it cannot map in _status (hl7v2-original-code); that code, not the
  // FHIR "unknown", is what OBX-11 / OBR-25 (tables 0085 / 0123) can carry.
  const std::string original =
      R"("_status":{"extension":[{"url":"https://fhir.trustbridge.nhs.uk/StructureDefinition/hl7v2-original-code",
         "valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0085","code":"I"}}]},)";
  const hl7v2::Message m = MapOk(Bundle({
      kObsPatient,
      R"({"resourceType":"DiagnosticReport","id":"r","status":"unknown",
        "_status":{"extension":[{"url":"https://fhir.trustbridge.nhs.uk/StructureDefinition/hl7v2-original-code",
          "valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v2-0123","code":"A"}}]},
        "subject":{"reference":"Patient/p1"},"code":{"text":"FBC"},
        "result":[{"reference":"Observation/a"},{"reference":"Observation/b"}]})",
      Obs("a", original + R"("valueQuantity":{"value":4})", "unknown"),
      Obs("b", R"("valueQuantity":{"value":5})", "unknown"),
  }));
  EXPECT_EQ(D(m, "OBR-25"), "A");
  EXPECT_EQ(D(m, "OBX[1]-11"), "I");
  EXPECT_EQ(m.Get("OBX[2]-11").raw(), "");
}

TEST(FhirToV2Oru, AttachmentExtensionBecomesAReferencePointer) {
  // R4 Observation.value[x] has no Attachment: v2 -> FHIR carries ED and RP values in the R5
  // cross-version extension, which the way back reads as the value.
  const hl7v2::Message m = MapOk(Bundle({
      kObsPatient,
      Obs("rp",
          R"("extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value",
          "valueAttachment":{"contentType":"image/jpeg","url":"https://testurl.com"}}])"),
      Obs("ed",
          R"("extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value",
          "valueAttachment":{"contentType":"application/pdf","data":"JVBERi0xLjQK"}}])"),
  }));
  EXPECT_EQ(D(m, "OBX[1]-2"), "RP");
  EXPECT_EQ(m.Get("OBX[1]-5").raw(), "https://testurl.com^^IM^JPEG");
  EXPECT_EQ(D(m, "OBX[2]-2"), "ED");
  EXPECT_EQ(D(m, "OBX[2]-5.5"), "JVBERi0xLjQK");
}

// ---- codes --------------------------------------------------------------------------------------

TEST(FhirToV2Codes, UnmappedCodesAreCarriedWithTheirSystem) {
  const hl7v2::Message m =
      MapOk(Bundle({kObsPatient, R"({"resourceType":"Observation","status":"unknown",
    "subject":{"reference":"Patient/p1"},
    "code":{"coding":[{"system":"https://trust.example.nhs.uk/CodeSystem/lab","code":"K^1","display":"Potassium"}]},
    "valueQuantity":{"value":4},
    "interpretation":[{"coding":[{"system":"https://trust.example.nhs.uk/flags","code":"ZZ"}]}]})"}));
  EXPECT_EQ(D(m, "OBX-3.1"), "K^1");
  EXPECT_EQ(D(m, "OBX-3.3"), "https://trust.example.nhs.uk/CodeSystem/lab");
  EXPECT_EQ(D(m, "OBX-8"), "ZZ");
  // FHIR "unknown" has no table 0085 code: OBX-11 is left empty rather than given a FHIR code.
  EXPECT_EQ(m.Get("OBX-11").raw(), "");
}

TEST(FhirToV2Codes, BrokerCodingSystemUrisGoBackToTheV2Name) {
  // v2 -> FHIR names a coding system nobody knows urn:trustbridge:v2-coding-system:<name>
  // (percent-encoded); that URI is the broker's own and must not reach a v2 receiver.
  const std::string code =
      R"("code":{"coding":[{"system":"urn:trustbridge:v2-coding-system:L","code":"ORG","display":"Organism"}]},)";
  const hl7v2::Message m = MapOk(Bundle({
      kObsPatient,
      R"({"resourceType":"Observation","id":"o","status":"final","subject":{"reference":"Patient/p1"},)" +
          code +
          R"("valueCodeableConcept":{"coding":[{"system":"urn:trustbridge:v2-coding-system:MY%20LAB%5E1","code":"X"},
            {"system":"urn:oid:2.16.840.1.113883.6.96","code":"3092008"}]}})",
  }));
  EXPECT_EQ(m.Get("OBX-3").raw(), "ORG^Organism^L");
  EXPECT_EQ(D(m, "OBX-5.3"), "MY LAB^1");
  // Before v2.7 a CWE has no OID component: the OID itself names the system.
  EXPECT_EQ(D(m, "OBX-5.6"), "2.16.840.1.113883.6.96");

  FhirToV2Options v27 = Fixed();
  v27.version = "2.7";
  const hl7v2::Message m27 = MapOk(Bundle({kObsPatient, R"({"resourceType":"Observation","id":"o",
    "status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[
      {"system":"urn:oid:2.16.840.1.113883.6.1","code":"718-7"},
      {"system":"urn:oid:2.16.840.1.113883.6.96","code":"3092008"}]}})"}),
                                   v27);
  // v2.7+: CWE-14 / CWE-17 carry the coding system OIDs.
  EXPECT_EQ(D(m27, "OBX-3.14"), "2.16.840.1.113883.6.1");
  EXPECT_EQ(D(m27, "OBX-3.17"), "2.16.840.1.113883.6.96");
  EXPECT_EQ(D(m27, "OBX-3.3"), "");
}

TEST(FhirToV2Codes, LocalTranslationMapPutsTheTrustCodeFirst) {
  FhirToV2Tables tables = FhirToV2Tables::Builtin();
  ASSERT_TRUE(tables
                  .AddCsv("rj1-lab",
                          "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n"
                          "99RJ1,HB,\"Haemoglobin, blood\",http://loinc.org,1-q,Hb\n")
                  .has_value());
  FhirToV2Options o = Fixed();
  o.tables = &tables;
  const hl7v2::Message m =
      MapOk(Bundle({kObsPatient, Obs("q", R"("valueQuantity":{"value":1})")}), o);
  EXPECT_EQ(D(m, "OBX-3.1"), "HB");
  EXPECT_EQ(D(m, "OBX-3.2"), "Haemoglobin, blood");
  EXPECT_EQ(D(m, "OBX-3.3"), "99RJ1");
  EXPECT_EQ(D(m, "OBX-3.4"), "1-q");
  EXPECT_EQ(D(m, "OBX-3.6"), "LN");
}

TEST(FhirToV2Codes, LocalFolderOverridesABuiltinRow) {
  testing::TempDir dir;
  testing::WriteFile(
      dir / "administrative-gender.csv",
      "# a trust that sends unknown as blank-free 'N'\n"
      "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n"
      "HL70001,N,Not known,http://hl7.org/fhir/administrative-gender,unknown,Unknown\n");
  core::Result<FhirToV2Tables> tables = FhirToV2Tables::Load(dir.path());
  ASSERT_TRUE(tables.has_value());
  FhirToV2Options o = Fixed();
  o.tables = &*tables;
  EXPECT_EQ(D(MapOk(R"({"resourceType":"Patient","gender":"unknown"})", o), "PID-8"), "N");
  EXPECT_EQ(D(MapOk(R"({"resourceType":"Patient","gender":"male"})", o), "PID-8"), "M");
}

// ---- escaping and encodings ---------------------------------------------------------------------

TEST(FhirToV2Escaping, CustomEncodingCharactersAreHonoured) {
  FhirToV2Options o = Fixed();
  o.encoding.field = '#';
  o.encoding.component = '$';
  o.encoding.repetition = '*';
  o.encoding.escape = '!';
  o.encoding.subcomponent = '@';
  const hl7v2::Message m = MapOk(R"({"resourceType":"Patient",
    "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
    "name":[{"family":"A#B$C*D!E@F|G^H~I\\J&K","given":["X"]}]})",
                                 o);
  EXPECT_EQ(m.er7().substr(0, 9), "MSH#$*!@#");
  EXPECT_EQ(m.Get("PID-3").raw(), "9434765919$$$NHS$NH");
  EXPECT_EQ(D(m, "PID-5.1"), "A#B$C*D!E@F|G^H~I\\J&K");
  EXPECT_EQ(D(m, "PID-5.2"), "X");
}

TEST(FhirToV2Escaping, IncompleteEncodingIsAnError) {
  FhirToV2Options o = Fixed();
  o.encoding.subcomponent = '\0';
  core::Result<std::string> out = MapFhirToV2(kPatient, o);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, core::ErrorCode::kInvalidValue);
}

// ---- determinism --------------------------------------------------------------------------------

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1709288100));
  }
};

TEST(FhirToV2Determinism, SameInputSameBytes) {
  FixedClock clock;
  FhirToV2Options o;
  o.clock = &clock;
  core::Result<std::string> a = MapFhirToV2(kPatient, o);
  core::Result<std::string> b = MapFhirToV2(kPatient, o);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*a, *b);
  const hl7v2::Message m = *hl7v2::Message::Parse(*a);
  EXPECT_EQ(D(m, "MSH-7"), "20240301101500+0000");
  EXPECT_EQ(D(m, "MSH-10").substr(0, 2), "TB");
  EXPECT_EQ(D(m, "MSH-10").size(), 18u);
  // A different input gets a different default control id.
  const hl7v2::Message other =
      *hl7v2::Message::Parse(*MapFhirToV2(R"({"resourceType":"Patient","gender":"male"})", o));
  EXPECT_NE(D(other, "MSH-10"), D(m, "MSH-10"));
}

TEST(FhirToV2Determinism, ParsedOverloadGivesTheSameMessage) {
  core::Result<rapidjson::Document> doc = fhir::ParseJson(kPatient);
  ASSERT_TRUE(doc.has_value());
  core::Result<std::string> from_value = MapFhirToV2(*doc, Fixed());
  core::Result<std::string> from_text = MapFhirToV2(kPatient, Fixed());
  ASSERT_TRUE(from_value.has_value());
  ASSERT_TRUE(from_text.has_value());
  EXPECT_EQ(*from_value, *from_text);
}

// ---- errors -------------------------------------------------------------------------------------

core::Error MapErr(const std::string& json, const FhirToV2Options& o = Fixed()) {
  core::Result<std::string> out = MapFhirToV2(json, o);
  EXPECT_FALSE(out.has_value()) << json;
  return out ? core::Error{} : out.error();
}

TEST(FhirToV2Errors, AreValuesWithFhirPathLocations) {
  core::Error e = MapErr(R"({"resourceType":"Encounter","status":"planned"})");
  EXPECT_EQ(e.code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(e.location, "Patient");

  e = MapErr(R"({"resourceType":"Patient","birthDate":"03/02/1970"})");
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(e.location, "Patient.birthDate");

  e = MapErr(Bundle({R"({"resourceType":"Patient","name":[{"family":7}]})"}));
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(e.location, "Bundle.entry[0].resource.name[0].family");

  e = MapErr(
      R"({"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"}]})");
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(e.location, "Patient.identifier[0].value");
  EXPECT_EQ(e.message.find("9434765918"), std::string::npos);  // no PHI in messages

  e = MapErr(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
                 "subject":{"reference":"Patient/missing"}})");
  EXPECT_EQ(e.code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(e.location, "Patient");

  e = MapErr(R"({"status":"final"})");
  EXPECT_EQ(e.code, core::ErrorCode::kRequiredFieldMissing);

  e = MapErr("[1,2]");
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidValue);

  e = MapErr("{not json");
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidValue);

  FhirToV2Options oru = Fixed();
  oru.message = FhirToV2Message::kOru;
  e = MapErr(kPatient, oru);
  EXPECT_EQ(e.code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(e.location, "DiagnosticReport");
}

TEST(FhirToV2Errors, ResultsForTwoPatientsAreRefused) {
  const std::string other = R"({"resourceType":"Patient","id":"p2"})";
  core::Error e =
      MapErr(Bundle({kObsPatient, other, Obs("a", R"("valueInteger":1)"),
                     R"({"resourceType":"Observation","status":"final","code":{"text":"b"},
                                     "subject":{"reference":"Patient/p2"},"valueInteger":2})"}));
  EXPECT_EQ(e.code, core::ErrorCode::kUnsupportedMessage);
}

}  // namespace
}  // namespace tb::mappings
