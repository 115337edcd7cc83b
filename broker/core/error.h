#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tb::core {

// Generated from error_codes.def: one row per code, so the HTTP status, FHIR issue code and
// HL7 v2 acknowledgement of an error can never drift apart.
enum class ErrorCode : std::uint8_t {
#define BROKER_ERROR_CODE(name, http, issue, ack, err3) name,
#include "broker/core/error_codes.def"
#undef BROKER_ERROR_CODE
};

// An error as a value. `message` and `location` never contain PHI (no names, identifiers or
// payload text). `location` is FHIRPath (`Patient.birthDate`) or a v2 position (`PID-3`).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string location;
};

// The row of error_codes.def for a code.
struct ErrorInfo {
  std::string_view name;        // "kInvalidValue"
  int http_status;              // 400
  std::string_view issue_code;  // FHIR OperationOutcome.issue.code
  std::string_view v2_ack;      // "AE" or "AR" (original mode)
  std::string_view err3;        // HL7 table 0357 code
};

const ErrorInfo& Info(ErrorCode code);

inline Error MakeError(ErrorCode code, std::string message, std::string location = {}) {
  return Error{code, std::move(message), std::move(location)};
}

}  // namespace tb::core
