#pragma once

#include <string_view>

namespace tb::fhir {

// The text of adapters/fhir/schema/fhir.schema.json as built into the library. Lives until exit.
std::string_view EmbeddedSchema();

}  // namespace tb::fhir
