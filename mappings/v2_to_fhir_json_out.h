#pragma once

// The v2 -> FHIR mapper's DOM serialiser (internal to v2_to_fhir*.cpp): writes the resources still
// built as a RapidJSON DOM (ORU and order messages) and assembles the Bundle; the others are
// written as text (json_text.h).

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "mappings/json_string.h"
#include "mappings/v2_to_fhir_datatypes.h"

namespace tb::mappings::v2fhir {

using rapidjson::Value;

// Serialises a DOM to compact JSON exactly as rapidjson::Writer<StringBuffer> does (same escapes:
// control characters as \b \t \n \f \r or \u00XX, '"' and '\\'; other bytes, UTF-8 included,
// copied), but appending runs of plain bytes at once instead of one byte at a time. Strings the
// context registered as numbers or JSON fragments (V2MapContext::Raw) are written as they are. This
// was about a third of the mapping's time with the Writer (docs/mappings.md, Performance).
class JsonOut {
 public:
  explicit JsonOut(const V2MapContext& ctx) : buffer_(ThreadBuffer()), ctx_(ctx) {
    if (buffer_.size < kInitialSize) {
      buffer_.data = std::make_unique_for_overwrite<char[]>(kInitialSize);
      buffer_.size = kInitialSize;
    }
    cursor_ = buffer_.data.get();
    end_ = cursor_ + buffer_.size;
  }
  // What was written.
  std::string Finish() {
    std::string json(buffer_.data.get(), static_cast<std::size_t>(cursor_ - buffer_.data.get()));
    if (buffer_.size > kKeepSize) {
      buffer_ = Buffer{};  // a rare large Bundle does not pin its buffer to the thread
    }
    return json;
  }

  // JSON text as it is.
  void Text(std::string_view json) { Raw(json.data(), json.size()); }

  void Write(const Value& value) {
    switch (value.GetType()) {
      case rapidjson::kNullType:
        Raw("null", 4);
        break;
      case rapidjson::kFalseType:
        Raw("false", 5);
        break;
      case rapidjson::kTrueType:
        Raw("true", 4);
        break;
      case rapidjson::kObjectType: {
        Reserve(2);
        *cursor_++ = '{';
        const auto begin = value.MemberBegin();
        for (rapidjson::SizeType i = 0, n = value.MemberCount(); i < n; ++i) {
          const auto& member = begin[static_cast<std::ptrdiff_t>(i)];
          String(member.name.GetString(), member.name.GetStringLength(), i > 0 ? ',' : '\0', ':');
          Write(member.value);
        }
        Reserve(1);
        *cursor_++ = '}';
        break;
      }
      case rapidjson::kArrayType: {
        Reserve(1);
        *cursor_++ = '[';
        for (rapidjson::SizeType i = 0, n = value.Size(); i < n; ++i) {
          if (i > 0) {
            Reserve(1);
            *cursor_++ = ',';
          }
          Write(value[i]);
        }
        Reserve(1);
        *cursor_++ = ']';
        break;
      }
      case rapidjson::kStringType:
        // Numbers are canonical decimals (CanonicalDecimal: never empty, first a digit or '-')
        // and fragments objects ('{'), so other strings skip the lookup.
        if (value.GetStringLength() > 0 &&
            (value.GetString()[0] == '-' || value.GetString()[0] == '{' ||
             (value.GetString()[0] >= '0' && value.GetString()[0] <= '9')) &&
            ctx_.IsRaw(value.GetString())) {
          Raw(value.GetString(), value.GetStringLength());
        } else {
          String(value.GetString(), value.GetStringLength(), '\0', '\0');
        }
        break;
      case rapidjson::kNumberType:
        Number(value);
        break;
    }
  }

 private:
  // Output goes to a per-thread buffer that is kept between calls (never cleared: only the bytes
  // written are read), then is copied once into the returned string.
  struct Buffer {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  static constexpr std::size_t kInitialSize = 32 * 1024;
  static constexpr std::size_t kKeepSize = 1024 * 1024;
  static Buffer& ThreadBuffer() {
    thread_local Buffer buffer;
    return buffer;
  }

  void Reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cursor_) >= n) [[likely]] {
      return;
    }
    const auto used = static_cast<std::size_t>(cursor_ - buffer_.data.get());
    const std::size_t size = std::max(buffer_.size * 2, used + n);
    auto data = std::make_unique_for_overwrite<char[]>(size);
    std::memcpy(data.get(), buffer_.data.get(), used);
    buffer_.data = std::move(data);
    buffer_.size = size;
    cursor_ = buffer_.data.get() + used;
    end_ = buffer_.data.get() + size;
  }

  void Raw(const char* text, std::size_t length) {
    Reserve(length);
    std::memcpy(cursor_, text, length);
    cursor_ += length;
  }

  // Writes [before] "str" [after]; a '\0' separator is not written.
  [[gnu::always_inline]] void String(const char* str, std::size_t length, char before, char after) {
    Reserve(JsonStringCapacity(length) + 2);
    char* out = cursor_;
    if (before != '\0') {
      *out++ = before;
    }
    out = WriteJsonString(out, str, length);
    if (after != '\0') {
      *out++ = after;
    }
    cursor_ = out;
  }

  // Not produced by the mapper today (numbers are registered strings); kept exact by delegating.
  void Number(const Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    Raw(buffer.GetString(), buffer.GetSize());
  }

  Buffer& buffer_;
  const V2MapContext& ctx_;
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace tb::mappings::v2fhir
