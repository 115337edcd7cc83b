#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tb::conformance {

// Replaces every NHS-number-shaped run in `text` with asterisks: ten digits not touching other
// digits ("9990001235"), also written 3-3-4 with single spaces or hyphens ("999 000 1235").
// Every such run is masked, valid check digit or not, because an invalid number in a test can
// still be a real patient's mistyped one. Used for everything a report shows (URLs, headers,
// bodies, assert values), so reports can be shared.
std::string MaskNhsNumbers(std::string_view text);

// At most `max_bytes` of `text`, cut at a UTF-8 boundary, with a note of how much was cut.
std::string Excerpt(std::string_view text, std::size_t max_bytes);

// Masks, then cuts: cutting first could leave part of an NHS number (too short to be masked)
// at the end of the excerpt.
std::string MaskedExcerpt(std::string_view text, std::size_t max_bytes);

// Masks, then escapes for markup. kXml (JUnit): XML 1.0 text or attribute content, control
// characters other than tab and newline dropped, CR as &#13;. kHtml (the report): CR as a
// newline, so ER7 segments show one per line.
enum class Markup { kXml, kHtml };
std::string MaskedMarkup(std::string_view text, Markup markup);

}  // namespace tb::conformance
