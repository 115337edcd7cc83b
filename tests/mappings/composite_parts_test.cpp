// The datatype maps split a composite once (Parts in v2_to_fhir_datatypes.cpp, one SSE2 pass):
// a field's parts are those of its first repetition only, an empty first repetition has none,
// and a composite of more parts than are kept inline still reads every part.
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/hl7v2/value.h"
#include "mappings/json_text.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings {
namespace {

std::string CodeableConcept(const std::string& raw) {
  auto tables = BuiltinMappingTables();
  EXPECT_TRUE(tables.has_value());
  rapidjson::MemoryPoolAllocator<> pool;
  const V2ToFhirOptions options;
  V2MapContext ctx(pool, **tables, options);
  JsonBuffer buffer;
  JsonText out(buffer);
  WriteCweCodeableConcept(ctx, out, hl7v2::Value(raw, hl7v2::Encoding{}, hl7v2::Level::kField));
  return std::string(out.str());
}

TEST(CompositeParts, AFieldReadsItsFirstRepetitionOnly) {
  // Long enough for the sixteen-byte blocks, with the repetition separator inside one.
  EXPECT_EQ(
      CodeableConcept("1234-5^Sodium in serum^LN~9999-9^Other^LN"),
      R"({"coding":[{"system":"http://loinc.org","code":"1234-5","display":"Sodium in serum"}]})");
  EXPECT_EQ(CodeableConcept("~9999-9^Other^LN"), "{}");
  EXPECT_EQ(CodeableConcept("A^B"), R"({"coding":[{"code":"A","display":"B"}]})");
}

TEST(CompositeParts, MoreThanTwentyPartsAreAllRead) {
  std::string raw = "A^Alpha^LN^^^^^^Original";
  for (int i = 10; i <= 30; ++i) {
    raw += "^" + std::to_string(i);
  }
  EXPECT_EQ(
      CodeableConcept(raw),
      R"({"coding":[{"system":"http://loinc.org","code":"A","display":"Alpha"}],"text":"Original"})");
}

}  // namespace
}  // namespace tb::mappings
