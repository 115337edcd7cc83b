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

ledger::HopRecord BaseHop(const AccessContext& access, ledger::HopKind kind,
                          std::int64_t time_ms) {
  ledger::HopRecord hop;
  hop.kind = kind;
  hop.time_ms = time_ms;
  hop.broker_ods = access.broker_ods;
  hop.requester_ods = access.requester_ods;
  hop.requester_address = access.address;
  hop.request_id = access.request_id;
  hop.nhs_number = access.nhs_number;
  hop.query = access.what;
  return hop;
}

}  // namespace

AccessContext AccessContext::Of(const core::HttpRequest& request, std::string broker_ods,
                                std::string requester_ods, std::string what) {
  AccessContext access;
  access.broker_ods = std::move(broker_ods);
  access.requester_ods = std::move(requester_ods);
  access.address = request.peer.remote_address;
  access.request_id = std::string(request.headers.Get("X-Request-ID"));
  access.what = std::move(what);
  return access;
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

ledger::HopRecord ReadHop(const AccessContext& access, std::size_t released, std::int64_t time_ms,
                          ledger::HopKind kind) {
  ledger::HopRecord hop = BaseHop(access, kind, time_ms);
  hop.destination_ods = access.requester_ods;
  hop.outcome_detail = "released=" + std::to_string(released);
  return hop;
}

ledger::HopRecord WriteHop(const AccessContext& access, std::string target, std::string_view stored,
                           std::string detail, std::int64_t time_ms) {
  ledger::HopRecord hop = BaseHop(access, ledger::HopKind::kInbound, time_ms);
  hop.source_ods = access.requester_ods;
  hop.target = std::move(target);
  hop.source_digest = core::Sha256Hex(stored);
  hop.outcome_detail = std::move(detail);
  return hop;
}

ledger::HopRecord AccessRefusalHop(const AccessContext& access, std::string reason,
                                   std::int64_t time_ms) {
  ledger::HopRecord hop = BaseHop(access, ledger::HopKind::kRefusal, time_ms);
  hop.destination_ods = access.requester_ods;
  hop.outcome = ledger::HopOutcome::kMinorFailure;
  hop.outcome_detail = std::move(reason);
  return hop;
}

bool RecordAccess(ledger::Ledger& ledger, const ledger::HopRecord& hop) {
  auto recorded = ledger.Append(hop);
  if (!recorded) {
    Log().Error("ledger_append_failed",
                {{"kind", ledger::ToString(hop.kind)},
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
