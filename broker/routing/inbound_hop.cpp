#include "broker/routing/inbound_hop.h"

#include "broker/core/error.h"
#include "broker/core/nhs_number.h"

namespace tb::routing {

void RecordInboundHop(ledger::Ledger& ledger, const InboundHopFacts& facts,
                      const core::Logger& log) {
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
  auto recorded = ledger.Append(hop);
  if (!recorded) {
    log.Error("ledger_append_failed",
              {{"sender", facts.sender},
               {"outcome", facts.stored ? "stored" : "refused"},
               {"detail", facts.outcome_detail},
               {"code", std::string(core::Info(recorded.error().code).name)}});
  }
}

}  // namespace tb::routing
