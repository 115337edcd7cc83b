#pragma once

#include <string_view>

// FHIR's htmlChecks() (the txt-1 and txt-2 invariants of Narrative.div, FHIR R4 narrative.html):
// the XHTML holds only the basic formatting elements and attributes, no active content, and some
// text or an image. A scan of the tags, not a full XML parse: enough to refuse what FHIR forbids
// (script, style, form, iframe, object, on* handlers, javascript: links) and what is not well
// formed at the level of tags (unclosed tags and comments, mismatched end tags).
// Thread-safety: a pure function.
namespace tb::fhirpath::detail {

bool NarrativePassesHtmlChecks(std::string_view xhtml);

}  // namespace tb::fhirpath::detail
