#pragma once

#include <string>
#include <string_view>

namespace tb::core {

// Lowercase hex SHA-256 of `bytes` (64 characters). Used for message content digests (dedupe,
// provenance) and ledger links. Thread-safe; never fails.
std::string Sha256Hex(std::string_view bytes);

}  // namespace tb::core
