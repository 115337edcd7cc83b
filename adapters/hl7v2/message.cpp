#include "adapters/hl7v2/message.h"

#include <algorithm>

namespace tb::hl7v2 {

bool SegmentView::IsHeader() const {
  const std::string_view seg = id();
  return seg == "MSH" || seg == "FHS" || seg == "BHS";
}

std::size_t SegmentView::FieldCount() const {
  if (raw_.size() <= 3) {
    return 0;
  }
  const auto separators =
      static_cast<std::size_t>(std::count(raw_.begin() + 3, raw_.end(), encoding_.field));
  return IsHeader() ? separators + 1 : separators;
}

Value SegmentView::Field(std::size_t n) const {
  if (n == 0 || raw_.size() <= 3) {
    return {};
  }
  const std::string_view rest = raw_.substr(4);  // after "XXX" and the field separator
  if (IsHeader()) {
    if (n == 1) {
      return {raw_.substr(3, 1), encoding_, Level::kOpaque};
    }
    if (n == 2) {
      return {internal::Piece(rest, encoding_.field, 1), encoding_, Level::kOpaque};
    }
    return {internal::Piece(rest, encoding_.field, n - 1), encoding_, Level::kField};
  }
  return {internal::Piece(rest, encoding_.field, n), encoding_, Level::kField};
}

Value SegmentView::At(const Path& path) const {
  if (path.field == 0) {
    return {};
  }
  Value v = Field(path.field);
  if (path.repetition != 0) {
    v = v.Repetition(path.repetition);
  }
  if (path.component != 0) {
    v = v.Component(path.component);
    if (path.subcomponent != 0) {
      v = v.Subcomponent(path.subcomponent);
    }
  }
  return v;
}

SegmentView Message::Segment(std::size_t n) const {
  if (n == 0 || n > segments_.size()) {
    return {};
  }
  const Span span = segments_[n - 1];
  return {std::string_view(buffer_).substr(span.begin, span.end - span.begin), encoding_};
}

std::optional<SegmentView> Message::FindSegment(std::string_view id, std::size_t occurrence) const {
  if (occurrence == 0) {
    return std::nullopt;
  }
  const std::string_view buf = buffer_;
  for (const Span& span : segments_) {
    // The parser guarantees every segment has a three-character id.
    if (buf.substr(span.begin, 3) == id && --occurrence == 0) {
      return SegmentView(buf.substr(span.begin, span.end - span.begin), encoding_);
    }
  }
  return std::nullopt;
}

std::size_t Message::CountSegments(std::string_view id) const {
  const std::string_view buf = buffer_;
  return static_cast<std::size_t>(
      std::count_if(segments_.begin(), segments_.end(),
                    [&](const Span& span) { return buf.substr(span.begin, 3) == id; }));
}

Value Message::Get(const Path& path) const {
  const std::optional<SegmentView> segment = FindSegment(path.segment, path.occurrence);
  return segment ? segment->At(path) : Value{};
}

Value Message::Get(std::string_view path) const {
  core::Result<Path> parsed = ParsePath(path);
  return parsed ? Get(*parsed) : Value{};
}

core::Result<Value> Message::Require(std::string_view path) const {
  core::Result<Path> parsed = ParsePath(path);
  if (!parsed) {
    return std::move(parsed).error();
  }
  const Value value = Get(*parsed);
  if (value.HasValue()) {
    return value;
  }
  return core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                         value.IsNull() ? "required field is null" : "required field is missing",
                         parsed->ToString());
}

}  // namespace tb::hl7v2
