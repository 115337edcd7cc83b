#pragma once

#include <string_view>

namespace tb::app {

// The text of broker/app/config.schema.json, embedded at build time.
std::string_view ConfigSchemaJson();

}  // namespace tb::app
