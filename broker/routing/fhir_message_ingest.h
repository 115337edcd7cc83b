#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/json.h"
#include "adapters/fhir/validate.h"
#include "broker/core/clock.h"
#include "broker/core/error.h"
#include "broker/core/inbound_store.h"
#include "broker/core/log.h"
#include "broker/core/peer_identity.h"
#include "broker/core/record_locator.h"
#include "broker/ledger/ledger.h"
#include "broker/routing/destinations.h"
#include "broker/routing/participant.h"

namespace tb::routing {

struct FhirMessageIngestSettings {
  std::string broker_ods;   // the broker's own ODS code: a destination naming it means "route"
  fhir::JsonLimits limits;  // max_bytes: the largest message accepted (kTooLarge beyond)
  // Schema and UK Core validation of the whole Bundle (adapters/fhir/validate.h); null: only the
  // structural checks below (tests of routing alone). Borrowed; must outlive the ingest.
  const fhir::Validator* validator = nullptr;
};

// What became of one posted message, for the HTTP answer and the log.
struct FhirMessageIngestResult {
  // "stored", "duplicate", "conflict", "refused" (identity or destination), "invalid",
  // "storage_error".
  std::string outcome;
  // Why it was not accepted (the first is the main one); empty for stored and duplicate.
  std::vector<core::Error> errors;
  std::string sender;        // participant ODS; empty when the certificate maps to none
  std::string message_type;  // "ADT^A08" (v2-0003 events), else the event code or URI
  std::string control_id;    // Bundle.id, else Bundle.identifier.value
  // The request's MessageHeader, so that a response message can answer it (FHIR messaging):
  // its id (response.identifier) and its event, as eventCoding (system + code) or eventUri.
  std::string header_id;
  std::string event_system;
  std::string event_code;
  std::string event_uri;
  std::int64_t message_id = 0;            // the stored row (stored/duplicate/conflict)
  std::vector<Destination> destinations;  // where a stored message is routed

  bool accepted() const { return outcome == "stored" || outcome == "duplicate"; }
  // True once the request's MessageHeader was read, so a response message can be built.
  bool has_header() const { return !header_id.empty(); }
};

// FHIR messaging at the broker's edge (`POST /fhir/$process-message`), the counterpart of
// Hl7Ingest for message Bundles: identify the sender, check, route, store, then answer.
//   1. The sender is the participant of the client certificate's CN; none: refused (kForbidden).
//      A MessageHeader.sender naming (ODS identifier) another organisation: refused likewise.
//   2. The body is parsed under `limits`: a Bundle of type "message" with an id (or identifier),
//      whose first entry is a MessageHeader with an id and an event (eventCoding or eventUri).
//      With a validator, the whole Bundle is checked against the R4 schema and the UK Core rules.
//      Problems: "invalid", with every error found (FHIRPath locations, never payload text).
//   3. The patient is the first Patient entry with an NHS number identifier; every NHS number of
//      every Patient must pass the Modulus 11 check (kInvalidValue at the identifier's value).
//   4. Destinations (routing::ResolveDestinations) per MessageHeader.destination: the receiver
//      (an ODS identifier, directly or on the Organization it references inside the Bundle) or
//      an endpoint equal to a participant's fhir_base names a participant; naming the broker
//      (`broker_ods`, or an endpoint equal to `broker_base`) or nothing routes to the participants
//      the record locator lists for the patient. A destination that names anything else is refused
//      (kForbidden, data-loss prevention) and the whole message with it; nothing is stored.
//   5. InboundStore::Accept stores the message (compact JSON, so a resend that differs only in
//      whitespace is the same message) with its routes in one transaction. The dedupe key is
//      sender|fhir|Bundle.id (or sender|fhir-identifier|system|value): the same content again is
//      a "duplicate" (answered again, routed once); other content under the same key is a
//      "conflict" (refused, the first version stands); a failed store is "storage_error" and
//      nothing of it was kept.
//   6. A stored message teaches the record locator that the sender holds the patient (source
//      "fhir:<message type>"): in the message's own transaction when the store writes
//      announcements (InboundStore::WritesLocatorAnnouncements; a failure there is the store's
//      "storage_error"), else after it, where a locator failure is logged and the message stays
//      accepted.
//   7. The audit ledger (when given) gets an inbound hop for a stored message and a refusal hop
//      (error code; the refused destination's ODS code when known) for every refused one; a
//      duplicate adds nothing. A ledger failure is logged; the answer stands.
//
// Thread-safety: Ingest may run on many threads at once. It blocks on the store, the locator and
// the ledger: call it from the blocking pool, never from an I/O thread. Everything passed to the
// constructor must outlive the ingest.
class FhirMessageIngest {
 public:
  // `locator` may be null (no patients known, nothing learnt); `ledger` may be null.
  FhirMessageIngest(const ParticipantDirectory& directory, core::InboundStore& store,
                    core::RecordLocator* locator, const core::Clock& clock,
                    FhirMessageIngestSettings settings = {}, ledger::Ledger* ledger = nullptr);

  // `broker_base`: the base URL the client reached this broker at (https://host/fhir), if known;
  // a destination endpoint equal to it names the broker itself.
  FhirMessageIngestResult Ingest(std::string_view body, const core::PeerIdentity& peer,
                                 std::string_view broker_base = {});

 private:
  // What the audit record of one message needs, gathered while it is processed.
  struct HopFacts {
    std::string nhs_number;
    std::string digest;               // SHA-256 of the stored form, or of the body as received
    std::string refused_destination;  // ODS code of a refused destination, when known
    std::vector<std::string> other_patients;  // core::InboundMessage::other_nhs_numbers
  };
  FhirMessageIngestResult Process(std::string_view body, const core::PeerIdentity& peer,
                                  std::string_view broker_base, HopFacts& facts);
  void RecordHop(const FhirMessageIngestResult& result, const core::PeerIdentity& peer,
                 const HopFacts& facts);

  const ParticipantDirectory& directory_;
  core::InboundStore& store_;
  core::RecordLocator* locator_;
  ledger::Ledger* ledger_;
  const core::Clock& clock_;
  FhirMessageIngestSettings settings_;
  core::Logger log_{"tb.fhir_message_ingest"};
};

}  // namespace tb::routing
