// Every message of the shared HL7 v2 corpus (shared/testdata/hl7v2: FHIR-Converter samples,
// LinuxForHealth, HAPI) goes through the mapper: an ADT/ORU we support must give a Bundle that
// passes the validator; anything else must be a clean error value. Never a crash.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/mappings/v2_to_fhir_test_util.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

// Splits a file holding one or more messages at each line that starts with MSH.
std::vector<std::string> SplitMessages(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = std::string::npos;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const bool line_start = pos == 0 || text[pos - 1] == '\r' || text[pos - 1] == '\n';
    if (line_start && text.compare(pos, 3, "MSH") == 0) {
      if (start != std::string::npos) {
        out.push_back(text.substr(start, pos - start));
      }
      start = pos;
    }
    ++pos;
  }
  if (start != std::string::npos) {
    out.push_back(text.substr(start));
  }
  return out;
}

TEST(V2ToFhirCorpus, EveryMessageMapsOrFailsCleanly) {
  const std::filesystem::path root = std::filesystem::path(TB_SHARED_TESTDATA_DIR) / "hl7v2";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".hl7" || ext == ".txt")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  int mapped = 0;
  int refused = 0;
  for (const auto& file : files) {
    int index = 0;
    for (const std::string& message : SplitMessages(tb::testing::ReadFile(file))) {
      ++index;
      const std::string where = file.filename().string() + " #" + std::to_string(index);
      auto result = MapV2ToFhir(message, testing::Tables());
      if (!result) {
        ++refused;
        const auto code = result.error().code;
        EXPECT_TRUE(code == core::ErrorCode::kUnsupportedMessage ||
                    code == core::ErrorCode::kUnsupportedEvent ||
                    code == core::ErrorCode::kRequiredFieldMissing ||
                    code == core::ErrorCode::kInvalidValue ||
                    code == core::ErrorCode::kSegmentSequence)
            << where << ": " << result.error().message << " at " << result.error().location;
        continue;
      }
      ++mapped;
      auto doc = fhir::ParseJson(*result);
      ASSERT_TRUE(doc.has_value()) << where;
      EXPECT_TRUE(testing::PassesValidator(*doc)) << where;
    }
  }
  RecordProperty("mapped", mapped);
  RecordProperty("refused", refused);
  EXPECT_GT(mapped, 20);
}

}  // namespace
}  // namespace tb::mappings
