#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tb::mllp {

// MLLP (HL7 v2 Minimal Lower Layer Protocol, release 1) block characters:
//   <VT=0x0B> payload <FS=0x1C><CR=0x0D>
// The payload is opaque here; this layer knows nothing about HL7 content.
inline constexpr char kStartBlock = '\x0B';
inline constexpr char kEndBlock = '\x1C';
inline constexpr char kCarriageReturn = '\x0D';

// Default cap on one frame's payload (matches the broker's `limits.mllp_frame_bytes`).
inline constexpr std::size_t kDefaultMaxFrameBytes = 1024 * 1024;
// How much of an oversize frame's beginning an kOversize event carries (enough for MSH, so a
// NAK can quote the control id).
inline constexpr std::size_t kOversizeHeadBytes = 4096;

// Wraps `payload` in a frame. The payload is not checked: a payload containing 0x0B or 0x1C
// 0x0D will not survive the trip (HL7 content must escape them).
std::string Frame(std::string_view payload);
// Same, appending to `out` (no temporary).
void AppendFrame(std::string& out, std::string_view payload);

enum class DecodeEventKind : std::uint8_t {
  kFrame,          // a complete frame; `payload` holds its content (may be empty)
  kSkipped,        // `bytes` bytes outside any frame were skipped (reported at the next start)
  kTruncated,      // a start block arrived inside a frame: its `bytes` were dropped, and the
                   // new start block begins a new frame
  kBadTerminator,  // 0x1C not followed by 0x0D: the frame's `bytes` were dropped; decoding
                   // resumes at the byte after 0x1C, looking for a start block
  kOversize,       // the frame's payload passed max_frame_bytes: `bytes` seen so far (more
                   // than the limit), `payload` holds its first kOversizeHeadBytes at most.
                   // The rest of the frame is discarded up to its end or the next start block.
};

std::string_view ToString(DecodeEventKind kind);

struct DecodeEvent {
  DecodeEventKind kind = DecodeEventKind::kFrame;
  std::string payload;    // kFrame: the payload; kOversize: the frame's first bytes; else empty
  std::size_t bytes = 0;  // see DecodeEventKind (kFrame: payload size)
};

// Incremental MLLP decoder: Feed() the bytes as they arrive, in chunks of any size, then call
// Next() until it returns nullopt. Events come out in stream order, so a caller that handles one
// frame at a time (read, process, reply, next) keeps the sender's order.
//
// Robust to frames split across any number of chunks (including between 0x1C and 0x0D), many
// frames in one chunk, garbage around frames, start blocks inside frames and oversize frames;
// none of these is fatal. Memory: the partial frame (never more than max_frame_bytes) plus
// the part of the fed bytes not yet consumed; Next() returning nullopt means everything fed so
// far has been consumed, so callers that Feed() only then hold at most one chunk extra.
// Pure and single-threaded: no I/O, no locks; scans with memchr, one allocation per frame.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

  void Feed(std::string_view bytes);
  std::optional<DecodeEvent> Next();

  // True when a frame has started and not yet ended (including an oversize frame being skipped).
  bool InFrame() const;
  // True while the rest of an oversize frame is being skipped.
  bool Discarding() const {
    return state_ == State::kDiscarding || state_ == State::kDiscardingSawEnd;
  }
  // Payload bytes of the partial frame plus fed bytes not yet consumed.
  std::size_t BufferedBytes() const { return frame_.size() + (input_.size() - pos_); }
  std::size_t max_frame_bytes() const { return max_frame_bytes_; }
  // Forgets all buffered bytes and state.
  void Reset();

 private:
  enum class State : std::uint8_t {
    kHunting,           // outside a frame, looking for 0x0B
    kInFrame,           // inside a frame, looking for 0x1C (or a stray 0x0B)
    kSawEnd,            // the last byte fed was the frame's 0x1C; expecting 0x0D
    kDiscarding,        // inside an oversize frame, skipping to its end
    kDiscardingSawEnd,  // same, and the last byte fed was 0x1C
  };

  std::optional<DecodeEvent> StepInFrame();
  void StepDiscarding();
  DecodeEvent Oversize(std::string_view segment);

  std::size_t max_frame_bytes_;
  State state_ = State::kHunting;
  std::string input_;  // fed bytes; [pos_, size) not yet consumed
  std::size_t pos_ = 0;
  std::string frame_;        // payload of the current frame received so far (<= max_frame_bytes_)
  std::size_t skipped_ = 0;  // garbage bytes not yet reported
};

}  // namespace tb::mllp
