#include "adapters/hl7v2/charset.h"

#include <string_view>

#include "broker/core/utf8.h"

namespace tb::hl7v2 {

core::Result<CharacterSet> ReadCharacterSet(const Message& message) {
  const std::string_view er7 = message.er7();
  if (core::IsAscii(er7)) {
    return CharacterSet::kUtf8;
  }
  const std::string declared = message.Get("MSH-18").Decoded();
  if (declared == "8859/1") {
    return CharacterSet::kLatin1;
  }
  if (declared.empty() || declared == "ASCII" || declared == "UNICODE" ||
      declared == "UNICODE UTF-8") {
    if (core::IsValidUtf8(er7)) {
      return CharacterSet::kUtf8;
    }
    return core::MakeError(core::ErrorCode::kInvalidValue,
                           "the message is not valid UTF-8; a sender of ISO 8859-1 text declares "
                           "MSH-18 8859/1",
                           "MSH-18");
  }
  return core::MakeError(core::ErrorCode::kInvalidValue,
                         "character set not supported for text beyond ASCII (send UNICODE UTF-8 "
                         "or 8859/1)",
                         "MSH-18");
}

}  // namespace tb::hl7v2
