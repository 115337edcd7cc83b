// The public corpus under shared/testdata/hl7v2 (see its SOURCES.md): every message must parse,
// serialize back byte for byte once line endings are canonical, and be acknowledgeable.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/batch.h"
#include "adapters/hl7v2/escape.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"

namespace tb::hl7v2 {
namespace {

const std::filesystem::path kCorpus = std::filesystem::path(TB_SHARED_TESTDATA_DIR) / "hl7v2";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool IsSegmentLine(std::string_view line) {
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto alnum = [&](char c) { return upper(c) || (c >= '0' && c <= '9'); };
  return line.size() >= 3 && upper(line[0]) && alnum(line[1]) && alnum(line[2]) &&
         (line.size() == 3 || !(alnum(line[3]) || (line[3] >= 'a' && line[3] <= 'z')));
}

// The messages of a corpus file in canonical form: BOM dropped, one "\r" after each segment,
// non-HL7 lines (messages.txt has C-style comments between messages) skipped.
struct CorpusFile {
  std::vector<std::string> messages;
  bool only_hl7 = true;  // no line had to be skipped, so the raw bytes are one message stream
};

CorpusFile Split(std::string_view bytes) {
  CorpusFile file;
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") {
    bytes.remove_prefix(3);
  }
  while (!bytes.empty()) {
    const std::size_t end = bytes.find_first_of("\r\n");
    const std::string_view line = bytes.substr(0, end);
    bytes.remove_prefix(end == std::string_view::npos ? bytes.size() : end + 1);
    if (line.empty()) {
      continue;
    }
    if (!IsSegmentLine(line)) {
      file.only_hl7 = false;
      continue;
    }
    if (line.substr(0, 3) == "MSH") {
      file.messages.emplace_back();
    } else if (file.messages.empty()) {
      file.only_hl7 = false;
      continue;
    }
    file.messages.back().append(line);
    file.messages.back() += '\r';
  }
  return file;
}

struct IndexRow {
  std::string path;
  std::size_t messages = 0;
};

// FEATURES.tsv lists every data file with its message count, as found by an independent scan.
std::vector<IndexRow> ReadIndex() {
  std::vector<IndexRow> rows;
  std::istringstream tsv(ReadFile(kCorpus / "FEATURES.tsv"));
  std::string line;
  std::getline(tsv, line);  // header
  while (std::getline(tsv, line)) {
    std::istringstream cols(line);
    IndexRow row;
    std::string messages;
    std::getline(cols, row.path, '\t');
    std::getline(cols, messages, '\t');
    row.messages = static_cast<std::size_t>(std::stoul(messages));
    rows.push_back(row);
  }
  return rows;
}

AckOptions Options() {
  AckOptions options;
  options.control_id = "CORPUS1";
  options.time = std::chrono::sys_days{std::chrono::year{2024} / 1 / 1};
  return options;
}

TEST(Corpus, IndexListsTheWholeCorpus) {
  const std::vector<IndexRow> rows = ReadIndex();
  EXPECT_GE(rows.size(), 150u);
  for (const IndexRow& row : rows) {
    EXPECT_TRUE(std::filesystem::exists(kCorpus / row.path)) << row.path;
  }
}

TEST(Corpus, EveryMessageParsesRoundTripsAndCanBeAcknowledged) {
  std::size_t total = 0;
  for (const IndexRow& row : ReadIndex()) {
    SCOPED_TRACE(row.path);
    const std::string bytes = ReadFile(kCorpus / row.path);
    const CorpusFile file = Split(bytes);
    if (row.messages != 0) {
      EXPECT_EQ(file.messages.size(), row.messages);
    }
    for (const std::string& canonical : file.messages) {
      ++total;
      auto parsed = Message::Parse(canonical);
      ASSERT_TRUE(parsed.has_value())
          << parsed.error().message << " at " << parsed.error().location;
      EXPECT_EQ(parsed->Serialize(), canonical);
      EXPECT_EQ(parsed->SegmentCount(),
                static_cast<std::size_t>(std::count(canonical.begin(), canonical.end(), '\r')));

      const Ack ack = MakeAck(*parsed, Options());
      auto ack_parsed = Message::Parse(ack.er7);
      ASSERT_TRUE(ack_parsed.has_value()) << ack_parsed.error().message;
      EXPECT_EQ(ack_parsed->Get("MSA-2").raw(), parsed->ControlId());
      EXPECT_EQ(ack_parsed->Get("MSH-5").raw(), parsed->Get("MSH-3").raw());
      EXPECT_EQ(ack_parsed->encoding(), parsed->encoding());
      EXPECT_TRUE(Validate(*ack_parsed, {}).empty());
      (void)Validate(*parsed, {});  // must not trip on anything real
    }
    if (file.only_hl7 && file.messages.size() == 1) {
      // The upstream bytes as they are (LF, CRLF, BOM, no final terminator) parse straight to
      // the canonical form.
      auto direct = Message::Parse(bytes);
      ASSERT_TRUE(direct.has_value()) << direct.error().message;
      EXPECT_EQ(direct->Serialize(), file.messages.front());
    }
    if (file.only_hl7 && !file.messages.empty()) {
      auto batch = ParseBatch(bytes);
      ASSERT_TRUE(batch.has_value()) << batch.error().message;
      std::string joined;
      for (const std::string& m : file.messages) {
        joined += m;
      }
      EXPECT_EQ(SerializeBatch(*batch), joined);
    }
  }
  EXPECT_GE(total, 175u);
}

TEST(Corpus, HexAndDelimiterEscapesRoundTrip) {
  std::string raw = ReadFile(kCorpus / "hapi-hl7v2/uuencoded_escaped.txt");
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) {
    raw.pop_back();
  }
  ASSERT_GT(raw.size(), 80'000u);
  const std::string decoded = Unescape(raw, Encoding{});
  EXPECT_EQ(decoded.substr(0, 19), "begin 644 WAV.DAT\r\n");
  EXPECT_EQ(std::count(decoded.begin(), decoded.end(), '\r'), 1112);
  EXPECT_EQ(Escape(decoded, Encoding{}), raw);
}

Message ParseCorpusMessage(std::string_view path, std::size_t index = 0) {
  const CorpusFile file = Split(ReadFile(kCorpus / path));
  EXPECT_GT(file.messages.size(), index);
  auto parsed = Message::Parse(file.messages.at(index));
  EXPECT_TRUE(parsed.has_value());
  return std::move(parsed).value();
}

TEST(Corpus, CustomDelimitersFromSegmentFinder) {
  // MSH-1 is '^' and MSH-2 "~|\&": components split on '~', repetitions on '|'.
  const Message msg = ParseCorpusMessage("hapi-hl7v2/segmentfinder_a24.hl7");
  EXPECT_EQ(msg.encoding().field, '^');
  EXPECT_EQ(msg.encoding().component, '~');
  EXPECT_EQ(msg.encoding().repetition, '|');
  EXPECT_EQ(msg.Get("MSH-9.1").raw(), "ADT");
  EXPECT_EQ(msg.Get("MSH-9.2").raw(), "A24");
  EXPECT_EQ(msg.Get("PID[2]-3.1").raw(), "22222");
  EXPECT_EQ(msg.Get("PID[2]-3.4.3").raw(), "0363");
  EXPECT_EQ(msg.Get("PID[2]-5.2").raw(), "JOHN");
}

TEST(Corpus, DoubledEscapeInMsh2IsReadAsStandard) {
  const Message msg = ParseCorpusMessage("linuxforhealth/sample_unix.hl7");
  EXPECT_EQ(msg.Get("MSH-2").raw(), "^~\\\\&");
  EXPECT_EQ(msg.encoding(), Encoding{});
  EXPECT_EQ(msg.Get("PID-3(2).1").raw(), "1234568965");
  EXPECT_EQ(msg.Get("PID-3(2).5").raw(), "SS");
  EXPECT_EQ(ReadAckPolicy(msg).accept, AckCondition::kAlways);
  EXPECT_EQ(ReadAckPolicy(msg).application, AckCondition::kNever);
}

TEST(Corpus, OldEncodingCharactersWithoutSubcomponents) {
  // messages.txt: "^~\}" (subcomponent '}') and "^~}" (escape '}', no subcomponent).
  const Message four = ParseCorpusMessage("hapi-hl7v2/messages.txt", 1);
  EXPECT_EQ(four.encoding().subcomponent, '}');
  const Message three = ParseCorpusMessage("hapi-hl7v2/messages.txt", 3);
  EXPECT_EQ(three.encoding().escape, '}');
  EXPECT_EQ(three.encoding().subcomponent, '\0');
  EXPECT_EQ(three.Get("PID-11.2").raw(), "");
  const Message nulls = ParseCorpusMessage("hapi-hl7v2/messages.txt", 1);
  EXPECT_TRUE(nulls.Get("PID-11.2").IsNull());
}

TEST(Corpus, RepetitionsWithSubcomponents) {
  const Message msg = ParseCorpusMessage("hapi-hl7v2/omd_o03_rep.txt");
  EXPECT_EQ(msg.Get("PID-3").RepetitionCount(), 2u);
  EXPECT_EQ(msg.Get("PID-3(1).9.3").raw(), "ES-EX");
  EXPECT_EQ(msg.Get("PID-3(2).1").raw(), "CIPTWO");
}

TEST(Corpus, ZSegmentIsKept) {
  const Message msg = ParseCorpusMessage("hapi-hl7v2/cv.04_001_chem.hl7");
  ASSERT_TRUE(msg.FindSegment("ZNT").has_value());
  EXPECT_EQ(msg.Get("ZNT-1.2").raw(), "2.16.840.1.113883.3.59.1:4006");
}

TEST(Corpus, EscapedTextDecodes) {
  const Message msg = ParseCorpusMessage("microsoft-fhir-converter/ADT-A01-01.hl7");
  std::size_t decoded_differs = 0;
  std::size_t components = 0;
  for (std::size_t i = 1; i <= msg.SegmentCount(); ++i) {
    const SegmentView seg = msg.Segment(i);
    for (std::size_t f = 3; f <= seg.FieldCount(); ++f) {
      for (const Value& rep : seg.Field(f).Repetitions()) {
        for (const Value& comp : rep.Components()) {
          ++components;
          if (comp.Decoded() != comp.raw() && !comp.IsNull()) {
            ++decoded_differs;
            EXPECT_EQ(Escape(comp.Decoded(), msg.encoding()), comp.raw());
          }
        }
      }
    }
  }
  EXPECT_GT(components, 100u);
  EXPECT_GT(decoded_differs, 0u);  // FEATURES.tsv flags escape-FSTRE in this file
}

TEST(PerfKitMessage, CarriesAValidNhsNumber) {
  const std::string bytes =
      ReadFile(std::filesystem::path(TB_SOURCE_DIR) / "bench/hl7v2/data/adt_a01.hl7");
  auto msg = Message::Parse(bytes);
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->Serialize(), bytes);
  EXPECT_EQ(ExtractNhsNumber(*msg), "9000000009");
  ValidationRules rules;
  rules.message_types = {"ADT^A01"};
  EXPECT_TRUE(Validate(*msg, rules).empty());
}

}  // namespace
}  // namespace tb::hl7v2
