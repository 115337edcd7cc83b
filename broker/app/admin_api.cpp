#include "broker/app/admin_api.h"

#include <chrono>
#include <memory>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/fhir/http_response.h"
#include "adapters/fhir/json.h"
#include "adapters/fhir/operation_outcome.h"
#include "broker/app/access_record.h"
#include "broker/app/queue_command.h"
#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/nhs_number.h"

namespace tb::app {
namespace {

using core::ErrorCode;
using core::MakeError;

core::HttpResponse NoContent() {
  core::HttpResponse response;
  response.status = 204;
  return response;
}

struct LocatorBody {
  std::string nhs_number;
  std::string ods;
};

core::Result<LocatorBody> ReadBody(const std::string& body, bool need_ods) {
  auto document = fhir::ParseJson(body);
  if (!document) {
    return document.error();
  }
  if (!document->IsObject()) {
    return MakeError(ErrorCode::kInvalidValue, "the body must be a JSON object", "body");
  }
  LocatorBody parsed;
  auto nhs = fhir::GetString(*document, "nhs_number", "nhs_number");
  if (!nhs) {
    return nhs.error();
  }
  parsed.nhs_number = std::string(*nhs);
  if (!core::IsValidNhsNumber(parsed.nhs_number)) {
    return MakeError(ErrorCode::kInvalidValue,
                     "nhs_number is not 10 digits with a valid Modulus 11 check digit",
                     "nhs_number");
  }
  if (need_ods) {
    auto ods = fhir::GetString(*document, "ods", "ods");
    if (!ods) {
      return ods.error();
    }
    parsed.ods = std::string(*ods);
  }
  return parsed;
}

std::string EntriesJson(const std::vector<core::LocatorEntry>& entries) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("entries");
  w.StartArray();
  for (const core::LocatorEntry& entry : entries) {
    w.StartObject();
    w.Key("ods");
    w.String(entry.ods.c_str());
    w.Key("source");
    w.String(entry.source.c_str());
    w.Key("first_seen");
    w.Int64(entry.first_seen_ms);
    w.Key("last_seen");
    w.Int64(entry.last_seen_ms);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

const core::Logger& Log() {
  static const core::Logger log("tb.admin");
  return log;
}

// The dead letters' page asked for: {"after": ID, "limit": N}, each optional.
core::Result<DeadLetterPage> ParseDeadLetterPage(std::string_view body) {
  const core::Error invalid =
      MakeError(ErrorCode::kInvalidValue,
                "the body is {} or {\"after\": ID, \"limit\": N} with N from 1 to " +
                    std::to_string(kMaxDeadLettersPage),
                "body");
  auto document = fhir::ParseJson(body);
  if (!document || !document->IsObject()) {
    return invalid;
  }
  DeadLetterPage page;
  if (document->HasMember("after")) {
    auto after = fhir::GetInt64(*document, "after", "after");
    if (!after || *after < 0) {
      return invalid;
    }
    page.after = *after;
  }
  if (document->HasMember("limit")) {
    auto limit = fhir::GetInt64(*document, "limit", "limit");
    if (!limit || *limit < 1 || *limit > static_cast<std::int64_t>(kMaxDeadLettersPage)) {
      return invalid;
    }
    page.limit = static_cast<std::size_t>(*limit);
  }
  return page;
}

}  // namespace

AdminApi::AdminApi(std::set<std::string, std::less<>> admin_cns,
                   const routing::ParticipantDirectory& directory, core::RecordLocator& locator,
                   core::OutboundQueue* queue, const core::Clock& clock, BlockingExecutor blocking,
                   ledger::Ledger* ledger, std::string broker_ods)
    : admin_cns_(std::move(admin_cns)),
      directory_(directory),
      locator_(locator),
      queue_(queue),
      clock_(clock),
      blocking_(std::move(blocking)),
      ledger_(ledger),
      broker_ods_(std::move(broker_ods)) {}

void AdminApi::Handle(core::HttpRequest request, net::Responder respond) const {
  if (request.Path() == "/admin/health") {
    HandleHealth(request, std::move(respond));
    return;
  }
  if (admin_cns_.count(request.peer.subject_cn) == 0) {
    Log().Warn("admin_refused", {{"peer_cn", request.peer.subject_cn}});
    respond(fhir::ErrorResponse(
        MakeError(ErrorCode::kForbidden, "this certificate is not an administrator")));
    return;
  }
  const std::string path(request.Path());
  if (path.rfind("/admin/queue/", 0) == 0) {
    if (request.method != "POST") {
      respond(fhir::ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "use POST")));
      return;
    }
    HandleQueue(path, request.body, request.peer.subject_cn, std::move(respond));
    return;
  }
  const bool announce = path == "/admin/locator";
  const bool forget = path == "/admin/locator/_forget";
  const bool search = path == "/admin/locator/_search";
  if (!announce && !forget && !search) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kNotFound, "no such admin endpoint")));
    return;
  }
  if (request.method != "POST") {
    respond(
        fhir::ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "use POST with a JSON body")));
    return;
  }
  auto body = ReadBody(request.body, !search);
  if (!body) {
    respond(fhir::ErrorResponse(body.error()));
    return;
  }
  if (announce && directory_.FindByOds(body->ods) == nullptr) {
    respond(fhir::ErrorResponse(
        MakeError(ErrorCode::kInvalidValue, "ods is not a registered participant", "ods")));
    return;
  }
  // Where a patient is held is about the patient: who changed or read it is recorded like a
  // Consent (access_record.h), the change before it is made, the answer before it goes out.
  const routing::Participant* admin = directory_.FindByCertCn(request.peer.subject_cn);
  HopContext hop_context =
      HopContext::Of(request, broker_ods_, admin != nullptr ? admin->ods : request.peer.subject_cn,
                     "admin/locator");
  hop_context.nhs_number = body->nhs_number;
  blocking_([this, announce, forget, body = std::move(*body), cn = request.peer.subject_cn,
             hop_context = std::move(hop_context), request_body = std::move(request.body),
             respond = std::move(respond)]() mutable {
    const auto now_ms = core::ToUnixMs(clock_.Now());
    if (announce || forget) {
      const std::string change = std::string(announce ? "announce " : "forget ") + body.ods;
      if (ledger_ != nullptr &&
          !RecordAccess(*ledger_, WriteHop(hop_context, {}, request_body, change, now_ms))) {
        respond(fhir::ErrorResponse(
            MakeError(ErrorCode::kStorage,
                      "the audit record of this change could not be written, so the "
                      "locator was not changed; try again later")));
        return;
      }
      core::Status done = announce ? locator_.Announce(body.nhs_number, body.ods, "admin", now_ms)
                                   : locator_.Forget(body.nhs_number, body.ods);
      Log().Info(announce ? "locator_announced" : "locator_forgotten",
                 {{"admin", cn}, {"ods", body.ods}, {"ok", done ? "true" : "false"}});
      if (!done && ledger_ != nullptr) {
        RecordAccess(*ledger_, FailedWriteHop(hop_context, {}, done.error(), now_ms));
      }
      respond(done ? NoContent() : fhir::ErrorResponse(done.error()));
      return;
    }
    auto entries = locator_.Lookup(body.nhs_number);
    if (!entries) {
      respond(fhir::ErrorResponse(entries.error()));
      return;
    }
    core::HttpResponse response;
    response.status = 200;
    response.headers.Set("Content-Type", "application/json");
    response.body = EntriesJson(*entries);
    RespondWhenAccessRecorded(ledger_, ReadHop(hop_context, entries->size(), now_ms),
                              std::move(response), respond);
  });
}

void AdminApi::HandleHealth(const core::HttpRequest& request, net::Responder respond) const {
  if (admin_cns_.count(request.peer.subject_cn) == 0 &&
      health_cns_.count(request.peer.subject_cn) == 0) {
    Log().Warn("admin_refused", {{"peer_cn", request.peer.subject_cn}});
    respond(fhir::ErrorResponse(
        MakeError(ErrorCode::kForbidden, "this certificate may not ask for the broker's health")));
    return;
  }
  if (request.method != "GET") {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "use GET")));
    return;
  }
  if (queue_ == nullptr) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kUnsupportedMessage, "no store to check")));
    return;
  }
  // One read of the store (the queue's counts), as the work a message or a search needs would
  // do: on the blocking pool, like theirs, so a pool that is stuck shows too.
  blocking_([this, respond = std::move(respond)]() {
    const auto started = std::chrono::steady_clock::now();
    auto counts = queue_->Counts();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    const char* status = counts ? "pass" : "fail";
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("status");
    w.String(status);
    w.Key("checks");
    w.StartObject();
    w.Key("store");
    w.StartObject();
    w.Key("status");
    w.String(status);
    w.Key("ms");
    w.Int64(ms);
    if (!counts) {
      w.Key("error");
      w.String(std::string(core::Info(counts.error().code).name).c_str());
      Log().Warn("health_failed", {{"error", counts.error().message}});
    }
    w.EndObject();
    w.EndObject();
    if (counts) {
      const std::string queue = QueueCountsJson(*counts);
      w.Key("queue");
      w.RawValue(queue.data(), queue.size(), rapidjson::kObjectType);
    }
    w.EndObject();
    core::HttpResponse response;
    response.status = counts ? 200 : 503;
    response.headers.Set("Content-Type", "application/health+json");
    response.headers.Set("Cache-Control", "no-store");
    response.body = buffer.GetString();
    respond(std::move(response));
  });
}

void AdminApi::HandleQueue(const std::string& path, const std::string& body, std::string admin,
                           net::Responder respond) const {
  const bool list = path == "/admin/queue/_dead";
  const bool counts = path == "/admin/queue/_counts";
  const bool replay = path == "/admin/queue/replay";
  const bool discard = path == "/admin/queue/discard";
  if (!list && !counts && !replay && !discard) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kNotFound, "no such admin endpoint")));
    return;
  }
  if (queue_ == nullptr) {
    respond(fhir::ErrorResponse(MakeError(ErrorCode::kUnsupportedMessage, "no outbound queue")));
    return;
  }
  std::int64_t id = 0;
  if (replay || discard) {
    auto document = fhir::ParseJson(body);
    if (!document || !document->IsObject()) {
      respond(fhir::ErrorResponse(
          MakeError(ErrorCode::kInvalidValue, "the body must be {\"id\": N}", "body")));
      return;
    }
    auto value = fhir::GetInt64(*document, "id", "id");
    if (!value) {
      respond(fhir::ErrorResponse(value.error()));
      return;
    }
    id = *value;
  }
  DeadLetterPage page;  // an empty body: the first page
  if (list && !body.empty()) {
    auto parsed = ParseDeadLetterPage(body);
    if (!parsed) {
      respond(fhir::ErrorResponse(parsed.error()));
      return;
    }
    page = *parsed;
  }
  blocking_([this, list, counts, replay, id, page, admin = std::move(admin),
             respond = std::move(respond)]() {
    core::HttpResponse response;
    response.headers.Set("Content-Type", "application/json");
    if (list) {
      auto listed = DeadLettersJson(*queue_, page);
      if (!listed) {
        respond(fhir::ErrorResponse(listed.error()));
        return;
      }
      response.body = std::move(*listed);
    } else if (counts) {
      auto numbers = queue_->Counts();
      if (!numbers) {
        respond(fhir::ErrorResponse(numbers.error()));
        return;
      }
      response.body = QueueCountsJson(*numbers);
    } else {
      // A replay is recorded in the audit ledger (who, when); its next attempt re-checks consent.
      core::Status done = replay
                              ? ReplayDeadLetter(*queue_, ledger_, id, admin, broker_ods_, clock_)
                              : queue_->Discard(id);
      Log().Info(replay ? "queue_replayed" : "queue_discarded",
                 {{"id", std::to_string(id)}, {"admin", admin}, {"ok", done ? "true" : "false"}});
      respond(done ? NoContent() : fhir::ErrorResponse(done.error()));
      return;
    }
    respond(std::move(response));
  });
}

}  // namespace tb::app
