#include "broker/routing/inbound_hop.h"

#include <utility>

#include "broker/core/error.h"
#include "broker/core/nhs_number.h"

namespace tb::routing {

namespace {

ledger::HopRecord InboundHop(const InboundHopFacts& facts) {
  ledger::HopRecord hop;
  hop.kind = facts.stored ? ledger::HopKind::kInbound : ledger::HopKind::kRefusal;
  hop.time_ms = facts.time_ms;
  hop.request_id = facts.control_id;
  hop.broker_ods = facts.broker_ods;
  hop.requester_ods = facts.sender;
  hop.requester_address = facts.sender_address;
  hop.source_ods = facts.sender;
  hop.destination_ods = facts.destination_ods;
  // Only a checked NHS number goes into the record (a refused one may be the very fault).
  hop.nhs_number = core::IsValidNhsNumber(facts.nhs_number) ? facts.nhs_number : std::string();
  hop.source_digest = facts.digest;
  hop.target = facts.stored ? "MessageHeader/" + std::to_string(facts.message_id) : std::string();
  hop.outcome = facts.stored ? ledger::HopOutcome::kSuccess : ledger::HopOutcome::kMinorFailure;
  hop.outcome_detail = facts.outcome_detail;
  return hop;
}

void LogFailure(const core::Logger& log, const InboundHopFacts& facts, const core::Error& error) {
  log.Error("ledger_append_failed", {{"sender", facts.sender},
                                     {"outcome", facts.stored ? "stored" : "refused"},
                                     {"detail", facts.outcome_detail},
                                     {"code", std::string(core::Info(error.code).name)}});
}

}  // namespace

std::vector<ledger::HopRecord> InboundHops(const InboundHopFacts& facts) {
  ledger::HopRecord hop = InboundHop(facts);
  if (!facts.stored || hop.nhs_number.empty()) {
    // A refusal names the routing key only (the others were never checked).
    return {std::move(hop)};
  }
  return ledger::HopPerPatient(std::move(hop), facts.other_patients);
}

void RecordInboundHop(ledger::Ledger& ledger, const InboundHopFacts& facts,
                      const core::Logger& log) {
  for (const ledger::HopRecord& hop : InboundHops(facts)) {
    auto recorded = ledger.Append(hop);
    if (!recorded) {
      LogFailure(log, facts, recorded.error());
    }
  }
}

void RecordInboundHopAsync(ledger::Ledger& ledger, const InboundHopFacts& facts,
                           const core::Logger& log, std::function<void()> then) {
  InboundHopFacts what;  // what a failure is logged with
  what.sender = facts.sender;
  what.stored = facts.stored;
  what.outcome_detail = facts.outcome_detail;
  auto report = [&log, what = std::move(what),
                 then = std::move(then)](const core::Status& recorded) {
    if (!recorded) {
      LogFailure(log, what, recorded.error());
    }
    then();
  };
  ledger.AppendAllAsync(InboundHops(facts), std::move(report));
}

}  // namespace tb::routing
