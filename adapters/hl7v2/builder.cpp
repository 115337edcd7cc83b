#include "adapters/hl7v2/builder.h"

#include <array>
#include <span>
#include <utility>

#include "adapters/hl7v2/escape.h"
#include "adapters/hl7v2/path.h"

namespace tb::hl7v2 {
namespace {

core::Error Invalid(std::string message, std::string location = {}) {
  return core::MakeError(core::ErrorCode::kInvalidValue, std::move(message), std::move(location));
}

std::vector<std::string> Split(std::string_view raw, char delim) {
  std::vector<std::string> pieces;
  if (raw.empty()) {
    return pieces;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t hit = raw.find(delim, start);
    if (hit == std::string_view::npos) {
      pieces.emplace_back(raw.substr(start));
      return pieces;
    }
    pieces.emplace_back(raw.substr(start, hit - start));
    start = hit + 1;
  }
}

// Replaces piece `index` (1-based) of `raw` split on the first delimiter in `levels`, recursing
// into the next level; trailing empty pieces at each rebuilt level are dropped, since HL7 treats
// "a^b^^" and "a^b" alike and the shorter form is what senders expect.
struct Step {
  char delim;
  std::size_t index;
};

void SetPiece(std::string& raw, std::span<const Step> levels, std::string_view leaf) {
  if (levels.empty()) {
    raw.assign(leaf);
    return;
  }
  const auto [delim, index] = levels.front();
  std::vector<std::string> pieces = Split(raw, delim);
  if (pieces.size() < index) {
    pieces.resize(index);
  }
  SetPiece(pieces[index - 1], levels.subspan(1), leaf);
  while (!pieces.empty() && pieces.back().empty()) {
    pieces.pop_back();
  }
  raw.clear();
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i != 0) {
      raw += delim;
    }
    raw += pieces[i];
  }
}

bool IsHeaderId(std::string_view id) { return id == "MSH" || id == "FHS" || id == "BHS"; }

bool IsValidId(std::string_view id) {
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return id.size() == 3 && upper(id[0]) && (upper(id[1]) || digit(id[1])) &&
         (upper(id[2]) || digit(id[2]));
}

}  // namespace

MessageBuilder::MessageBuilder(Encoding encoding) : encoding_(encoding) {
  segments_.push_back({"MSH", {std::string(1, encoding_.field), encoding_.EncodingCharacters()}});
}

MessageBuilder MessageBuilder::From(const Message& message) {
  MessageBuilder builder(message.encoding());
  builder.segments_.clear();
  for (std::size_t i = 1; i <= message.SegmentCount(); ++i) {
    const SegmentView seg = message.Segment(i);
    Segment out{std::string(seg.id()), {}};
    if (seg.raw().size() > 3) {
      if (seg.IsHeader()) {
        out.fields.emplace_back(seg.raw().substr(3, 1));  // MSH-1
      }
      // One pass over the fields (indexing each would rescan the segment every time). Every
      // separator opens a field, so "OBX|" holds one empty field that must survive.
      std::string_view rest = seg.raw().substr(4);
      while (true) {
        const std::size_t hit = rest.find(message.encoding().field);
        out.fields.emplace_back(rest.substr(0, hit));
        if (hit == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(hit + 1);
      }
    }
    builder.segments_.push_back(std::move(out));
  }
  return builder;
}

core::Result<std::size_t> MessageBuilder::AddSegment(std::string_view id) {
  if (!IsValidId(id) || IsHeaderId(id)) {
    return Invalid("segment id must be [A-Z][A-Z0-9]{2} and not a header segment");
  }
  std::size_t occurrence = 1;
  for (const Segment& seg : segments_) {
    occurrence += seg.id == id ? 1 : 0;
  }
  segments_.push_back({std::string(id), {}});
  return occurrence;
}

MessageBuilder::Segment& MessageBuilder::SegmentFor(std::string_view id, std::size_t occurrence) {
  std::size_t seen = 0;
  for (Segment& seg : segments_) {
    if (seg.id == id && ++seen == occurrence) {
      return seg;
    }
  }
  while (seen < occurrence) {
    segments_.push_back({std::string(id), {}});
    ++seen;
  }
  return segments_.back();
}

core::Status MessageBuilder::SetEncoded(std::string_view path_text, std::string_view er7,
                                        bool check_raw) {
  if (!encoding_.IsComplete()) {
    return Invalid("the builder's encoding is incomplete");
  }
  core::Result<Path> parsed = ParsePath(path_text);
  if (!parsed) {
    return std::move(parsed).error();
  }
  const Path& path = *parsed;
  const std::string location = path.ToString();
  if (path.field == 0) {
    return Invalid("a path to a field is required", location);
  }
  const bool header = IsHeaderId(path.segment);
  if (header && path.field <= 2) {
    return Invalid("MSH-1 and MSH-2 are fixed by the encoding", location);
  }
  if (header && path.segment != "MSH") {
    return Invalid("batch header segments belong in a Batch", location);
  }
  if (check_raw) {
    // Which delimiters may appear in `er7` depends on the level being set.
    const bool whole_field = path.repetition == 0 && path.component == 0;
    for (char c : er7) {
      const bool bad = c == '\r' || c == '\n' || c == encoding_.field ||
                       (c == encoding_.repetition && !whole_field) ||
                       (c == encoding_.component && path.component != 0) ||
                       (c == encoding_.subcomponent && path.subcomponent != 0);
      if (bad) {
        return Invalid("raw value holds a delimiter above its level", location);
      }
    }
  }
  Segment& seg = SegmentFor(path.segment, path.occurrence);
  // MSH stores MSH-1 at index 0, so field n sits at n-1 in both layouts.
  const std::size_t slot = path.field - 1;
  if (seg.fields.size() <= slot) {
    seg.fields.resize(slot + 1);
  }
  std::array<Step, 3> steps{};
  std::size_t depth = 0;
  if (path.repetition != 0 || path.component != 0) {
    steps[depth++] = {encoding_.repetition, path.repetition == 0 ? 1 : path.repetition};
  }
  if (path.component != 0) {
    steps[depth++] = {encoding_.component, path.component};
    if (path.subcomponent != 0) {
      steps[depth++] = {encoding_.subcomponent, path.subcomponent};
    }
  }
  SetPiece(seg.fields[slot], std::span<const Step>(steps.data(), depth), er7);
  return core::Ok();
}

core::Status MessageBuilder::Set(std::string_view path, std::string_view text) {
  return SetEncoded(path, Escape(text, encoding_), /*check_raw=*/false);
}

core::Status MessageBuilder::SetRaw(std::string_view path, std::string_view er7) {
  return SetEncoded(path, er7, /*check_raw=*/true);
}

core::Status MessageBuilder::SetNull(std::string_view path) {
  return SetEncoded(path, "\"\"", /*check_raw=*/false);
}

std::string MessageBuilder::Serialize() const {
  std::string out;
  for (const Segment& seg : segments_) {
    out += seg.id;
    const bool header = IsHeaderId(seg.id);
    for (std::size_t i = 0; i < seg.fields.size(); ++i) {
      if (header && i == 0) {
        out += seg.fields[0];  // MSH-1 is the separator itself
        continue;
      }
      if (!(header && i == 1)) {
        out += encoding_.field;
      }
      out += seg.fields[i];
    }
    out += '\r';
  }
  return out;
}

core::Result<Message> MessageBuilder::Build(const ParseLimits& limits) const {
  return Message::Parse(Serialize(), limits);
}

}  // namespace tb::hl7v2
