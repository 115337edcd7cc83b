// v2 -> FHIR -> v2: what a clinician checks survives both mappings (tb::mappings from both
// halves). Differences that are deliberate are asserted as such, with the reason.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

// A UK ADT^A01: hospital number and NHS number (second repetition), escapes in the name and
// address, a structured location, an attending doctor and an admission time.
const char* const kAdtA01 =
    "MSH|^~\\&|PAS|RJ1|TB|X26|20240301101500+0000||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r"
    "EVN|A01|20240301101500+0000\r"
    "PID|1||RJ1-123456^^^RJ1^MR~9434765919^^^NHS^NH||O'BRIEN\\T\\SMITH^MARY^ANN^^MRS^^L||19700203|"
    "F|"
    "||1 HIGH ST^FLAT 2\\S\\B^LEEDS^W YORKS^LS1 1AA^GBR^H||0113 496 0000^PRN^PH|||M\r"
    "PD1|||LEEDS GP^^^^^ODS^XX^^^B86001\r"
    "NK1|1|O'BRIEN^JOHN|SPO^Spouse^HL70063|1 HIGH ST^^LEEDS^^LS1 1AA|0113 496 1111^PRN^PH||"
    "N^Next-of-Kin^HL70131\r"
    "PV1|1|I|AMU^BAY1^BED7^RJ1|E|||C1234567^WHO^JOHN^^^DR|||MED|||||||||V42^^^RJ1^VN|||||||||||||"
    "||||||||||||20240301090000+0000\r";

// An ORU^R01 with the usual value types, flags, statuses and a comment with a line break.
const char* const kOruR01 =
    "MSH|^~\\&|LAB|RJ1|TB|X26|20240301120000+0000||ORU^R01^ORU_R01|LAB0001|P|2.5.1\r"
    "PID|1||9434765919^^^NHS^NH~L998877^^^RJ1^MR||DOE^JANE||19800101|F\r"
    "PV1|1|O|OPD^^^RJ1\r"
    "OBR|1|PL1|FL1|24317-0^Hemogram^LN|||20240301090000+0000|||||||||||||||20240301110000+0000||HM|"
    "F\r"
    "OBX|1|NM|718-7^Hemoglobin^LN||135|g/L^g/L^UCUM|120-160|N|||F|||20240301090000+0000\r"
    "OBX|2|NM|6690-2^WBC^LN||12.5|10*9/L^10*9/L^UCUM|4.0-11.0|H|||F|||20240301090000+0000\r"
    "OBX|3|ST|8251-1^Comment^LN||Sample haemolysed||||||F\r"
    "OBX|4|CWE|600-7^Culture^LN||27268008^Salmonella^SCT|||A|||P\r"
    "NTE|1|L|Repeat advised\\.br\\next week\r"
    "OBX|5|SN|2345-7^Glucose^LN||<^2.5|mmol/L^mmol/L^UCUM||L|||C\r"
    "OBX|6|DTM|8665-2^Last menstrual period^LN||20240214||||||F\r";

hl7v2::Message Parse(std::string_view er7) {
  core::Result<hl7v2::Message> m = hl7v2::Message::Parse(std::string(er7));
  EXPECT_TRUE(m.has_value());
  return m ? *std::move(m) : *hl7v2::Message::Parse("MSH|^~\\&|\r");
}

// v2 -> FHIR -> v2.
hl7v2::Message RoundTrip(std::string_view er7) {
  core::Result<const MappingTables*> tables = BuiltinMappingTables();
  EXPECT_TRUE(tables.has_value());
  if (!tables) {
    return Parse("MSH|^~\\&|\r");
  }
  core::Result<std::string> bundle = MapV2ToFhir(er7, **tables);
  EXPECT_TRUE(bundle.has_value()) << bundle.error().message << " at " << bundle.error().location;
  if (!bundle) {
    return Parse("MSH|^~\\&|\r");
  }
  FhirToV2Options options;
  options.timestamp = "20240301130000+0000";
  options.control_id = "RT1";
  core::Result<std::string> back = MapFhirToV2(*bundle, options);
  EXPECT_TRUE(back.has_value()) << back.error().message << " at " << back.error().location;
  return back ? Parse(*back) : Parse("MSH|^~\\&|\r");
}

// The decoded value at each path is the same in both messages.
void ExpectSame(const hl7v2::Message& in, const hl7v2::Message& out,
                const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    EXPECT_EQ(out.Get(path).Decoded(), in.Get(path).Decoded()) << path;
  }
}

TEST(RoundTrip, AdtKeepsPatientAndVisitEssentials) {
  const hl7v2::Message in = Parse(kAdtA01);
  const hl7v2::Message out = RoundTrip(kAdtA01);
  EXPECT_EQ(out.Get("MSH-9.1").Decoded(), "ADT");
  // The NHS number comes first on the way back (N^^^NHS^NH), the hospital number after it.
  EXPECT_EQ(out.Get("PID-3(1)").raw(), in.Get("PID-3(2)").raw());
  EXPECT_EQ(out.Get("PID-3(2)").raw(), in.Get("PID-3(1)").raw());
  ExpectSame(in, out,
             {"PID-5.1",  "PID-5.2",  "PID-5.3",  "PID-5.5",  "PID-5.7",  "PID-7",    "PID-8",
              "PID-11.1", "PID-11.2", "PID-11.3", "PID-11.4", "PID-11.5", "PID-11.6", "PID-11.7",
              "PID-13.1", "PID-13.2", "PID-13.3", "PID-16.1", "PD1-3.1",  "PD1-3.10", "PV1-2",
              "PV1-4",    "PV1-7.1",  "PV1-7.2",  "PV1-7.3",  "PV1-7.6",  "PV1-10",   "PV1-19.1",
              "PV1-19.4", "PV1-19.5", "PV1-44"});
  // NK1 travels as a RelatedPerson and back.
  ExpectSame(in, out,
             {"NK1-1", "NK1-2.1", "NK1-2.2", "NK1-3.1", "NK1-4.1", "NK1-4.3", "NK1-4.5", "NK1-5.1",
              "NK1-7.1"});
  EXPECT_EQ(out.Get("PID-5.1").Decoded(), "O'BRIEN&SMITH");
  EXPECT_EQ(out.Get("PID-11.2").Decoded(), "FLAT 2^B");
  // Deliberate: v2 -> FHIR flattens PV1-3 into one Location named "AMU, BAY1, BED7" (no partOf
  // hierarchy), so the way back has one name for the point of care; the facility survives.
  EXPECT_EQ(out.Get("PV1-3.1").Decoded(), "AMU, BAY1, BED7");
  EXPECT_EQ(out.Get("PV1-3.4").Decoded(), "RJ1");
}

TEST(RoundTrip, OruKeepsResultEssentials) {
  const hl7v2::Message in = Parse(kOruR01);
  const hl7v2::Message out = RoundTrip(kOruR01);
  EXPECT_EQ(out.Get("MSH-9.1").Decoded(), "ORU");
  EXPECT_EQ(out.Get("MSH-9.2").Decoded(), "R01");
  ExpectSame(in, out,
             {"PID-3(1)", "PID-3(2)", "PID-5.1", "PID-5.2", "PID-7", "PID-8", "PV1-2", "PV1-3.1",
              "PV1-3.4", "OBR-2.1", "OBR-3.1", "OBR-4.1", "OBR-4.2", "OBR-4.3", "OBR-7", "OBR-22",
              "OBR-25"});
  ASSERT_EQ(out.CountSegments("OBX"), in.CountSegments("OBX"));
  for (std::size_t i = 1; i <= in.CountSegments("OBX"); ++i) {
    const std::string obx = "OBX[" + std::to_string(i) + "]-";
    ExpectSame(in, out,
               {obx + "1", obx + "2", obx + "3.1", obx + "3.2", obx + "3.3", obx + "5", obx + "6.1",
                obx + "7", obx + "8", obx + "11"});
  }
  EXPECT_EQ(out.Get("OBX[5]-5").raw(), "<^2.5");
  ASSERT_EQ(out.CountSegments("NTE"), 1u);
  EXPECT_EQ(out.Get("NTE-3").Text(), "Repeat advised\nnext week");
  // The comment still follows the culture result it belongs to.
  std::string order;
  for (std::size_t i = 1; i <= out.SegmentCount(); ++i) {
    order += std::string(out.Segment(i).id()) + " ";
  }
  EXPECT_EQ(order, "MSH PID PV1 OBR OBX OBX OBX OBX NTE OBX OBX ");
}

// An ORU^R01 built from OBX lines (and what follows them).
std::string Oru(const std::vector<std::string>& tail, std::string_view pid7 = "19800101") {
  std::string er7 =
      "MSH|^~\\&|LAB|RJ1|TB|X26|20240301120000+0000||ORU^R01^ORU_R01|LAB0002|P|2.5.1\r"
      "PID|1||9434765919^^^NHS^NH||DOE^JANE||" +
      std::string(pid7) +
      "|F\r"
      "OBR|1|PL1|FL1|MCS^Culture^L|||20240301090000+0000||||||||||||||||||F\r";
  for (const std::string& segment : tail) {
    er7 += segment + "\r";
  }
  return er7;
}

TEST(RoundTrip, BirthTimeSurvives) {
  const hl7v2::Message out = RoundTrip(Oru({"OBX|1|ST|X^Y^L||ok||||||F"}, "19800101120000"));
  // The time comes back with the zone v2 -> FHIR gave it (UK civil time: GMT in January).
  EXPECT_EQ(out.Get("PID-7").Decoded(), "19800101120000+0000");
}

TEST(RoundTrip, LocalCodingSystemAndSubIdComeBack) {
  const std::string in = Oru({"OBX|1|CWE|ORG^Organism^L|1|3092008^Staphylococcus aureus^SCT||||||F",
                              "OBX|2|ST|AMOX^Amoxicillin^L|1|R||||||F"});
  const hl7v2::Message out = RoundTrip(in);
  ASSERT_EQ(out.CountSegments("OBX"), 2u);
  EXPECT_EQ(out.Get("OBX[1]-3").raw(), "ORG^Organism^L");
  EXPECT_EQ(out.Get("OBX[1]-4").raw(), "1");
  EXPECT_EQ(out.Get("OBX[2]-4").raw(), "1");
  EXPECT_EQ(out.Get("OBX[1]-5").raw(), "3092008^Staphylococcus aureus^SCT");
}

TEST(RoundTrip, ReferencePointerComesBackAsOne) {
  // ORU-R01-01 (FHIR-Converter sample): the pointer's parts must not come back as escaped text
  // (https://testurl.com\S\\S\SD\S\PICT).
  const hl7v2::Message out =
      RoundTrip(Oru({"OBX|1|RP|8867-4^heartrate^LN||https://testurl.com^^SD^PICT||||||F"}));
  EXPECT_EQ(out.Get("OBX-2").raw(), "RP");
  EXPECT_EQ(out.Get("OBX-5.1").Decoded(), "https://testurl.com");
  EXPECT_EQ(out.Get("OBX-5").raw().find("\\S\\"), std::string_view::npos) << out.Get("OBX-5").raw();
}

TEST(RoundTrip, RepeatedOrganismsAreAllKept) {
  const hl7v2::Message out =
      RoundTrip(Oru({"OBX|1|CWE|ORG^Organism^L||3092008^Staphylococcus "
                     "aureus^SCT~112283007^Escherichia coli^SCT||||||F"}));
  std::string values;
  for (std::size_t i = 1; i <= out.CountSegments("OBX"); ++i) {
    for (const hl7v2::Value& rep : out.Get("OBX[" + std::to_string(i) + "]-5").Repetitions()) {
      values += rep.Component(1).Decoded() + " ";
    }
  }
  EXPECT_EQ(values, "3092008 112283007 ");
}

TEST(RoundTrip, UnmappedResultStatusComesBack) {
  // LAB-ORU-1 (FHIR-Converter sample): OBX-11 I has no FHIR observation-status; v2 -> FHIR keeps
  // it in _status, and the way back writes it again rather than "unknown".
  const std::string er7 =
      testing::ReadFile(std::filesystem::path(TB_SHARED_TESTDATA_DIR) /
                        "v2-to-fhir/microsoft-fhir-converter-expected/LAB-ORU-1.hl7");
  const hl7v2::Message in = Parse(er7);
  const hl7v2::Message out = RoundTrip(er7);
  ASSERT_EQ(out.CountSegments("OBX"), in.CountSegments("OBX"));
  for (std::size_t i = 1; i <= in.CountSegments("OBX"); ++i) {
    const std::string obx11 = "OBX[" + std::to_string(i) + "]-11";
    EXPECT_EQ(out.Get(obx11).Decoded(), in.Get(obx11).Decoded()) << obx11;
  }
  for (std::size_t i = 1; i <= in.CountSegments("OBR"); ++i) {
    const std::string obr25 = "OBR[" + std::to_string(i) + "]-25";
    EXPECT_EQ(out.Get(obr25).Decoded(), in.Get(obr25).Decoded()) << obr25;
  }
}

TEST(RoundTrip, NoteAfterParticipationFollowsItsResult) {
  const hl7v2::Message out = RoundTrip(
      Oru({"OBX|1|ST|X^Y^L||positive||||||F", "PRT||AD||RP^Responsible party^HL70912|C123^WHO^JOHN",
           "NTE|1|L|Phoned to ward"}));
  ASSERT_EQ(out.CountSegments("NTE"), 1u);
  EXPECT_EQ(out.Get("NTE-3").Decoded(), "Phoned to ward");
}

}  // namespace
}  // namespace tb::mappings
