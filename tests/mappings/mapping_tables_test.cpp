#include "mappings/mapping_tables.h"

#include <gtest/gtest.h>

#include "mappings/code_map.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

TEST(Csv, ReadsQuotedFieldsCommentsAndCrlf) {
  auto rows = ParseCsv("# comment\r\na,\"b, c\",\"say \"\"hi\"\"\"\r\n\r\nd,,e\n");
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"a", "b, c", "say \"hi\""}));
  EXPECT_EQ((*rows)[1], (std::vector<std::string>{"d", "", "e"}));
}

TEST(Csv, RejectsUnterminatedQuote) {
  auto rows = ParseCsv("a,b\nc,\"d\n");
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(rows.error().location, "line 2");
}

TEST(CodeMap, RejectsWrongHeaderAndShortRows) {
  EXPECT_FALSE(ParseCodeMapCsv("code,display\nF,female\n", "x").has_value());
  auto short_row = ParseCodeMapCsv(
      "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\nHL70001,F\n", "x");
  ASSERT_FALSE(short_row.has_value());
  EXPECT_EQ(short_row.error().location, "x row 1");
}

TEST(CodeMap, LooksUpBothWaysAndLaterRowsReplace) {
  auto map = ParseCodeMapCsv(
      "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n"
      "HL70001,F,Female,http://hl7.org/fhir/administrative-gender,female,Female\n"
      "HL70001,A,Ambiguous,http://hl7.org/fhir/administrative-gender,other,Other\n"
      "HL70001,O,Other,http://hl7.org/fhir/administrative-gender,other,Other\n"
      "HL70001,F,Female,http://hl7.org/fhir/administrative-gender,female,Woman\n",
      "gender");
  ASSERT_TRUE(map.has_value()) << map.error().message;
  EXPECT_EQ(map->size(), 3u);
  ASSERT_NE(map->FindV2("F"), nullptr);
  EXPECT_EQ(map->FindV2("F")->fhir_display, "Woman");
  EXPECT_EQ(map->FindV2("HL70001", "A")->fhir_code, "other");
  EXPECT_EQ(map->FindV2("HL79999", "A"), nullptr);
  EXPECT_EQ(map->FindV2("Z"), nullptr);
  // Reverse lookup picks the first row in file order.
  ASSERT_NE(map->FindFhir("http://hl7.org/fhir/administrative-gender", "other"), nullptr);
  EXPECT_EQ(map->FindFhir("http://hl7.org/fhir/administrative-gender", "other")->v2_code, "A");
  EXPECT_EQ(map->FindFhir("", "female")->v2_code, "F");
  EXPECT_EQ(map->FindFhir("http://other", "female"), nullptr);
}

TEST(MappingTables, BuiltinTablesAreEmbeddedAndKnown) {
  auto tables = BuiltinMappingTables();
  ASSERT_TRUE(tables.has_value()) << tables.error().message << " at " << tables.error().location;
  for (std::size_t i = 0; i < static_cast<std::size_t>(KnownTable::kCount); ++i) {
    const auto table = static_cast<KnownTable>(i);
    EXPECT_FALSE((*tables)->Get(table).empty()) << KnownTableName(table);
  }
  EXPECT_EQ((*tables)->Get(KnownTable::kAdministrativeGender).FindV2("F")->fhir_code, "female");
  EXPECT_EQ((*tables)->Get(KnownTable::kEncounterClass).FindV2("I")->fhir_code, "IMP");
  EXPECT_EQ((*tables)->Get(KnownTable::kInterpretation).FindV2("<")->fhir_code, "<");
  EXPECT_TRUE((*tables)->local_concept_maps().empty());
}

TEST(MappingTables, CodingSystemUris) {
  auto tables = BuiltinMappingTables();
  ASSERT_TRUE(tables.has_value());
  const MappingTables& t = **tables;
  EXPECT_EQ(t.CodingSystemUri("LN"), "http://loinc.org");
  EXPECT_EQ(t.CodingSystemUri("SCT"), "http://snomed.info/sct");
  EXPECT_EQ(t.CodingSystemUri("HL70078"), "http://terminology.hl7.org/CodeSystem/v2-0078");
  EXPECT_EQ(t.CodingSystemUri("2.16.840.1.113883.6.1"), "urn:oid:2.16.840.1.113883.6.1");
  EXPECT_EQ(t.CodingSystemUri("http://example.org/cs"), "http://example.org/cs");
  EXPECT_EQ(t.CodingSystemUri("WIN PATH"), "urn:trustbridge:v2-coding-system:WIN%20PATH");
  EXPECT_EQ(t.CodingSystemUri(""), "");
}

TEST(MappingTables, LocalFolderOverridesShippedAndAddsConceptMaps) {
  testing::TempDir dir;
  const std::string header = "v2_system,v2_code,v2_display,fhir_system,fhir_code,fhir_display\n";
  testing::WriteFile(dir / "0001-administrative-gender.csv",
                     header +
                         "HL70001,X,Indeterminate,http://hl7.org/fhir/administrative-gender,"
                         "other,Other\n");
  testing::WriteFile(dir / "winpath-lab.csv",
                     header + "WINPATH,HB,Haemoglobin,http://loinc.org,718-7,Hemoglobin\n");
  testing::WriteFile(dir / "README.txt", "not a table");
  auto tables = LoadMappingTables(dir.path());
  ASSERT_TRUE(tables.has_value()) << tables.error().message;
  const CodeMap& gender = tables->Get(KnownTable::kAdministrativeGender);
  EXPECT_EQ(gender.FindV2("X")->fhir_code, "other");
  EXPECT_EQ(gender.FindV2("F")->fhir_code, "female");  // shipped rows kept
  ASSERT_EQ(tables->local_concept_maps().size(), 1u);
  EXPECT_EQ(tables->local_concept_maps()[0]->FindV2("WINPATH", "HB")->fhir_code, "718-7");
  // The builtin set is not changed by loading.
  EXPECT_EQ((*BuiltinMappingTables())->Get(KnownTable::kAdministrativeGender).FindV2("X"), nullptr);
  // Copies keep working pointers.
  MappingTables copy = *tables;
  EXPECT_EQ(copy.Get(KnownTable::kAdministrativeGender).FindV2("X")->fhir_code, "other");
  EXPECT_EQ(copy.local_concept_maps().size(), 1u);
}

TEST(MappingTables, LoadErrorsAreConfigErrors) {
  testing::TempDir dir;
  auto missing = LoadMappingTables(dir / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kConfig);
  testing::WriteFile(dir / "bad.csv", "just,a,header\n");
  auto bad = LoadMappingTables(dir.path());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::ErrorCode::kConfig);
  EXPECT_NE(bad.error().location.find("bad.csv"), std::string::npos);
}

}  // namespace
}  // namespace tb::mappings
