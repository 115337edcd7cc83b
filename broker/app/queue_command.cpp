#include "broker/app/queue_command.h"

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "broker/app/config.h"
#include "broker/core/digest.h"
#include "broker/core/whole_number.h"
#include "broker/store/store.h"

namespace tb::app {
namespace {

constexpr std::string_view kUsage =
    "usage: trustbridge queue list [--after ID] [--limit N] --config FILE\n"
    "       trustbridge queue counts --config FILE\n"
    "       trustbridge queue replay|discard ID --config FILE\n";

}  // namespace

core::Result<std::string> DeadLettersJson(core::OutboundQueue& queue, const DeadLetterPage& page) {
  const std::size_t limit = std::min(page.limit, kMaxDeadLettersPage);
  auto items = queue.ListDead(page.after, limit + 1);  // one more: does a next page follow?
  if (!items) {
    return std::move(items).error();
  }
  const bool more = items->size() > limit;
  if (more) {
    items->resize(limit);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("dead");
  w.StartArray();
  for (const core::OutboundItem& item : *items) {
    w.StartObject();
    w.Key("id");
    w.Int64(item.id);
    w.Key("destination");
    w.String(item.destination.c_str());
    w.Key("format");
    w.String(item.format.c_str());
    w.Key("sender");
    w.String(item.sender.c_str());
    w.Key("message_type");
    w.String(item.message_type.c_str());
    w.Key("control_id");
    w.String(item.control_id.c_str());
    w.Key("attempts");
    w.Int(item.attempts);
    w.Key("last_error");
    w.String(item.last_error.c_str());
    w.Key("created_at");
    w.Int64(item.created_at_ms);
    w.EndObject();
  }
  w.EndArray();
  if (more && !items->empty()) {
    w.Key("next_after");
    w.Int64(items->back().id);
  }
  w.EndObject();
  return std::string(buffer.GetString());
}

std::string QueueCountsJson(const core::QueueCounts& counts) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  for (const auto& [name, value] : {std::pair<const char*, std::int64_t>{"queued", counts.queued},
                                    {"in_flight", counts.in_flight},
                                    {"delivered", counts.delivered},
                                    {"dead", counts.dead},
                                    {"discarded", counts.discarded}}) {
    w.Key(name);
    w.Int64(value);
  }
  w.EndObject();
  return buffer.GetString();
}

core::Status ReplayDeadLetter(core::OutboundQueue& queue, ledger::Ledger* ledger, std::int64_t id,
                              const std::string& who, const std::string& broker_ods,
                              const core::Clock& clock) {
  // The item's patient and route, for the record, read before it leaves the dead letters (one
  // item: before, the whole list was read, with every payload, for each replay).
  std::optional<core::OutboundItem> dead;
  if (ledger != nullptr) {
    auto item = queue.Get(id);
    if (!item && item.error().code != core::ErrorCode::kNotFound) {
      return item.error();
    }
    if (item && item->status == core::OutboundStatus::kDead) {
      dead = std::move(*item);
    }
  }
  BROKER_RETURN_IF_ERROR(queue.Replay(id));
  if (ledger == nullptr || !dead) {
    return core::Ok();
  }
  ledger::HopRecord hop;
  hop.kind = ledger::HopKind::kDelivery;
  hop.time_ms = core::ToUnixMs(clock.Now());
  hop.request_id = dead->control_id;
  hop.broker_ods = broker_ods;
  hop.requester_ods = who;
  hop.source_ods = dead->sender;
  hop.destination_ods = dead->destination;
  hop.nhs_number = dead->nhs_number;
  hop.source_digest = core::Sha256Hex(dead->payload);
  hop.outcome = ledger::HopOutcome::kSuccess;
  hop.outcome_detail = "replay requested by " + who + " (queue item " + std::to_string(id) + ")";
  auto recorded = ledger->Append(hop);
  if (!recorded) {
    return core::MakeError(core::ErrorCode::kStorage,
                           "replayed, but the audit record failed: " + recorded.error().message);
  }
  return core::Ok();
}

int QueueCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.Has("help")) {
    out << kUsage;
    return 0;
  }
  const auto& args = flags.positional();
  const std::string action = args.empty() ? std::string() : args[0];
  const bool with_id = action == "replay" || action == "discard";
  if (!(action == "list" || action == "counts" || with_id) || args.size() != (with_id ? 2u : 1u) ||
      flags.Get("config").empty()) {
    err << kUsage;
    return 2;
  }
  std::int64_t id = 0;
  if (with_id) {
    const std::optional<std::int64_t> parsed = core::ParseWholeNumber<std::int64_t>(args[1]);
    if (!parsed || *parsed <= 0) {
      err << "queue: ID must be a positive number\n";
      return 2;
    }
    id = *parsed;
  }
  DeadLetterPage page;
  if (flags.Has("after") || flags.Has("limit")) {
    const auto after = core::ParseWholeNumber<std::int64_t>(flags.Get("after", "0"));
    const auto limit =
        core::ParseWholeNumber<std::size_t>(flags.Get("limit", std::to_string(kDeadLettersPage)));
    if (action != "list" || !after || *after < 0 || !limit || *limit == 0 ||
        *limit > kMaxDeadLettersPage) {
      err << "queue: --after ID and --limit N (1-" << kMaxDeadLettersPage << ") go with list\n";
      return 2;
    }
    page = DeadLetterPage{*after, *limit};
  }
  ConfigLoad load = LoadBrokerConfig(flags.Get("config"));
  if (!load.config) {
    for (const core::Error& problem : load.problems) {
      err << "config error: " << problem.message << "\n";
    }
    return 2;
  }
  store::StoreSettings settings;
  settings.url = load.config->store_url;
  auto database = store::OpenDatabase(settings);
  if (!database) {
    err << "queue: " << database.error().message << "\n";
    return 2;
  }
  std::unique_ptr<core::OutboundQueue> queue = store::MakeOutboundQueue(**database);
  auto fail = [&err](const core::Error& error) {
    err << "queue: " << error.message << "\n";
    return error.code == core::ErrorCode::kStorage ? 2 : 1;
  };
  if (action == "list") {
    auto listed = DeadLettersJson(*queue, page);
    if (!listed) {
      return fail(listed.error());
    }
    out << *listed << "\n";
    return 0;
  }
  if (action == "counts") {
    auto counts = queue->Counts();
    if (!counts) {
      return fail(counts.error());
    }
    out << QueueCountsJson(*counts) << "\n";
    return 0;
  }
  if (action == "discard") {
    core::Status done = queue->Discard(id);
    if (!done) {
      return fail(done.error());
    }
    out << "discarded " << id << "\n";
    return 0;
  }
  // A replay is a new hop in the audit ledger (no signer: the broker signs checkpoints).
  std::unique_ptr<core::LedgerStore> ledger_store = store::MakeLedgerStore(**database);
  const core::SystemClock clock;
  auto ledger = ledger::Ledger::Open(*ledger_store, clock, nullptr);
  if (!ledger) {
    return fail(ledger.error());
  }
  const char* user = std::getenv("USER");
  const std::string who =
      "cli:" + std::string(user != nullptr && *user != '\0' ? user : "operator");
  core::Status done =
      ReplayDeadLetter(*queue, ledger->get(), id, who, load.config->broker_ods, clock);
  if (!done) {
    return fail(done.error());
  }
  out << "replayed " << id << "\n";
  return 0;
}

}  // namespace tb::app
