#include "adapters/hl7v2/ack.h"

#include <array>
#include <cstring>

#include "adapters/hl7v2/escape.h"
#include "adapters/hl7v2/path.h"

namespace tb::hl7v2 {
namespace {

// MSH-2..MSH-16 of the message being acknowledged, as raw views into its header.
struct HeaderFields {
  Encoding encoding;
  std::array<std::string_view, 17> msh{};  // msh[n] = MSH-n raw, for 3 <= n <= 16
  std::string_view Field(std::size_t n) const { return msh[n]; }
};

constexpr std::size_t kMaxSalvagedValue = 199;

// Splits a header segment once (instead of one scan per field): piece i after MSH-1 is MSH-(i+2).
void SplitHeader(std::string_view header, HeaderFields& out) {
  if (header.size() <= 4) {
    return;
  }
  std::string_view rest = header.substr(4);
  for (std::size_t n = 2; n < out.msh.size(); ++n) {
    const std::size_t hit = rest.find(out.encoding.field);
    out.msh[n] = rest.substr(0, hit);
    if (hit == std::string_view::npos) {
      return;
    }
    rest.remove_prefix(hit + 1);
  }
}

AckCondition ReadCondition(std::string_view raw) {
  if (raw == "NE") {
    return AckCondition::kNever;
  }
  if (raw == "ER") {
    return AckCondition::kOnError;
  }
  if (raw == "SU") {
    return AckCondition::kOnSuccess;
  }
  return AckCondition::kAlways;
}

bool Wants(AckCondition condition, bool success) {
  switch (condition) {
    case AckCondition::kAlways:
      return true;
    case AckCondition::kNever:
      return false;
    case AckCondition::kOnError:
      return !success;
    case AckCondition::kOnSuccess:
      return success;
  }
  return true;
}

AckPolicy PolicyFrom(const HeaderFields& h) {
  AckPolicy policy;
  const std::string_view accept = internal::Piece(h.Field(15), h.encoding.component, 1);
  const std::string_view application = internal::Piece(h.Field(16), h.encoding.component, 1);
  if (accept.empty() && application.empty()) {
    return policy;
  }
  policy.mode = AckMode::kEnhanced;
  policy.accept = ReadCondition(accept);
  policy.application = ReadCondition(application);
  return policy;
}

// True for versions whose ERR segment has only ERR-1 (and whose MSA-3 still carries the text).
bool BeforeV25(std::string_view version_field, const Encoding& enc) {
  const std::string_view v = internal::Piece(version_field, enc.component, 1);
  if (v.size() < 3 || v[0] < '0' || v[0] > '9' || v[1] != '.') {
    return false;
  }
  int minor = 0;
  for (std::size_t i = 2; i < v.size() && v[i] >= '0' && v[i] <= '9' && minor < 100; ++i) {
    minor = minor * 10 + (v[i] - '0');
  }
  return v[0] < '2' || (v[0] == '2' && minor < 5);
}

void AppendDigits(std::string& out, long value, int width) {
  char digits[8];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<std::size_t>(width));
}

// DTM in UTC with an explicit offset, so receivers in any time zone read it right.
void AppendTimestamp(std::string& out, std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto day = floor<days>(time);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(time - day)};
  AppendDigits(out, static_cast<int>(ymd.year()), 4);
  AppendDigits(out, static_cast<long>(static_cast<unsigned>(ymd.month())), 2);
  AppendDigits(out, static_cast<long>(static_cast<unsigned>(ymd.day())), 2);
  AppendDigits(out, hms.hours().count(), 2);
  AppendDigits(out, hms.minutes().count(), 2);
  AppendDigits(out, static_cast<long>(hms.seconds().count()), 2);
  out += "+0000";
}

void AppendErl(std::string& out, const Path& path, const Encoding& enc) {
  out += path.segment;
  out += enc.component;
  out += std::to_string(path.occurrence);
  if (path.field == 0) {
    return;
  }
  out += enc.component;
  out += std::to_string(path.field);
  const std::size_t repetition =
      path.repetition != 0 ? path.repetition : (path.component != 0 ? 1 : 0);
  if (repetition == 0) {
    return;
  }
  out += enc.component;
  out += std::to_string(repetition);
  if (path.component == 0) {
    return;
  }
  out += enc.component;
  out += std::to_string(path.component);
  if (path.subcomponent != 0) {
    out += enc.component;
    out += std::to_string(path.subcomponent);
  }
}

// One ERR segment.
void AppendErr(std::string& out, const core::Error& error, char severity, bool legacy,
               const Encoding& enc) {
  const std::string_view code = core::Info(error.code).err3;
  const std::string_view text = Hl7ErrorText(code);
  core::Result<Path> where = ParsePath(error.location);
  out += "ERR";
  out += enc.field;
  if (legacy) {
    // ERR-1 (ELD): segment^sequence^field^code, the code a CE written in subcomponents.
    if (where) {
      out += where->segment;
      out += enc.component;
      out += std::to_string(where->occurrence);
      out += enc.component;
      if (where->field != 0) {
        out += std::to_string(where->field);
      }
    } else {
      out += enc.component;
      out += enc.component;
    }
    out += enc.component;
    out += code;
    if (enc.subcomponent != '\0') {
      out += enc.subcomponent;
      out += text;
      out += enc.subcomponent;
      out += "HL70357";
    }
  }
  out += enc.field;
  if (where) {
    AppendErl(out, *where, enc);
  }
  out += enc.field;
  out += code;
  out += enc.component;
  out += text;
  out += enc.component;
  out += "HL70357";
  out += enc.field;
  out += severity;
  out += enc.field;  // ERR-5 application error code
  out += enc.field;  // ERR-6 application error parameter
  out += enc.field;  // ERR-7 diagnostic information
  out += enc.field;
  AppendEscaped(out, error.message, enc);  // ERR-8 user message
  out += '\r';
}

// v2.5.1 section 2.9.2.2 a: a message whose MSH-9, MSH-11 or MSH-12 the receiver cannot take
// (missing or not accepted) is rejected (AR/CR) whatever the error's code: a missing MSH-9 keeps
// ERR-3 101 (required field missing) but is AR, not the AE of a missing field elsewhere.
bool IsHeaderRejection(std::string_view location) {
  if (location.substr(0, 4) != "MSH-") {
    return false;
  }
  location.remove_prefix(4);
  const std::size_t digits = location.find_first_not_of("0123456789");
  const std::string_view field = location.substr(0, digits);
  return field == "9" || field == "11" || field == "12";
}

bool Rejects(const core::Error& error) {
  return core::Info(error.code).v2_ack == "AR" || IsHeaderRejection(error.location);
}

AckCode ChooseCode(bool accept_codes, bool success, bool reject) {
  if (success) {
    return accept_codes ? AckCode::kCA : AckCode::kAA;
  }
  if (reject) {
    return accept_codes ? AckCode::kCR : AckCode::kAR;
  }
  return accept_codes ? AckCode::kCE : AckCode::kAE;
}

Ack Build(const HeaderFields& h, std::span<const core::Error> errors, bool force_reject,
          const AckOptions& options) {
  const Encoding& enc = h.encoding;
  const AckPolicy policy = PolicyFrom(h);
  const bool success = errors.empty() && !force_reject;
  bool reject = force_reject;
  for (const core::Error& error : errors) {
    reject = reject || Rejects(error);
  }
  // kAuto in enhanced mode: the accept ACK, unless MSH-15 suppresses it for this outcome while
  // an explicitly valued MSH-16 asks for the application ACK (NE/AL, ER/AL on success): then the
  // application ACK, since the broker's application processing is the durable store it is sent
  // after. Before, such a sender got nothing at all. An empty MSH-16 does not ask (an ER/empty
  // sender expects silence on success); AL/AL gets the accept ACK only (docs/hl7v2-ingest.md).
  const bool application_instead = policy.mode == AckMode::kEnhanced &&
                                   !policy.ShouldSendAccept(success) &&
                                   !internal::Piece(h.Field(16), enc.component, 1).empty() &&
                                   policy.ShouldSendApplication(success);
  const bool accept_codes =
      options.kind == AckKind::kAccept ||
      (options.kind == AckKind::kAuto && policy.mode == AckMode::kEnhanced && !application_instead);

  Ack ack;
  ack.code = ChooseCode(accept_codes, success, reject);
  if (policy.mode == AckMode::kEnhanced) {
    ack.should_send =
        accept_codes ? policy.ShouldSendAccept(success) : policy.ShouldSendApplication(success);
  }

  const bool legacy = BeforeV25(h.Field(12), enc);
  std::string& out = ack.er7;
  out.reserve(160 + h.Field(3).size() + h.Field(4).size() + h.Field(5).size() + h.Field(6).size() +
              (errors.size() + options.warnings.size()) * 120);
  out += "MSH";
  out += enc.field;
  out += enc.EncodingCharacters();
  for (const std::size_t n : {std::size_t{5}, std::size_t{6}, std::size_t{3},
                              std::size_t{4}}) {  // receiver becomes sender
    out += enc.field;
    out += h.Field(n);
  }
  out += enc.field;
  AppendTimestamp(out, options.time);
  out += enc.field;  // MSH-8 security
  out += enc.field;
  out += "ACK";
  const std::string_view trigger = internal::Piece(h.Field(9), enc.component, 2);
  if (!trigger.empty()) {
    out += enc.component;
    out += trigger;
    out += enc.component;
    out += "ACK";
  }
  out += enc.field;
  AppendEscaped(out, options.control_id, enc);
  out += enc.field;
  out += h.Field(11);
  out += enc.field;
  out += h.Field(12);
  out += '\r';

  out += "MSA";
  out += enc.field;
  out += ToString(ack.code);
  out += enc.field;
  out += h.Field(10);
  if (legacy && !errors.empty()) {
    out += enc.field;  // MSA-3, 80 characters at most
    AppendEscaped(out, std::string_view(errors.front().message).substr(0, 80), enc);
  }
  out += '\r';
  for (const core::Error& error : errors) {
    AppendErr(out, error, 'E', legacy, enc);
  }
  for (const core::Error& warning : options.warnings) {
    AppendErr(out, warning, 'W', legacy, enc);
  }
  return ack;
}

HeaderFields FromMessage(const Message& message) {
  HeaderFields h;
  h.encoding = message.encoding();
  SplitHeader(message.Segment(1).raw(), h);
  return h;
}

}  // namespace

std::string_view ToString(AckCode code) {
  switch (code) {
    case AckCode::kAA:
      return "AA";
    case AckCode::kAE:
      return "AE";
    case AckCode::kAR:
      return "AR";
    case AckCode::kCA:
      return "CA";
    case AckCode::kCE:
      return "CE";
    case AckCode::kCR:
      return "CR";
  }
  return "AR";
}

bool AckPolicy::ShouldSendAccept(bool success) const {
  return mode == AckMode::kOriginal || Wants(accept, success);
}

bool AckPolicy::ShouldSendApplication(bool success) const {
  return mode == AckMode::kOriginal || Wants(application, success);
}

AckPolicy ReadAckPolicy(const Message& message) { return PolicyFrom(FromMessage(message)); }

std::string_view Hl7ErrorText(std::string_view code) {
  struct Row {
    std::string_view code;
    std::string_view text;
  };
  static constexpr std::array<Row, 14> kTable0357 = {{
      {"0", "Message accepted"},
      {"100", "Segment sequence error"},
      {"101", "Required field missing"},
      {"102", "Data type error"},
      {"103", "Table value not found"},
      {"104", "Value too long"},
      {"200", "Unsupported message type"},
      {"201", "Unsupported event code"},
      {"202", "Unsupported processing id"},
      {"203", "Unsupported version id"},
      {"204", "Unknown key identifier"},
      {"205", "Duplicate key identifier"},
      {"206", "Application record locked"},
      {"207", "Application internal error"},
  }};
  for (const Row& row : kTable0357) {
    if (row.code == code) {
      return row.text;
    }
  }
  return {};
}

std::string LocationToErl(std::string_view location, const Encoding& enc) {
  std::string out;
  core::Result<Path> path = ParsePath(location);
  if (path) {
    AppendErl(out, *path, enc);
  }
  return out;
}

Ack MakeAck(const Message& original, std::span<const core::Error> errors,
            const AckOptions& options) {
  return Build(FromMessage(original), errors, /*force_reject=*/false, options);
}

Ack MakeAck(const Message& original, const core::Error& error, const AckOptions& options) {
  return MakeAck(original, std::span<const core::Error>(&error, 1), options);
}

Ack MakeAck(const Message& original, const AckOptions& options) {
  return MakeAck(original, std::span<const core::Error>(), options);
}

Ack MakeNak(std::string_view raw, const core::Error& error, const AckOptions& options) {
  HeaderFields h;
  if (raw.substr(0, 3) == "\xEF\xBB\xBF") {
    raw.remove_prefix(3);
  }
  while (!raw.empty() && (raw.front() == '\r' || raw.front() == '\n')) {
    raw.remove_prefix(1);
  }
  const std::string_view line = raw.substr(0, raw.find_first_of("\r\n"));
  if (line.substr(0, 3) == "MSH") {
    core::Result<HeaderEncoding> header = ReadEncoding(line);
    if (header) {
      h.encoding = header->encoding;
      SplitHeader(line, h);
      for (std::string_view& value : h.msh) {
        if (value.size() > kMaxSalvagedValue) {
          value = {};
        }
      }
    }
  }
  if (h.Field(12).empty()) {
    h.msh[12] = "2.5";
  }
  return Build(h, std::span<const core::Error>(&error, 1), /*force_reject=*/true, options);
}

}  // namespace tb::hl7v2
