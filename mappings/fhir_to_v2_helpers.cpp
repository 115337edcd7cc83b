// FHIR -> v2: number and time formatting shared by the segment writers.
#include <ctime>

#include "mappings/fhir_to_v2_mapper.h"

namespace tb::mappings::f2v {

std::string FormatNumber(const Value& number) {
  if (number.IsInt64()) {
    return std::to_string(number.GetInt64());
  }
  if (number.IsUint64()) {
    return std::to_string(number.GetUint64());
  }
  char buffer[400];
  const std::to_chars_result res =
      std::to_chars(buffer, buffer + sizeof(buffer), number.GetDouble(), std::chars_format::fixed);
  if (res.ec != std::errc()) {
    return {};
  }
  std::string out(buffer, res.ptr);
  // The JSON had a decimal point (RapidJSON keeps integers apart), so keep one: "4.0" stays a
  // decimal rather than becoming "4". Trailing zeros beyond it cannot be recovered.
  if (out.find('.') == std::string::npos) {
    out += ".0";
  }
  return out;
}

std::string Hex16(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out(16, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[15 - i] = kDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

std::string UtcDtm(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  const std::size_t n = std::strftime(buffer, sizeof(buffer), "%Y%m%d%H%M%S+0000", &tm);
  return std::string(buffer, n);
}

}  // namespace tb::mappings::f2v
