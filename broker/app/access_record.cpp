#include "broker/app/access_record.h"

#include <utility>

#include "adapters/fhir/http_response.h"
#include "broker/core/digest.h"
#include "broker/core/error.h"
#include "broker/core/log.h"

namespace tb::app {
namespace {

const core::Logger& Log() {
  static const core::Logger log("tb.access");
  return log;
}

}  // namespace

HopContext HopContext::Of(const core::HttpRequest& request, std::string broker_ods,
                          std::string requester, std::string query) {
  HopContext context;
  context.broker_ods = std::move(broker_ods);
  context.requester = requester;
  context.recipient = std::move(requester);
  context.address = request.peer.remote_address;
  context.request_id = std::string(request.headers.Get("X-Request-ID"));
  context.query = std::move(query);
  return context;
}

ledger::HopRecord MakeHop(const HopContext& context, ledger::HopKind kind, std::int64_t time_ms) {
  ledger::HopRecord hop;
  hop.kind = kind;
  hop.time_ms = time_ms;
  hop.request_id = context.request_id;
  hop.broker_ods = context.broker_ods;
  hop.requester_ods = context.requester;
  hop.requester_address = context.address;
  hop.purpose_of_use = context.purpose;
  hop.nhs_number = context.nhs_number;
  hop.query = context.query;
  return hop;
}

std::string PatientNamedIn(const std::vector<fhir::SearchParam>& params) {
  for (const fhir::SearchParam& param : params) {
    if ((param.name == "identifier" && param.modifier.empty()) ||
        (param.name == "patient" && param.modifier == "identifier")) {
      if (auto nhs = fhir::NhsNumberFromIdentifierToken(param.value); nhs) {
        return *nhs;
      }
    }
  }
  return {};
}

std::string PatientNamedIn(std::string_view query_string) {
  auto params = fhir::ParseQueryString(query_string);
  return params ? PatientNamedIn(*params) : std::string();
}

ledger::HopRecord ReadHop(const HopContext& context, std::size_t released, std::int64_t time_ms,
                          ledger::HopKind kind) {
  ledger::HopRecord hop = MakeHop(context, kind, time_ms);
  hop.destination_ods = context.recipient;
  hop.outcome_detail = "released=" + std::to_string(released);
  return hop;
}

ledger::HopRecord WriteHop(const HopContext& context, std::string target, std::string_view stored,
                           std::string detail, std::int64_t time_ms) {
  ledger::HopRecord hop = MakeHop(context, ledger::HopKind::kInbound, time_ms);
  hop.source_ods = context.requester;
  hop.target = std::move(target);
  hop.source_digest = core::Sha256Hex(stored);
  hop.outcome_detail = std::move(detail);
  return hop;
}

ledger::HopRecord FailedWriteHop(const HopContext& context, std::string target,
                                 const core::Error& error, std::int64_t time_ms) {
  ledger::HopRecord hop =
      AccessRefusalHop(context, "not stored: " + std::string(core::Info(error.code).name), time_ms);
  hop.target = std::move(target);
  hop.outcome = ledger::HopOutcome::kSeriousFailure;
  return hop;
}

ledger::HopRecord AccessRefusalHop(const HopContext& context, std::string reason,
                                   std::int64_t time_ms) {
  ledger::HopRecord hop = MakeHop(context, ledger::HopKind::kRefusal, time_ms);
  hop.destination_ods = context.recipient;
  hop.outcome = ledger::HopOutcome::kMinorFailure;
  hop.outcome_detail = std::move(reason);
  return hop;
}

bool RecordAccess(ledger::Ledger& ledger, const ledger::HopRecord& hop) {
  auto recorded = ledger.Append(hop);
  if (!recorded) {
    Log().Error("ledger_append_failed", {{"kind", ledger::ToString(hop.kind)},
                                         {"what", hop.query},
                                         {"request_id", hop.request_id},
                                         {"code", core::Info(recorded.error().code).name}});
    return false;
  }
  return true;
}

void RespondWhenAccessRecorded(ledger::Ledger* ledger, const ledger::HopRecord& hop,
                               core::HttpResponse response, const net::Responder& respond) {
  if (ledger != nullptr && !RecordAccess(*ledger, hop)) {
    respond(fhir::ErrorResponse(core::MakeError(
        core::ErrorCode::kStorage,
        "the audit record of this answer could not be written, so nothing was released; try "
        "again later")));
    return;
  }
  respond(std::move(response));
}

}  // namespace tb::app
