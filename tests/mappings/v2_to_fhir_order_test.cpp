#include <filesystem>

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

std::string UkOrder() {
  return Seg("MSH", {{3, "ICE"},
                     {4, "RX1"},
                     {7, "20240110093000"},
                     {9, "ORM^O01^ORM_O01"},
                     {10, "ORD0001"},
                     {11, "P"},
                     {12, "2.4"}}) +
         Seg("PID", {{3, "9449305552^^^NHS^NH"}, {5, "SMITH^John"}, {8, "M"}}) +
         Seg("PV1", {{2, "O"}, {3, "OPD1^^^RX1"}}) +
         Seg("ORC", {{1, "NW"},
                     {2, "PL0001^ICE"},
                     {5, "IP"},
                     {9, "20240110092500"},
                     {12, "C1234567^JONES^ALAN^^^DR"}}) +
         Seg("OBR", {{1, "1"}, {2, "PL0001^ICE"}, {4, "U&E^Urea and electrolytes^WINPATH"}}) +
         Seg("NTE", {{1, "1"}, {3, "Patient on ACE inhibitor.\\.br\\Fasting."}}) +
         Seg("DG1", {{1, "1"}, {3, "I10^Essential hypertension^I10"}}) +
         Seg("OBX",
             {{1, "1"}, {2, "NM"}, {3, "WT^Weight^WINPATH"}, {5, "82.5"}, {6, "kg"}, {11, "F"}}) +
         Seg("ORC", {{1, "CA"}, {2, "PL0002^ICE"}});
}

TEST(V2ToFhirOrder, OrmBecomesServiceRequestsWithNotesReasonsAndSupportingInfo) {
  const auto doc = MapToDocument(UkOrder());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto requests = Resources(doc, "ServiceRequest");
  ASSERT_EQ(requests.size(), 2u);
  const auto& first = *requests[0];
  EXPECT_EQ(Str(first, "status"), "active");  // ORC-5 IP
  EXPECT_EQ(Str(first, "intent"), "order");
  EXPECT_EQ(Str(first["code"]["coding"][0], "code"), "U&E");
  EXPECT_EQ(Str(first["identifier"][0], "value"), "PL0001");
  EXPECT_EQ(Str(first["identifier"][0]["type"]["coding"][0], "code"), "PLAC");
  EXPECT_EQ(Str(first, "authoredOn"), "2024-01-10T09:25:00+00:00");
  EXPECT_EQ(Str(first["note"][0], "text"), "Patient on ACE inhibitor.\nFasting.");
  const auto* requester = Resolve(doc, first["requester"]);
  ASSERT_NE(requester, nullptr);
  EXPECT_EQ(Str((*requester)["name"][0], "family"), "JONES");
  const auto* reason = Resolve(doc, first["reasonReference"][0]);
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(Str(*reason, "resourceType"), "Condition");
  const auto* weight = Resolve(doc, first["supportingInfo"][0]);
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(Str(*weight, "resourceType"), "Observation");
  EXPECT_EQ(Resolve(doc, first["subject"]), Resource(doc, "Patient"));
  EXPECT_EQ(Resolve(doc, first["encounter"]), Resource(doc, "Encounter"));
  // An ORC without an OBR is still an order: cancelled (CA) maps to active per the IG's 0119 map
  // (the cancel request is pending), its code says it was not sent.
  const auto& second = *requests[1];
  EXPECT_EQ(Str(second, "status"), "active");
  EXPECT_EQ(Str(second["identifier"][0], "value"), "PL0002");
  EXPECT_TRUE(second["code"].HasMember("extension"));
  const auto* header = Resource(doc, "MessageHeader");
  EXPECT_EQ((*header)["focus"].Size(), 4u);  // Patient, Encounter, two orders
}

TEST(V2ToFhirOrder, FhirConverterOrmSample) {
  const auto doc = MapToDocument(
      tb::testing::ReadFile(std::filesystem::path(TB_SHARED_TESTDATA_DIR) /
                            "v2-to-fhir/microsoft-fhir-converter-expected/ORM-O01-01.hl7"));
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(PassesValidator(doc));
  const auto* request = Resource(doc, "ServiceRequest");
  ASSERT_NE(request, nullptr);
  // As the reference: active, intent order, LOINC 24725-4, placer 1101 and filler 1201.
  EXPECT_EQ(Str(*request, "status"), "active");
  EXPECT_EQ(Str(*request, "intent"), "order");
  EXPECT_EQ(Str((*request)["code"]["coding"][0], "system"), "http://loinc.org");
  EXPECT_EQ(Str((*request)["code"]["coding"][0], "code"), "24725-4");
  EXPECT_EQ(Str((*request)["identifier"][0], "value"), "1101");
  EXPECT_EQ(Str((*request)["identifier"][1], "value"), "1201");
  EXPECT_EQ(Str((*request)["identifier"][1]["type"]["coding"][0], "code"), "FILL");
}

TEST(V2ToFhirOrder, OrderWithoutOrcOrObrIsAnError) {
  auto result = MapV2ToFhir(Seg("MSH", {{3, "ICE"}, {9, "OML^O21"}, {10, "1"}, {12, "2.5"}}) +
                                Seg("PID", {{3, "1^^^RX1^MR"}}),
                            testing::Tables());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, core::ErrorCode::kRequiredFieldMissing);
  EXPECT_EQ(result.error().location, "ORC");
  auto wrong = MapV2ToFhir(Seg("MSH", {{3, "ICE"}, {9, "ORM^O02"}, {10, "1"}, {12, "2.5"}}),
                           testing::Tables());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, core::ErrorCode::kUnsupportedEvent);
}

}  // namespace
}  // namespace tb::mappings
