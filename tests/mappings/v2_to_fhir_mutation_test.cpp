// Hostile-input property: deterministic random mutations of real messages (delimiters, escapes,
// truncation, repeated fields) never crash the mapper; it returns either JSON that parses or an
// error value. Run under ASan/UBSan (build with -DBROKER_SANITIZE=address,undefined).
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "tests/mappings/v2_to_fhir_test_util.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

std::string Mutate(std::string text, std::mt19937& rng) {
  static constexpr char kInteresting[] = "|^~\\&\r\n\"#0123456789+-.XHNT ";
  const int edits = 1 + static_cast<int>(rng() % 6);
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const std::size_t pos = rng() % text.size();
    switch (rng() % 5) {
      case 0:  // replace with a delimiter or digit
        text[pos] = kInteresting[rng() % (sizeof(kInteresting) - 1)];
        break;
      case 1:  // insert an escape sequence
        text.insert(pos, rng() % 2 == 0 ? "\\X0D\\" : "\\.br\\");
        break;
      case 2:  // truncate
        text.resize(std::max<std::size_t>(pos, 8));
        break;
      case 3: {  // duplicate a chunk (repeats fields and segments)
        const std::size_t len = std::min<std::size_t>(text.size() - pos, 1 + rng() % 64);
        text.insert(pos, text.substr(pos, len));
        break;
      }
      default:  // delete a byte
        text.erase(pos, 1);
        break;
    }
  }
  return text;
}

TEST(V2ToFhirMutation, MutatedMessagesNeverCrash) {
  const std::filesystem::path pairs = std::filesystem::path(TB_SHARED_TESTDATA_DIR) /
                                      "v2-to-fhir/microsoft-fhir-converter-expected";
  const std::vector<std::string> seeds = {
      tb::testing::ReadFile(std::filesystem::path(TB_SOURCE_DIR) /
                            "bench/mappings/data/adt_a01.hl7"),
      tb::testing::ReadFile(std::filesystem::path(TB_SOURCE_DIR) /
                            "bench/mappings/data/oru_r01_10obx.hl7"),
      tb::testing::ReadFile(pairs / "ADT-A01-01.hl7"),
      tb::testing::ReadFile(pairs / "ORU-R01-01.hl7"),
      tb::testing::ReadFile(pairs / "ADT-A40-01.hl7"),
      tb::testing::ReadFile(pairs / "ORM-O01-01.hl7"),
  };
  // Fixed seed: the same cases every run. TB_MUTATION_SEED / TB_MUTATION_CASES widen a local run.
  const char* seed_env = std::getenv("TB_MUTATION_SEED");
  const char* cases_env = std::getenv("TB_MUTATION_CASES");
  std::mt19937 rng(seed_env != nullptr ? static_cast<unsigned>(std::stoul(seed_env)) : 20240315U);
  const int cases = cases_env != nullptr ? std::stoi(cases_env) : 1000;
  int mapped = 0;
  int validated = 0;
  for (int i = 0; i < cases; ++i) {
    const std::string input = Mutate(seeds[static_cast<std::size_t>(i) % seeds.size()], rng);
    auto result = MapV2ToFhir(input, testing::Tables());
    if (!result) {
      EXPECT_FALSE(result.error().message.empty()) << i;
      continue;
    }
    ++mapped;
    auto doc = fhir::ParseJson(*result);
    ASSERT_TRUE(doc.has_value()) << "case " << i
                                 << " produced unparseable JSON: " << doc.error().message << " "
                                 << doc.error().location;
    if (mapped % 50 == 0) {
      ++validated;
      EXPECT_TRUE(testing::PassesValidator(*doc)) << "case " << i;
    }
  }
  RecordProperty("mapped", mapped);
  EXPECT_GT(mapped, cases / 10);
  EXPECT_GT(validated, 0);
}

}  // namespace
}  // namespace tb::mappings
