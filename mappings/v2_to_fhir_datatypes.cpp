#include "mappings/v2_to_fhir_datatypes.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <initializer_list>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "adapters/fhir/json_string.h"
#include "adapters/hl7v2/escape.h"
#include "adapters/hl7v2/nhs_number_identifier.h"
#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"
#include "broker/core/utf8.h"

namespace tb::mappings {

namespace {

using core::ErrorCode;
using core::MakeError;
using hl7v2::Level;

constexpr std::string_view kGmcSystem = "https://fhir.hl7.org.uk/Id/gmc-number";
constexpr std::string_view kGmpSystem = "https://fhir.hl7.org.uk/Id/gmp-number";

// Part n of a composite, whatever level it was read at: components of a field or repetition,
// subcomponents of a component.
hl7v2::Value Part(const hl7v2::Value& v, std::size_t n) {
  switch (v.level()) {
    case Level::kComponent:
      return SubcomponentOf(v, n);
    case Level::kSubcomponent:
      return n == 1 ? v : hl7v2::Value();
    default:
      return ComponentOf(v, n);
  }
}

// The n-th (1-based) piece of `raw` split on `delim`, within its first `stop`-separated piece
// when `has_stop` (a field's first repetition), in one pass: what hl7v2's Piece(Piece(raw, stop,
// 1), delim, n) gives, without a memchr call per delimiter (sixteen bytes at a time while they
// last). `delim` '\0' (not declared) does not split.
std::string_view NthPiece(std::string_view raw, char delim, bool has_stop, char stop,
                          std::size_t n) {
  if (n == 0 || raw.empty()) {
    return {};
  }
  const char* p = raw.data();
  const char* end = raw.data() + raw.size();
  const char* piece = p;
  std::size_t index = 1;
  const bool splits = delim != '\0';
  const char delim_or_stop = splits ? delim : stop;  // a stand-in that never splits
#if defined(__SSE2__)
  const __m128i delims = _mm_set1_epi8(delim_or_stop);
  const __m128i stops = _mm_set1_epi8(has_stop ? stop : delim_or_stop);
  for (; p + 16 <= end; p += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(block, delims), _mm_cmpeq_epi8(block, stops))));
    while (mask != 0) {
      const char* hit = p + std::countr_zero(mask);
      if (has_stop && *hit == stop) {
        return index == n ? std::string_view(piece, static_cast<std::size_t>(hit - piece))
                          : std::string_view();
      }
      if (splits) {
        if (index == n) {
          return {piece, static_cast<std::size_t>(hit - piece)};
        }
        ++index;
        piece = hit + 1;
      }
      mask &= mask - 1;
    }
  }
#endif
  for (; p < end; ++p) {
    if (has_stop && *p == stop) {
      end = p;
      break;
    }
    if (splits && *p == delim) {
      if (index == n) {
        return {piece, static_cast<std::size_t>(p - piece)};
      }
      ++index;
      piece = p + 1;
    }
  }
  return index == n ? std::string_view(piece, static_cast<std::size_t>(end - piece))
                    : std::string_view();
}

}  // namespace

hl7v2::Value ComponentOf(const hl7v2::Value& value, std::size_t n) {
  const hl7v2::Encoding& encoding = value.encoding();
  switch (value.level()) {
    case Level::kField:
      return {NthPiece(value.raw(), encoding.component, encoding.repetition != '\0',
                       encoding.repetition, n),
              encoding, Level::kComponent};
    case Level::kRepetition:
      return {NthPiece(value.raw(), encoding.component, false, '\0', n), encoding,
              Level::kComponent};
    default:
      return n == 1 ? value : hl7v2::Value({}, encoding, value.level());
  }
}

hl7v2::Value SubcomponentOf(const hl7v2::Value& value, std::size_t n) {
  const hl7v2::Encoding& encoding = value.encoding();
  switch (value.level()) {
    case Level::kField:
    case Level::kRepetition:
      return SubcomponentOf(ComponentOf(value, 1), n);
    case Level::kComponent:
      return {NthPiece(value.raw(), encoding.subcomponent, false, '\0', n), encoding,
              Level::kSubcomponent};
    default:
      return n == 1 ? value : hl7v2::Value({}, encoding, value.level());
  }
}

namespace {

// Part(v, 1), Part(v, 2), ... with v split once (Part rescans from the start on every call, and
// the datatype maps read most parts of their composite): parts[n] == Part(v, n), level included.
class Parts {
 public:
  explicit Parts(const hl7v2::Value& v) : source_(v) {
    const hl7v2::Encoding& encoding = v.encoding();
    std::string_view raw = v.raw();
    char delim = '\0';
    switch (v.level()) {
      case Level::kField:  // the first repetition's components (found in the same pass)
      case Level::kRepetition:
        delim = encoding.component;
        level_ = Level::kComponent;
        break;
      case Level::kComponent:
        delim = encoding.subcomponent;
        level_ = Level::kSubcomponent;
        break;
      default:
        whole_ = true;  // a subcomponent or opaque value is its own only part
        return;
    }
    if (raw.empty()) {
      return;
    }
    // One pass: split on `delim` and, in a field, stop at the first repetition separator (as
    // Piece(raw, repetition, 1) then a memchr per part did), sixteen bytes at a time while they
    // last.
    const bool has_stop = v.level() == Level::kField && encoding.repetition != '\0';
    const char stop_char = has_stop ? encoding.repetition : delim;
    const char* p = raw.data();
    const char* end = raw.data() + raw.size();
    const char* piece = p;
    bool stopped = false;
    const auto emit = [this, &piece](const char* at) {
      if (count_ == std::size(pieces_)) {
        overflow_ = true;  // operator[] falls back to Part
        return false;
      }
      pieces_[count_++] = Span{piece, static_cast<std::size_t>(at - piece)};
      piece = at + 1;
      return true;
    };
#if defined(__SSE2__)
    const __m128i delims = _mm_set1_epi8(delim);
    const __m128i stops = _mm_set1_epi8(stop_char);
    while (!stopped && p + 16 <= end) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(_mm_cmpeq_epi8(block, delims), _mm_cmpeq_epi8(block, stops))));
      while (mask != 0) {
        const char* hit = p + std::countr_zero(mask);
        if (has_stop && *hit == stop_char) {
          end = hit;
          stopped = true;
          break;
        }
        if (!emit(hit)) {
          return;
        }
        mask &= mask - 1;
      }
      p += 16;
    }
#endif
    for (; !stopped && p < end; ++p) {
      if (has_stop && *p == stop_char) {
        end = p;
        break;
      }
      if (*p == delim && !emit(p)) {
        return;
      }
    }
    if (end == raw.data()) {
      return;  // an empty first repetition: no parts, as Piece gives none
    }
    emit(end);
  }

  hl7v2::Value operator[](std::size_t n) const {
    if (whole_ || overflow_ || n == 0) {
      return Part(source_, n);
    }
    const std::string_view piece = n <= count_
                                       ? std::string_view(pieces_[n - 1].data, pieces_[n - 1].size)
                                       : std::string_view();
    return hl7v2::Value(piece, source_.encoding(), level_);
  }

 private:
  // Left uninitialised (only the first count_ are written and read): zeroing twenty views was a
  // third of the cost of splitting a short composite.
  struct Span {
    const char* data;
    std::size_t size;
  };
  hl7v2::Value source_;
  Span pieces_[20];
  std::size_t count_ = 0;
  Level level_ = Level::kComponent;
  bool whole_ = false;
  bool overflow_ = false;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int Digits(std::string_view s, std::size_t pos, std::size_t count) {
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    value = value * 10 + (s[pos + i] - '0');
  }
  return value;
}

using core::EqualsIgnoreCase;
using hl7v2::LooksLikeOid;
using hl7v2::LooksLikeUri;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// UK Europe/London civil time: +01:00 from 01:00 on the last Sunday of March to 02:00 (local)
// on the last Sunday of October; the repeated hour in October is read as BST.
bool IsBritishSummerTime(int year, int month, int day, int hour) {
  using namespace std::chrono;
  const auto last_sunday = [year](unsigned m) {
    return static_cast<int>(static_cast<unsigned>(year_month_day{
        sys_days{std::chrono::year{year} / std::chrono::month{m} /
                 Sunday[last]}}.day()));
  };
  if (month < 3 || month > 10) {
    return false;
  }
  if (month > 3 && month < 10) {
    return true;
  }
  if (month == 3) {
    const int start = last_sunday(3);
    return day > start || (day == start && hour >= 1);
  }
  const int end = last_sunday(10);
  return day < end || (day == end && hour < 2);
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(kBase64[(n >> 18) & 63]);
    out.push_back(kBase64[(n >> 12) & 63]);
    out.push_back(kBase64[(n >> 6) & 63]);
    out.push_back(kBase64[n & 63]);
  }
  if (i < bytes.size()) {
    std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) {
      n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    }
    out.push_back(kBase64[(n >> 18) & 63]);
    out.push_back(kBase64[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kBase64[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Base64 text with whitespace removed, or nullopt when it is not base64.
std::optional<std::string> CleanBase64(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) {
      return std::nullopt;
    }
    out.push_back(c);
  }
  if (out.empty() || out.size() % 4 != 0) {
    return std::nullopt;
  }
  const std::size_t first_pad = out.find('=');
  if (first_pad != std::string::npos &&
      (first_pad < out.size() - 2 || out.find_first_not_of('=', first_pad) != std::string::npos)) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view text) {
  std::string out;
  const auto nibble = [](char c) -> int {
    if (IsDigit(c)) {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string digits;
  for (char c : text) {
    if (c != ' ' && c != '\r' && c != '\n') {
      digits.push_back(c);
    }
  }
  if (digits.size() % 2 != 0) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    const int hi = nibble(digits[i]);
    const int lo = nibble(digits[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

std::string MimeType(std::string_view type, std::string_view subtype) {
  static constexpr std::array<std::string_view, 7> kTopLevel = {
      "application", "audio", "image", "text", "video", "multipart", "model"};
  const std::string t = Lower(type);
  const std::string s = Lower(subtype);
  for (std::string_view top : kTopLevel) {
    if (t == top && !s.empty() && s.find(' ') == std::string::npos) {
      return t + "/" + s;
    }
  }
  if (s == "pdf") return "application/pdf";
  if (s == "rtf") return "application/rtf";
  if (s == "xml") return "application/xml";
  if (s == "html") return "text/html";
  if (s == "jpeg" || s == "jpg") return "image/jpeg";
  if (s == "png") return "image/png";
  if (s == "gif") return "image/gif";
  if (s == "tiff" || s == "tif") return "image/tiff";
  if (s == "dicom") return "application/dicom";
  if (s == "octet-stream") return "application/octet-stream";
  if (t == "tx" || t == "text" || s == "plain" || s == "txt") return "text/plain";
  return "application/octet-stream";
}

}  // namespace

// ---- context ------------------------------------------------------------------------------------

void V2MapContext::Fail(core::Error error) {
  if (!error_) {
    error_ = std::move(error);
  }
}

void V2MapContext::Lossy(core::Error error) {
  if (options_.strict) {
    Fail(std::move(error));
  } else {
    lossy_ = true;
  }
}

namespace {

// Coding-system URIs by v2 name for one state of the tables (MappingTables::generation), kept per
// thread across mappings: every message names the same dozen coding systems, and resolving a
// name (table 0396, then HL7nnnn or an encoded name, copied into the mapping's pool) cost a few
// hundred instructions each time. Bounded, as names come from messages: when full, names are
// resolved per mapping as before. Cleared (for other tables) only while no context on the thread
// holds views into it; a context that finds it in use for other tables does without it.
class SystemUriCache {
 public:
  bool Acquire(std::uint64_t generation) {
    if (generation != generation_) {
      if (users_ > 0) {
        return false;
      }
      entries_.clear();
      slots_.fill(0);
      generation_ = generation;
    }
    ++users_;
    return true;
  }
  void Release() { --users_; }

  struct Entry {
    std::string name;
    std::string uri;
    std::string member;  // "system":"<uri, escaped>", or empty for an empty URI
  };

  const Entry* Find(std::string_view name) const {
    const std::uint64_t hash = Hash(name);
    for (std::size_t at = hash & (kSlots - 1);; at = (at + 1) & (kSlots - 1)) {
      const std::uint32_t slot = slots_[at];
      if (slot == 0) {
        return nullptr;
      }
      const Entry& entry = entries_[slot - 1];
      if (entry.name == name) {
        return &entry;
      }
    }
  }
  // Keeps name -> uri; the kept entry (stable until the next clear), or nullptr when full.
  const Entry* Add(std::string_view name, std::string_view uri) {
    if (entries_.size() == kCapacity) {
      return nullptr;
    }
    if (entries_.capacity() < kCapacity) {
      entries_.reserve(kCapacity);  // once: the entries never move, so views into them hold
    }
    std::size_t at = Hash(name) & (kSlots - 1);
    while (slots_[at] != 0) {
      at = (at + 1) & (kSlots - 1);
    }
    std::string member;
    if (!uri.empty()) {
      member = "\"system\":";
      fhir::AppendJsonString(member, uri);
    }
    entries_.push_back(Entry{std::string(name), std::string(uri), std::move(member)});
    slots_[at] = static_cast<std::uint32_t>(entries_.size());
    return &entries_.back();
  }

 private:
  static constexpr std::size_t kCapacity = 128;
  static constexpr std::size_t kSlots = 256;  // at most half full
  static std::uint64_t Hash(std::string_view name) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
    for (const char c : name) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    return hash;
  }

  std::uint64_t generation_ = 0;  // MappingTables generations start at 1
  std::size_t users_ = 0;
  std::vector<Entry> entries_;
  std::array<std::uint32_t, kSlots> slots_{};  // entry index + 1; 0 = empty
};

thread_local SystemUriCache system_uri_cache;

}  // namespace

V2MapContext::V2MapContext(JsonAlloc& alloc, const MappingTables& tables,
                           const V2ToFhirOptions& options)
    : alloc_(alloc),
      tables_(tables),
      options_(options),
      thread_cache_(system_uri_cache.Acquire(tables.generation())) {}

V2MapContext::~V2MapContext() {
  if (thread_cache_) {
    system_uri_cache.Release();
  }
}

std::string_view V2MapContext::SystemUri(std::string_view v2_name) {
  if (thread_cache_) {
    if (const SystemUriCache::Entry* entry = system_uri_cache.Find(v2_name)) {
      return entry->uri;
    }
  }
  for (const auto& [name, uri] : system_uris_) {
    if (name == v2_name) {
      return uri;
    }
  }
  // Names and URIs are kept in the allocator (a 0396 URI is the table's own string): no string
  // is built for the usual names (HL7nnnn, LN, SCT, ...).
  const auto keep = [this](std::initializer_list<std::string_view> parts) { return Keep(parts); };
  std::string_view uri;
  std::string_view hl7_digits;
  if (!tables_.FindCodingSystemUri(v2_name, uri, hl7_digits)) {
    if (!hl7_digits.empty()) {
      uri = keep({MappingTables::kHl7TableSystemPrefix, hl7_digits});
    } else {
      uri = keep({tables_.CodingSystemUri(v2_name)});
    }
  }
  if (thread_cache_) {
    if (const SystemUriCache::Entry* kept = system_uri_cache.Add(v2_name, uri)) {
      return kept->uri;
    }
  }
  if (system_uris_.empty()) {
    system_uris_.reserve(16);
  }
  system_uris_.emplace_back(keep({v2_name}), uri);
  return uri;
}

std::string_view V2MapContext::Keep(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view part : parts) {
    size += part.size();
  }
  auto* storage = static_cast<char*>(alloc_.Malloc(size + 1));
  char* out = storage;
  for (std::string_view part : parts) {
    out = std::copy(part.begin(), part.end(), out);
  }
  *out = '\0';
  return std::string_view(storage, size);
}

const std::string* V2MapContext::SystemMember(std::string_view v2_name) {
  if (!thread_cache_) {
    return nullptr;
  }
  const SystemUriCache::Entry* entry = system_uri_cache.Find(v2_name);
  if (entry == nullptr) {
    SystemUri(v2_name);  // the first time on this thread: resolved and kept, unless full
    entry = system_uri_cache.Find(v2_name);
  }
  return entry != nullptr ? &entry->member : nullptr;
}

std::string_view V2TextSearched(const hl7v2::Value& value, std::string& scratch) {
  if (!value.HasValue()) {
    return {};
  }
  const std::string_view raw = value.raw();
  const char escape = value.encoding().escape;
  if (escape == '\0' || raw.find(escape) == std::string_view::npos) {
    return raw;
  }
  scratch = value.Decoded();
  // A \Xhh\ escape gives bytes in the sender's character set, which the text around it no
  // longer is (an 8859/1 message is converted to UTF-8 before it is mapped): a byte that forms no
  // UTF-8 is read as ISO 8859-1, the set of nearly every v2 sender that escapes such bytes.
  // Without this the bytes went into the JSON as they were, and no FHIR reader accepts that.
  if (!core::IsValidUtf8(scratch)) {
    scratch = core::Utf8OrLatin1(scratch);
  }
  return scratch;
}

// ---- dates and times ----------------------------------------------------------------------------

namespace {

// A FHIR date/dateTime/instant, held inline ("YYYY-MM-DDThh:mm:ss.fffffffff+hh:mm" is 35 bytes;
// a std::string of it would allocate).
struct TimeText {
  std::array<char, 40> data{};
  std::size_t size = 0;
  void push_back(char c) { data[size++] = c; }
  void append(std::string_view text) {
    // std::copy: an empty view may have a null data(), which memcpy must not be given.
    std::copy(text.begin(), text.end(), data.begin() + static_cast<std::ptrdiff_t>(size));
    size += text.size();
  }
  std::string_view view() const { return {data.data(), size}; }
};

void Append2(TimeText& out, int value) {
  out.push_back(static_cast<char>('0' + value / 10));
  out.push_back(static_cast<char>('0' + value % 10));
}

// V2TimeToFhir into `out`: false (out empty) for nothing to write, an error for invalid text.
// nullopt for text that is not a valid v2 date/time (the callers build the error: building it
// here, to be dropped by the mapper's caller, allocated on every malformed time).
std::optional<bool> FormatFhirTime(std::string_view v2, FhirTimeType type, LocalTimeRule rule,
                                   TimeText& out) {
  v2 = Trim(v2);
  if (v2.empty()) {
    return false;
  }
  const auto invalid = [] { return std::optional<bool>(); };
  std::size_t digits = 0;
  while (digits < v2.size() && IsDigit(v2[digits])) {
    ++digits;
  }
  if (digits != 4 && digits != 6 && digits != 8 && digits != 10 && digits != 12 && digits != 14) {
    return invalid();
  }
  std::size_t pos = digits;
  std::string_view fraction;
  if (pos < v2.size() && v2[pos] == '.') {
    if (digits != 14) {
      return invalid();
    }
    std::size_t end = pos + 1;
    while (end < v2.size() && IsDigit(v2[end])) {
      ++end;
    }
    if (end == pos + 1 || end - pos - 1 > 9) {
      return invalid();
    }
    fraction = v2.substr(pos, end - pos);  // with the dot
    pos = end;
  }
  bool has_zone = false;
  int zone_sign = 1;
  int zone_h = 0;
  int zone_m = 0;
  if (pos < v2.size() && (v2[pos] == '+' || v2[pos] == '-')) {
    if (v2.size() - pos != 5 ||
        !std::all_of(v2.begin() + static_cast<std::ptrdiff_t>(pos + 1), v2.end(), IsDigit)) {
      return invalid();
    }
    zone_sign = v2[pos] == '-' ? -1 : 1;
    zone_h = Digits(v2, pos + 1, 2);
    zone_m = Digits(v2, pos + 3, 2);
    if (zone_h > 14 || zone_m > 59 || (zone_h == 14 && zone_m != 0)) {
      return invalid();
    }
    has_zone = true;
    pos = v2.size();
  }
  if (pos != v2.size()) {
    return invalid();
  }
  const int year = Digits(v2, 0, 4);
  const int month = digits >= 6 ? Digits(v2, 4, 2) : 0;
  const int day = digits >= 8 ? Digits(v2, 6, 2) : 0;
  const int hour = digits >= 10 ? Digits(v2, 8, 2) : 0;
  const int minute = digits >= 12 ? Digits(v2, 10, 2) : 0;
  const int second = digits >= 14 ? Digits(v2, 12, 2) : 0;
  if (year == 0 || (digits >= 6 && (month < 1 || month > 12)) || hour > 23 || minute > 59 ||
      second > 59) {
    return invalid();
  }
  if (digits >= 8) {
    const std::chrono::year_month_day ymd{std::chrono::year{year},
                                          std::chrono::month{static_cast<unsigned>(month)},
                                          std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) {
      return invalid();
    }
  }
  out.append(v2.substr(0, 4));
  if (digits >= 6) {
    out.push_back('-');
    Append2(out, month);
  }
  if (digits >= 8) {
    out.push_back('-');
    Append2(out, day);
  }
  const bool date_only =
      type == FhirTimeType::kDate || digits <= 8 || (!has_zone && rule == LocalTimeRule::kDateOnly);
  if (date_only) {
    if (type == FhirTimeType::kInstant) {
      out.size = 0;
      return false;
    }
    return true;
  }
  out.push_back('T');
  Append2(out, hour);
  out.push_back(':');
  Append2(out, minute);
  out.push_back(':');
  Append2(out, second);
  out.append(fraction);
  if (!has_zone) {
    zone_sign = 1;
    zone_m = 0;
    zone_h =
        rule == LocalTimeRule::kEuropeLondon && IsBritishSummerTime(year, month, day, hour) ? 1 : 0;
  }
  out.push_back(zone_sign < 0 ? '-' : '+');
  Append2(out, zone_h);
  out.push_back(':');
  Append2(out, zone_m);
  return true;
}

}  // namespace

core::Result<std::optional<std::string>> V2TimeToFhir(std::string_view v2, FhirTimeType type,
                                                      LocalTimeRule rule) {
  TimeText out;
  const std::optional<bool> written = FormatFhirTime(v2, type, rule, out);
  if (!written) {
    return MakeError(ErrorCode::kInvalidValue, "not a valid HL7 v2 date/time");
  }
  if (!*written) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::string(out.view()));
}

namespace {

// The FHIR form of a TS/DTM/DT value into `out`; false when there is none (bad input is reported
// through ctx.Lossy() at `location`).
bool FhirTime(V2MapContext& ctx, const hl7v2::Value& value, FhirTimeType type, const char* location,
              TimeText& out) {
  if (!value.HasValue()) {
    return false;
  }
  // A TS/DTM field may have components (TS-2 degree of precision); the time is the first.
  hl7v2::Value time = value.level() == Level::kSubcomponent ? value : Part(value, 1);
  std::string scratch;
  auto written = FormatFhirTime(V2Text(time, scratch), type, ctx.options().local_time, out);
  if (!written) {
    ctx.Lossy(MakeError(ErrorCode::kInvalidValue, "not a valid HL7 v2 date/time", location));
    return false;
  }
  return *written;
}

}  // namespace

void WriteTime(V2MapContext& ctx, JsonText& out, const hl7v2::Value& value, FhirTimeType type,
               const char* location) {
  TimeText time;
  if (FhirTime(ctx, value, type, location, time)) {
    out.String(time.view());
  }
}

bool HasTimeOfDay(std::string_view v2) {
  v2 = Trim(v2);
  std::size_t digits = 0;
  while (digits < v2.size() && IsDigit(v2[digits])) {
    ++digits;
  }
  return digits > 8;
}

// ---- numbers ------------------------------------------------------------------------------------

std::optional<std::string> CanonicalDecimal(std::string_view nm) {
  nm = Trim(nm);
  std::string out;
  if (!nm.empty() && (nm.front() == '+' || nm.front() == '-')) {
    if (nm.front() == '-') {
      out.push_back('-');
    }
    nm.remove_prefix(1);
  }
  const std::size_t dot = nm.find('.');
  std::string_view int_part = nm.substr(0, dot);
  std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view() : nm.substr(dot + 1);
  if (int_part.empty() && frac_part.empty()) {
    return std::nullopt;
  }
  if (!std::all_of(int_part.begin(), int_part.end(), IsDigit) ||
      !std::all_of(frac_part.begin(), frac_part.end(), IsDigit)) {
    return std::nullopt;
  }
  while (int_part.size() > 1 && int_part.front() == '0') {
    int_part.remove_prefix(1);
  }
  if (int_part.empty()) {
    out.push_back('0');
  } else {
    out.append(int_part);
  }
  if (!frac_part.empty()) {
    out.push_back('.');
    out.append(frac_part);
  }
  return out;
}

// ---- codes --------------------------------------------------------------------------------------

void WriteCoding(JsonText& out, std::string_view system, std::string_view code,
                 std::string_view display) {
  out.Put('{');
  out.StringMember("\"system\":", system);
  out.StringMember("\"code\":", code);
  out.StringMember("\"display\":", display);
  out.Put('}');
}

void WriteV2Coding(V2MapContext& ctx, JsonText& out, std::string_view v2_system,
                   std::string_view code, std::string_view display) {
  out.Put('{');
  if (const std::string* member = ctx.SystemMember(v2_system)) {
    out.Raw(*member);  // "system" is the first member: no separator
  } else {
    out.StringMember("\"system\":", ctx.SystemUri(v2_system));
  }
  out.StringMember("\"code\":", code);
  out.StringMember("\"display\":", display);
  out.Put('}');
}

namespace {

// The coding of `code` in `v2_system` and its translations by the local concept maps, as array
// elements.
void WriteCodingWithTranslations(V2MapContext& ctx, JsonText& out, std::string_view code,
                                 std::string_view display, std::string_view v2_system) {
  if (code.empty()) {
    return;
  }
  out.Item([&] { WriteV2Coding(ctx, out, v2_system, code, display); });
  for (const CodeMap* local : ctx.tables().local_concept_maps()) {
    if (const CodeMapRow* row = local->FindV2(v2_system, code)) {
      out.Item([&] { out.Raw(local->FhirCodingJson(*row)); });
    }
  }
}

}  // namespace

void WriteCweCodeableConcept(V2MapContext& ctx, JsonText& out, const hl7v2::Value& cwe,
                             std::string_view text_if_none) {
  const Parts parts(cwe);
  if (!cwe.HasValue()) {
    if (!text_if_none.empty()) {
      out.Put('{');
      out.StringMember("\"text\":", text_if_none);
      out.Put('}');
    }
    return;
  }
  std::string s1, s2, s3, s4, s5, s6, s9;
  const std::string_view code = V2Text(parts[1], s1);
  const std::string_view text = V2Text(parts[2], s2);
  std::string_view system = V2Text(parts[3], s3);
  const std::string_view alt_code = V2Text(parts[4], s4);
  const std::string_view alt_text = V2Text(parts[5], s5);
  std::string_view alt_system = V2Text(parts[6], s6);
  // v2.7+ may name a coding system only by its OID (CWE-14 / CWE-17); an OID as the system name
  // becomes urn:oid: (MappingTables::CodingSystemUri).
  std::string s14, s17;
  if (system.empty() && !code.empty()) {
    system = V2Text(parts[14], s14);
  }
  if (alt_system.empty() && !alt_code.empty()) {
    alt_system = V2Text(parts[17], s17);
  }
  const std::string_view original = V2Text(parts[9], s9);
  out.Put('{');
  const std::size_t coding = out.Key("\"coding\":");
  out.Put('[');
  WriteCodingWithTranslations(ctx, out, code, text, system);
  WriteCodingWithTranslations(ctx, out, alt_code, alt_text, alt_system);
  out.CloseOrDrop(coding, ']');
  std::string_view cc_text;
  if (!original.empty()) {
    cc_text = original;
  } else if (code.empty() && !text.empty()) {
    cc_text = text;
  } else if (code.empty() && alt_code.empty() && !alt_text.empty()) {
    cc_text = alt_text;
  }
  out.StringMember("\"text\":", cc_text.empty() ? text_if_none : cc_text);
  out.Put('}');
}

const CodeMapRow* MapCode(V2MapContext& ctx, KnownTable table, std::string_view code) {
  if (code.empty()) {
    return nullptr;
  }
  return ctx.tables().Get(table).FindV2(code);
}

void WriteTableCodeableConcept(V2MapContext& ctx, JsonText& out, KnownTable table,
                               std::string_view code, std::string_view display,
                               std::string_view v2_table) {
  if (code.empty()) {
    if (!display.empty()) {
      out.Put('{');
      out.StringMember("\"text\":", display);
      out.Put('}');
    }
    return;
  }
  const std::string_view v2_system = ctx.SystemUri(v2_table);
  const CodeMap& map = ctx.tables().Get(table);
  const CodeMapRow* row = map.FindV2(code);
  out.Put('{');
  const std::size_t coding = out.Key("\"coding\":");
  out.Put('[');
  if (row != nullptr) {
    out.Item([&] { out.Raw(map.FhirCodingJson(*row)); });  // escaped when the table was read
  }
  if (row == nullptr || row->fhir_system != v2_system || row->fhir_code != code) {
    out.Item([&] {
      WriteV2Coding(ctx, out, v2_table, code,
                    !display.empty() ? display
                    : row != nullptr ? std::string_view(row->v2_display)
                                     : std::string_view());
    });
  }
  out.CloseOrDrop(coding, ']');
  out.Put('}');
}

void WriteMappedCode(V2MapContext& ctx, JsonText& out, std::string_view key, KnownTable table,
                     std::string_view code, std::string_view v2_table) {
  if (code.empty()) {
    return;
  }
  if (const CodeMapRow* row = MapCode(ctx, table, code)) {
    if (!row->fhir_code.empty()) {
      out.Separator();
      out.Put('"');
      out.Raw(key);
      out.Raw("\":");
      out.String(row->fhir_code);
    }
    return;
  }
  out.Separator();
  out.Raw("\"_");
  out.Raw(key);
  out.Raw("\":{\"extension\":[{\"url\":");
  out.String(kOriginalCodeExtensionUrl);
  out.Raw(",\"valueCoding\":");
  WriteV2Coding(ctx, out, v2_table, code, {});
  out.Raw("}]}");
}

// ---- identifiers and names ----------------------------------------------------------------------

namespace {

// The FHIR system an assigning authority names (HdToSystem once the HD is read).
std::string_view SystemOf(V2MapContext& ctx, const hl7v2::Authority& authority) {
  switch (authority.form) {
    case hl7v2::AuthorityForm::kOid:
      return ctx.Keep({"urn:oid:", authority.text});
    case hl7v2::AuthorityForm::kUuid:
      return ctx.Keep({"urn:uuid:", Lower(authority.text)});
    case hl7v2::AuthorityForm::kUri:
      return ctx.Keep({authority.text});
    case hl7v2::AuthorityForm::kNamespace:
      if (const CodeMapRow* row =
              ctx.tables().Get(KnownTable::kAssigningAuthority).FindV2(authority.text)) {
        return row->fhir_code;  // the table's own string
      }
      return LooksLikeUri(authority.text) ? ctx.Keep({authority.text}) : std::string_view();
    case hl7v2::AuthorityForm::kNone:
      break;
  }
  return {};
}

}  // namespace

std::string_view HdToSystem(V2MapContext& ctx, const hl7v2::Value& hd) {
  return SystemOf(ctx, hl7v2::ReadAuthority(hd));
}

void WritePeriod(V2MapContext& ctx, JsonText& out, const hl7v2::Value& start,
                 const hl7v2::Value& end, const char* location) {
  out.Put('{');
  out.Member("\"start\":", [&] { WriteTime(ctx, out, start, FhirTimeType::kDateTime, location); });
  out.Member("\"end\":", [&] { WriteTime(ctx, out, end, FhirTimeType::kDateTime, location); });
  out.Put('}');
}

void WriteIdentifier(V2MapContext& ctx, JsonText& out, const IdentifierFacts& facts,
                     std::string_view first_members, std::string_view type_if_none) {
  out.Put('{');
  out.Raw(first_members);
  const bool typed = out.Member("\"type\":", [&] {
    WriteTableCodeableConcept(ctx, out, KnownTable::kIdentifierType, facts.type, {}, "HL70203");
  });
  out.StringMember("\"system\":", facts.system);
  out.StringMember("\"value\":", facts.value);
  if (facts.system.empty()) {
    std::string scratch;
    const std::string_view ns = V2Text(Part(facts.assigner, 1), scratch);
    if (!ns.empty()) {
      out.Key("\"assigner\":{\"display\":");
      out.String(ns);
      out.Put('}');
    }
  }
  if (facts.has_period) {
    out.Member("\"period\":",
               [&] { WritePeriod(ctx, out, facts.start, facts.end, facts.period_location); });
  }
  if (!typed && !type_if_none.empty()) {
    out.Member("\"type\":", [&] {
      WriteTableCodeableConcept(ctx, out, KnownTable::kIdentifierType, type_if_none, {}, "HL70203");
    });
  }
  out.Put('}');
}

namespace {

// The facts of an identifier with `value`, `system` (may be empty) and type code `type`, assigned
// by `hd`.
void SetIdentifierFacts(IdentifierFacts& facts, std::string_view value, std::string_view system,
                        std::string_view type, const hl7v2::Value& hd) {
  facts.value = std::string(value);
  facts.system = system;
  facts.type = std::string(type);
  facts.assigner = hd;
}

}  // namespace

bool ReadCx(V2MapContext& ctx, const hl7v2::Value& cx, const std::string& location,
            IdentifierFacts& facts) {
  const Parts parts(cx);
  std::string s1, s5;
  std::string_view value = V2Text(parts[1], s1);
  if (value.empty()) {
    return false;
  }
  const hl7v2::Value hd = parts[4];
  const std::string_view type = V2Text(parts[5], s5);
  // An NHS number read as the edge check and the routing key read it (hl7v2::ClaimedNhsNumber),
  // so a message the broker accepted never fails here on an identifier it did not check.
  std::string_view system;
  const hl7v2::Authority authority = hl7v2::ReadAuthority(hd);
  const std::optional<std::string> nhs_number =
      hl7v2::ClaimedNhsNumber(cx, authority, ctx.tables().nhs_number_namespaces());
  if (nhs_number) {
    if (!core::IsValidNhsNumber(*nhs_number)) {
      ctx.Fail(MakeError(ErrorCode::kInvalidValue,
                         "NHS number is not 10 digits with a valid Modulus 11 check digit",
                         location));
      return false;
    }
    system = core::kNhsNumberSystem;
    value = *nhs_number;
  } else {
    system = SystemOf(ctx, authority);
  }
  SetIdentifierFacts(facts, value, system, type, hd);
  facts.has_period = true;
  facts.start = parts[7];
  facts.end = parts[8];
  facts.period_location = "CX-7";
  return true;
}

void WriteEiIdentifier(V2MapContext& ctx, JsonText& out, const hl7v2::Value& ei,
                       std::string_view type_code) {
  const Parts parts(ei);
  std::string s1, s2, s3, s4;
  const std::string_view value = V2Text(parts[1], s1);
  if (value.empty()) {
    return;
  }
  // EI-2..4 are the HD of the assigning authority, one level up.
  std::string system;
  const std::string_view ns = V2Text(parts[2], s2);
  const std::string_view uid = V2Text(parts[3], s3);
  const std::string_view type = V2Text(parts[4], s4);
  if (!uid.empty() && (EqualsIgnoreCase(type, "ISO") || LooksLikeOid(uid))) {
    system = "urn:oid:" + std::string(uid);
  } else if (!uid.empty() && LooksLikeUri(uid)) {
    system = std::string(uid);
  } else if (!ns.empty()) {
    if (const CodeMapRow* row = ctx.tables().Get(KnownTable::kAssigningAuthority).FindV2(ns)) {
      system = row->fhir_code;
    }
  }
  out.Put('{');
  if (!type_code.empty()) {
    out.Key("\"type\":");
    WriteTableCodeableConcept(ctx, out, KnownTable::kIdentifierType, type_code, {}, "HL70203");
  }
  out.StringMember("\"system\":", system);
  out.StringMember("\"value\":", value);
  if (system.empty() && !ns.empty()) {
    out.Key("\"assigner\":{\"display\":");
    out.String(ns);
    out.Put('}');
  }
  out.Put('}');
}

void WriteHumanName(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xpn) {
  const Parts parts(xpn);
  if (!xpn.HasValue()) {
    return;
  }
  const std::size_t start = out.Mark();
  out.Put('{');
  std::string scratch;
  WriteMappedCode(ctx, out, "use", KnownTable::kNameUse, V2Text(parts[7], scratch), "HL70200");
  bool named = false;
  {
    std::string s;
    const std::string_view family = V2Text(Part(parts[1], 1), s);
    out.StringMember("\"family\":", family);
    named = !family.empty();
  }
  const auto list = [&](std::string_view quoted_key, const hl7v2::Value& a, const hl7v2::Value* b) {
    const std::size_t mark = out.Key(quoted_key);
    out.Put('[');
    std::string s;
    out.StringElement(V2Text(a, s));
    if (b != nullptr) {
      out.StringElement(V2Text(*b, s));
    }
    named = out.CloseOrDrop(mark, ']') || named;
  };
  const hl7v2::Value given_3 = parts[3];
  list("\"given\":", parts[2], &given_3);
  list("\"prefix\":", parts[5], nullptr);
  const hl7v2::Value suffix_6 = parts[6];
  list("\"suffix\":", parts[4], &suffix_6);
  if (parts[12].HasValue() || parts[13].HasValue()) {
    out.Member("\"period\":", [&] { WritePeriod(ctx, out, parts[12], parts[13], "XPN-12"); });
  } else {
    const hl7v2::Value range = parts[10];
    out.Member("\"period\":",
               [&] { WritePeriod(ctx, out, Part(range, 1), Part(range, 2), "XPN-10"); });
  }
  // A name that is only a use code or period names nobody.
  if (!named) {
    out.Rollback(start);
    return;
  }
  out.Put('}');
}

void WriteAddress(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xad) {
  const Parts parts(xad);
  if (!xad.HasValue()) {
    return;
  }
  const std::size_t start = out.Mark();
  out.Put('{');
  std::string scratch;
  const std::string_view type = V2Text(parts[7], scratch);
  const CodeMapRow* use = MapCode(ctx, KnownTable::kAddressUse, type);
  const CodeMapRow* address_type = MapCode(ctx, KnownTable::kAddressType, type);
  if (use != nullptr) {
    out.StringMember("\"use\":", use->fhir_code);
  }
  if (address_type != nullptr) {
    out.StringMember("\"type\":", address_type->fhir_code);
  }
  if (use == nullptr && address_type == nullptr) {
    WriteMappedCode(ctx, out, "use", KnownTable::kAddressUse, type, "HL70190");
  }
  bool located = false;
  {
    // XAD-1 is SAD: street or mailing address & street name & dwelling number.
    // The non-empty parts joined by spaces; one part (the usual case) is used as it is.
    const hl7v2::Value sad = parts[1];
    std::array<std::string, 3> part_scratch;
    std::array<std::string_view, 3> sad_parts;
    std::size_t present = 0;
    for (std::size_t i = 1; i <= 3; ++i) {
      const std::string_view part = V2Text(Part(sad, i), part_scratch[present]);
      if (!part.empty()) {
        sad_parts[present++] = part;
      }
    }
    std::string joined;
    std::string_view street = present == 1 ? sad_parts[0] : std::string_view();
    if (present > 1) {
      for (std::size_t i = 0; i < present; ++i) {
        if (i > 0) {
          joined.push_back(' ');
        }
        joined.append(sad_parts[i]);
      }
      street = joined;
    }
    const std::size_t mark = out.Key("\"line\":");
    out.Put('[');
    out.StringElement(street);
    std::string s;
    out.StringElement(V2Text(parts[2], s));
    located = out.CloseOrDrop(mark, ']');
  }
  const auto text = [&](std::string_view quoted_key, std::size_t n) {
    std::string s;
    const std::string_view value = V2Text(parts[n], s);
    out.StringMember(quoted_key, value);
    located = located || !value.empty();
  };
  text("\"city\":", 3);
  text("\"district\":", 9);
  text("\"state\":", 4);
  text("\"postalCode\":", 5);
  text("\"country\":", 6);
  if (parts[13].HasValue() || parts[14].HasValue()) {
    out.Member("\"period\":", [&] { WritePeriod(ctx, out, parts[13], parts[14], "XAD-13"); });
  } else {
    const hl7v2::Value range = parts[12];
    out.Member("\"period\":",
               [&] { WritePeriod(ctx, out, Part(range, 1), Part(range, 2), "XAD-12"); });
  }
  if (!located) {
    out.Rollback(start);
    return;
  }
  out.Put('}');
}

void WriteContactPoint(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xtn,
                       std::string_view default_use) {
  const Parts parts(xtn);
  if (!xtn.HasValue()) {
    return;
  }
  std::string s1, s2, s3, s4, s12;
  const std::string_view formatted = V2Text(parts[1], s1);
  const std::string_view use_code = V2Text(parts[2], s2);
  const std::string_view equipment = V2Text(parts[3], s3);
  const std::string_view email = V2Text(parts[4], s4);
  const std::string_view unformatted = V2Text(parts[12], s12);
  std::string composed;
  std::string_view value;
  std::string_view system;
  std::string_view use;
  if (const CodeMapRow* row = MapCode(ctx, KnownTable::kTelecomSystem, equipment)) {
    if (row->fhir_system == "http://hl7.org/fhir/contact-point-use") {
      system = "phone";  // CP: a mobile phone is system phone, use mobile
      use = row->fhir_code;
    } else {
      system = row->fhir_code;
    }
  }
  if (system == "email" || use_code == "NET" || (formatted.empty() && !email.empty())) {
    system = "email";
    value = !email.empty() ? email : formatted;
  } else if (!formatted.empty()) {
    value = formatted;
  } else if (!unformatted.empty()) {
    value = unformatted;
  } else {
    std::string sc, sa, sl, se;
    const std::string_view country = V2Text(parts[5], sc);
    const std::string_view area = V2Text(parts[6], sa);
    const std::string_view local = V2Text(parts[7], sl);
    const std::string_view extension = V2Text(parts[8], se);
    if (!local.empty()) {
      if (!country.empty()) {
        composed.append("+").append(country).append(" ");
      }
      if (!area.empty()) {
        composed.append("(").append(area).append(") ");
      }
      composed.append(local);
      if (!extension.empty()) {
        composed.append(" ext. ").append(extension);
      }
    }
    value = composed;
  }
  if (value.empty()) {
    return;
  }
  if (system.empty()) {
    system = value.find('@') != std::string_view::npos ? "email" : "phone";
  }
  out.Put('{');
  out.StringMember("\"system\":", system);
  out.StringMember("\"value\":", value);
  if (use.empty()) {
    if (const CodeMapRow* row = MapCode(ctx, KnownTable::kTelecomUse, use_code)) {
      use = row->fhir_code;
    } else if (use_code.empty() || use_code == "NET") {
      use = default_use;
    }
  }
  if (!use.empty()) {
    out.StringMember("\"use\":", use);
  } else {
    WriteMappedCode(ctx, out, "use", KnownTable::kTelecomUse, use_code, "HL70201");
  }
  out.Put('}');
}

bool WritePractitioner(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xcn) {
  const Parts parts(xcn);
  if (!xcn.HasValue()) {
    return false;
  }
  const std::size_t start = out.Mark();
  std::string s1, s13;
  const std::string_view id = V2Text(parts[1], s1);
  if (!id.empty()) {
    const hl7v2::Value hd = parts[9];
    std::string_view system = HdToSystem(ctx, hd);
    const bool seven_digits = id.size() == 8 && std::all_of(id.begin() + 1, id.end(), IsDigit);
    if (system.empty() && seven_digits && id.front() == 'G') {
      system = kGmpSystem;
    } else if (system.empty() && seven_digits && id.front() == 'C') {
      system = kGmcSystem;
    }
    IdentifierFacts identifier;
    SetIdentifierFacts(identifier, id, system, V2Text(parts[13], s13), hd);
    out.Key("\"identifier\":[");
    WriteIdentifier(ctx, out, identifier);
    out.Put(']');
  }
  {
    const std::size_t names = out.Key("\"name\":[{");
    std::string s;
    out.StringMember("\"family\":", V2Text(Part(parts[2], 1), s));
    const auto list = [&](std::string_view quoted_key, const hl7v2::Value& a,
                          const hl7v2::Value* b) {
      const std::size_t mark = out.Key(quoted_key);
      out.Put('[');
      std::string scratch;
      out.StringElement(V2Text(a, scratch));
      if (b != nullptr) {
        out.StringElement(V2Text(*b, scratch));
      }
      out.CloseOrDrop(mark, ']');
    };
    const hl7v2::Value given_4 = parts[4];
    list("\"given\":", parts[3], &given_4);
    list("\"prefix\":", parts[6], nullptr);
    const hl7v2::Value suffix_7 = parts[7];
    list("\"suffix\":", parts[5], &suffix_7);
    if (out.CloseOrDrop(names, '}')) {
      out.Put(']');
    }
  }
  return out.Mark() != start;
}

bool LooksLikeOdsCode(std::string_view text) {
  if (text.size() < 3 || text.size() > 6) {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || IsDigit(c); });
}

bool WriteXonOrganization(V2MapContext& ctx, JsonText& out, const hl7v2::Value& xon) {
  const Parts parts(xon);
  if (!xon.HasValue()) {
    return false;
  }
  const std::size_t start = out.Mark();
  std::string s10, s3, s7;
  std::string_view id = V2Text(parts[10], s10);
  if (id.empty()) {
    id = V2Text(parts[3], s3);
  }
  if (!id.empty()) {
    const hl7v2::Value hd = parts[6];
    std::string_view system = HdToSystem(ctx, hd);
    if (system.empty() && !Part(hd, 1).HasValue() && LooksLikeOdsCode(id)) {
      system = core::kOdsCodeSystem;
    }
    IdentifierFacts identifier;
    SetIdentifierFacts(identifier, id, system, V2Text(parts[7], s7), hd);
    out.Key("\"identifier\":[");
    WriteIdentifier(ctx, out, identifier);
    out.Put(']');
  }
  std::string s1;
  out.StringMember("\"name\":", V2Text(parts[1], s1));
  return out.Mark() != start;
}

bool WriteHdOrganization(V2MapContext& /*ctx*/, JsonText& out, const hl7v2::Value& hd) {
  const Parts parts(hd);
  if (!hd.HasValue()) {
    return false;
  }
  const std::size_t start = out.Mark();
  std::string s1, s2, s3;
  const std::string_view ns = V2Text(parts[1], s1);
  const std::string_view uid = V2Text(parts[2], s2);
  const std::string_view type = V2Text(parts[3], s3);
  const std::size_t identifiers = out.Key("\"identifier\":[");
  if (LooksLikeOdsCode(ns)) {
    out.Element();
    out.Raw("{\"system\":");
    out.String(core::kOdsCodeSystem);
    out.Raw(",\"value\":");
    out.String(ns);
    out.Put('}');
  }
  if (!uid.empty() && (EqualsIgnoreCase(type, "ISO") || LooksLikeOid(uid))) {
    out.Element();
    out.Raw("{\"system\":\"urn:ietf:rfc:3986\",\"value\":");
    out.String("urn:oid:" + std::string(uid));
    out.Put('}');
  }
  out.CloseOrDrop(identifiers, ']');
  out.StringMember("\"name\":", ns);
  return out.Mark() != start;
}

// ---- values -------------------------------------------------------------------------------------

void WriteUnits(V2MapContext& ctx, JsonText& out, const hl7v2::Value& units) {
  const Parts parts(units);
  if (!units.HasValue()) {
    return;
  }
  std::string s1, s2, s3;
  const std::string_view code = V2Text(parts[1], s1);
  const std::string_view text = V2Text(parts[2], s2);
  const std::string_view system = V2Text(parts[3], s3);
  out.StringMember("\"unit\":", !text.empty() ? text : code);
  if (!code.empty() && !system.empty()) {
    out.StringMember("\"system\":", ctx.SystemUri(system));
    out.StringMember("\"code\":", code);
  }
}

namespace {

// {"value":number[,"comparator":...][, units]}.
void WriteQuantity(V2MapContext& ctx, JsonText& out, std::string_view number,
                   std::string_view comparator, const hl7v2::Value* units) {
  out.Raw("{\"value\":");
  out.Raw(number);
  out.StringMember("\"comparator\":", comparator);
  if (units != nullptr) {
    WriteUnits(ctx, out, *units);
  }
  out.Put('}');
}

}  // namespace

void WriteNmQuantity(V2MapContext& ctx, JsonText& out, std::string_view nm,
                     const hl7v2::Value& units) {
  if (const std::optional<std::string> number = CanonicalDecimal(nm)) {
    WriteQuantity(ctx, out, *number, {}, &units);
  }
}

bool WriteSnValue(V2MapContext& ctx, JsonText& out, const hl7v2::Value& sn,
                  const hl7v2::Value& units) {
  const Parts parts(sn);
  if (!sn.HasValue()) {
    return false;
  }
  std::string s1, s2, s3, s4;
  const std::string_view comparator = Trim(V2Text(parts[1], s1));
  const std::string_view num1 = V2Text(parts[2], s2);
  const std::string_view separator = Trim(V2Text(parts[3], s3));
  const std::string_view num2 = V2Text(parts[4], s4);
  const auto n1 = CanonicalDecimal(num1);
  const auto n2 = CanonicalDecimal(num2);
  if (n1 && n2 && separator == "-" && (comparator.empty() || comparator == "=")) {
    out.Key("\"valueRange\":{\"low\":");
    WriteQuantity(ctx, out, *n1, {}, &units);
    out.Raw(",\"high\":");
    WriteQuantity(ctx, out, *n2, {}, &units);
    out.Put('}');
    return true;
  }
  if (n1 && n2 && (separator == ":" || separator == "/") &&
      (comparator.empty() || comparator == "=")) {
    out.Key("\"valueRatio\":{\"numerator\":");
    WriteQuantity(ctx, out, *n1, {}, nullptr);
    out.Raw(",\"denominator\":");
    WriteQuantity(ctx, out, *n2, {}, nullptr);
    out.Put('}');
    return true;
  }
  const bool fhir_comparator = comparator == "<" || comparator == ">" || comparator == "<=" ||
                               comparator == ">=" || comparator == "=" || comparator.empty();
  if (n1 && separator.empty() && num2.empty() && fhir_comparator) {
    out.Key("\"valueQuantity\":");
    WriteQuantity(ctx, out, *n1, comparator != "=" ? comparator : std::string_view(), &units);
    return true;
  }
  // Anything else ("<>", a suffix, text) is kept as written.
  std::string text;
  text.append(comparator).append(num1).append(separator).append(num2);
  out.StringMember("\"valueString\":", text);
  return true;
}

void WriteRpAttachment(V2MapContext& ctx, JsonText& out, const hl7v2::Value& rp) {
  const Parts parts(rp);
  if (!rp.HasValue()) {
    return;
  }
  std::string s1, s3, s4;
  const std::string_view pointer = V2Text(parts[1], s1);
  if (pointer.empty()) {
    ctx.KeepVerbatim();
    return;
  }
  const std::string_view type = V2Text(parts[3], s3);
  const std::string_view subtype = V2Text(parts[4], s4);
  // RP-3 is a table 0191 type of data; those that name a MIME top-level type say so.
  std::string_view top = type;
  if (EqualsIgnoreCase(type, "AP")) {
    top = "application";
  } else if (EqualsIgnoreCase(type, "AU")) {
    top = "audio";
  } else if (EqualsIgnoreCase(type, "IM")) {
    top = "image";
  } else if (EqualsIgnoreCase(type, "TEXT") || EqualsIgnoreCase(type, "TX")) {
    top = "text";
  }
  std::string content_type;
  if (!type.empty() || !subtype.empty()) {
    content_type = MimeType(top, subtype);
    if (content_type == "application/octet-stream" && !EqualsIgnoreCase(subtype, "octet-stream")) {
      content_type.clear();  // MimeType's fallback: not what the sender said
    }
    if (content_type.empty()) {
      ctx.KeepVerbatim();
    }
  }
  if (parts[2].HasValue()) {
    ctx.KeepVerbatim();  // the application id (HD) has no place in an Attachment
  }
  out.Put('{');
  out.StringMember("\"contentType\":", content_type);
  out.StringMember("\"url\":", pointer);
  out.Put('}');
}

void WriteEdAttachment(V2MapContext& ctx, JsonText& out, const hl7v2::Value& ed) {
  if (!ed.HasValue()) {
    return;
  }
  std::string s2, s3, s4;
  const std::string_view type = V2Text(Part(ed, 2), s2);
  const std::string_view subtype = V2Text(Part(ed, 3), s3);
  const std::string_view encoding = V2Text(Part(ed, 4), s4);
  const hl7v2::Value data_value = Part(ed, 5);
  const std::size_t start = out.Mark();
  out.Put('{');
  out.StringMember("\"contentType\":", MimeType(type, subtype));
  if (data_value.HasValue()) {
    std::string scratch;
    const std::string_view data = V2Text(data_value, scratch);
    std::optional<std::string> base64;
    if (EqualsIgnoreCase(encoding, "Base64")) {
      base64 = CleanBase64(data);
    } else if (EqualsIgnoreCase(encoding, "Hex")) {
      if (auto bytes = HexDecode(data)) {
        base64 = Base64Encode(*bytes);
      }
    } else {
      base64 = Base64Encode(data);  // "A" (ASCII text) or not given
    }
    if (!base64) {
      ctx.Lossy(MakeError(ErrorCode::kInvalidValue, "ED data does not match its encoding (ED-4)",
                          "ED-5"));
      out.Rollback(start);
      return;
    }
    out.StringMember("\"data\":", *base64);
  }
  out.Put('}');
}

}  // namespace tb::mappings
