// FHIR date/dateTime/instant -> HL7 v2 DTM (declared in fhir_to_v2.h).
#include <cctype>
#include <string>
#include <string_view>

#include "mappings/fhir_to_v2.h"

namespace tb::mappings {

namespace {

core::Error BadDate(std::string_view why) {
  return core::MakeError(core::ErrorCode::kInvalidValue,
                         "not a FHIR date, dateTime or instant: " + std::string(why));
}

bool Digits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) {
    return false;
  }
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
      return false;
    }
  }
  return true;
}

int Number(std::string_view text, std::size_t pos, std::size_t count) {
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

core::Result<std::string> FhirDateTimeToDtm(std::string_view fhir) {
  // YYYY[-MM[-DD[Thh:mm[:ss[.f+]][Z|(+|-)hh:mm]]]]
  std::string out;
  out.reserve(24);
  if (!Digits(fhir, 0, 4)) {
    return BadDate("year");
  }
  out.append(fhir.substr(0, 4));
  std::size_t pos = 4;
  if (pos == fhir.size()) {
    return out;
  }
  if (fhir[pos] != '-' || !Digits(fhir, pos + 1, 2)) {
    return BadDate("month");
  }
  const int month = Number(fhir, pos + 1, 2);
  if (month < 1 || month > 12) {
    return BadDate("month");
  }
  out.append(fhir.substr(pos + 1, 2));
  pos += 3;
  if (pos == fhir.size()) {
    return out;
  }
  if (fhir[pos] != '-' || !Digits(fhir, pos + 1, 2)) {
    return BadDate("day");
  }
  const int day = Number(fhir, pos + 1, 2);
  if (day < 1 || day > 31) {
    return BadDate("day");
  }
  out.append(fhir.substr(pos + 1, 2));
  pos += 3;
  if (pos == fhir.size()) {
    return out;
  }
  if (fhir[pos] != 'T' || !Digits(fhir, pos + 1, 2) || pos + 3 >= fhir.size() ||
      fhir[pos + 3] != ':' || !Digits(fhir, pos + 4, 2)) {
    return BadDate("time");
  }
  if (Number(fhir, pos + 1, 2) > 23 || Number(fhir, pos + 4, 2) > 59) {
    return BadDate("time");
  }
  out.append(fhir.substr(pos + 1, 2));
  out.append(fhir.substr(pos + 4, 2));
  pos += 6;
  if (pos < fhir.size() && fhir[pos] == ':') {
    if (!Digits(fhir, pos + 1, 2) || Number(fhir, pos + 1, 2) > 60) {
      return BadDate("seconds");
    }
    out.append(fhir.substr(pos + 1, 2));
    pos += 3;
    if (pos < fhir.size() && fhir[pos] == '.') {
      std::size_t end = pos + 1;
      while (end < fhir.size() && std::isdigit(static_cast<unsigned char>(fhir[end])) != 0) {
        ++end;
      }
      if (end == pos + 1) {
        return BadDate("fraction");
      }
      // DTM carries at most four fractional digits.
      const std::size_t keep = end - pos - 1 > 4 ? 4 : end - pos - 1;
      out.push_back('.');
      out.append(fhir.substr(pos + 1, keep));
      pos = end;
    }
  }
  if (pos == fhir.size()) {
    return out;  // no zone: local time, as the sender wrote it
  }
  if (fhir[pos] == 'Z' && pos + 1 == fhir.size()) {
    out.append("+0000");
    return out;
  }
  if ((fhir[pos] == '+' || fhir[pos] == '-') && pos + 6 == fhir.size() &&
      Digits(fhir, pos + 1, 2) && fhir[pos + 3] == ':' && Digits(fhir, pos + 4, 2) &&
      Number(fhir, pos + 1, 2) <= 14 && Number(fhir, pos + 4, 2) <= 59) {
    out.push_back(fhir[pos]);
    out.append(fhir.substr(pos + 1, 2));
    out.append(fhir.substr(pos + 4, 2));
    return out;
  }
  return BadDate("time zone");
}

}  // namespace tb::mappings
