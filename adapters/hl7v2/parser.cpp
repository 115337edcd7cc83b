// Message::Parse: one pass over the bytes that records where each segment starts and ends and
// checks the caps. Fields are not indexed (Value splits lazily), which keeps parsing at a few
// hundred nanoseconds per typical ADT and allocation-free apart from the segment index.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "adapters/hl7v2/message.h"

namespace tb::hl7v2 {
namespace {

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsUpperOrDigit(char c) { return IsUpper(c) || (c >= '0' && c <= '9'); }

bool IsBatchOrHeaderId(std::string_view id) {
  return id == "MSH" || id == "FHS" || id == "BHS" || id == "BTS" || id == "FTS";
}

}  // namespace

class Parser {
 public:
  static core::Result<Message> Run(std::string er7, const ParseLimits& limits);
};

core::Result<Message> Parser::Run(std::string er7, const ParseLimits& limits) {
  using core::ErrorCode;
  using core::MakeError;
  // Offsets are 32-bit; one spare byte for the terminator that canonical form may add.
  constexpr std::size_t kOffsetLimit = std::numeric_limits<std::uint32_t>::max() - 1;
  if (er7.size() > limits.max_message_bytes || er7.size() > kOffsetLimit) {
    return MakeError(ErrorCode::kTooLarge, "message exceeds the size limit");
  }
  Message msg;
  const std::string_view in = er7;
  const std::size_t n = in.size();
  std::size_t pos = 0;
  bool canonical = true;
  if (in.substr(0, 3) == "\xEF\xBB\xBF") {
    pos = 3;
    canonical = false;
  }
  while (pos < n && (in[pos] == '\r' || in[pos] == '\n')) {
    ++pos;
    canonical = false;
  }
  if (in.substr(pos, 3) != "MSH") {
    return MakeError(ErrorCode::kSegmentSequence, "message does not start with MSH", "MSH");
  }
  core::Result<HeaderEncoding> header = ReadEncoding(in.substr(pos));
  if (!header) {
    return std::move(header).error();
  }
  const Encoding enc = header->encoding;
  const char fs = enc.field;
  msg.encoding_ = enc;
  msg.segments_.reserve(16);

  // The segment terminator is CR (v2.5.1 section 2.5); files and some senders use CRLF or LF.
  // Which one this message uses is decided once, by how MSH ends, and only that style ends
  // segments: in a CR (or CRLF) message a lone LF is data (an OBX-5 text "Normal\nEND|F" is one
  // segment, not a bogus END segment that drops OBX-11). A CR always ends a segment, since the
  // canonical form could not carry one as data. LF ends segments only in a LF message.
  const std::size_t msh_end = in.find_first_of("\r\n", pos);
  const bool lf_style = msh_end != std::string_view::npos && in[msh_end] == '\n';
  const bool crlf_style =
      msh_end != std::string_view::npos && in.substr(msh_end, 2) == std::string_view("\r\n");

  // Terminators are found with memchr (vectorised in libc). The next CR and next LF are cached
  // and refreshed only once passed, so LF-only input stays linear.
  const char* const base = in.data();
  const char* const end = base + n;
  auto find = [end](const char* from, char c) {
    const void* hit = std::memchr(from, c, static_cast<std::size_t>(end - from));
    return hit == nullptr ? end : static_cast<const char*>(hit);
  };
  const char* next_cr = find(base + pos, '\r');
  const char* next_lf = lf_style ? find(base + pos, '\n') : end;
  while (pos < n) {
    const std::size_t begin = pos;
    if (next_cr < base + pos) {
      next_cr = find(base + pos, '\r');
    }
    if (lf_style && next_lf < base + pos) {
      next_lf = find(base + pos, '\n');
    }
    const char* const p = next_cr < next_lf ? next_cr : next_lf;
    const auto seg_end = static_cast<std::size_t>(p - base);
    if (p == end) {
      canonical = false;  // the last segment has no terminator
      pos = n;
    } else if ((lf_style || crlf_style) && *p == '\r' && p + 1 < end && p[1] == '\n') {
      canonical = false;
      pos = seg_end + 2;
    } else {
      canonical = canonical && *p == '\r';
      pos = seg_end + 1;
    }
    if (seg_end == begin) {
      canonical = false;  // a blank line between segments
      continue;
    }
    const std::string_view seg = in.substr(begin, seg_end - begin);
    if (!lf_style && seg.find_first_not_of('\n') == std::string_view::npos) {
      canonical = false;  // a final newline after the last CR (a file's last line): blank
      continue;
    }
    const std::size_t index = msg.segments_.size() + 1;
    if (seg.size() < 3 || !IsUpper(seg[0]) || !IsUpperOrDigit(seg[1]) || !IsUpperOrDigit(seg[2]) ||
        (seg.size() > 3 && seg[3] != fs)) {
      return MakeError(ErrorCode::kSegmentSequence,
                       "segment " + std::to_string(index) + " has no valid segment id");
    }
    const std::string_view id = seg.substr(0, 3);
    if (index > 1 && IsBatchOrHeaderId(id)) {
      return MakeError(
          ErrorCode::kSegmentSequence,
          "unexpected " + std::string(id) + " segment inside a message (batches need ParseBatch)",
          std::string(id));
    }
    // A segment of L bytes has at most L - 3 separators, so short segments need no count.
    const bool may_exceed = seg.size() - 3 + 1 > limits.max_fields;
    const std::size_t separators =
        may_exceed ? static_cast<std::size_t>(std::count(seg.begin() + 3, seg.end(), fs)) : 0;
    const std::size_t fields = index == 1 ? separators + 1 : separators;
    if (may_exceed && fields > limits.max_fields) {
      return MakeError(ErrorCode::kTooLarge, "segment has more fields than the limit",
                       std::string(id) + "-" + std::to_string(limits.max_fields + 1));
    }
    if (msg.segments_.size() >= limits.max_segments) {
      return MakeError(ErrorCode::kTooLarge, "message has more segments than the limit",
                       std::string(id));
    }
    msg.segments_.push_back(
        {static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(seg_end)});
  }

  if (canonical) {
    msg.buffer_ = std::move(er7);
    return msg;
  }
  // Rewrite once into canonical form so views, Serialize() and later consumers see "\r" only.
  std::string out;
  out.reserve(n + 1);
  for (Message::Span& span : msg.segments_) {
    const auto new_begin = static_cast<std::uint32_t>(out.size());
    out.append(in.substr(span.begin, span.end - span.begin));
    span = {new_begin, static_cast<std::uint32_t>(out.size())};
    out += '\r';
  }
  msg.buffer_ = std::move(out);
  return msg;
}

core::Result<Message> Message::Parse(std::string er7, const ParseLimits& limits) {
  return Parser::Run(std::move(er7), limits);
}

}  // namespace tb::hl7v2
