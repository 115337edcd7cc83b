#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/hl7v2/encoding.h"

namespace tb::hl7v2 {

// What a position holds. HL7 distinguishes "not sent" (empty: nothing between the delimiters, or
// the position is past the end) from the explicit null `""`, which tells the receiver to delete
// what it stored.
enum class ValueState : std::uint8_t { kEmpty, kNull, kPresent };

// The structural level of a raw piece; it decides which delimiter splits it further.
// kOpaque is for MSH-1 and MSH-2, which hold the delimiters themselves and are never split or
// unescaped.
enum class Level : std::uint8_t { kField, kRepetition, kComponent, kSubcomponent, kOpaque };

class Value;

// The pieces of a raw value split on one delimiter, visited left to right in one pass:
//   for (const Value& rep : field.Repetitions()) ...
// Prefer this to `for (i = 1; i <= Count(); ++i) Piece(i)`, which rescans from the start for
// every i and is quadratic on hostile input (100,000 repetitions in one field).
// Borrows like Value; an empty raw value has no pieces.
class ValueRange {
 public:
  class Iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;
    Value operator*() const;
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.done_ == b.done_ && (a.done_ || a.rest_.data() == b.rest_.data());
    }

   private:
    friend class ValueRange;
    Iterator(std::string_view rest, const ValueRange* range);
    void Cut();

    std::string_view rest_;   // from the current piece to the end
    std::string_view piece_;  // the current piece
    const ValueRange* range_ = nullptr;
    bool done_ = true;
  };

  ValueRange(std::string_view raw, char delim, Encoding encoding, Level level)
      : raw_(raw), delim_(delim), encoding_(encoding), level_(level) {}

  Iterator begin() const { return raw_.empty() ? Iterator() : Iterator(raw_, this); }
  Iterator end() const { return Iterator(); }

 private:
  std::string_view raw_;
  char delim_;
  Encoding encoding_;
  Level level_;  // of the pieces
};

// A borrowed view of one piece of an ER7 message (a field, repetition, component or
// subcomponent) plus the delimiters needed to split and decode it. Splitting is lazy: nothing is
// indexed or allocated until asked, and then only the piece asked for is found.
//
// Lifetime: `raw()` points into the Message (or other buffer) it came from; a Value is valid
// only while that buffer is alive and unmodified, and a Message that is moved may move its bytes.
// Thread-safety: const and trivially copyable; any number of threads may read.
// Numbering: 1-based, as in HL7. Asking below a level's reach behaves as HL7 does: a field's
// Component(n) reads its first repetition, and a component is its own first subcomponent.
class Value {
 public:
  Value() = default;
  Value(std::string_view raw, Encoding encoding, Level level)
      : raw_(raw), encoding_(encoding), level_(level) {}

  // The bytes as on the wire, escapes and all.
  std::string_view raw() const { return raw_; }
  Level level() const { return level_; }
  const Encoding& encoding() const { return encoding_; }

  ValueState state() const {
    if (raw_.empty()) {
      return ValueState::kEmpty;
    }
    return raw_ == "\"\"" ? ValueState::kNull : ValueState::kPresent;
  }
  bool IsEmpty() const { return state() == ValueState::kEmpty; }
  bool IsNull() const { return state() == ValueState::kNull; }
  bool HasValue() const { return state() == ValueState::kPresent; }

  // Unescape(raw()); "" for null (a null carries no text). Allocates.
  std::string Decoded() const;
  // UnescapeText(raw()) for FT/TX text: \.br\ becomes "\n". Allocates.
  std::string Text() const;

  // Counts are 0 for an empty piece, so `for (i = 1; i <= n; ++i)` visits nothing.
  std::size_t RepetitionCount() const;
  std::size_t ComponentCount() const;
  std::size_t SubcomponentCount() const;

  // The n-th piece (1-based); an empty Value when n is 0 or past the end. Each call scans from
  // the start: use the ranges below to visit every piece.
  Value Repetition(std::size_t n) const;
  Value Component(std::size_t n) const;
  Value Subcomponent(std::size_t n) const;

  // All pieces, in one pass. Same reach rules as the accessors above: a field's Components() are
  // those of its first repetition; a piece below the level is its own single piece.
  ValueRange Repetitions() const;
  ValueRange Components() const;
  ValueRange Subcomponents() const;

 private:
  std::string_view raw_;
  Encoding encoding_;
  Level level_ = Level::kOpaque;
};

namespace internal {

// The n-th (1-based) piece of `raw` split on `delim`; empty when absent. `delim` == '\0' means
// the delimiter is not declared, so `raw` is a single piece.
std::string_view Piece(std::string_view raw, char delim, std::size_t n);
// Number of pieces (0 for empty raw).
std::size_t PieceCount(std::string_view raw, char delim);

}  // namespace internal

}  // namespace tb::hl7v2
