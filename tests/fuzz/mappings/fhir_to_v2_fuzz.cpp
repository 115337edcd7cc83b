// Fuzzes the FHIR -> v2 mapping that a FHIR message (POST $process-message) or a FHIR trust's
// resource goes through on its way to a v2 destination. The first byte chooses the message kind
// and the ADT trigger; the input is the JSON itself.
//
// Checked, besides no crash or sanitizer report: a mapping that succeeds gives one ER7 message
// that parses, whose MSH-10 is the control id asked for, and the same bytes again for the same
// input (deterministic); a failure is a core::Error with a message, never an exception.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/hl7v2/message.h"
#include "mappings/fhir_to_v2.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb;

using tb::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 256 * 1024) {
    return 0;
  }
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  mappings::FhirToV2Options options;
  options.control_id = "FUZZ1";
  options.timestamp = "20261124000000+0000";
  options.sending_facility = "X26";
  options.receiving_facility = "RGT";
  switch (data[0] % 3) {
    case 0:
      options.message = mappings::FhirToV2Message::kAuto;
      break;
    case 1:
      options.message = mappings::FhirToV2Message::kAdt;
      break;
    default:
      options.message = mappings::FhirToV2Message::kOru;
      break;
  }
  options.json_limits.max_bytes = 256 * 1024;
  options.json_limits.max_depth = 64;

  const core::Result<std::string> er7 = mappings::MapFhirToV2(json, options);
  if (!er7) {
    Check(!er7.error().message.empty());
    return 0;
  }
  const core::Result<std::string> twice = mappings::MapFhirToV2(json, options);
  Check(twice.has_value() && *twice == *er7);
  const auto message = hl7v2::Message::Parse(*er7);
  Check(message.has_value() && message->ControlId() == options.control_id);
  return 0;
}
