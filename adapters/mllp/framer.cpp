#include "adapters/mllp/framer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace tb::mllp {
namespace {

// memchr over [begin, begin + size) as an offset; `size` when absent.
std::size_t Find(const char* begin, std::size_t size, char byte) {
  const void* hit = std::memchr(begin, static_cast<unsigned char>(byte), size);
  return hit == nullptr ? size : static_cast<std::size_t>(static_cast<const char*>(hit) - begin);
}

DecodeEvent Event(DecodeEventKind kind, std::size_t bytes) {
  return DecodeEvent{kind, std::string(), bytes};
}

}  // namespace

void AppendFrame(std::string& out, std::string_view payload) {
  out.reserve(out.size() + payload.size() + 3);
  out.push_back(kStartBlock);
  out.append(payload);
  out.push_back(kEndBlock);
  out.push_back(kCarriageReturn);
}

std::string Frame(std::string_view payload) {
  std::string out;
  AppendFrame(out, payload);
  return out;
}

std::string_view ToString(DecodeEventKind kind) {
  switch (kind) {
    case DecodeEventKind::kFrame:
      return "frame";
    case DecodeEventKind::kSkipped:
      return "skipped";
    case DecodeEventKind::kTruncated:
      return "truncated";
    case DecodeEventKind::kBadTerminator:
      return "bad_terminator";
    case DecodeEventKind::kOversize:
      return "oversize";
  }
  return "unknown";
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::Feed(std::string_view bytes) {
  if (pos_ == input_.size()) {
    input_.clear();
    pos_ = 0;
  } else if (pos_ > 0) {
    input_.erase(0, pos_);
    pos_ = 0;
  }
  input_.append(bytes);
}

bool FrameDecoder::InFrame() const { return state_ != State::kHunting; }

void FrameDecoder::Reset() {
  state_ = State::kHunting;
  input_.clear();
  pos_ = 0;
  frame_.clear();
  skipped_ = 0;
}

std::optional<DecodeEvent> FrameDecoder::Next() {
  while (pos_ < input_.size()) {
    switch (state_) {
      case State::kHunting: {
        const std::size_t available = input_.size() - pos_;
        const std::size_t offset = Find(input_.data() + pos_, available, kStartBlock);
        skipped_ += offset;
        if (offset == available) {
          pos_ = input_.size();
          break;
        }
        pos_ += offset + 1;
        state_ = State::kInFrame;
        if (skipped_ > 0) {
          DecodeEvent event = Event(DecodeEventKind::kSkipped, skipped_);
          skipped_ = 0;
          return event;
        }
        break;
      }
      case State::kInFrame:
        if (auto event = StepInFrame()) {
          return event;
        }
        break;
      case State::kSawEnd: {
        state_ = State::kHunting;
        if (input_[pos_] == kCarriageReturn) {
          ++pos_;
          DecodeEvent event{DecodeEventKind::kFrame, std::move(frame_), 0};
          frame_.clear();
          event.bytes = event.payload.size();
          return event;
        }
        // The byte after 0x1C is looked at again, as the start of what follows.
        DecodeEvent event = Event(DecodeEventKind::kBadTerminator, frame_.size());
        frame_.clear();
        return event;
      }
      case State::kDiscarding:
      case State::kDiscardingSawEnd:
        StepDiscarding();
        break;
    }
  }
  // Everything fed has been consumed; keep the capacity for the next chunk.
  input_.clear();
  pos_ = 0;
  return std::nullopt;
}

std::optional<DecodeEvent> FrameDecoder::StepInFrame() {
  const char* begin = input_.data() + pos_;
  const std::size_t available = input_.size() - pos_;
  // Look for a stray start block first, then for the end block before it, so each byte is
  // scanned a bounded number of times whatever the input.
  const std::size_t start = Find(begin, available, kStartBlock);
  const std::size_t end = Find(begin, start, kEndBlock);
  const std::size_t segment = std::min(start, end);
  if (segment > max_frame_bytes_ - frame_.size()) {
    DecodeEvent event = Oversize(std::string_view(begin, segment));
    pos_ += segment;  // the block character (if any) is handled while discarding
    state_ = State::kDiscarding;
    return event;
  }
  if (end < start) {
    if (end + 1 == available) {
      // 0x1C is the last byte so far: the 0x0D may come with the next chunk.
      frame_.append(begin, end);
      pos_ += end + 1;
      state_ = State::kSawEnd;
      return std::nullopt;
    }
    state_ = State::kHunting;
    if (begin[end + 1] == kCarriageReturn) {
      std::string payload;
      if (frame_.empty()) {
        payload.assign(begin, end);  // the common case: the whole frame came in one chunk
      } else {
        frame_.append(begin, end);
        payload = std::move(frame_);
        frame_.clear();
      }
      pos_ += end + 2;
      const std::size_t size = payload.size();
      return DecodeEvent{DecodeEventKind::kFrame, std::move(payload), size};
    }
    DecodeEvent event = Event(DecodeEventKind::kBadTerminator, frame_.size() + end);
    frame_.clear();
    pos_ += end + 1;
    return event;
  }
  if (start < available) {
    // A new start block before this frame ended: drop the partial frame, start again.
    DecodeEvent event = Event(DecodeEventKind::kTruncated, frame_.size() + start);
    frame_.clear();
    pos_ += start + 1;
    return event;
  }
  frame_.append(begin, available);
  pos_ = input_.size();
  return std::nullopt;
}

void FrameDecoder::StepDiscarding() {
  const char* begin = input_.data() + pos_;
  const std::size_t available = input_.size() - pos_;
  std::size_t offset = 0;
  if (state_ == State::kDiscardingSawEnd) {
    state_ = State::kDiscarding;
    if (begin[0] == kCarriageReturn) {
      ++pos_;
      state_ = State::kHunting;
      return;
    }
  }
  const std::size_t start = Find(begin, available, kStartBlock);
  // Every 0x1C before the next start block, without scanning for 0x0B again.
  while (offset < start) {
    const std::size_t end = offset + Find(begin + offset, start - offset, kEndBlock);
    if (end == start) {
      break;
    }
    if (end + 1 == available) {
      pos_ += available;
      state_ = State::kDiscardingSawEnd;
      return;
    }
    if (begin[end + 1] == kCarriageReturn) {
      pos_ += end + 2;
      state_ = State::kHunting;
      return;
    }
    offset = end + 1;
  }
  if (start < available) {
    pos_ += start + 1;
    state_ = State::kInFrame;
    return;
  }
  pos_ += available;
}

DecodeEvent FrameDecoder::Oversize(std::string_view segment) {
  DecodeEvent event = Event(DecodeEventKind::kOversize, frame_.size() + segment.size());
  const std::size_t from_frame = std::min(frame_.size(), kOversizeHeadBytes);
  event.payload.reserve(std::min(event.bytes, kOversizeHeadBytes));
  event.payload.assign(frame_, 0, from_frame);
  event.payload.append(segment.substr(0, kOversizeHeadBytes - from_frame));
  frame_ = std::string();  // give the memory back: the rest of this frame is not kept
  return event;
}

}  // namespace tb::mllp
