#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/hl7v2/encoding.h"
#include "adapters/hl7v2/message.h"
#include "broker/core/result.h"

namespace tb::hl7v2 {

// Builds or edits a message by path, escaping values on the way in. Used for FHIR -> v2 mapping
// and for rewriting a received message; ACKs have their own faster writer (ack.h).
//
//   MessageBuilder b;                              // MSH-1/MSH-2 from the Encoding
//   b.Set("MSH-9", "ADT^A01")    -> writes "ADT\S\A01": Set escapes, so use components:
//   b.Set("MSH-9.1", "ADT"); b.Set("MSH-9.2", "A01");
//   b.Set("PID-3(2).4", "NHS");                    // creates PID, repetitions, components
//   b.SetRaw("PID-5", "SMITH^JOHN");               // already ER7 in this encoding
//   core::Result<Message> m = b.Build();
//
// Segments are created on demand: setting "OBX[3]-5" appends OBX segments until there are three.
// New segments go to the end, in the order they are first touched; AddSegment appends
// explicitly. Paths are 1-based as in Message::Get.
// Errors (Status): kInvalidValue for a malformed path, a write to MSH-1/MSH-2 (fixed by the
// Encoding), a raw value containing delimiters above its level or a line break, or an Encoding
// that is not complete (Encoding::IsComplete: old messages without a subcomponent separator can
// be read but not edited).
// Thread-safety: a plain value; not for concurrent mutation.
class MessageBuilder {
 public:
  // Starts a message holding only "MSH|^~\&" (with this encoding).
  explicit MessageBuilder(Encoding encoding = {});
  // An editable copy of a parsed message: every field is kept byte for byte until set.
  static MessageBuilder From(const Message& message);

  const Encoding& encoding() const { return encoding_; }

  // Appends a segment and returns its occurrence number among segments with that id.
  core::Result<std::size_t> AddSegment(std::string_view id);

  // Sets the piece at `path` to `text`, escaped (so delimiters in text stay data).
  core::Status Set(std::string_view path, std::string_view text);
  // Sets the piece at `path` to ER7 that is already encoded for this encoding and level.
  core::Status SetRaw(std::string_view path, std::string_view er7);
  // Sets the explicit null `""` (tells the receiver to delete the stored value).
  core::Status SetNull(std::string_view path);

  std::size_t SegmentCount() const { return segments_.size(); }

  // "\r"-terminated ER7.
  std::string Serialize() const;
  // Serialize() then Message::Parse().
  core::Result<Message> Build(const ParseLimits& limits = {}) const;

 private:
  struct Segment {
    std::string id;
    // Raw fields. For MSH: [0] is MSH-1, [1] is MSH-2, [k] is MSH-(k+1); elsewhere [k] is
    // field k+1.
    std::vector<std::string> fields;
  };

  core::Status SetEncoded(std::string_view path, std::string_view er7, bool check_raw);
  Segment& SegmentFor(std::string_view id, std::size_t occurrence);

  Encoding encoding_;
  std::vector<Segment> segments_;
};

}  // namespace tb::hl7v2
