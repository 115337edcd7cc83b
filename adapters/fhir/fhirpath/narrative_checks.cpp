#include "adapters/fhir/fhirpath/narrative_checks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace tb::fhirpath::detail {
namespace {

constexpr std::size_t kMaxOpenElements = 256;

// The elements FHIR narrative allows.
constexpr std::array<std::string_view, 47> kElements = {
    "a",   "abbr",     "acronym", "b",     "big",  "blockquote", "br",  "caption", "cite",  "code",
    "col", "colgroup", "dd",      "dfn",   "div",  "dl",         "dt",  "em",      "h1",    "h2",
    "h3",  "h4",       "h5",      "h6",    "hr",   "i",          "img", "li",      "ol",    "p",
    "pre", "q",        "samp",    "small", "span", "strong",     "sub", "sup",     "table", "tbody",
    "td",  "tfoot",    "th",      "thead", "tr",   "tt",         "ul"};

// Attributes any element may have, then those of particular elements.
constexpr std::array<std::string_view, 10> kCommonAttributes = {
    "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex", "xmlns"};
constexpr std::array<std::string_view, 23> kElementAttributes = {"a@href",
                                                                 "a@name",
                                                                 "img@src",
                                                                 "img@alt",
                                                                 "img@height",
                                                                 "img@width",
                                                                 "table@summary",
                                                                 "table@width",
                                                                 "table@border",
                                                                 "table@frame",
                                                                 "table@rules",
                                                                 "table@cellspacing",
                                                                 "table@cellpadding",
                                                                 "td@colspan",
                                                                 "td@rowspan",
                                                                 "th@colspan",
                                                                 "th@rowspan",
                                                                 "td@align",
                                                                 "th@align",
                                                                 "col@span",
                                                                 "col@width",
                                                                 "colgroup@span",
                                                                 "ol@start"};

template <std::size_t N>
bool In(const std::array<std::string_view, N>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '-' || c == '_';
}

// Reads the attributes of a start tag from `pos` up to '>' or "/>"; false when one is not allowed.
bool AttributesAllowed(std::string_view tag, const std::string& element) {
  std::size_t pos = 0;
  while (pos < tag.size()) {
    if (std::isspace(static_cast<unsigned char>(tag[pos])) != 0) {
      ++pos;
      continue;
    }
    std::size_t start = pos;
    while (pos < tag.size() && IsNameChar(tag[pos])) {
      ++pos;
    }
    if (pos == start) {
      return false;
    }
    const std::string name = Lower(tag.substr(start, pos - start));
    while (pos < tag.size() && std::isspace(static_cast<unsigned char>(tag[pos])) != 0) {
      ++pos;
    }
    if (pos >= tag.size() || tag[pos] != '=') {
      return false;  // XHTML attributes always have values
    }
    ++pos;
    while (pos < tag.size() && std::isspace(static_cast<unsigned char>(tag[pos])) != 0) {
      ++pos;
    }
    if (pos >= tag.size() || (tag[pos] != '"' && tag[pos] != '\'')) {
      return false;
    }
    const std::size_t close = tag.find(tag[pos], pos + 1);
    if (close == std::string_view::npos) {
      return false;
    }
    const std::string value = Lower(tag.substr(pos + 1, close - pos - 1));
    pos = close + 1;
    if (!In(kCommonAttributes, name) && !In(kElementAttributes, element + "@" + name)) {
      return false;
    }
    if ((name == "href" || name == "src") && value.find("javascript:") != std::string::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool NarrativePassesHtmlChecks(std::string_view xhtml) {
  std::vector<std::string> open;
  bool content = false;
  std::size_t pos = 0;
  while (pos < xhtml.size()) {
    const std::size_t lt = xhtml.find('<', pos);
    const std::string_view text =
        xhtml.substr(pos, (lt == std::string_view::npos ? xhtml.size() : lt) - pos);
    if (!open.empty() && std::any_of(text.begin(), text.end(), [](char c) {
          return std::isspace(static_cast<unsigned char>(c)) == 0;
        })) {
      content = true;
    } else if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return false;  // text outside the root element
    }
    if (lt == std::string_view::npos) {
      break;
    }
    if (xhtml.substr(lt, 4) == "<!--") {
      const std::size_t end = xhtml.find("-->", lt + 4);
      if (end == std::string_view::npos) {
        return false;
      }
      pos = end + 3;
      continue;
    }
    const std::size_t gt = xhtml.find('>', lt);
    if (gt == std::string_view::npos) {
      return false;
    }
    std::string_view tag = xhtml.substr(lt + 1, gt - lt - 1);
    pos = gt + 1;
    if (!tag.empty() && (tag[0] == '?' || tag[0] == '!')) {
      return false;  // processing instructions, DOCTYPE, CDATA: not in a narrative
    }
    const bool end_tag = !tag.empty() && tag[0] == '/';
    if (end_tag) {
      tag.remove_prefix(1);
    }
    const bool self_closing = !end_tag && !tag.empty() && tag.back() == '/';
    if (self_closing) {
      tag.remove_suffix(1);
    }
    std::size_t name_end = 0;
    while (name_end < tag.size() && IsNameChar(tag[name_end])) {
      ++name_end;
    }
    const std::string name = Lower(tag.substr(0, name_end));
    if (name.empty() || !In(kElements, name) || (open.empty() && !end_tag && name != "div")) {
      return false;  // unknown or forbidden element, or a root other than div
    }
    if (end_tag) {
      if (open.empty() || open.back() != name ||
          tag.substr(name_end).find_first_not_of(" \t\r\n") != std::string_view::npos) {
        return false;
      }
      open.pop_back();
      if (open.empty() &&
          xhtml.substr(pos).find_first_not_of(" \t\r\n") != std::string_view::npos) {
        return false;  // anything after the root element
      }
      continue;
    }
    if (!AttributesAllowed(tag.substr(name_end), name)) {
      return false;
    }
    if (name == "img") {
      content = true;
    }
    if (!self_closing) {
      if (open.size() >= kMaxOpenElements) {
        return false;
      }
      open.push_back(name);
    } else if (open.empty()) {
      return false;  // <div/>: a root with nothing in it
    }
  }
  return open.empty() && content;
}

}  // namespace tb::fhirpath::detail
