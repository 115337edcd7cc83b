#include "broker/simtrust/hl7_receiver.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/log.h"

namespace tb::simtrust {
namespace {

const core::Logger& Log() {
  static const core::Logger log("tb.simtrust.mllp");
  return log;
}

}  // namespace

Hl7Receiver::Hl7Receiver(std::string ods, std::vector<std::string> clients, ReceivedLog* received,
                         const core::Clock& clock, std::vector<std::string> refuse_types)
    : ods_(std::move(ods)),
      clients_(std::move(clients)),
      refuse_types_(std::move(refuse_types)),
      received_(received),
      clock_(clock),
      id_prefix_(std::random_device{}()) {}

std::string Hl7Receiver::NextControlId() {
  // 20 characters at most (the v2.3 limit of MSH-10): 8 hex digits + up to 12 of a counter.
  char text[24];
  std::snprintf(text, sizeof text, "%08x%012llx", id_prefix_,
                static_cast<unsigned long long>(counter_.fetch_add(1) + 1) & 0xffffffffffffULL);
  return text;
}

std::string Hl7Receiver::Accept(std::string payload, const core::PeerIdentity& peer) {
  hl7v2::AckOptions options;
  options.control_id = NextControlId();
  options.time = clock_.Now();
  auto message = hl7v2::Message::Parse(payload);
  if (!message) {
    Log().Warn("hl7_unparseable", {{"sender", peer.subject_cn},
                                   {"code", std::string(core::Info(message.error().code).name)},
                                   {"location", message.error().location}});
    return hl7v2::MakeNak(payload, message.error(), options).er7;
  }
  const std::string control_id(message->ControlId());
  const std::string type =
      std::string(message->MessageType()) +
      (message->TriggerEvent().empty() ? "" : "^" + std::string(message->TriggerEvent()));
  auto answer = [&](const hl7v2::Ack& ack, std::string_view outcome) {
    Log().Info("message_received", {{"protocol", "mllp"},
                                    {"type", type},
                                    {"control_id", control_id},
                                    {"sender", peer.subject_cn},
                                    {"outcome", std::string(outcome)},
                                    {"ack", std::string(hl7v2::ToString(ack.code))}});
    return ack.should_send ? ack.er7 : std::string();
  };

  if (!clients_.empty() &&
      std::find(clients_.begin(), clients_.end(), peer.subject_cn) == clients_.end()) {
    return answer(hl7v2::MakeAck(*message,
                                 core::MakeError(core::ErrorCode::kForbidden,
                                                 "sender not allowed at trust " + ods_),
                                 options),
                  "refused");
  }
  const bool refused_type =
      std::any_of(refuse_types_.begin(), refuse_types_.end(), [&](const std::string& refused) {
        return refused == type || refused == message->MessageType();
      });
  if (refused_type) {
    return answer(
        hl7v2::MakeAck(*message,
                       core::MakeError(core::ErrorCode::kUnsupportedEvent,
                                       "trust " + ods_ + " does not take " + type, "MSH-9"),
                       options),
        "refused_type");
  }
  const std::vector<core::Error> errors = hl7v2::Validate(*message, hl7v2::ValidationRules{});
  if (!errors.empty()) {
    return answer(hl7v2::MakeAck(*message, errors, options), "invalid");
  }
  if (received_ != nullptr) {
    ReceivedMessage received;
    received.control_id = control_id;
    received.nhs_number = hl7v2::ExtractNhsNumber(*message).value_or("");
    received.type = type;
    received.protocol = "mllp";
    received.sender = peer.subject_cn;
    received.received_at = clock_.Now();
    if (core::Status stored = received_->Append(received); !stored) {
      Log().Error("received_log_failed", {{"reason", stored.error().message}});
      return answer(hl7v2::MakeAck(*message, stored.error(), options), "not_stored");
    }
  }
  return answer(hl7v2::MakeAck(*message, options), "accepted");
}

std::string Hl7Receiver::Refuse(std::string_view head, const core::Error& error) {
  hl7v2::AckOptions options;
  options.control_id = NextControlId();
  options.time = clock_.Now();
  return hl7v2::MakeNak(head, error, options).er7;
}

}  // namespace tb::simtrust
