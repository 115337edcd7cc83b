#pragma once

#include <string_view>

// The part of the FHIR R4 type model that FHIRPath needs: the type of each element, choice
// elements (value[x]) and the type hierarchy. Built once, on first use, from the R4 JSON schema
// compiled into tb::fhir; read-only afterwards, so safe from any thread. Returned views point
// into that table and live until exit.
namespace tb::fhirpath::detail {

// The FHIR type of element `name` of a `parent_type` ("Patient", "HumanName",
// "Patient_Contact" for backbone elements), or "" when unknown. Contained resources
// (Resource-typed elements) give "" so that the resourceType of the node decides.
std::string_view ElementType(std::string_view parent_type, std::string_view name);

// When `member` is a choice form of `base` ("valueQuantity" of "value"), its type ("Quantity",
// "string"); else "". Uses the model when `parent_type` is known, else the type suffix.
std::string_view ChoiceType(std::string_view parent_type, std::string_view base,
                            std::string_view member);

// Whether `name` may be navigated on a node of `parent_type`: kUnknownType when the model does
// not know the parent (nothing can be said), kElement for an element or a choice element's base
// name (value), kChoiceForm for a typed choice name (valueQuantity, which FHIRPath spells
// value.ofType(Quantity)), kNoSuchElement otherwise.
enum class ElementKind { kUnknownType, kElement, kChoiceForm, kNoSuchElement };
ElementKind ClassifyElement(std::string_view parent_type, std::string_view name);

// True when `name` is a FHIR resource type.
bool IsResourceType(std::string_view name);

// True when `name` names a FHIR type (primitive, complex, backbone or resource).
bool IsFhirType(std::string_view name);
// True for FHIR primitive types (boolean, string, code, date, ...).
bool IsFhirPrimitive(std::string_view name);

// True when `type` is `base` or derives from it: code/id/markdown -> string, url/canonical/
// uuid/oid -> uri, positiveInt/unsignedInt -> integer, Age/Duration/... -> Quantity, resources
// -> DomainResource -> Resource, every complex type -> Element.
bool IsSubtypeOf(std::string_view type, std::string_view base);

}  // namespace tb::fhirpath::detail
