#include "adapters/hl7v2/batch.h"

#include <utility>

namespace tb::hl7v2 {
namespace {

core::Error Sequence(std::string message, std::string_view id) {
  return core::MakeError(core::ErrorCode::kSegmentSequence, std::move(message), std::string(id));
}

// Yields the non-blank lines of `input` split on "\r", "\n" or "\r\n".
class LineReader {
 public:
  explicit LineReader(std::string_view input) : rest_(input) {
    if (rest_.substr(0, 3) == "\xEF\xBB\xBF") {
      rest_.remove_prefix(3);
    }
  }
  bool Next(std::string_view& line) {
    while (!rest_.empty()) {
      const std::size_t end = rest_.find_first_of("\r\n");
      line = rest_.substr(0, end);
      rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end + 1);
      if (!line.empty()) {
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view rest_;
};

}  // namespace

std::size_t Batch::MessageCount() const {
  std::size_t count = 0;
  for (const BatchGroup& group : groups) {
    count += group.messages.size();
  }
  return count;
}

core::Result<Batch> ParseBatch(std::string_view input, const BatchLimits& limits) {
  if (input.size() > limits.max_bytes) {
    return core::MakeError(core::ErrorCode::kTooLarge, "batch exceeds the size limit");
  }
  Batch batch;
  bool have_encoding = false;
  bool file_closed = false;
  bool group_open = false;  // inside BHS..BTS, or an implicit group
  std::string current;      // the message being collected
  std::size_t messages = 0;

  auto flush = [&]() -> core::Status {
    if (current.empty()) {
      return core::Ok();
    }
    if (++messages > limits.max_messages) {
      return core::MakeError(core::ErrorCode::kTooLarge, "batch has more messages than the limit",
                             "MSH");
    }
    core::Result<Message> message = Message::Parse(std::move(current), limits.message);
    current.clear();
    if (!message) {
      return std::move(message).error();
    }
    batch.groups.back().messages.push_back(std::move(*message));
    return core::Ok();
  };
  auto take_encoding = [&](std::string_view line, std::string_view id) -> core::Status {
    if (have_encoding) {
      return core::Ok();
    }
    core::Result<HeaderEncoding> header = ReadEncoding(line, id);
    if (!header) {
      return std::move(header).error();
    }
    batch.encoding = header->encoding;
    have_encoding = true;
    return core::Ok();
  };

  LineReader reader(input);
  std::string_view line;
  bool first = true;
  while (reader.Next(line)) {
    const std::string_view id = line.substr(0, 3);
    const bool batch_segment = id == "FHS" || id == "BHS" || id == "BTS" || id == "FTS";
    if (batch_segment && have_encoding && line.size() > 3 && line[3] != batch.encoding.field) {
      return Sequence("batch segment without the field separator", id);
    }
    if (file_closed) {
      return Sequence("segment after FTS", id);
    }
    if (id == "FHS") {
      if (!first) {
        return Sequence("FHS must be the first segment", id);
      }
      BROKER_RETURN_IF_ERROR(take_encoding(line, id));
      batch.file_header.assign(line);
    } else if (id == "BHS") {
      BROKER_RETURN_IF_ERROR(flush());
      if (group_open && batch.groups.back().trailer.empty() &&
          !batch.groups.back().header.empty()) {
        return Sequence("BHS before the previous batch's BTS", id);
      }
      BROKER_RETURN_IF_ERROR(take_encoding(line, id));
      batch.groups.push_back({std::string(line), {}, {}});
      group_open = true;
    } else if (id == "BTS") {
      BROKER_RETURN_IF_ERROR(flush());
      if (!group_open || !batch.groups.back().trailer.empty()) {
        return Sequence("BTS without an open batch", id);
      }
      batch.groups.back().trailer.assign(line);
      group_open = false;
    } else if (id == "FTS") {
      BROKER_RETURN_IF_ERROR(flush());
      if (group_open && !batch.groups.back().header.empty()) {
        return Sequence("FTS before the batch's BTS", id);
      }
      batch.file_trailer.assign(line);
      file_closed = true;
    } else if (id == "MSH") {
      BROKER_RETURN_IF_ERROR(flush());
      BROKER_RETURN_IF_ERROR(take_encoding(line, id));
      if (!group_open) {
        batch.groups.push_back({});  // messages without a BHS: an implicit group
        group_open = true;
      }
      current.assign(line);
      current += '\r';
    } else {
      if (current.empty()) {
        return Sequence("segment outside a message", id);
      }
      current.append(line);
      current += '\r';
    }
    first = false;
  }
  BROKER_RETURN_IF_ERROR(flush());
  if (!have_encoding) {
    return Sequence("batch holds no header segment", "MSH");
  }
  return batch;
}

std::string SerializeBatch(const Batch& batch) {
  std::string out;
  auto line = [&out](const std::string& segment) {
    if (!segment.empty()) {
      out += segment;
      out += '\r';
    }
  };
  line(batch.file_header);
  for (const BatchGroup& group : batch.groups) {
    line(group.header);
    for (const Message& message : group.messages) {
      out += message.er7();
    }
    line(group.trailer);
  }
  line(batch.file_trailer);
  return out;
}

}  // namespace tb::hl7v2
