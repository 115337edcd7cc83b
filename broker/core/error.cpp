#include "broker/core/error.h"

#include <array>

namespace tb::core {
namespace {

constexpr std::array kTable = {
#define BROKER_ERROR_CODE(name, http, issue, ack, err3) ErrorInfo{#name, http, issue, ack, err3},
#include "broker/core/error_codes.def"
#undef BROKER_ERROR_CODE
};

}  // namespace

const ErrorInfo& Info(ErrorCode code) { return kTable[static_cast<std::size_t>(code)]; }

}  // namespace tb::core
