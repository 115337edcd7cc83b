// V2MapContext::SystemUri keeps coding-system URIs per thread across mappings, keyed by the
// tables' generation: every context must still get its own tables' URI, whatever other tables
// were used on the thread before or are in use at the same time, and past the cache's bound.
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings {
namespace {

// The builtin tables with table 0396 naming "XYZ" as `uri`.
MappingTables TablesNamingXyz(const std::string& uri) {
  auto builtin = BuiltinMappingTables();
  EXPECT_TRUE(builtin.has_value());
  MappingTables tables = **builtin;
  CodeMap coding_systems(std::string(KnownTableName(KnownTable::kCodingSystem)));
  coding_systems.Add(CodeMapRow{"HL70396", "XYZ", "Example", "", uri, ""});
  tables.Add(std::move(coding_systems), /*shipped=*/true);
  return tables;
}

TEST(SystemUriCache, EachContextGetsItsOwnTablesUri) {
  MappingTables a = TablesNamingXyz("urn:example:a");
  const MappingTables b = TablesNamingXyz("urn:example:b");
  rapidjson::MemoryPoolAllocator<> pool;
  const V2ToFhirOptions options;
  {
    V2MapContext ca(pool, a, options);
    EXPECT_EQ(ca.SystemUri("XYZ"), "urn:example:a");
    V2MapContext cb(pool, b, options);  // while `ca` holds the thread's cache for `a`
    EXPECT_EQ(cb.SystemUri("XYZ"), "urn:example:b");
    EXPECT_EQ(cb.SystemUri("HL70001"), "http://terminology.hl7.org/CodeSystem/v2-0001");
    EXPECT_EQ(ca.SystemUri("XYZ"), "urn:example:a");
    EXPECT_EQ(ca.SystemUri("HL70001"), "http://terminology.hl7.org/CodeSystem/v2-0001");
  }
  {
    V2MapContext cb(pool, b, options);  // the cache now goes over to `b`
    EXPECT_EQ(cb.SystemUri("XYZ"), "urn:example:b");
  }
  {
    V2MapContext ca(pool, a, options);
    EXPECT_EQ(ca.SystemUri("XYZ"), "urn:example:a");
  }
  // A change to `a` after its URIs were cached: the replaced row is what counts.
  CodeMap replacement(std::string(KnownTableName(KnownTable::kCodingSystem)));
  replacement.Add(CodeMapRow{"HL70396", "XYZ", "Example", "", "urn:example:a2", ""});
  a.Add(std::move(replacement), /*shipped=*/true);
  V2MapContext ca(pool, a, options);
  EXPECT_EQ(ca.SystemUri("XYZ"), "urn:example:a2");
}

TEST(SystemUriCache, MoreNamesThanTheCacheHoldsAreStillResolved) {
  const MappingTables tables = TablesNamingXyz("urn:example:a");
  rapidjson::MemoryPoolAllocator<> pool;
  const V2ToFhirOptions options;
  V2MapContext ctx(pool, tables, options);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 300; ++i) {
      const std::string name = "LOCAL" + std::to_string(i);
      ASSERT_EQ(ctx.SystemUri(name), "urn:trustbridge:v2-coding-system:" + name) << round;
    }
  }
  EXPECT_EQ(ctx.SystemUri("XYZ"), "urn:example:a");
}

}  // namespace
}  // namespace tb::mappings
