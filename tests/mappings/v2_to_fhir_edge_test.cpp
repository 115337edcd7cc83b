#include <gtest/gtest.h>

#include "mappings/deterministic_id.h"
#include "mappings/v2_to_fhir_datatypes.h"
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

std::string Msh(std::string_view type) {
  return Seg("MSH", {{3, "PAS"},
                     {4, "RX1"},
                     {7, "20240115120000"},
                     {9, std::string(type)},
                     {10, "C1"},
                     {11, "P"},
                     {12, "2.4"}});
}

TEST(V2Time, KeepsPrecisionAndZone) {
  const auto convert = [](std::string_view v2, FhirTimeType type,
                          LocalTimeRule rule = LocalTimeRule::kEuropeLondon) {
    auto r = V2TimeToFhir(v2, type, rule);
    EXPECT_TRUE(r.has_value()) << v2;
    return r && r->has_value() ? **r : std::string("<none>");
  };
  EXPECT_EQ(convert("2024", FhirTimeType::kDateTime), "2024");
  EXPECT_EQ(convert("202402", FhirTimeType::kDateTime), "2024-02");
  EXPECT_EQ(convert("20240229", FhirTimeType::kDateTime), "2024-02-29");
  EXPECT_EQ(convert("202402291230", FhirTimeType::kDateTime), "2024-02-29T12:30:00+00:00");
  EXPECT_EQ(convert("20240229123045.1234-0500", FhirTimeType::kDateTime),
            "2024-02-29T12:30:45.1234-05:00");
  EXPECT_EQ(convert("198808181126+0215", FhirTimeType::kDate), "1988-08-18");
  EXPECT_EQ(convert("20240701120000", FhirTimeType::kDateTime), "2024-07-01T12:00:00+01:00");
  EXPECT_EQ(convert("20240701120000", FhirTimeType::kDateTime, LocalTimeRule::kUtc),
            "2024-07-01T12:00:00+00:00");
  EXPECT_EQ(convert("20240701120000", FhirTimeType::kDateTime, LocalTimeRule::kDateOnly),
            "2024-07-01");
  // BST starts at 01:00 on the last Sunday of March (31 March 2024), ends 27 October 2024.
  EXPECT_EQ(convert("202403310059", FhirTimeType::kDateTime), "2024-03-31T00:59:00+00:00");
  EXPECT_EQ(convert("202403310200", FhirTimeType::kDateTime), "2024-03-31T02:00:00+01:00");
  EXPECT_EQ(convert("202410270030", FhirTimeType::kDateTime), "2024-10-27T00:30:00+01:00");
  EXPECT_EQ(convert("202410270300", FhirTimeType::kDateTime), "2024-10-27T03:00:00+00:00");
  EXPECT_EQ(convert("20240229", FhirTimeType::kInstant), "<none>");
  for (std::string_view bad : {"2023022", "20230229", "20231301", "2023010125", "abc",
                               "20230101+25", "20230101120000+0099", "2023.5"}) {
    EXPECT_FALSE(V2TimeToFhir(bad, FhirTimeType::kDateTime, LocalTimeRule::kUtc).has_value())
        << bad;
  }
}

TEST(V2Decimal, Canonicalises) {
  EXPECT_EQ(CanonicalDecimal("+05.50"), "5.50");
  EXPECT_EQ(CanonicalDecimal(".5"), "0.5");
  EXPECT_EQ(CanonicalDecimal("-0012"), "-12");
  EXPECT_EQ(CanonicalDecimal(" 7 "), "7");
  EXPECT_FALSE(CanonicalDecimal("1e5").has_value());
  EXPECT_FALSE(CanonicalDecimal("<5").has_value());
  EXPECT_FALSE(CanonicalDecimal(".").has_value());
}

TEST(DeterministicId, UuidV5MatchesRfc) {
  // RFC 4122 DNS namespace, name "www.example.com" -> 2ed6657d-e927-568b-95e1-2665a8aea6a2.
  const Uuid dns{{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f,
                  0xd4, 0x30, 0xc8}};
  EXPECT_EQ(UuidV5(dns, "www.example.com").ToString(), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}

TEST(DeterministicId, DerivedUuidIsVersion8StableAndNameSensitive) {
  const Uuid ns = UuidV5(V2ToFhirNamespace(), "PAS|RX1|MSG1");
  const std::string a = DerivedUuid(ns, "Patient/PID").ToString();
  EXPECT_EQ(a, DerivedUuid(ns, "Patient/PID").ToString());
  EXPECT_NE(a, DerivedUuid(ns, "Patient/MRG").ToString());
  EXPECT_NE(a, DerivedUuid(UuidV5(V2ToFhirNamespace(), "PAS|RX1|MSG2"), "Patient/PID").ToString());
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '8');                                          // version
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);  // RFC 4122 variant
}

TEST(V2ToFhirEdge, CustomDelimitersLfEndingsAndNulls) {
  // '#' as component separator, '!' repetition, '$' escape, '@' subcomponent; LF line ends;
  // "" nulls are treated as absent.
  const std::string er7 =
      "MSH|#!$@|PAS|RX1|||20240115120000||ADT#A28|C2|P|2.4\n"
      "PID|1||\"\"!9449305552###NHS#NH||JONES#Mary|\"\"|19750506|\"\"|||1 Main St$F$Flat 2##York\n";
  const auto doc = MapToDocument(er7);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  ASSERT_EQ((*patient)["identifier"].Size(), 1u) << Json((*patient)["identifier"]);
  EXPECT_EQ(Str((*patient)["identifier"][0], "value"), "9449305552");
  EXPECT_EQ(Str((*patient)["name"][0], "family"), "JONES");
  EXPECT_FALSE(patient->HasMember("gender"));
  EXPECT_EQ(fhir::StringOf((*patient)["address"][0]["line"][0]), "1 Main St|Flat 2");
  EXPECT_EQ(Str((*patient)["address"][0], "city"), "York");
  EXPECT_EQ(Resource(doc, "Encounter"), nullptr);
}

// Text beyond ASCII reaches FHIR as UTF-8 (JSON is UTF-8 by definition) whatever the sender's
// declared character set; before, ISO 8859-1 bytes were copied into the JSON as they were, which
// no FHIR reader accepts, and every delivery of such a message failed.
TEST(V2ToFhirEdge, Latin1DeclaredInMsh18BecomesUtf8) {
  const std::string msh = Seg("MSH", {{3, "PAS"},
                                      {4, "RX1"},
                                      {7, "20240115120000"},
                                      {9, "ADT^A28"},
                                      {10, "C1"},
                                      {11, "P"},
                                      {12, "2.4"},
                                      {18, "8859/1"}});
  const std::string er7 =
      msh +
      Seg("PID",
          {{3, "9449305552^^^NHS^NH"}, {5, "LLYWEL\xCAN^Si\xE2n"}, {11, "T\xFD Gwyn^^Caerdydd"}}) +
      Seg("ZPD", {{1, "Z\xEB"}});
  const auto doc = MapToDocument(er7);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(Str((*patient)["name"][0], "family"), "LLYWEL\xC3\x8AN");
  EXPECT_EQ(fhir::StringOf((*patient)["name"][0]["given"][0]), "Si\xC3\xA2n");
  EXPECT_EQ(fhir::StringOf((*patient)["address"][0]["line"][0]), "T\xC3\xBD Gwyn");
  // The segment the mapper does not map is kept verbatim on the MessageHeader, in UTF-8 too.
  EXPECT_NE(Json(doc).find("Z\xC3\xAB"), std::string::npos);
}

// \Xhh\ escapes in an ASCII message give bytes of the sender's character set; those that form no
// UTF-8 are read as ISO 8859-1 (before, they went into the JSON as they were).
TEST(V2ToFhirEdge, HexEscapesBecomeUtf8) {
  const std::string er7 =
      Msh("ADT^A28") + Seg("PID", {{3, "9449305552^^^NHS^NH"}, {5, "LLYWEL\\XCA\\N^Si\\XC3A2\\n"}});
  const auto doc = MapToDocument(er7);
  ASSERT_TRUE(doc.IsObject());
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(Str((*patient)["name"][0], "family"), "LLYWEL\xC3\x8AN");           // Latin-1 Ê
  EXPECT_EQ(fhir::StringOf((*patient)["name"][0]["given"][0]), "Si\xC3\xA2n");  // UTF-8 â
}

TEST(V2ToFhirEdge, TextThatIsNotInItsDeclaredCharacterSetIsNotMapped) {
  const std::string er7 =
      Msh("ADT^A28") + Seg("PID", {{3, "9449305552^^^NHS^NH"}, {5, "LLYWEL\xCAN^Si\xE2n"}});
  const auto mapped = MapV2ToFhir(er7, testing::Tables());
  ASSERT_FALSE(mapped.has_value());
  EXPECT_EQ(mapped.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(mapped.error().location, "MSH-18");
}

TEST(V2ToFhirEdge, A40MergeLinksBothRecords) {
  const std::string er7 =
      Msh("ADT^A40^ADT_A39") + Seg("EVN", {{1, "A40"}}) +
      Seg("PID", {{3, "RX7654321^^^RX1^MR~9449305552^^^NHS^NH"}, {5, "BROWN^Alice"}, {8, "F"}}) +
      Seg("MRG", {{1, "RX0000001^^^RX1^MR"}, {7, "BROWNE^Alice"}});
  const auto doc = MapToDocument(er7);
  EXPECT_TRUE(PassesValidator(doc));
  const auto patients = Resources(doc, "Patient");
  ASSERT_EQ(patients.size(), 2u);
  const auto& survivor = *patients[0];
  const auto& merged = *patients[1];
  EXPECT_EQ(Str(survivor["link"][0], "type"), "replaces");
  EXPECT_EQ(Resolve(doc, survivor["link"][0]["other"]), &merged);
  EXPECT_EQ(Str(merged["link"][0], "type"), "replaced-by");
  EXPECT_EQ(Resolve(doc, merged["link"][0]["other"]), &survivor);
  EXPECT_FALSE(merged["active"].GetBool());
  EXPECT_EQ(Str(merged["identifier"][0], "value"), "RX0000001");
  EXPECT_EQ(Str(merged["name"][0], "family"), "BROWNE");
}

TEST(V2ToFhirEdge, NhsNumbersAreCheckedWhereverTheyAppear) {
  const std::string pid = Seg("PID", {{3, "1^^^RX1^MR"}});
  auto merged = MapV2ToFhir(Msh("ADT^A40") + pid + Seg("MRG", {{1, "9449305553^^^NHS^NH"}}),
                            testing::Tables());
  ASSERT_FALSE(merged.has_value());
  EXPECT_EQ(merged.error().location, "MRG-1");
  auto kin =
      MapV2ToFhir(Msh("ADT^A28") + pid + Seg("NK1", {{2, "DOE^Ann"}, {33, "9449305553^^^NHS^NH"}}),
                  testing::Tables());
  ASSERT_FALSE(kin.has_value());
  EXPECT_EQ(kin.error().location, "NK1-33");
  // Spaces are removed; NH on its own marks an NHS number.
  const auto doc = MapToDocument(Msh("ADT^A28") + Seg("PID", {{3, "944 930 5552^^^^NH"}}));
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  EXPECT_EQ(Str((*patient)["identifier"][0], "system"), "https://fhir.nhs.uk/Id/nhs-number");
  EXPECT_EQ(Str((*patient)["identifier"][0], "value"), "9449305552");
}

TEST(V2ToFhirEdge, NotApplicableVisitMakesNoEncounter) {
  const auto doc = MapToDocument(Msh("ADT^A31") + Seg("PID", {{3, "1^^^RX1^MR"}}) +
                                 Seg("PV1", {{1, "1"}, {2, "N"}}));
  EXPECT_EQ(Resource(doc, "Encounter"), nullptr);
  EXPECT_FALSE(Resource(doc, "MessageHeader")->HasMember("extension"));
}

TEST(V2ToFhirEdge, DischargeFinishesTheEncounter) {
  const std::string er7 =
      Msh("ADT^A03") + Seg("PID", {{3, "1^^^RX1^MR"}}) +
      Seg("PV1",
          {{2, "I"}, {3, "W1^^^RX1"}, {36, "01"}, {44, "202401100900"}, {45, "202401151030"}});
  const auto doc = MapToDocument(er7);
  EXPECT_TRUE(PassesValidator(doc));
  const auto* encounter = Resource(doc, "Encounter");
  ASSERT_NE(encounter, nullptr);
  EXPECT_EQ(Str(*encounter, "status"), "finished");
  EXPECT_EQ(Str((*encounter)["period"], "end"), "2024-01-15T10:30:00+00:00");
  EXPECT_EQ(Str((*encounter)["location"][0], "status"), "completed");
  EXPECT_EQ(Str((*encounter)["hospitalization"]["dischargeDisposition"]["coding"][0], "system"),
            "http://terminology.hl7.org/CodeSystem/v2-0112");
}

TEST(V2ToFhirEdge, EventStatusesFollowTheTable) {
  const std::map<std::string, std::string> expected = {
      {"A01", "in-progress"}, {"A02", "in-progress"}, {"A04", "planned"},    {"A05", "planned"},
      {"A08", "in-progress"}, {"A11", "cancelled"},   {"A13", "in-progress"}};
  for (const auto& [trigger, status] : expected) {
    const std::string er7 = Msh("ADT^" + trigger) + Seg("PID", {{3, "1^^^RX1^MR"}}) +
                            Seg("PV1", {{2, "O"}, {44, "20240110"}});
    const auto doc = MapToDocument(er7);
    const auto* encounter = Resource(doc, "Encounter");
    ASSERT_NE(encounter, nullptr) << trigger;
    EXPECT_EQ(Str(*encounter, "status"), status) << trigger;
    EXPECT_EQ(Str((*encounter)["class"], "code"), "AMB");
    EXPECT_TRUE(PassesValidator(doc)) << trigger;
  }
}

TEST(V2ToFhirEdge, Errors) {
  const auto error_of = [](const std::string& er7) {
    auto r = MapV2ToFhir(er7, testing::Tables());
    EXPECT_FALSE(r.has_value());
    return r ? core::Error{} : r.error();
  };
  EXPECT_EQ(error_of(Msh("SIU^S12")).code, core::ErrorCode::kUnsupportedMessage);
  EXPECT_EQ(error_of(Msh("ADT^A17")).code, core::ErrorCode::kUnsupportedEvent);
  EXPECT_EQ(error_of(Msh("ADT^A01")).location, "PID");
  EXPECT_EQ(error_of(Msh("ADT^A40") + Seg("PID", {{3, "1^^^RX1^MR"}})).location, "MRG");
  const auto bad_nhs =
      error_of(Msh("ADT^A28") + Seg("PID", {{3, "1^^^RX1^MR~9449305553^^^NHS^NH"}}));
  EXPECT_EQ(bad_nhs.code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(bad_nhs.location, "PID-3(2)");
  EXPECT_EQ(bad_nhs.message.find("9449305553"), std::string::npos);  // no PHI in errors
  V2ToFhirOptions strict;
  strict.strict = true;
  auto bad_date = MapV2ToFhir(Msh("ADT^A28") + Seg("PID", {{3, "1^^^RX1^MR"}, {7, "19751332"}}),
                              testing::Tables(), strict);
  ASSERT_FALSE(bad_date.has_value());
  EXPECT_EQ(bad_date.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(bad_date.error().location, "PID-7");
  EXPECT_EQ(error_of("not a message").code, core::ErrorCode::kSegmentSequence);
}

TEST(V2ToFhirEdge, MalformedDateIsLeftOutAndTheSegmentKeptVerbatim) {
  const std::string pid = "PID|||1^^^RX1^MR||DOE^Jo||19751332|F";
  const auto doc = MapToDocument(Msh("ADT^A28") + pid + "\r");
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_FALSE(patient->HasMember("birthDate"));
  EXPECT_EQ(Str(*patient, "gender"), "female");
  const auto* header = Resource(doc, "MessageHeader");
  ASSERT_TRUE(header->HasMember("extension"));
  EXPECT_EQ(Str((*header)["extension"][0], "valueString"), pid);
}

TEST(V2ToFhirEdge, UnmappedGenderIsCarriedAsExtension) {
  const std::string er7 = Msh("ADT^A28") + Seg("PID", {{3, "1^^^RX1^MR"}, {8, "X"}});
  const auto doc = MapToDocument(er7);
  EXPECT_TRUE(PassesValidator(doc));
  const auto* patient = Resource(doc, "Patient");
  EXPECT_FALSE(patient->HasMember("gender"));
  EXPECT_EQ(Str((*patient)["_gender"]["extension"][0]["valueCoding"], "code"), "X");
  EXPECT_EQ(Str((*patient)["_gender"]["extension"][0]["valueCoding"], "system"),
            "http://terminology.hl7.org/CodeSystem/v2-0001");
}

}  // namespace
}  // namespace tb::mappings
