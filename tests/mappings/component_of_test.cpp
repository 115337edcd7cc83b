// ComponentOf and SubcomponentOf (v2_to_fhir_datatypes.h) must answer exactly as
// hl7v2::Value::Component and ::Subcomponent do, for every level, position and encoding, including
// delimiters on either side of a sixteen-byte block and undeclared delimiters.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/value.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings {
namespace {

std::vector<std::string> Samples() {
  std::vector<std::string> samples = {
      "",
      "A",
      "^",
      "~",
      "&",
      "A^B^C",
      "~B^C",
      "A~B^C",
      "A^B~C^D",
      "A&B^C&D&E~F",
      "^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
      "C3456789^PATEL^Anita^^^Dr^^^GMC",
      "1 Trevelyan Square&Boar Lane^^Leeds^^LS1 6AE^GBR^H~2 Other^^York",
      "0123456789abcde^0123456789abcdef^x~0123456789abcdef~",
      "0123456789abcdef0123456789abcde~0^1",
  };
  // A delimiter at every position of a 40-byte value.
  for (std::size_t at = 0; at < 40; ++at) {
    for (const char delimiter : {'^', '~', '&'}) {
      std::string text(40, 'x');
      text[at] = delimiter;
      if (at + 7 < 40) {
        text[at + 7] = '^';
      }
      samples.push_back(text);
    }
  }
  return samples;
}

void ExpectSame(const hl7v2::Value& expected, const hl7v2::Value& actual, const std::string& what) {
  EXPECT_EQ(expected.raw(), actual.raw()) << what;
  EXPECT_EQ(expected.level(), actual.level()) << what;
}

TEST(ComponentOf, MatchesValueAccessorsForEveryLevelPositionAndEncoding) {
  hl7v2::Encoding standard;
  hl7v2::Encoding undeclared;  // old senders: no repetition or subcomponent separator
  undeclared.repetition = '\0';
  undeclared.subcomponent = '\0';
  for (const hl7v2::Encoding& encoding : {standard, undeclared}) {
    for (const std::string& raw : Samples()) {
      for (const hl7v2::Level level : {hl7v2::Level::kField, hl7v2::Level::kRepetition,
                                       hl7v2::Level::kComponent, hl7v2::Level::kSubcomponent}) {
        const hl7v2::Value value(raw, encoding, level);
        for (std::size_t n = 0; n <= 32; ++n) {
          const std::string what = "'" + raw + "' level " +
                                   std::to_string(static_cast<int>(level)) + " n " +
                                   std::to_string(n);
          ExpectSame(value.Component(n), ComponentOf(value, n), "Component " + what);
          ExpectSame(value.Subcomponent(n), SubcomponentOf(value, n), "Subcomponent " + what);
        }
      }
    }
  }
}

}  // namespace
}  // namespace tb::mappings
