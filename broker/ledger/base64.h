#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tb::ledger {

// RFC 4648 base64 with padding (FHIR base64Binary, checkpoint signatures). Decode refuses
// anything but canonical padded base64 (nullopt), so one signature has one text form.
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace tb::ledger
