// The edge check (hl7v2::Validate), the routing key (hl7v2::ExtractNhsNumber) and the v2 -> FHIR
// mapping read "this identifier is an NHS number" the one same way (hl7v2::ClaimedNhsNumber):
// a message the broker accepts is one the mapping can read, and the Patient it writes carries
// the number the message was routed by. When they disagreed, "9434765918^^^NHS^NHS" was ACKed
// and then refused by the mapping for every FHIR trust.

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/nhs_number_identifier.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/nhs_number.h"
#include "mappings/code_map.h"
#include "tests/mappings/v2_to_fhir_test_util.h"

namespace tb::mappings {
namespace {

using testing::Resource;
using testing::Seg;
using testing::Tables;

std::string AdtWithPid3(const std::string& pid3) {
  return Seg("MSH", {{3, "PAS"},
                     {4, "RX1"},
                     {7, "20240501093000"},
                     {9, "ADT^A01^ADT_A01"},
                     {10, "C1"},
                     {11, "P"},
                     {12, "2.5"}}) +
         Seg("PID", {{1, "1"}, {3, pid3}, {5, "Doe^Jane"}});
}

// The NHS numbers on the mapped Patient.
std::vector<std::string> MappedNhsNumbers(const rapidjson::Value& bundle) {
  std::vector<std::string> out;
  const rapidjson::Value* patient = Resource(bundle, "Patient");
  if (patient == nullptr || !patient->HasMember("identifier")) {
    return out;
  }
  for (const auto& identifier : (*patient)["identifier"].GetArray()) {
    if (testing::Str(identifier, "system") == core::kNhsNumberSystem) {
      out.push_back(testing::Str(identifier, "value"));
    }
  }
  return out;
}

class NhsNumberReading : public ::testing::TestWithParam<const char*> {};

TEST_P(NhsNumberReading, EdgeRoutingKeyAndMappingAgree) {
  const std::string er7 = AdtWithPid3(GetParam());
  auto message = hl7v2::Message::Parse(er7);
  ASSERT_TRUE(message.has_value());
  const bool accepted = hl7v2::Validate(*message, {}).empty();
  const std::optional<std::string> key = hl7v2::ExtractNhsNumber(*message);
  const core::Result<std::string> mapped = MapV2ToFhir(er7, Tables());
  EXPECT_EQ(accepted, mapped.has_value())
      << (mapped ? std::string("mapped")
                 : mapped.error().message + " at " + mapped.error().location);
  if (!accepted || !mapped) {
    return;
  }
  auto bundle = fhir::ParseJson(*mapped);
  ASSERT_TRUE(bundle.has_value());
  const std::vector<std::string> written = MappedNhsNumbers(*bundle);
  if (key) {
    EXPECT_EQ(written, std::vector<std::string>{*key});
  } else {
    EXPECT_TRUE(written.empty()) << written.front();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Identifiers, NhsNumberReading,
    ::testing::Values("9434765919^^^NHS^NH", "9434765918^^^NHS^NH", "9434765919^^^NHS^NHS",
                      "9434765918^^^NHS^NHS", "9434765919^^^NHSNBR^MR", "9434765918^^^NHSNBR",
                      "943 476 5919^^^NHS^NH", "943 476 5918^^^^NH", "9434765919^^^^NH",
                      "9434765918^^^^NHS", "12345^^^^NH", "123^^^NHS^NH", "9434765918^^^RX1^NH",
                      "RX123^^^RX1^MR~9434765919^^^NHS^NH",
                      "9434765918^^^&2.16.840.1.113883.2.1.4.1&ISO^NH",
                      "9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^NH",
                      "9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO^MR",
                      "9434765918^^^NHS&2.16.840.1.113883.19&ISO^NH",
                      "9434765918^^^&https://fhir.nhs.uk/Id/nhs-number&URI^NH",
                      "9434765919^^^https://fhir.nhs.uk/Id/nhs-number^NH",
                      "9434765918^^^&0b0e3b5c-4a3f-4e5c-9c2e-1f2a3b4c5d6e&UUID^NH",
                      "9434765918^^^&not-an-id^NH"));

// Every result is filed under the first PID's Patient, so a message with a second patient is
// refused rather than filing that patient's results under the first (found 2026-11-24: an
// ORU^R01 with two PID groups mapped both Hb results to the first patient).
TEST(NhsNumberReading, ASecondPatientIsRefusedNotFiledUnderTheFirst) {
  const std::string msh = Seg("MSH", {{3, "LAB"},
                                      {4, "RX1"},
                                      {7, "20240501093000"},
                                      {9, "ORU^R01^ORU_R01"},
                                      {10, "C1"},
                                      {11, "P"},
                                      {12, "2.5"}});
  const auto group = [](const std::string& pid3, const std::string& hb) {
    return Seg("PID", {{1, "1"}, {3, pid3}, {5, "Doe^Jane"}}) +
           Seg("OBR", {{1, "1"}, {3, "F1"}, {4, "CBC"}}) +
           Seg("OBX", {{1, "1"}, {2, "NM"}, {3, "HB^Hb"}, {5, hb}, {6, "g/L"}, {11, "F"}});
  };
  const core::Result<std::string> two = MapV2ToFhir(
      msh + group("9434765919^^^NHS^NH", "130") + group("9449305552^^^NHS^NH", "95"), Tables());
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().code, core::ErrorCode::kUnsupportedMessage);
  EXPECT_EQ(two.error().location, "PID[2]");
  EXPECT_TRUE(
      MapV2ToFhir(msh + group("9434765919^^^NHS^NH", "130") + group("9434765919^^^NHS^NH", "95"),
                  Tables())
          .has_value());
}

// The mapping's namespaces come from its assigning-authority table; the edge's defaults are the
// shipped table's, so the broker (which maps with the shipped tables) reads both the same way.
TEST(NhsNumberNamespaces, TheShippedTablesAreTheEdgesDefaults) {
  EXPECT_EQ(Tables().nhs_number_namespaces(), hl7v2::DefaultNhsNumberNamespaces());
}

TEST(NhsNumberNamespaces, ALocalTableAddsItsOwn) {
  MappingTables tables = Tables();
  auto local = ParseCodeMapCsv(
      "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n"
      "assigning-authority,NHSE,NHS England,urn:ietf:rfc:3986,https://fhir.nhs.uk/Id/nhs-number,"
      "NHS number\n"
      "assigning-authority,RX1,Example trust,urn:ietf:rfc:3986,https://example.nhs.uk/Id/mrn,MRN\n",
      "assigning-authority");
  ASSERT_TRUE(local.has_value()) << local.error().message;
  tables.Add(std::move(*local), /*shipped=*/true);
  EXPECT_EQ(tables.nhs_number_namespaces(), (std::vector<std::string>{"NHS", "NHSNBR", "NHSE"}));

  // Mapped with that table, NHSE's identifier is an NHS number, checked as one.
  const std::string valid = AdtWithPid3("9434765919^^^NHSE^MR");
  auto bundle = MapV2ToFhir(valid, tables);
  ASSERT_TRUE(bundle.has_value());
  auto doc = fhir::ParseJson(*bundle);
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(MappedNhsNumbers(*doc), std::vector<std::string>{"9434765919"});
  EXPECT_FALSE(MapV2ToFhir(AdtWithPid3("9434765918^^^NHSE^MR"), tables).has_value());
}

}  // namespace
}  // namespace tb::mappings
