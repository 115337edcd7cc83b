#include "adapters/hl7v2/validate.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "adapters/hl7v2/charset.h"
#include "adapters/hl7v2/nhs_number_identifier.h"
#include "adapters/hl7v2/path.h"
#include "broker/core/nhs_number.h"

namespace tb::hl7v2 {
namespace {

void RequireValued(const Message& message, std::string_view path, std::vector<core::Error>& out) {
  const Value value = message.Get(path);
  if (!value.HasValue()) {
    out.push_back(
        core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                        value.IsNull() ? "required field is null" : "required field is missing",
                        std::string(path)));
  }
}

bool AtLeastV25(std::string_view version) {
  if (version.size() < 3 || version[1] != '.' || version[0] < '0' || version[0] > '9') {
    return false;
  }
  int minor = 0;
  for (std::size_t i = 2; i < version.size() && version[i] >= '0' && version[i] <= '9'; ++i) {
    minor = minor * 10 + (version[i] - '0');
    if (minor > 100) {
      break;
    }
  }
  return version[0] > '2' || minor >= 5;
}

// True when the message's type (and trigger) is accepted.
bool CheckMessageType(const Message& message, const ValidationRules& rules,
                      std::vector<core::Error>& out) {
  const Value type = message.Get("MSH-9.1");
  if (!type.HasValue()) {
    out.push_back(core::MakeError(core::ErrorCode::kRequiredFieldMissing, "message type is missing",
                                  "MSH-9.1"));
    return false;
  }
  if (rules.message_types.empty()) {
    return true;
  }
  const std::string type_text = type.Decoded();
  if (rules.message_types.count(type_text) != 0) {
    return true;  // the type alone is accepted, any trigger
  }
  const std::string prefix = type_text + '^';
  const auto first = rules.message_types.lower_bound(prefix);
  const bool type_known = first != rules.message_types.end() &&
                          std::string_view(*first).substr(0, prefix.size()) == prefix;
  if (!type_known) {
    out.push_back(core::MakeError(core::ErrorCode::kUnsupportedMessage,
                                  "message type is not accepted", "MSH-9.1"));
    return false;
  }
  const Value trigger = message.Get("MSH-9.2");
  if (!trigger.HasValue()) {
    out.push_back(core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                                  "trigger event is missing", "MSH-9.2"));
    return false;
  }
  if (rules.message_types.count(prefix + trigger.Decoded()) == 0) {
    out.push_back(core::MakeError(core::ErrorCode::kUnsupportedEvent,
                                  "trigger event is not accepted for this message type",
                                  "MSH-9.2"));
    return false;
  }
  return true;
}

// The segments the message's abstract definition requires, by MSH-9 (HL7 v2 chapters 3, 4 and
// 7): a patient (PID, with PID-3) in every ADT, the merged record (MRG, with MRG-1) in a merge,
// an observation request (OBR) in ORU^R01, an order (ORC or OBR) in ORM and OML. A message
// without them is refused at the edge: no destination could make sense of it, and one that takes
// FHIR could never be sent it (the v2 -> FHIR mapping needs the same segments).
void CheckStructure(const Message& message, std::vector<core::Error>& out) {
  const std::string_view type = message.Get("MSH-9.1").raw();
  const std::string_view trigger = message.Get("MSH-9.2").raw();
  const auto require_segment = [&](std::string_view id, std::string_view what) {
    if (message.FindSegment(id)) {
      return true;
    }
    out.push_back(core::MakeError(core::ErrorCode::kRequiredFieldMissing,
                                  std::string(what) + " needs a " + std::string(id) + " segment",
                                  std::string(id)));
    return false;
  };
  if (type == "ADT") {
    if (require_segment("PID", "an ADT message")) {
      RequireValued(message, "PID-3", out);
    }
    if ((trigger == "A34" || trigger == "A40") && require_segment("MRG", "a merge")) {
      RequireValued(message, "MRG-1", out);
    }
  } else if (type == "ORU" && trigger == "R01") {
    require_segment("OBR", "ORU^R01");
  } else if ((type == "ORM" || type == "OML") && !message.FindSegment("ORC")) {
    require_segment("OBR", "an order message without ORC");
  }
}

// Every NHS number a PID claims in PID-3.
std::vector<std::string> ClaimedNhsNumbers(const SegmentView& pid,
                                           std::span<const std::string> nhs_namespaces) {
  std::vector<std::string> numbers;
  for (const Value& cx : pid.Field(3).Repetitions()) {
    if (std::optional<std::string> claimed = ClaimedNhsNumber(cx, nhs_namespaces)) {
      numbers.push_back(std::move(*claimed));
    }
  }
  return numbers;
}

// The segments and CX fields the v2 -> FHIR mapping reads identifiers from (mappings ReadCx):
// it refuses the whole message for any claimed NHS number there that is not valid.
struct CxFields {
  std::string_view segment;
  std::array<std::size_t, 3> fields;  // 0: none
};
constexpr std::array<CxFields, 4> kCxFields = {
    {{"PID", {2, 3, 4}}, {"MRG", {1, 2, 0}}, {"PV1", {5, 19, 0}}, {"NK1", {33, 0, 0}}}};

// Every NHS number claimed (ClaimedNhsNumber) in those fields is valid.
void CheckNhsNumbers(const Message& message, std::span<const std::string> nhs_namespaces,
                     std::vector<core::Error>& out) {
  std::array<std::size_t, kCxFields.size()> occurrences{};
  for (std::size_t i = 1; i <= message.SegmentCount(); ++i) {
    const SegmentView segment = message.Segment(i);
    const auto kind = std::find_if(kCxFields.begin(), kCxFields.end(),
                                   [&](const CxFields& k) { return k.segment == segment.id(); });
    if (kind == kCxFields.end()) {
      continue;
    }
    const std::size_t occurrence =
        ++occurrences[static_cast<std::size_t>(kind - kCxFields.begin())];
    for (const std::size_t field : kind->fields) {
      if (field == 0) {
        break;
      }
      for (const Value& cx : segment.Field(field).Repetitions()) {
        const std::optional<std::string> claimed = ClaimedNhsNumber(cx, nhs_namespaces);
        if (claimed && !core::IsValidNhsNumber(*claimed)) {
          const Path where{std::string(kind->segment), occurrence, field, 0, 0, 0};
          out.push_back(core::MakeError(core::ErrorCode::kInvalidValue,
                                        "NHS number in " + std::string(kind->segment) + '-' +
                                            std::to_string(field) +
                                            " is not 10 digits with a valid Modulus 11 check digit",
                                        where.ToString()));
          break;  // one error per field is enough to reject it
        }
      }
    }
  }
}

// Every NHS number a message names routes it to that number's holders and tells the record
// locator the sender holds that patient. So one record names one person: a PID claiming two
// NHS numbers (across PID-2, PID-3 and PID-4) is refused, as is an MRG claiming one outside the
// events that merge or move a record (HL7 v2 chapter 3: A06, A07, A18, A30, A34-A36, A39-A51),
// where it would otherwise let a sender claim any patient (found in review, 2026-11-25).
void CheckOneNhsNumberPerRecord(const Message& message, std::span<const std::string> nhs_namespaces,
                                std::string_view trigger, std::vector<core::Error>& out) {
  for (std::size_t occurrence = 1;; ++occurrence) {
    const std::optional<SegmentView> pid = message.FindSegment("PID", occurrence);
    if (!pid) {
      break;
    }
    // The field of the PID's second distinct NHS number, 0 when it claims at most one.
    const auto second_number_field = [&]() -> std::size_t {
      std::optional<std::string> first;
      for (const std::size_t field : {3, 2, 4}) {
        for (const Value& cx : pid->Field(field).Repetitions()) {
          std::optional<std::string> claimed = ClaimedNhsNumber(cx, nhs_namespaces);
          if (!claimed || !core::IsValidNhsNumber(*claimed) || claimed == first) {
            continue;  // an invalid one is the NHS number check's to report
          }
          if (first) {
            return field;
          }
          first = std::move(claimed);
        }
      }
      return 0;
    };
    if (const std::size_t field = second_number_field(); field != 0) {
      out.push_back(core::MakeError(core::ErrorCode::kInvalidValue,
                                    "PID names more than one NHS number",
                                    Path{"PID", occurrence, field, 0, 0, 0}.ToString()));
    }
  }
  static constexpr std::array<std::string_view, 20> kMergeOrMoveEvents = {
      "A06", "A07", "A18", "A30", "A34", "A35", "A36", "A39", "A40", "A41",
      "A42", "A43", "A44", "A45", "A46", "A47", "A48", "A49", "A50", "A51"};
  if (message.Get("MSH-9.1").raw() == "ADT" &&
      std::find(kMergeOrMoveEvents.begin(), kMergeOrMoveEvents.end(), trigger) !=
          kMergeOrMoveEvents.end()) {
    return;
  }
  for (std::size_t occurrence = 1;; ++occurrence) {
    const std::optional<SegmentView> mrg = message.FindSegment("MRG", occurrence);
    if (!mrg) {
      return;
    }
    for (const std::size_t field : {1, 2}) {
      for (const Value& cx : mrg->Field(field).Repetitions()) {
        if (ClaimedNhsNumber(cx, nhs_namespaces)) {
          out.push_back(
              core::MakeError(core::ErrorCode::kUnsupportedMessage,
                              "MRG names a patient's record in an event that merges or moves none",
                              Path{"MRG", occurrence, field, 0, 0, 0}.ToString()));
          return;
        }
      }
    }
  }
}

}  // namespace

std::optional<std::size_t> PidOfAnotherPatient(const Message& message,
                                               std::span<const std::string> nhs_namespaces) {
  const std::optional<SegmentView> first = message.FindSegment("PID");
  if (!first) {
    return std::nullopt;
  }
  std::optional<std::vector<std::string>> first_numbers;  // read when a second PID is found
  for (std::size_t occurrence = 2;; ++occurrence) {
    const std::optional<SegmentView> pid = message.FindSegment("PID", occurrence);
    if (!pid) {
      return std::nullopt;
    }
    if (pid->Field(3).raw() == first->Field(3).raw()) {
      continue;
    }
    if (!first_numbers) {
      first_numbers = ClaimedNhsNumbers(*first, nhs_namespaces);
    }
    const std::vector<std::string> numbers = ClaimedNhsNumbers(*pid, nhs_namespaces);
    const bool shares_one = std::any_of(numbers.begin(), numbers.end(), [&](const std::string& n) {
      return std::find(first_numbers->begin(), first_numbers->end(), n) != first_numbers->end();
    });
    if (!shares_one) {
      return occurrence;
    }
  }
}

std::vector<std::string> PatientNhsNumbers(const Message& message,
                                           std::span<const std::string> nhs_namespaces) {
  std::vector<std::string> numbers;
  const auto add_fields = [&](std::string_view segment, std::initializer_list<std::size_t> fields) {
    for (std::size_t occurrence = 1;; ++occurrence) {
      const std::optional<SegmentView> found = message.FindSegment(segment, occurrence);
      if (!found) {
        return;
      }
      for (const std::size_t field : fields) {
        for (const Value& cx : found->Field(field).Repetitions()) {
          std::optional<std::string> claimed = ClaimedNhsNumber(cx, nhs_namespaces);
          if (claimed && std::find(numbers.begin(), numbers.end(), *claimed) == numbers.end()) {
            numbers.push_back(std::move(*claimed));
          }
        }
      }
    }
  };
  add_fields("PID", {3, 2, 4});  // PID-3 first: the routing key leads
  add_fields("MRG", {1, 2});
  return numbers;
}

std::optional<std::string> ExtractNhsNumber(const SegmentView& pid,
                                            std::span<const std::string> nhs_namespaces) {
  for (const Value& cx : pid.Field(3).Repetitions()) {
    if (std::optional<std::string> claimed = ClaimedNhsNumber(cx, nhs_namespaces)) {
      return claimed;
    }
  }
  return std::nullopt;
}

std::optional<std::string> ExtractNhsNumber(const Message& message,
                                            std::span<const std::string> nhs_namespaces) {
  const std::optional<SegmentView> pid = message.FindSegment("PID");
  return pid ? ExtractNhsNumber(*pid, nhs_namespaces) : std::nullopt;
}

std::vector<core::Error> Validate(const Message& message, const ValidationRules& rules) {
  std::vector<core::Error> errors;
  const std::string_view version = message.Get("MSH-12.1").raw();
  const bool need_time = rules.message_time == MessageTimeRule::kAlways ||
                         (rules.message_time == MessageTimeRule::kFromV25 && AtLeastV25(version));
  if (need_time) {
    RequireValued(message, "MSH-7", errors);
  }
  const bool type_accepted = CheckMessageType(message, rules, errors);
  RequireValued(message, "MSH-10", errors);
  RequireValued(message, "MSH-11", errors);
  const Value processing = message.Get("MSH-11.1");
  if (processing.HasValue() && !rules.processing_ids.empty() &&
      rules.processing_ids.count(processing.raw()) == 0) {
    errors.push_back(core::MakeError(core::ErrorCode::kUnsupportedProcessingId,
                                     "processing id is not accepted", "MSH-11"));
  }
  RequireValued(message, "MSH-12", errors);
  if (!version.empty() && version != "\"\"" && !rules.versions.empty() &&
      rules.versions.count(version) == 0) {
    errors.push_back(
        core::MakeError(core::ErrorCode::kUnsupportedVersion, "version is not accepted", "MSH-12"));
  }
  if (const core::Result<CharacterSet> charset = ReadCharacterSet(message); !charset) {
    errors.push_back(charset.error());
  }
  if (type_accepted) {
    CheckStructure(message, errors);
  }
  if (rules.check_nhs_number) {
    CheckNhsNumbers(message, rules.nhs_number_namespaces, errors);
  }
  // Events about two patients by definition (HL7 v2 chapter 3: A17 swaps two patients' beds,
  // A24 and A37 link and unlink two patients' records, a newborn's to its mother's, say) keep
  // their second PID: the broker routes them to both patients' holders and checks both
  // patients' consents on delivery.
  const std::string_view trigger = message.Get("MSH-9.2").raw();
  const bool two_patient_event = message.Get("MSH-9.1").raw() == "ADT" &&
                                 (trigger == "A17" || trigger == "A24" || trigger == "A37");
  CheckOneNhsNumberPerRecord(message, rules.nhs_number_namespaces, trigger, errors);
  if (const std::optional<std::size_t> other =
          two_patient_event ? std::nullopt
                            : PidOfAnotherPatient(message, rules.nhs_number_namespaces)) {
    errors.push_back(core::MakeError(
        core::ErrorCode::kUnsupportedMessage,
        "a second patient in one message: the broker routes, checks consent and maps per "
        "patient, so send one message per patient",
        Path{"PID", *other, 0, 0, 0, 0}.ToString()));
  }
  return errors;
}

}  // namespace tb::hl7v2
