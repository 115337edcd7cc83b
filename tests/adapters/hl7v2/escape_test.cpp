#include "adapters/hl7v2/escape.h"

#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tb::hl7v2 {
namespace {

struct EscapeCase {
  std::string_view name;
  std::string_view raw;
  std::string_view decoded;
};

void PrintTo(const EscapeCase& c, std::ostream* out) { *out << c.name; }

class UnescapeTable : public testing::TestWithParam<EscapeCase> {};

TEST_P(UnescapeTable, DecodesEachSequence) {
  EXPECT_EQ(Unescape(GetParam().raw, Encoding{}), GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Sequences, UnescapeTable,
    testing::Values(EscapeCase{"Field", R"(a\F\b)", "a|b"},
                    EscapeCase{"Component", R"(a\S\b)", "a^b"},
                    EscapeCase{"Subcomponent", R"(a\T\b)", "a&b"},
                    EscapeCase{"Repetition", R"(a\R\b)", "a~b"},
                    EscapeCase{"Escape", R"(C:\E\temp)", R"(C:\temp)"},
                    EscapeCase{"HexOneByte", R"(line\X0D\)", "line\r"},
                    EscapeCase{"HexSeveralBytes", R"(\X0D0A\)", "\r\n"},
                    EscapeCase{"HexLowerCase", R"(\Xc3a9\)", "\xc3\xa9"},
                    EscapeCase{"HexOddLengthKeptLiterally", R"(\X0D0\)", R"(\X0D0\)"},
                    EscapeCase{"HexNotHexKeptLiterally", R"(\XZZ\)", R"(\XZZ\)"},
                    EscapeCase{"FormattingKeptInPlainDecode", R"(a\.br\b)", R"(a\.br\b)"},
                    EscapeCase{"HighlightKeptInPlainDecode", R"(\H\x\N\)", R"(\H\x\N\)"},
                    EscapeCase{"UnterminatedKeptLiterally", R"(a\F)", R"(a\F)"},
                    EscapeCase{"UnknownKeptLiterally", R"(\Q\)", R"(\Q\)"},
                    EscapeCase{"EmptySequenceKeepsEscapeChar", R"(\\F\)", R"(\|)"},
                    EscapeCase{"TruncationNotDeclaredKeptLiterally", R"(\P\)", R"(\P\)"},
                    EscapeCase{"Adjacent", R"(\F\\S\\T\\R\\E\)", R"(|^&~\)"}),
    [](const testing::TestParamInfo<EscapeCase>& p) { return std::string(p.param.name); });

TEST(Unescape, UsesTheMessagesOwnEscapeCharacter) {
  Encoding enc;
  enc.field = '#';
  enc.component = '@';
  enc.repetition = '!';
  enc.escape = '$';
  enc.subcomponent = '%';
  EXPECT_EQ(Unescape("a$F$b$S$c$E$", enc), "a#b@c$");
  EXPECT_EQ(Unescape(R"(a\F\b)", enc), R"(a\F\b)");  // a backslash is plain data here
}

TEST(Unescape, DecodesTruncationWhenDeclared) {
  Encoding enc;
  enc.truncation = '#';
  EXPECT_EQ(Unescape(R"(a\P\)", enc), "a#");
}

TEST(Unescape, WithoutEscapeCharacterReturnsRaw) {
  Encoding enc;
  enc.escape = '\0';
  EXPECT_EQ(Unescape(R"(a\F\b)", enc), R"(a\F\b)");
}

TEST(UnescapeText, TurnsFormattingIntoPlainText) {
  const Encoding enc;
  EXPECT_EQ(UnescapeText(R"(line one\.br\line two)", enc), "line one\nline two");
  EXPECT_EQ(UnescapeText(R"(a\.sp\b)", enc), "a\nb");
  EXPECT_EQ(UnescapeText(R"(a\.sp 3\b)", enc), "a\n\n\nb");
  EXPECT_EQ(UnescapeText(R"(\H\WARNING\N\ high)", enc), "WARNING high");
  EXPECT_EQ(UnescapeText(R"(\.in+4\indented\.ce\)", enc), "indented");
  EXPECT_EQ(UnescapeText(R"(a\F\b\.br\)", enc), "a|b\n");
  EXPECT_EQ(UnescapeText(R"(\.spx\)", enc), R"(\.spx\)");
}

TEST(Escape, EncodesEveryDelimiterAndLineBreak) {
  const Encoding enc;
  EXPECT_EQ(Escape(R"(a|b^c&d~e\f)", enc), R"(a\F\b\S\c\T\d\R\e\E\f)");
  EXPECT_EQ(Escape("one\rtwo\nthree", enc), R"(one\X0D\two\X0A\three)");
  EXPECT_EQ(Escape("plain text 123", enc), "plain text 123");
}

TEST(Escape, EncodesTruncationOnlyWhenDeclared) {
  Encoding enc;
  EXPECT_EQ(Escape("a#b", enc), "a#b");
  enc.truncation = '#';
  EXPECT_EQ(Escape("a#b", enc), R"(a\P\b)");
}

TEST(Escape, WithoutEscapeCharacterBlanksDelimiters) {
  Encoding enc;
  enc.escape = '\0';
  EXPECT_EQ(Escape("a|b^c\rd", enc), "a b c d");
}

TEST(EscapeText, WritesLineBreaksAsFormatting) {
  const Encoding enc;
  EXPECT_EQ(EscapeText("one\ntwo\r\nthree", enc), R"(one\.br\two\.br\three)");
  EXPECT_EQ(UnescapeText(EscapeText("a|b\nc", enc), enc), "a|b\nc");
}

TEST(Escape, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  Encoding custom;
  custom.field = '#';
  custom.component = '@';
  custom.repetition = '!';
  custom.escape = '$';
  custom.subcomponent = '%';
  custom.truncation = '*';
  for (const Encoding& enc : {Encoding{}, custom}) {
    const std::string escaped = Escape(all, enc);
    for (char c : escaped) {
      const bool forbidden = c == '\r' || c == '\n' || c == enc.field || c == enc.component ||
                             c == enc.repetition || c == enc.subcomponent;
      EXPECT_FALSE(forbidden) << "raw delimiter " << static_cast<int>(c) << " in escaped text";
    }
    EXPECT_EQ(Unescape(escaped, enc), all);
  }
}

}  // namespace
}  // namespace tb::hl7v2
