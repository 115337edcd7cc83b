#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/encoding.h"
#include "adapters/hl7v2/message.h"
#include "broker/core/result.h"

namespace tb::hl7v2 {

struct BatchLimits {
  std::size_t max_bytes = 64 * 1024 * 1024;
  std::size_t max_messages = 100'000;
  ParseLimits message;  // applied to each message
};

// One batch: [BHS] {MSH ...} [BTS]. Header and trailer are single segments in ER7 without their
// terminator, empty when the sender left them out.
struct BatchGroup {
  std::string header;
  std::vector<Message> messages;
  std::string trailer;
};

// A batch file: [FHS] {[BHS] {MSH ...} [BTS]} [FTS]. A plain sequence of messages with no
// header segments at all also parses (one group without header or trailer), which is how
// engines often dump several messages into one file.
// Ownership: the Batch owns everything; SegmentViews from FileHeader() etc. borrow from it.
// Thread-safety: a plain value; read concurrently, mutate from one thread.
struct Batch {
  Encoding encoding;  // from the first header segment (FHS, BHS or MSH)
  std::string file_header;
  std::vector<BatchGroup> groups;
  std::string file_trailer;

  SegmentView FileHeader() const { return {file_header, encoding}; }
  SegmentView FileTrailer() const { return {file_trailer, encoding}; }
  std::size_t MessageCount() const;
};

// Splits `input` into its header segments and messages; each message is parsed with
// Message::Parse (and so keeps its own MSH delimiters). Terminators as for Message::Parse.
// Errors: kTooLarge over a limit; kSegmentSequence for a structure outside the grammar above
// (e.g. BTS without BHS, a segment before the first MSH of a group, anything after FTS), with
// the offending segment id as location; any error of Message::Parse for a message.
// No check that BTS-1 / FTS-1 counts match: they are optional and often wrong in practice.
core::Result<Batch> ParseBatch(std::string_view input, const BatchLimits& limits = {});

// The batch as ER7, every segment "\r"-terminated; ParseBatch then SerializeBatch is
// byte-identical for canonical input.
std::string SerializeBatch(const Batch& batch);

}  // namespace tb::hl7v2
