#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

namespace tb::core {

// The life of one (inbound message, destination) delivery. docs/queue.md draws the transitions.
enum class OutboundStatus {
  kQueued,     // waiting for its first attempt or for its next retry (next_attempt_at)
  kInFlight,   // claimed by a worker until lease_until
  kDelivered,  // the destination accepted it (final)
  kDead,       // permanent failure or out of retries: held for an operator (replay or discard)
  kDiscarded,  // an operator gave up on it (final)
};

// What a Deliverer needs to send one message to one destination: the queue row plus the inbound
// message it came from. `payload` is PHI: never log it (nor `nhs_number`).
struct OutboundItem {
  std::int64_t id = 0;                  // queue row id; ids order arrivals
  std::int64_t inbound_message_id = 0;  // the InboundStore row
  std::string destination;              // participant ODS code
  std::string format;                   // "hl7v2" | "fhir": the form the destination receives
  std::string nhs_number;               // empty: the message names no patient
  OutboundStatus status = OutboundStatus::kQueued;
  std::int32_t attempts = 0;            // failed attempts so far
  std::int64_t next_attempt_at_ms = 0;  // UTC ms; for kInFlight the end of the lease
  std::int64_t created_at_ms = 0;       // UTC ms (the inbound message's received_at)
  std::string last_error;               // of the last failed attempt; no PHI
  std::int64_t replayed_at_ms = 0;      // UTC ms of the last Replay(); 0: never replayed
  // From the inbound message:
  std::string sender;        // ODS code of the participant that sent it
  std::string protocol;      // "hl7v2" | "fhir" as received
  std::string message_type;  // "ADT^A01", or the FHIR event code
  std::string control_id;    // MSH-10 or Bundle.id: the destination sees the sender's id
  std::string payload;       // the bytes as received; mapping to `format` is the Deliverer's job
};

struct QueueCounts {
  std::int64_t queued = 0;  // includes items waiting for a retry
  std::int64_t in_flight = 0;
  std::int64_t delivered = 0;
  std::int64_t dead = 0;
  std::int64_t discarded = 0;
};

// Retention of inbound messages (docs/queue.md). Only messages whose queue items are all
// delivered or discarded (or that have none) are touched, oldest first, at most max_rows of each
// kind per call (short transactions: ingest shares the writer).
struct PurgePolicy {
  // Older than this (by received_at): the payload is erased; the row stays, so its dedupe key
  // still recognises a resend (acknowledged again, not delivered again).
  std::chrono::milliseconds payload_retention{std::chrono::hours(24)};
  // Older than this: the message and its queue items are deleted; a resend is then new.
  std::chrono::milliseconds key_retention{std::chrono::hours(24 * 30)};
  std::size_t max_rows = 1000;
};

struct PurgeResult {
  std::int64_t payloads_erased = 0;
  std::int64_t messages_deleted = 0;
};

// The durable outbound queue (store-and-forward). Items are created by the InboundStore in the
// same transaction as their inbound message (InboundMessage::routes), so a stored message always
// has its queue rows and a duplicate or conflict never adds any.
//
// ORDER RULE: a partition is (destination, nhs_number); an item without an NHS number is a
// partition of its own. Only the oldest item (lowest id) of a partition that is not delivered or
// discarded may be claimed: while it is queued for a retry, in flight or dead, the partition's
// later items are held. Other partitions are never blocked.
//
// Implementations: tb::store::SqlOutboundQueue (SQLite, PostgreSQL; store.h MakeOutboundQueue)
// and tb::testing::InMemoryOutboundQueue. Thread-safety: every method may be called from many
// threads (and, on PostgreSQL, many nodes) at once. Methods block on storage I/O. Errors: kStorage
// when the database failed (nothing changed); others as stated.
class OutboundQueue {
 public:
  virtual ~OutboundQueue() = default;

  // Claims up to `max` items that are partition heads and due (queued with next_attempt_at <= now,
  // or in flight with an expired lease, or in flight leased to this same `owner` - a restarted
  // worker takes back its own items at once). Claimed items are kInFlight, leased to `owner` until
  // now + `lease`; they come back in id order. An empty vector: nothing is due. An item whose
  // payload cannot be opened (tampered with, its key gone) is made dead instead, with last_error
  // saying why, and not returned: one such item must not stop every delivery.
  virtual Result<std::vector<OutboundItem>> ClaimNext(const std::string& owner, std::size_t max,
                                                      std::chrono::milliseconds lease) = 0;

  // The destination accepted item `id`: kDelivered, which releases its partition's next item.
  // kNotFound when there is no such item or it is already delivered, dead or discarded.
  virtual Status MarkDelivered(std::int64_t id) = 0;

  // An attempt at item `id` failed: attempts + 1, last_error = `error` (no PHI). `permanent`
  // makes it kDead; otherwise it is queued again for `next_attempt_at_ms`. kNotFound as above.
  virtual Status MarkFailed(std::int64_t id, const std::string& error, bool permanent,
                            std::int64_t next_attempt_at_ms) = 0;

  // MarkDelivered / MarkFailed for a worker: they apply only while `owner` still holds item `id`'s
  // lease (in flight, leased to `owner`; an expired lease nobody has taken over still counts).
  // Otherwise kConflict and nothing changes: a worker whose delivery outlived its lease, after
  // another worker re-claimed the item, can neither release the partition's next item under the
  // new holder nor count a failure against it. kNotFound when there is no such item.
  virtual Status MarkDeliveredAs(const std::string& owner, std::int64_t id) = 0;
  virtual Status MarkFailedAs(const std::string& owner, std::int64_t id, const std::string& error,
                              bool permanent, std::int64_t next_attempt_at_ms) = 0;

  // Item `id` with its payload, whatever its status (an operator's replay records its digest).
  // kNotFound when there is no such item.
  virtual Result<OutboundItem> Get(std::int64_t id) = 0;

  // Dead letters with an id above `after_id`, in id order, at most `limit`, WITHOUT their
  // payloads (empty): one page of an operator's list (the next starts after the last id shown);
  // Get() reads one item's payload.
  virtual Result<std::vector<OutboundItem>> ListDead(std::int64_t after_id, std::size_t limit) = 0;

  // An operator retries dead item `id`: queued, due now, attempts 0. kNotFound unless it is dead.
  virtual Status Replay(std::int64_t id) = 0;

  // An operator gives up on item `id` (dead or queued): kDiscarded, which releases its partition.
  // kNotFound when no such item; kConflict when it is in flight, delivered or discarded.
  virtual Status Discard(std::int64_t id) = 0;

  // Items held behind item `id`: the later items of its partition that are not delivered or
  // discarded (0 for an item without an NHS number). For alerts. kNotFound when no such item.
  virtual Result<std::int64_t> CountHeldBehind(std::int64_t id) = 0;

  virtual Result<QueueCounts> Counts() = 0;

  // Applies `policy` once (call it periodically; repeat while a result hits max_rows).
  // Errors: kInvalidValue when key_retention < payload_retention.
  virtual Result<PurgeResult> Purge(const PurgePolicy& policy) = 0;
};

enum class DeliveryOutcome {
  kDelivered,         // the destination took it (AA/CA, 2xx)
  kPermanentFailure,  // the destination refused it (AE/AR, 4xx): retrying won't help -> dead
  kTransientFailure,  // connection refused, timeout, 5xx: retry later
  // Policy (consent or the destination's scopes) forbids this delivery: not sent, not retried,
  // and not a dead letter (it must not hold the patient's later messages): the worker discards
  // it with the reason as last_error. A replay re-checks (docs/policy.md, "Push path").
  kRefused,
};

struct DeliveryResult {
  DeliveryOutcome outcome = DeliveryOutcome::kDelivered;
  std::string detail;  // why it failed ("AE 207 from RGT"); no PHI
};

// Sends one outbound item to its destination (MLLP/TLS or FHIR over mTLS), mapping it to
// item.format first. Implemented by broker/app's transports; tests use a FakeDeliverer.
//
// Thread-safety: called from several delivery threads at once, never twice at the same time for
// one partition. Blocks until the destination answered or the attempt timed out. An error result
// counts as a transient failure (error.message is recorded; it must not hold PHI).
class Deliverer {
 public:
  virtual ~Deliverer() = default;
  virtual Result<DeliveryResult> Deliver(const OutboundItem& item) = 0;
};

inline std::string_view ToString(OutboundStatus status) {
  switch (status) {
    case OutboundStatus::kQueued:
      return "queued";
    case OutboundStatus::kInFlight:
      return "in_flight";
    case OutboundStatus::kDelivered:
      return "delivered";
    case OutboundStatus::kDead:
      return "dead";
    case OutboundStatus::kDiscarded:
      return "discarded";
  }
  return "unknown";
}

// The inverse of ToString; false for an unknown name.
inline bool ParseOutboundStatus(std::string_view text, OutboundStatus& status) {
  for (const OutboundStatus candidate :
       {OutboundStatus::kQueued, OutboundStatus::kInFlight, OutboundStatus::kDelivered,
        OutboundStatus::kDead, OutboundStatus::kDiscarded}) {
    if (ToString(candidate) == text) {
      status = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace tb::core
