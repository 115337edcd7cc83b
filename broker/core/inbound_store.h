#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/audit_ledger.h"
#include "broker/core/nhs_number.h"
#include "broker/core/result.h"

namespace tb::core {

// One destination of an inbound message, decided by routing before the message is stored.
struct OutboundRoute {
  std::string destination;  // participant ODS code ("RGT")
  std::string format;       // "hl7v2" | "fhir": the form that destination receives
};

// What a stored message teaches the record locator (core::RecordLocator::Announce's arguments):
// participant `ods` holds data for `nhs_number`.
struct LocatorAnnouncement {
  std::string nhs_number;  // valid NHS number (core::IsValidNhsNumber)
  std::string ods;         // the holder, usually the sender
  std::string source;      // "hl7v2:ADT^A01", "fhir:<event>"
  std::int64_t at_ms = 0;  // UTC milliseconds since the Unix epoch
};

struct AcceptResult;

// A message as received from a participant, before routing. The caller (MLLP or FHIR ingest)
// fills every field; the store does not parse payloads.
struct InboundMessage {
  std::string sender;          // participant ODS code ("RJ1")
  std::string protocol;        // "hl7v2" | "fhir"
  std::string message_type;    // "ADT^A01", or the FHIR message event code
  std::string control_id;      // MSH-10, or the message Bundle.id
  std::string dedupe_key;      // sender|MSH-3|MSH-4|MSH-10 (or the FHIR equivalent), by the caller
  std::string content_sha256;  // lowercase hex SHA-256 of `payload` (64 characters)
  std::string nhs_number;      // empty when the message names no patient
  // The other patients the message carries (a two-patient HL7 v2 event, ADT^A17, A24 or A37; a
  // merge's retired or linked record), each a valid NHS number, none repeated or equal to
  // `nhs_number` (which must then be set). Their holders get the message too
  // (`route_by_holders`), and with `announce` set each is announced for the same holder, source
  // and time. The queue orders the message with `nhs_number`'s.
  std::vector<std::string> other_nhs_numbers;
  std::string payload;              // the bytes as received (may hold any byte values)
  std::int64_t received_at_ms = 0;  // UTC milliseconds since the Unix epoch
  // Where it goes. A kStored message gets one outbound queue item per route, written in the same
  // transaction as the message (core::OutboundQueue); a kDuplicate or kConflict gets none. Empty:
  // nothing to deliver (the message still counts as stored).
  std::vector<OutboundRoute> routes;
  // Set only for a store whose WritesLocatorAnnouncements() is true: a kStored message's
  // announcement is upserted into that store's record locator in the same transaction as the
  // message (one commit, no separate Announce before the ACK; never one without the other); a
  // kDuplicate or kConflict announces nothing.
  std::optional<LocatorAnnouncement> announce;
  // Set only for a store that writes ledger hops (InboundStore::WritesLedgerHops()): called on
  // the store's committer inside the message's batch transaction once its outcome is known (a
  // kStored message's row id included); the drafts it returns (one per patient the message
  // carries) are chained into the audit ledger in that same transaction, in their order, so the
  // message and its audit records commit together or not at all. None: no record (a
  // duplicate). If the batch fails, nothing of it was written.
  std::function<std::vector<LedgerDraft>(const AcceptResult&)> audit;
  // Set only for a store whose RoutesByHoldersInCommit() is true, in place of `routes` (left
  // empty): called on the store's committer inside the batch transaction for a kStored message,
  // with the ODS codes that the record locator lists for `nhs_number` and `other_nhs_numbers` as
  // that transaction sees them (ascending, each once); the routes it returns are queued in the
  // same transaction. So the caller reads no locator before the store and needs no thread that
  // may block. Not called for a kDuplicate or kConflict; must not block.
  std::function<std::vector<OutboundRoute>(const std::vector<std::string>& holders)>
      route_by_holders;
};

enum class AcceptOutcome {
  kStored,     // new: durably stored, ACK and route it
  kDuplicate,  // same dedupe_key and same content_sha256 seen before: ACK again, don't route again
  kConflict,   // same dedupe_key, different content: refuse (the sender reused a control id)
};

struct AcceptResult {
  AcceptOutcome outcome = AcceptOutcome::kStored;
  // The stored row: the new one for kStored, the earlier one for kDuplicate and kConflict.
  std::int64_t message_id = 0;
};

inline std::string_view ToString(AcceptOutcome outcome) {
  switch (outcome) {
    case AcceptOutcome::kStored:
      return "stored";
    case AcceptOutcome::kDuplicate:
      return "duplicate";
    case AcceptOutcome::kConflict:
      return "conflict";
  }
  return "unknown";
}

// The port through which ingest stores what it received (DESIGN.md: ACK after commit; idempotent
// on MSH-10). Implementations: tb::store::SqlInboundStore (SQLite, PostgreSQL) and
// tb::testing::InMemoryInboundStore.
//
// Thread-safety: every method may be called from many threads at once. Methods block (they do
// storage I/O): call them from the blocking pool, never from an I/O thread.
class InboundStore {
 public:
  virtual ~InboundStore() = default;

  // Stores `message` unless its dedupe_key is already known. Returns only after the row is
  // durably committed (or with the error): an ACK may be sent as soon as this returns kStored or
  // kDuplicate. Errors: kInvalidValue when a required field is empty or malformed (location names
  // the field); kStorage when the database failed, in which case nothing of this message was
  // stored and the sender should retry later.
  virtual Result<AcceptResult> Accept(const InboundMessage& message) = 0;

  // Accept() without blocking the caller: `done` gets what Accept() would return, once the
  // message is durably committed (or failed). A store with its own committer (SqlInboundStore)
  // runs `done` on that thread, so it must be short, must not throw and must not block on the
  // store; post real work elsewhere. This default stores synchronously and runs `done` in the
  // calling thread. Lets a few threads keep many messages in flight: no thread waits per message.
  using AcceptCallback = std::function<void(Result<AcceptResult>)>;
  virtual void AcceptAsync(InboundMessage message, AcceptCallback done) { done(Accept(message)); }

  // Where a store with its own committer runs AcceptAsync's callbacks: by default on that thread,
  // one after the other. After this call it hands all the callbacks of one commit to `post` as a
  // single task instead (the broker posts it to its I/O threads), so that the thread that commits
  // wakes the receiving side once per batch rather than once per message. `post` must not block
  // and should run the task soon; a task destroyed unrun destroys its callbacks unrun. Call
  // before the first AcceptAsync. The default (no committer of its own) ignores it.
  using ReportPoster = std::function<void(std::function<void()>)>;
  virtual void PostAsyncReportsThrough(ReportPoster /*post*/) {}

  // Number of stored messages. Errors: kStorage.
  virtual Result<std::int64_t> Count() = 0;

  // True when Accept() writes InboundMessage::announce into the record locator (the one on the
  // store's own database) in the message's transaction. When false the caller leaves `announce`
  // unset and calls RecordLocator::Announce itself after a kStored.
  virtual bool WritesLocatorAnnouncements() const { return false; }

  // Asks the store to write InboundMessage::audit drafts into `chain`'s ledger in each batch's
  // transaction. True when it will from now on (the ledger's rows are in the store's own
  // database, SQLite); false: the caller leaves `audit` unset and records hops itself. Call
  // before the first Accept; `chain` must outlive the store's use of it.
  virtual bool WriteLedgerHopsInto(LedgerChain* /*chain*/) { return false; }
  virtual bool WritesLedgerHops() const { return false; }
  // True when Accept() runs InboundMessage::route_by_holders (the record locator is in the
  // store's own database, read in the batch transaction). False: the caller leaves it unset.
  virtual bool RoutesByHoldersInCommit() const { return false; }
};

// Checks the fields every InboundStore requires, so that all implementations refuse the same
// messages. Returns kInvalidValue with `location` "InboundMessage.<field>".
inline Status ValidateInboundMessage(const InboundMessage& message) {
  const auto invalid = [](std::string_view field, std::string_view why) {
    return MakeError(ErrorCode::kInvalidValue,
                     "inbound message " + std::string(field) + " " + std::string(why),
                     "InboundMessage." + std::string(field));
  };
  if (message.sender.empty()) {
    return invalid("sender", "is empty");
  }
  if (message.protocol != "hl7v2" && message.protocol != "fhir") {
    return invalid("protocol", "must be 'hl7v2' or 'fhir'");
  }
  if (message.message_type.empty()) {
    return invalid("message_type", "is empty");
  }
  if (message.control_id.empty()) {
    return invalid("control_id", "is empty");
  }
  if (message.dedupe_key.empty()) {
    return invalid("dedupe_key", "is empty");
  }
  if (message.content_sha256.size() != 64 ||
      message.content_sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return invalid("content_sha256", "must be 64 lowercase hex digits");
  }
  if (message.payload.empty()) {
    return invalid("payload", "is empty");
  }
  for (std::size_t i = 0; i < message.routes.size(); ++i) {
    const OutboundRoute& route = message.routes[i];
    const std::string field = "routes[" + std::to_string(i) + "]";
    if (route.destination.empty()) {
      return invalid(field + ".destination", "is empty");
    }
    if (route.format != "hl7v2" && route.format != "fhir") {
      return invalid(field + ".format", "must be 'hl7v2' or 'fhir'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (message.routes[j].destination == route.destination &&
          message.routes[j].format == route.format) {
        return invalid(field, "repeats an earlier route");
      }
    }
  }
  for (std::size_t i = 0; i < message.other_nhs_numbers.size(); ++i) {
    const std::string& other = message.other_nhs_numbers[i];
    const std::string field = "other_nhs_numbers[" + std::to_string(i) + "]";
    if (!IsValidNhsNumber(other)) {
      return invalid(field, "is not a valid NHS number");
    }
    const auto earlier_end = message.other_nhs_numbers.begin() + static_cast<std::ptrdiff_t>(i);
    if (message.nhs_number.empty() || other == message.nhs_number ||
        std::find(message.other_nhs_numbers.begin(), earlier_end, other) != earlier_end) {
      return invalid(field, "repeats nhs_number or an earlier one, or nhs_number is empty");
    }
  }
  if (message.announce) {
    if (!IsValidNhsNumber(message.announce->nhs_number)) {
      return invalid("announce.nhs_number", "is not a valid NHS number");
    }
    if (message.announce->ods.empty()) {
      return invalid("announce.ods", "is empty");
    }
    if (message.announce->source.empty()) {
      return invalid("announce.source", "is empty");
    }
  }
  return Ok();
}

}  // namespace tb::core
