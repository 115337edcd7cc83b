#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "broker/app/flags.h"
#include "broker/core/clock.h"
#include "broker/core/outbound_queue.h"
#include "broker/ledger/ledger.h"

namespace tb::app {

// A page of the dead letters: those with an id above `after`, at most `limit`.
inline constexpr std::size_t kDeadLettersPage = 100;
inline constexpr std::size_t kMaxDeadLettersPage = 1000;
struct DeadLetterPage {
  std::int64_t after = 0;
  std::size_t limit = kDeadLettersPage;  // at most kMaxDeadLettersPage
};

// The page as JSON for operators (admin endpoint and CLI): {"dead": [...], "next_after": ID},
// next_after (the last id shown) only when more follow; each item's id, destination, format,
// sender, message type, control id, attempts, last error, created_at. No payload and no NHS
// number (they stay in the store).
core::Result<std::string> DeadLettersJson(core::OutboundQueue& queue, const DeadLetterPage& page);
std::string QueueCountsJson(const core::QueueCounts& counts);

// An operator replays dead item `id` (admin endpoint or CLI): it is made due again and, when a
// ledger is given, the replay is recorded as a new hop (a delivery hop of the item's patient,
// sender and destination, outcome_detail "replay requested by <who>", at the clock's time). The
// next attempt re-checks consent and scopes (ParticipantDeliverer). `who` is the admin
// certificate CN or "cli:<user>"; `broker_ods` this broker's ODS code. Errors: the queue's
// (kNotFound unless the item is dead); a ledger failure after the replay is kStorage (the item is
// queued again all the same).
core::Status ReplayDeadLetter(core::OutboundQueue& queue, ledger::Ledger* ledger, std::int64_t id,
                              const std::string& who, const std::string& broker_ods,
                              const core::Clock& clock);

// `trustbridge queue list|counts|replay ID|discard ID --config FILE`: the store-and-forward queue
// of the broker whose config is given, opened directly (the broker may be running: SQLite WAL
// and PostgreSQL both allow it). `list` prints the dead letters, `replay` makes one due again
// (a new delivery attempt, recorded as a new hop), `discard` gives up on it and releases the
// patient's later messages to that destination. Exit: 0 done, 1 no such item / not allowed in
// its state, 2 usage, config or storage problems.
int QueueCommand(const Flags& flags, std::ostream& out, std::ostream& err);

}  // namespace tb::app
