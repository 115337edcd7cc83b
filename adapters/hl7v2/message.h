#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/encoding.h"
#include "adapters/hl7v2/path.h"
#include "adapters/hl7v2/value.h"
#include "broker/core/result.h"

namespace tb::hl7v2 {

// Caps that keep hostile input from costing more than a bounded amount of memory. Parsing
// allocates the buffer plus 8 bytes per segment; fields, repetitions and components are found
// lazily and never allocated, so segments and bytes are what matter.
struct ParseLimits {
  std::size_t max_message_bytes = 16 * 1024 * 1024;  // embedded PDFs make real ORUs large
  std::size_t max_segments = 10'000;
  std::size_t max_fields = 1'000;  // per segment
};

// A borrowed view of one segment (without its terminator) plus the message's delimiters.
// Field numbering follows HL7: in MSH, FHS and BHS field 1 is the field separator itself and
// field 2 the encoding characters (both kOpaque); elsewhere field 1 is the first field after
// the segment id.
// Lifetime and thread-safety: as Value (valid while the owning buffer is alive and unmoved).
class SegmentView {
 public:
  SegmentView() = default;
  SegmentView(std::string_view raw, Encoding encoding) : raw_(raw), encoding_(encoding) {}

  std::string_view raw() const { return raw_; }
  std::string_view id() const { return raw_.substr(0, 3); }
  const Encoding& encoding() const { return encoding_; }
  // True for MSH, FHS and BHS, whose first two fields are the delimiters.
  bool IsHeader() const;

  // The highest field number present, counting trailing empty fields ("PID|1||" has 3).
  std::size_t FieldCount() const;
  // Field n (1-based); an empty Value when n is 0 or past the end.
  Value Field(std::size_t n) const;
  // The piece a path names inside this segment; the path's segment id and occurrence are
  // ignored. An empty Value when absent or when path.field is 0.
  Value At(const Path& path) const;

 private:
  std::string_view raw_;
  Encoding encoding_;
};

// One parsed ER7 message. It owns its bytes (in canonical form: segments ending in "\r") and a
// compact index of segment offsets; everything else is found on demand and returned as views.
//
// Ownership/lifetime: views (SegmentView, Value, string_view) borrow from the Message and are
// invalidated when it is destroyed or moved from.
// Thread-safety: immutable after Parse; any number of threads may read one Message. Editing
// goes through MessageBuilder (builder.h), which produces a new Message.
// Errors: Parse returns the first problem as a core::Error whose location is a v2 position
// ("MSH-2", "OBX[3]") and whose message never quotes message content.
class Message {
 public:
  // Parses one message. Segment terminators may be "\r" (canonical), "\n" or "\r\n", one style
  // per message, chosen by how MSH ends: in a "\r" or "\r\n" message a lone "\n" is data, not
  // a terminator (v2.5.1 section 2.5); "\r" always ends a segment. A leading UTF-8 byte order
  // mark, blank lines and a final newline are tolerated and dropped. Non-canonical input is
  // rewritten into canonical form once, so Serialize() always yields "\r"-terminated segments;
  // for canonical input it is byte-identical to the input.
  // Errors:
  //   kTooLarge              over a limit (location: the segment or field that crossed it);
  //   kSegmentSequence       does not start with MSH, a second MSH or a batch segment (use
  //                          ParseBatch), or a segment id that is not [A-Z][A-Z0-9]{2};
  //   kRequiredFieldMissing  MSH-1 or MSH-2 absent;
  //   kInvalidValue          illegal delimiters in MSH-1/MSH-2.
  static core::Result<Message> Parse(std::string er7, const ParseLimits& limits = {});

  const Encoding& encoding() const { return encoding_; }

  std::size_t SegmentCount() const { return segments_.size(); }
  // Segment n, 1-based in message order; an empty view when out of range.
  SegmentView Segment(std::size_t n) const;
  // The occurrence-th (1-based) segment with this id.
  std::optional<SegmentView> FindSegment(std::string_view id, std::size_t occurrence = 1) const;
  std::size_t CountSegments(std::string_view id) const;

  // Lenient read: the piece at `path`, or an empty Value when it is absent or the path is
  // malformed. Right for optional data.
  Value Get(std::string_view path) const;
  Value Get(const Path& path) const;
  // Strict read: kRequiredFieldMissing at `path` when the piece is empty or null;
  // kInvalidValue when `path` is malformed.
  core::Result<Value> Require(std::string_view path) const;

  // Shorthands for the header fields every consumer needs (raw values).
  std::string_view ControlId() const { return Get(kControlIdPath).raw(); }        // MSH-10
  std::string_view MessageType() const { return Get(kMessageTypePath).raw(); }    // MSH-9.1
  std::string_view TriggerEvent() const { return Get(kTriggerEventPath).raw(); }  // MSH-9.2
  std::string_view Version() const { return Get(kVersionPath).raw(); }            // MSH-12.1

  // The canonical ER7 bytes, valid while the Message lives.
  std::string_view er7() const { return buffer_; }
  std::string Serialize() const { return buffer_; }

 private:
  struct Span {
    std::uint32_t begin;
    std::uint32_t end;  // exclusive, before the terminator
  };
  friend class Parser;

  static constexpr std::string_view kControlIdPath = "MSH-10";
  static constexpr std::string_view kMessageTypePath = "MSH-9.1";
  static constexpr std::string_view kTriggerEventPath = "MSH-9.2";
  static constexpr std::string_view kVersionPath = "MSH-12.1";

  std::string buffer_;
  Encoding encoding_;
  std::vector<Span> segments_;
};

}  // namespace tb::hl7v2
