#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/mappings/v2_to_fhir_test_util.h"

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

std::string UkLabResult() {
  return Seg("MSH", {{3, "WINPATH"},
                     {4, "RX1"},
                     {5, "TRUSTBRIDGE"},
                     {6, "X26"},
                     {7, "20240701091500"},
                     {9, "ORU^R01^ORU_R01"},
                     {10, "LAB0001"},
                     {11, "P"},
                     {12, "2.4"}}) +
         Seg("PID",
             {{1, "1"}, {3, "9449305552^^^NHS^NH"}, {5, "SMITH^John"}, {7, "19700101"}, {8, "M"}}) +
         Seg("OBR", {{1, "1"},
                     {2, "PL123"},
                     {3, "FL456"},
                     {4, "FBC^Full blood count^WINPATH"},
                     {7, "20240701080000"},
                     {22, "20240701091000"},
                     {24, "HM"},
                     {25, "F"}}) +
         Seg("NTE", {{1, "1"}, {3, "Sample slightly haemolysed.\\.br\\Interpret K+ with care."}}) +
         Seg("OBX", {{1, "1"},
                     {2, "NM"},
                     {3, "HB^Haemoglobin^WINPATH"},
                     {5, "112.0"},
                     {6, "g/L^g/L^UCUM"},
                     {7, "130-170"},
                     {8, "L"},
                     {11, "F"},
                     {14, "20240701085500"}}) +
         Seg("NTE", {{1, "1"}, {3, "Repeat in 2 weeks.\\.br\\Discussed with GP."}}) +
         Seg("OBX", {{1, "2"},
                     {2, "SN"},
                     {3, "EGFR^eGFR^WINPATH"},
                     {5, ">^90"},
                     {6, "mL/min/1.73m2"},
                     {11, "F"}}) +
         Seg("OBX", {{1, "3"},
                     {2, "CE"},
                     {3, "ORG^Organism^WINPATH"},
                     {5, "3092008^Staphylococcus aureus^SCT"},
                     {8, "A"},
                     {11, "P"}}) +
         Seg("OBX", {{1, "4"},
                     {2, "FT"},
                     {3, "COM^Comment^WINPATH"},
                     {5, "Line one\\.br\\Line two \\T\\ more"},
                     {11, "F"}}) +
         Seg("OBX",
             {{1, "5"}, {2, "DT"}, {3, "DUE^Next due^WINPATH"}, {5, "20240801"}, {11, "F"}}) +
         Seg("OBX", {{1, "6"},
                     {2, "ED"},
                     {3, "PDF^Report^WINPATH"},
                     {5, "^AP^PDF^Base64^JVBERi0xLjQK"},
                     {11, "F"}}) +
         Seg("OBX", {{1, "7"},
                     {2, "ST"},
                     {3, "XX^Local test^WINPATH"},
                     {5, "positive"},
                     {8, "ZZ"},
                     {11, "Q"}});
}

TEST(V2ToFhirOru, MapsLabReportToValidDiagnosticReportAndObservations) {
  const auto doc = MapToDocument(UkLabResult());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto* report = Resource(doc, "DiagnosticReport");
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(Str(*report, "status"), "final");
  EXPECT_EQ(Str((*report)["code"]["coding"][0], "code"), "FBC");
  EXPECT_EQ(Str(*report, "effectiveDateTime"), "2024-07-01T08:00:00+01:00");  // BST
  EXPECT_EQ(Str(*report, "issued"), "2024-07-01T09:10:00+01:00");
  EXPECT_EQ(Str((*report)["identifier"][0], "value"), "PL123");
  EXPECT_EQ(Str((*report)["identifier"][0]["type"]["coding"][0], "code"), "PLAC");
  EXPECT_EQ(Str(*report, "conclusion"), "Sample slightly haemolysed.\nInterpret K+ with care.");
  const auto& results = (*report)["result"];
  ASSERT_EQ(results.Size(), 7u);
  for (const auto& result : results.GetArray()) {
    const auto* observation = Resolve(doc, result);
    ASSERT_NE(observation, nullptr);
    EXPECT_EQ(Str(*observation, "resourceType"), "Observation");
  }
  const auto* header = Resource(doc, "MessageHeader");
  ASSERT_EQ((*header)["focus"].Size(), 2u);  // the Patient and the report
  EXPECT_EQ(Resolve(doc, (*header)["focus"][1]), report);
}

TEST(V2ToFhirOru, NumericResultKeepsUnitsRangeFlagAndPrecision) {
  const auto doc = MapToDocument(UkLabResult());
  const auto* hb = Resource(doc, "Observation", 0);
  ASSERT_NE(hb, nullptr);
  EXPECT_EQ(Str(*hb, "status"), "final");
  const auto& quantity = (*hb)["valueQuantity"];
  ASSERT_TRUE(quantity["value"].IsNumber());
  EXPECT_DOUBLE_EQ(quantity["value"].GetDouble(), 112.0);
  EXPECT_EQ(Str(quantity, "unit"), "g/L");
  EXPECT_EQ(Str(quantity, "system"), "http://unitsofmeasure.org");
  EXPECT_EQ(Str(quantity, "code"), "g/L");
  EXPECT_EQ(Str((*hb)["interpretation"][0]["coding"][0], "code"), "L");
  EXPECT_EQ(Str((*hb)["interpretation"][0]["coding"][0], "system"),
            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation");
  EXPECT_EQ(Str((*hb)["referenceRange"][0], "text"), "130-170");
  EXPECT_EQ((*hb)["referenceRange"][0]["low"]["value"].GetDouble(), 130.0);
  EXPECT_EQ(Str(*hb, "effectiveDateTime"), "2024-07-01T08:55:00+01:00");
  EXPECT_EQ(Str((*hb)["note"][0], "text"), "Repeat in 2 weeks.\nDiscussed with GP.");
  EXPECT_EQ(Str((*hb)["category"][0]["coding"][0], "code"), "laboratory");
  // The written precision survives serialisation: 112.0, not 112.
  auto json = MapV2ToFhir(UkLabResult(), testing::Tables());
  ASSERT_TRUE(json.has_value());
  EXPECT_NE(json->find("\"value\":112.0"), std::string::npos);
}

TEST(V2ToFhirOru, OtherValueTypes) {
  const auto doc = MapToDocument(UkLabResult());
  const auto observations = Resources(doc, "Observation");
  ASSERT_EQ(observations.size(), 7u);
  // SN with a comparator.
  EXPECT_EQ(Str((*observations[1])["valueQuantity"], "comparator"), ">");
  EXPECT_EQ((*observations[1])["valueQuantity"]["value"].GetDouble(), 90.0);
  // CE.
  EXPECT_EQ(Str((*observations[2])["valueCodeableConcept"]["coding"][0], "system"),
            "http://snomed.info/sct");
  EXPECT_EQ(Str(*observations[2], "status"), "preliminary");
  EXPECT_EQ(Str((*observations[2])["interpretation"][0]["coding"][0], "code"), "A");
  // FT: formatting escapes become line breaks, delimiter escapes are resolved.
  EXPECT_EQ(Str(*observations[3], "valueString"), "Line one\nLine two & more");
  // DT.
  EXPECT_EQ(Str(*observations[4], "valueDateTime"), "2024-08-01");
  // ED as an attachment.
  const auto& extension = (*observations[5])["extension"][0];
  EXPECT_EQ(Str(extension["valueAttachment"], "contentType"), "application/pdf");
  EXPECT_EQ(Str(extension["valueAttachment"], "data"), "JVBERi0xLjQK");
  // Unmapped codes are carried with their v2 system, never dropped.
  EXPECT_EQ(Str(*observations[6], "status"), "unknown");
  EXPECT_EQ(Str((*observations[6])["_status"]["extension"][0]["valueCoding"], "code"), "Q");
  EXPECT_EQ(Str((*observations[6])["interpretation"][0]["coding"][0], "system"),
            "http://terminology.hl7.org/CodeSystem/v2-0078");
  EXPECT_EQ(Str((*observations[6])["interpretation"][0]["coding"][0], "code"), "ZZ");
  EXPECT_EQ(Str((*observations[6])["code"]["coding"][0], "system"),
            "urn:trustbridge:v2-coding-system:WINPATH");
}

TEST(V2ToFhirOru, LocalConceptMapAddsTranslationAndKeepsOriginal) {
  MappingTables tables = testing::Tables();
  auto local = ParseCodeMapCsv(
      "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n"
      "WINPATH,HB,Haemoglobin,http://loinc.org,718-7,Hemoglobin [Mass/volume] in Blood\n",
      "winpath-lab");
  ASSERT_TRUE(local.has_value());
  tables.Add(std::move(*local), /*shipped=*/false);
  auto json = MapV2ToFhir(UkLabResult(), tables);
  ASSERT_TRUE(json.has_value());
  auto doc = fhir::ParseJson(*json);
  ASSERT_TRUE(doc.has_value());
  const auto* hb = Resource(*doc, "Observation", 0);
  const auto& codings = (*hb)["code"]["coding"];
  ASSERT_EQ(codings.Size(), 2u);
  EXPECT_EQ(Str(codings[0], "code"), "HB");
  EXPECT_EQ(Str(codings[1], "system"), "http://loinc.org");
  EXPECT_EQ(Str(codings[1], "code"), "718-7");
}

TEST(V2ToFhirOru, MissingObrIsAnError) {
  std::string er7 =
      Seg("MSH", {{3, "LAB"}, {7, "20240701091500"}, {9, "ORU^R01"}, {10, "1"}, {12, "2.4"}}) +
      Seg("PID", {{3, "1^^^RX1^MR"}});
  auto json = MapV2ToFhir(er7, testing::Tables());
  ASSERT_FALSE(json.has_value());
  EXPECT_EQ(json.error().code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(json.error().location, "OBR");
}

// A culture report: the organism and its susceptibilities share OBX-4, the only thing that ties
// an antibiotic result to its organism.
std::string CultureReport(const std::vector<std::string>& obx) {
  std::string er7 =
      Seg("MSH", {{3, "WINPATH"}, {7, "20240701091500"}, {9, "ORU^R01"}, {10, "M1"}, {12, "2.5"}}) +
      Seg("PID", {{1, "1"}, {3, "9449305552^^^NHS^NH"}}) +
      Seg("OBR", {{1, "1"}, {4, "MCS^Culture^WINPATH"}, {25, "F"}});
  for (const std::string& segment : obx) {
    er7 += segment + "\r";
  }
  return er7;
}

constexpr std::string_view kSubIdUrl =
    "http://hl7.org/fhir/StructureDefinition/observation-v2-subid";

// The sub-extension `name` of the observation-v2-subid extension, or nullptr.
const rapidjson::Value* SubIdPart(const rapidjson::Value& observation, std::string_view name) {
  if (!observation.HasMember("extension")) {
    return nullptr;
  }
  for (const auto& ext : observation["extension"].GetArray()) {
    if (Str(ext, "url") != kSubIdUrl || !ext.HasMember("extension")) {
      continue;
    }
    for (const auto& part : ext["extension"].GetArray()) {
      if (Str(part, "url") == name) {
        return &part;
      }
    }
  }
  return nullptr;
}

TEST(V2ToFhirOru, SubIdTiesSusceptibilitiesToTheirOrganism) {
  const auto doc = MapToDocument(CultureReport({
      "OBX|1|CWE|ORG^Organism^L|1|3092008^Staphylococcus aureus^SCT||||||F",
      "OBX|2|ST|AMOX^Amoxicillin^L|1|R||||||F",
      "OBX|3|ST|AMOX^Amoxicillin^L|^2^1^ISO-1|S||||||F",
  }));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto observations = Resources(doc, "Observation");
  ASSERT_EQ(observations.size(), 3u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto* original = SubIdPart(*observations[i], "original-sub-identifier");
    ASSERT_NE(original, nullptr) << Json(*observations[i]);
    EXPECT_EQ(Str(*original, "valueString"), "1");
  }
  // An OG (v2.8.2+) keeps its parts: group and sequence as decimals, the identifier as text.
  const auto* group = SubIdPart(*observations[2], "group");
  const auto* sequence = SubIdPart(*observations[2], "sequence");
  const auto* identifier = SubIdPart(*observations[2], "identifier");
  ASSERT_NE(group, nullptr);
  ASSERT_NE(sequence, nullptr);
  ASSERT_NE(identifier, nullptr);
  EXPECT_EQ((*group)["valueDecimal"].GetDouble(), 2.0);
  EXPECT_EQ((*sequence)["valueDecimal"].GetDouble(), 1.0);
  EXPECT_EQ(Str(*identifier, "valueString"), "ISO-1");
  EXPECT_EQ(SubIdPart(*observations[2], "original-sub-identifier"), nullptr);
}

TEST(V2ToFhirOru, EveryRepetitionOfACodedValueIsKept) {
  const auto doc = MapToDocument(CultureReport({
      "OBX|1|CWE|ORG^Organism^L||3092008^Staphylococcus aureus^SCT~112283007^Escherichia "
      "coli^SCT||||||F",
      "OBX|2|DTM|DATES^Dates^L||20240701~20240702||||||F",
      "OBX|3|SN|RATIO^Titre^L||^1^:^64~^1^:^128||||||F",
  }));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto observations = Resources(doc, "Observation");
  ASSERT_EQ(observations.size(), 3u);
  // One component per repetition, each with the observation's code: no result is dropped.
  for (const auto* observation : observations) {
    ASSERT_TRUE(observation->HasMember("component")) << Json(*observation);
  }
  const auto& organisms = (*observations[0])["component"];
  ASSERT_EQ(organisms.Size(), 2u) << Json(*observations[0]);
  EXPECT_EQ(Str(organisms[0]["valueCodeableConcept"]["coding"][0], "code"), "3092008");
  EXPECT_EQ(Str(organisms[1]["valueCodeableConcept"]["coding"][0], "code"), "112283007");
  EXPECT_EQ(Str(organisms[1]["code"]["coding"][0], "code"), "ORG");
  EXPECT_FALSE(observations[0]->HasMember("valueCodeableConcept"));
  const auto& dates = (*observations[1])["component"];
  ASSERT_EQ(dates.Size(), 2u);
  EXPECT_EQ(Str(dates[1], "valueDateTime"), "2024-07-02");
  const auto& titres = (*observations[2])["component"];
  ASSERT_EQ(titres.Size(), 2u);
  EXPECT_EQ(titres[1]["valueRatio"]["denominator"]["value"].GetDouble(), 128.0);
}

TEST(V2ToFhirOru, ReferencePointerBecomesAnAttachmentUrl) {
  // ORU-R01-01 (FHIR-Converter sample): OBX||RP|...||https://testurl.com^^SD^PICT
  const auto doc = MapToDocument(CultureReport({
      "OBX|1|RP|8867-4^heartrate^LN||https://testurl.com^^image^JPEG||||||F",
      "OBX|2|RP|8867-4^heartrate^LN||https://testurl.com^^SD^PICT||||||F",
      "OBX|3|ST|X^Y^L||left^right&more||||||F",
  }));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto observations = Resources(doc, "Observation");
  ASSERT_EQ(observations.size(), 3u);
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(observations[i]->HasMember("extension")) << Json(*observations[i]);
  }
  const auto& first = (*observations[0])["extension"][0];
  EXPECT_EQ(Str(first, "url"),
            "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value");
  EXPECT_EQ(Str(first["valueAttachment"], "url"), "https://testurl.com");
  EXPECT_EQ(Str(first["valueAttachment"], "contentType"), "image/jpeg");
  EXPECT_FALSE(observations[0]->HasMember("valueString"));
  EXPECT_EQ(Str((*observations[1])["extension"][0]["valueAttachment"], "url"),
            "https://testurl.com");
  // Other composites: the parts joined explicitly, never with the wire's separators.
  EXPECT_EQ(Str(*observations[2], "valueString"), "left right more");
}

TEST(V2ToFhirOru, NoteAfterParticipationStaysWithItsObservation) {
  // v2.7+: OBSERVATION = OBX, {PRT}, {NTE}.
  const auto doc = MapToDocument(CultureReport({
      "OBX|1|ST|X^Y^L||positive||||||F",
      "PRT||AD||RP^Responsible party^HL70912|C123^WHO^JOHN",
      "NTE|1|L|Phoned to ward",
  }));
  ASSERT_TRUE(doc.IsObject());
  const auto* observation = Resource(doc, "Observation");
  ASSERT_NE(observation, nullptr);
  ASSERT_TRUE(observation->HasMember("note")) << Json(*observation);
  EXPECT_EQ(Str((*observation)["note"][0], "text"), "Phoned to ward");
}

TEST(V2ToFhirOru, CodingSystemOidFromCwe14) {
  // v2.7+: CWE-14 / CWE-17 name the coding systems by OID when CWE-3 / CWE-6 do not.
  const auto doc = MapToDocument(CultureReport({
      "OBX|1|CWE|718-7^Hb^^^^^^^^^^^^2.16.840.1.113883.6.1||3092008^Staph^^X1^^^^^^^^^^^^^"
      "2.16.840.1.113883.6.96||||||F",
  }));
  const auto* observation = Resource(doc, "Observation");
  ASSERT_NE(observation, nullptr);
  EXPECT_EQ(Str((*observation)["code"]["coding"][0], "system"), "urn:oid:2.16.840.1.113883.6.1");
  ASSERT_TRUE(observation->HasMember("valueCodeableConcept")) << Json(*observation);
  const auto& codings = (*observation)["valueCodeableConcept"]["coding"];
  ASSERT_EQ(codings.Size(), 2u);
  EXPECT_FALSE(codings[0].HasMember("system"));
  EXPECT_EQ(Str(codings[1], "system"), "urn:oid:2.16.840.1.113883.6.96");
}

}  // namespace
}  // namespace tb::mappings
