#include "adapters/hl7v2/value.h"

#include <algorithm>
#include <cstring>

#include "adapters/hl7v2/escape.h"

namespace tb::hl7v2 {
namespace internal {

std::string_view Piece(std::string_view raw, char delim, std::size_t n) {
  if (n == 0 || raw.empty()) {
    return {};  // also keeps memchr away from the null data() of an empty view
  }
  if (delim == '\0') {
    return n == 1 ? raw : std::string_view{};
  }
  const char* p = raw.data();
  const char* const end = raw.data() + raw.size();
  for (std::size_t i = 1; i < n; ++i) {
    const void* hit = std::memchr(p, delim, static_cast<std::size_t>(end - p));
    if (hit == nullptr) {
      return {};
    }
    p = static_cast<const char*>(hit) + 1;
  }
  const void* hit = std::memchr(p, delim, static_cast<std::size_t>(end - p));
  const char* stop = hit == nullptr ? end : static_cast<const char*>(hit);
  return {p, static_cast<std::size_t>(stop - p)};
}

std::size_t PieceCount(std::string_view raw, char delim) {
  if (raw.empty()) {
    return 0;
  }
  if (delim == '\0') {
    return 1;
  }
  return static_cast<std::size_t>(std::count(raw.begin(), raw.end(), delim)) + 1;
}

}  // namespace internal

ValueRange::Iterator::Iterator(std::string_view rest, const ValueRange* range)
    : rest_(rest), range_(range), done_(false) {
  Cut();
}

void ValueRange::Iterator::Cut() {
  const std::size_t hit =
      range_->delim_ == '\0' ? std::string_view::npos : rest_.find(range_->delim_);
  piece_ = rest_.substr(0, hit);
}

Value ValueRange::Iterator::operator*() const {
  return {piece_, range_->encoding_, range_->level_};
}

ValueRange::Iterator& ValueRange::Iterator::operator++() {
  if (piece_.size() == rest_.size()) {
    done_ = true;  // no delimiter after the current piece: it was the last
    return *this;
  }
  rest_.remove_prefix(piece_.size() + 1);
  Cut();
  return *this;
}

std::string Value::Decoded() const {
  if (state() != ValueState::kPresent) {
    return {};
  }
  if (level_ == Level::kOpaque) {
    return std::string(raw_);
  }
  return Unescape(raw_, encoding_);
}

std::string Value::Text() const {
  if (state() != ValueState::kPresent) {
    return {};
  }
  if (level_ == Level::kOpaque) {
    return std::string(raw_);
  }
  return UnescapeText(raw_, encoding_);
}

std::size_t Value::RepetitionCount() const {
  if (level_ == Level::kField) {
    return internal::PieceCount(raw_, encoding_.repetition);
  }
  return raw_.empty() ? 0 : 1;
}

std::size_t Value::ComponentCount() const {
  switch (level_) {
    case Level::kField:
      return Repetition(1).ComponentCount();
    case Level::kRepetition:
      return internal::PieceCount(raw_, encoding_.component);
    default:
      return raw_.empty() ? 0 : 1;
  }
}

std::size_t Value::SubcomponentCount() const {
  switch (level_) {
    case Level::kField:
    case Level::kRepetition:
      return Component(1).SubcomponentCount();
    case Level::kComponent:
      return internal::PieceCount(raw_, encoding_.subcomponent);
    default:
      return raw_.empty() ? 0 : 1;
  }
}

Value Value::Repetition(std::size_t n) const {
  if (level_ == Level::kField) {
    return {internal::Piece(raw_, encoding_.repetition, n), encoding_, Level::kRepetition};
  }
  return n == 1 ? *this : Value({}, encoding_, level_);
}

Value Value::Component(std::size_t n) const {
  switch (level_) {
    case Level::kField:
      return Repetition(1).Component(n);
    case Level::kRepetition:
      return {internal::Piece(raw_, encoding_.component, n), encoding_, Level::kComponent};
    default:
      return n == 1 ? *this : Value({}, encoding_, level_);
  }
}

Value Value::Subcomponent(std::size_t n) const {
  switch (level_) {
    case Level::kField:
    case Level::kRepetition:
      return Component(1).Subcomponent(n);
    case Level::kComponent:
      return {internal::Piece(raw_, encoding_.subcomponent, n), encoding_, Level::kSubcomponent};
    default:
      return n == 1 ? *this : Value({}, encoding_, level_);
  }
}

ValueRange Value::Repetitions() const {
  if (level_ == Level::kField) {
    return {raw_, encoding_.repetition, encoding_, Level::kRepetition};
  }
  return {raw_, '\0', encoding_, level_};
}

ValueRange Value::Components() const {
  switch (level_) {
    case Level::kField:
      return Repetition(1).Components();
    case Level::kRepetition:
      return {raw_, encoding_.component, encoding_, Level::kComponent};
    default:
      return {raw_, '\0', encoding_, level_};
  }
}

ValueRange Value::Subcomponents() const {
  switch (level_) {
    case Level::kField:
    case Level::kRepetition:
      return Component(1).Subcomponents();
    case Level::kComponent:
      return {raw_, encoding_.subcomponent, encoding_, Level::kSubcomponent};
    default:
      return {raw_, '\0', encoding_, level_};
  }
}

}  // namespace tb::hl7v2
