#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

// FHIR search parameters from a URL query string or an application/x-www-form-urlencoded body
// (POST [type]/_search, which keeps NHS numbers out of URLs and logs).
// Thread-safety: all functions are reentrant. Error messages never echo the input.
namespace tb::fhir {

struct SearchLimits {
  std::size_t max_params = 100;       // name=value pairs
  std::size_t max_bytes = 16 * 1024;  // whole query or body
};

// One name=value pair, percent-decoded. "patient:identifier=x" gives name "patient", modifier
// "identifier"; "subject:Patient.name=x" gives modifier "Patient.name" (chains are not split).
struct SearchParam {
  std::string name;
  std::string modifier;  // empty when none
  std::string value;     // raw FHIR value: commas (OR) and escapes are still in it
};

// Parses `a=1&b:exact=2` (no leading '?') in order; repeated names are kept (AND). '+' decodes
// to a space, as both HTML forms and most FHIR servers do (send a literal '+' as %2B). Errors are
// kInvalidValue at location "query" (a bad %-escape, invalid UTF-8 or NUL after decoding, a
// pair without a name) or kTooLarge when over `limits`.
core::Result<std::vector<SearchParam>> ParseQueryString(std::string_view query,
                                                        const SearchLimits& limits = {});
// The same grammar for a form body; errors name location "body".
core::Result<std::vector<SearchParam>> ParseFormBody(std::string_view body,
                                                     const SearchLimits& limits = {});

// Splits a parameter value on unescaped commas (FHIR OR), keeping escapes in each part.
std::vector<std::string> SplitValues(std::string_view value);

// Removes FHIR search escapes: "\\," -> ",", "\\|" -> "|", "\\$" -> "$", "\\\\" -> "\\".
std::string UnescapeSearchValue(std::string_view value);

// A token search value `[system]|[code]` or `code`.
//   "code"        -> system nullopt (any system), code "code"
//   "|code"       -> system "" (no system), code "code"
//   "system|"     -> system "system", code "" (any code in that system)
// Escaped "\\|" and "\\," do not split and are unescaped in the result.
struct Token {
  std::optional<std::string> system;
  std::string code;
};
Token ParseToken(std::string_view value);

// The NHS number of an identifier token, which must be exactly
// `https://fhir.nhs.uk/Id/nhs-number|<10 digits passing the Modulus 11 check>`.
// Otherwise kInvalidValue at location "identifier", saying what is expected (never the value).
core::Result<std::string> NhsNumberFromIdentifierToken(std::string_view token);

}  // namespace tb::fhir
