#include "mappings/fhir_to_v2_tables.h"

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

const std::filesystem::path kTablesDir =
    std::filesystem::path(TB_SOURCE_DIR) / "mappings/tables/fhir_to_v2";
constexpr std::string_view kHeader =
    "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n";

TEST(FhirToV2Tables, EmbeddedCopiesMatchTheCsvFiles) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(kTablesDir)) {
    if (entry.path().extension() == ".csv") {
      on_disk.insert(entry.path().stem().string());
    }
  }
  std::set<std::string> embedded;
  for (const internal::EmbeddedCsv& csv : internal::FhirToV2EmbeddedCsvs()) {
    embedded.insert(std::string(csv.name));
    EXPECT_EQ(csv.text, testing::ReadFile(kTablesDir / (std::string(csv.name) + ".csv")))
        << csv.name << ": re-run mappings/tables/fhir_to_v2/embed.py";
  }
  EXPECT_EQ(embedded, on_disk) << "re-run mappings/tables/fhir_to_v2/embed.py";
}

TEST(FhirToV2Tables, EveryBuiltinMapParsesAndHasRows) {
  for (const internal::EmbeddedCsv& csv : internal::FhirToV2EmbeddedCsvs()) {
    FhirToV2Tables tables;
    const core::Status status = tables.AddCsv(csv.name, csv.text);
    EXPECT_TRUE(status.has_value()) << csv.name << ": " << status.error().location;
    EXPECT_GT(tables.RowCount(csv.name), 0u) << csv.name;
    EXPECT_GT(FhirToV2Tables::Builtin().RowCount(csv.name), 0u) << csv.name;
  }
}

TEST(FhirToV2Tables, LooksUpBuiltinRows) {
  const FhirToV2Tables& t = FhirToV2Tables::Builtin();
  const V2Code* female =
      t.Find(fhir_to_v2_map::kGender, "http://hl7.org/fhir/administrative-gender", "female");
  ASSERT_NE(female, nullptr);
  EXPECT_EQ(female->code, "F");
  EXPECT_EQ(female->system, "HL70001");
  const V2Code* loinc =
      t.Find(fhir_to_v2_map::kCodingSystem, "urn:ietf:rfc:3986", "http://loinc.org");
  ASSERT_NE(loinc, nullptr);
  EXPECT_EQ(loinc->code, "LN");
  const V2Code* nhs = t.Find(fhir_to_v2_map::kIdentifierSystem, "urn:ietf:rfc:3986",
                             "https://fhir.nhs.uk/Id/nhs-number");
  ASSERT_NE(nhs, nullptr);
  EXPECT_EQ(nhs->code, "NHS");
  EXPECT_EQ(nhs->system, "NH");
  // Quoted fields with commas are one field.
  const V2Code* partial = t.Find(fhir_to_v2_map::kReportStatus,
                                 "http://hl7.org/fhir/diagnostic-report-status", "partial");
  ASSERT_NE(partial, nullptr);
  EXPECT_EQ(partial->display, "Some, but not all, results available");
  EXPECT_EQ(t.Find(fhir_to_v2_map::kGender, "http://hl7.org/fhir/administrative-gender", "x"),
            nullptr);
  EXPECT_EQ(t.Find("no-such-map", "a", "b"), nullptr);
  // Built-in maps are not translation maps.
  EXPECT_EQ(t.Translate("http://hl7.org/fhir/administrative-gender", "female"), nullptr);
}

TEST(FhirToV2Tables, CsvQuotingAndComments) {
  core::Result<std::vector<internal::CsvRow>> rows = internal::ParseCsv(
      "t", "\xEF\xBB\xBF# comment\r\n\r\na,\"b, \"\"c\"\"\",\r\n\"multi\nline\",x\n");
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 3u);
  EXPECT_EQ((*rows)[0].fields, (std::vector<std::string>{"a", "b, \"c\"", ""}));
  EXPECT_EQ((*rows)[1].line, 4u);
  EXPECT_EQ((*rows)[1].fields, (std::vector<std::string>{"multi\nline", "x"}));
}

TEST(FhirToV2Tables, MalformedCsvIsAnErrorWithFileAndLine) {
  FhirToV2Tables t;
  core::Status s = t.AddCsv("bad", "v2_code,fhir_code\nA,b\n");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(s.error().location, "bad:1");

  s = t.AddCsv("bad", std::string(kHeader) + "# ok\nHL7,A,x,sys,code\n");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().location, "bad:3");

  s = t.AddCsv("bad", std::string(kHeader) + "HL7,A,\"open,sys,code,x\n");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().location, "bad:2");

  s = t.AddCsv("bad", std::string(kHeader) + "HL7,,x,sys,code,x\n");
  ASSERT_FALSE(s.has_value());

  s = t.AddCsv("empty", "");
  ASSERT_FALSE(s.has_value());
}

TEST(FhirToV2Tables, LocalFolderAddsTranslationMapsInNameOrder) {
  testing::TempDir dir;
  testing::WriteFile(dir / "b-lab.csv", std::string(kHeader) + "99B,B1,,http://loinc.org,1,\n");
  testing::WriteFile(dir / "a-lab.csv", std::string(kHeader) + "99A,A1,,http://loinc.org,1,\n");
  testing::WriteFile(dir / "notes.txt", "ignored");
  core::Result<FhirToV2Tables> t = FhirToV2Tables::Load(dir.path());
  ASSERT_TRUE(t.has_value());
  const V2Code* row = t->Translate("http://loinc.org", "1");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->code, "A1");
  EXPECT_EQ(t->Translate("http://loinc.org", "2"), nullptr);
  // Built-in rows are still there.
  EXPECT_NE(t->Find(fhir_to_v2_map::kGender, "http://hl7.org/fhir/administrative-gender", "male"),
            nullptr);
}

TEST(FhirToV2Tables, LoadErrors) {
  core::Result<FhirToV2Tables> t = FhirToV2Tables::Load("/nonexistent/trustbridge/maps");
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, core::ErrorCode::kConfig);

  testing::TempDir dir;
  testing::WriteFile(dir / "broken.csv", "just,a,header\n");
  t = FhirToV2Tables::Load(dir.path());
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(t.error().location, "broken:1");
}

}  // namespace
}  // namespace tb::mappings
