#pragma once

// Compact JSON written straight to text, for the v2 -> FHIR mapper: resources and datatypes are
// written in Bundle order with their keys pre-escaped ("\"name\":" literals) instead of being built
// as a RapidJSON DOM that is then walked (as the mapper did until 23 Nov 2026). The bytes are
// those the DOM gave (json_string.h escapes strings as rapidjson::Writer does), and the DOM code's
// rule for empty values is kept: a member or element whose value turns out null, {} or [] is left
// out, by writing it and rolling the text back when it was empty.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/fhir/json_string.h"

namespace tb::mappings {

// A growable byte buffer for JSON text. Unlike std::string it never zero-fills what it reserves
// (std::string::resize does, and escaping reserves six bytes per input byte), and its memory goes
// back to a per-thread free list when it is destroyed, for the next buffer to take: a mapping
// writes each resource into its own buffer, and allocating them was a fifth of its cost.
class JsonBuffer {
 public:
  JsonBuffer() = default;
  JsonBuffer(JsonBuffer&& other) noexcept
      : data_(std::move(other.data_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  JsonBuffer& operator=(JsonBuffer&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::move(other.data_);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  ~JsonBuffer() { Release(); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  char back() const { return data_[size_ - 1]; }
  std::string_view view() const { return {data_.get(), size_}; }
  void clear() { size_ = 0; }
  void shrink(std::size_t size) { size_ = size; }  // size <= size()

  // Room for `n` more bytes; returns where they go (then Commit the new end).
  [[gnu::always_inline]] char* Reserve(std::size_t n) {
    if (capacity_ - size_ < n) [[unlikely]] {
      Grow(n);
    }
    return data_.get() + size_;
  }
  void Commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  [[gnu::always_inline]] void push_back(char c) {
    *Reserve(1) = c;
    ++size_;
  }
  // Inlined, so that appending a literal copies a constant number of bytes without a call.
  [[gnu::always_inline]] void append(std::string_view text) {
    char* out = Reserve(text.size());
    if (!text.empty()) {
      std::memcpy(out, text.data(), text.size());
    }
    size_ += text.size();
  }

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t capacity = 0;
  };
  static constexpr std::size_t kMinCapacity = 1024;
  static constexpr std::size_t kMaxPooledCapacity = 256 * 1024;
  static constexpr std::size_t kMaxPooledBlocks = 64;
  static std::vector<Block>& FreeBlocks() {
    thread_local std::vector<Block> blocks;
    return blocks;
  }

  [[gnu::noinline]] void Grow(std::size_t n) {
    const std::size_t needed = size_ + n;
    if (!data_) {
      std::vector<Block>& blocks = FreeBlocks();
      if (!blocks.empty() && blocks.back().capacity >= needed) {
        data_ = std::move(blocks.back().data);
        capacity_ = blocks.back().capacity;
        blocks.pop_back();
        return;
      }
    }
    const std::size_t capacity = std::max({capacity_ * 2, needed, kMinCapacity});
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ > 0) {
      std::memcpy(data.get(), data_.get(), size_);
    }
    data_ = std::move(data);
    capacity_ = capacity;
  }
  void Release() {
    if (data_ && capacity_ <= kMaxPooledCapacity) {
      std::vector<Block>& blocks = FreeBlocks();
      if (blocks.size() < kMaxPooledBlocks) {
        blocks.push_back(Block{std::move(data_), capacity_});
      }
    }
    data_.reset();
    size_ = 0;
    capacity_ = 0;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

class JsonText {
 public:
  explicit JsonText(JsonBuffer& out) : out_(out) {}

  std::string_view str() const { return out_.view(); }
  std::size_t Mark() const { return out_.size(); }
  void Rollback(std::size_t mark) { out_.shrink(mark); }

  // A ',' unless the enclosing object or array is still empty. Its last byte then is its '{' or
  // '[': a finished value never ends with either (strings end with '"').
  [[gnu::always_inline]] void Separator() {
    if (!out_.empty() && out_.back() != '{' && out_.back() != '[') {
      out_.push_back(',');
    }
  }
  // Starts a member: a separator and `quoted_key` ("\"name\":"). Returns the mark that removes it.
  [[gnu::always_inline]] std::size_t Key(std::string_view quoted_key) {
    const std::size_t mark = Mark();
    char* out = out_.Reserve(1 + quoted_key.size());  // one reservation for both
    if (mark != 0 && out[-1] != '{' && out[-1] != '[') {
      *out++ = ',';
    }
    std::memcpy(out, quoted_key.data(), quoted_key.size());
    out_.Commit(out + quoted_key.size());
    return mark;
  }
  // Starts an array element. Returns the mark that removes it.
  [[gnu::always_inline]] std::size_t Element() {
    const std::size_t mark = Mark();
    Separator();
    return mark;
  }
  [[gnu::always_inline]] void Put(char c) { out_.push_back(c); }
  // Room for `n` bytes written directly, then CommitRaw(the new end): for fixed pieces written
  // together with one reservation.
  [[gnu::always_inline]] char* ReserveRaw(std::size_t n) { return out_.Reserve(n); }
  [[gnu::always_inline]] void CommitRaw(const char* end) { out_.Commit(end); }
  // JSON text as it is (a literal, or a fragment already written).
  [[gnu::always_inline]] void Raw(std::string_view json) { out_.append(json); }
  // Raw() for a resource id: nearly always a UUID's 36 characters, copied as a fixed-size block
  // (inline) rather than by a memcpy call of a variable size.
  [[gnu::always_inline]] void RawId(std::string_view id) {
    constexpr std::size_t kUuidSize = 36;
    if (id.size() != kUuidSize) {
      out_.append(id);
      return;
    }
    char* out = out_.Reserve(kUuidSize);
    std::memcpy(out, id.data(), kUuidSize);
    out_.Commit(out + kUuidSize);
  }
  // A string, or null when `text` is empty (ctx.Str(text) added with AddMember or PushBack).
  void StringOrNull(std::string_view text) {
    if (text.empty()) {
      out_.append("null");
    } else {
      String(text);
    }
  }
  void String(std::string_view text) {
    char* out = out_.Reserve(fhir::JsonStringCapacity(text.size()));
    out_.Commit(StringAt(out, text));
  }
  // Writes `text` as a JSON string at `out` (room for JsonStringCapacity); returns the new end.
  [[gnu::noinline]] static char* StringAt(char* out, std::string_view text) {
    return fhir::WriteJsonString(out, text.data(), text.size());
  }

  // Whether the text from `value_start` on is nothing, "{}" or "[]": a value that is left out.
  bool EmptyFrom(std::size_t value_start) const {
    const std::string_view value = out_.view().substr(value_start);
    return value.empty() || value == "{}" || value == "[]";
  }
  // Ends a member or element begun at `mark` (by Key or Element) whose value starts at
  // `value_start`: removes it when the value was empty. Returns whether it stayed.
  bool KeepUnlessEmpty(std::size_t mark, std::size_t value_start) {
    if (EmptyFrom(value_start)) {
      Rollback(mark);
      return false;
    }
    return true;
  }
  // Closes the object or array opened (with Put('{') or Put('[')) after the member or element
  // begun at `mark`, or removes that member or element when nothing was added to it.
  bool CloseOrDrop(std::size_t mark, char close) {
    if (out_.back() == '{' || out_.back() == '[') {
      Rollback(mark);
      return false;
    }
    out_.push_back(close);
    return true;
  }

  // "key":"text", left out when `text` is empty (ctx.Put(object, key, ctx.Str(text))).
  // One reservation for the separator, the key and the escaped text (Key then String made three),
  // the key copied inline (a literal: a fixed-size copy), the text escaped out of line.
  [[gnu::always_inline]] void StringMember(std::string_view quoted_key, std::string_view text) {
    if (text.empty()) {
      return;
    }
    const bool first = out_.empty();
    char* out = out_.Reserve(1 + quoted_key.size() + fhir::JsonStringCapacity(text.size()));
    if (!first && out[-1] != '{' && out[-1] != '[') {
      *out++ = ',';
    }
    std::memcpy(out, quoted_key.data(), quoted_key.size());
    out_.Commit(StringAt(out + quoted_key.size(), text));
  }
  // "text" as an array element, left out when empty (ctx.Push(array, ctx.Str(text))).
  void StringElement(std::string_view text) {
    if (text.empty()) {
      return;
    }
    const bool first = out_.empty();
    char* out = out_.Reserve(1 + fhir::JsonStringCapacity(text.size()));
    if (!first && out[-1] != '{' && out[-1] != '[') {
      *out++ = ',';
    }
    out_.Commit(StringAt(out, text));
  }
  // A member whose value `write` writes (returning false, having written nothing, for null);
  // left out when the value is null, {} or []. Returns whether it stayed.
  template <typename Write>
  bool Member(std::string_view quoted_key, Write&& write) {
    const std::size_t mark = Key(quoted_key);
    const std::size_t value_start = Mark();
    write();
    return KeepUnlessEmpty(mark, value_start);
  }
  // An array element written by `write`, left out when null, {} or [].
  template <typename Write>
  bool Item(Write&& write) {
    const std::size_t mark = Element();
    const std::size_t value_start = Mark();
    write();
    return KeepUnlessEmpty(mark, value_start);
  }

 private:
  JsonBuffer& out_;
};

}  // namespace tb::mappings
