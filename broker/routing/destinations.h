#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/record_locator.h"
#include "broker/core/result.h"
#include "broker/routing/participant.h"

namespace tb::routing {

// Where an inbound message goes, and in which format (issue 5 item 4).
struct Destination {
  std::string ods;     // a registered participant
  std::string format;  // "hl7v2" (its MLLP endpoint) or "fhir" (its FHIR base, $process-message)
};

struct DestinationRequest {
  std::string sender_ods;    // the participant of the sending certificate
  std::string message_type;  // "ADT^A01"
  std::string addressed_to;  // MSH-6.1 or MessageHeader.destination's ODS code; may be empty
  std::string nhs_number;    // empty when the message names no patient
  // False for an HL7 v2 message the v2 -> FHIR mapping does not cover (mappings::HasFhirMapping:
  // ADT^A34, MDM, SIU...): participants that take FHIR are left out, as if their `receives`
  // excluded the type, since nothing readable could ever be sent to them.
  bool fhir_readable = true;
  // The other patients the message carries (core::InboundMessage::other_nhs_numbers): routed
  // by holders, the message goes to theirs too.
  std::vector<std::string> other_nhs_numbers = {};
};

// The format a participant receives in: its configured `format` when it has that format's
// endpoint (an MLLP endpoint for "hl7v2", a FHIR base for "fhir"), else "hl7v2" when it has an
// MLLP endpoint, else "fhir" when it has a FHIR base; "" when it cannot receive messages
// (including a configured format without its endpoint).
std::string_view ReceivingFormat(const Participant& participant);

// True when `participant.receives` is empty (everything) or lists the type ("ADT") or the
// type^trigger ("ADT^A01").
bool Receives(const Participant& participant, std::string_view message_type);

// True when ResolveDestinations routes `request` by the record locator's holders of its patient:
// addressed to the broker (`broker_ods`) or to nobody, and naming a patient.
bool RoutesByHolders(const DestinationRequest& request, std::string_view broker_ods);

// ResolveDestinations for such a request once the holders (ODS codes, from the locator) are
// known: every one that is a registered participant, not the sender, can receive and takes the
// type. Never blocks.
std::vector<Destination> DestinationsOfHolders(const DestinationRequest& request,
                                               const ParticipantDirectory& directory,
                                               const std::vector<std::string>& holders);

// The destinations of one inbound message:
//   - addressed to a registered participant: that participant, when it can take the message
//     (not the sender, takes the type, has an endpoint for messages, and the type has a FHIR
//     mapping when it takes FHIR); otherwise kUndeliverable at "MSH-6" with the reason, so that the
//     sender is told (AR, a 422) rather than acknowledged for a message that goes nowhere;
//   - addressed to the broker itself (`broker_ods`) or to nobody: every participant the record
//     locator lists for the NHS number or one of the other patients' (the trusts that hold a
//     patient of the message) that can take the message (a holder that cannot is left out: it
//     is not the message's addressee); none without an NHS number (the message still updates
//     the locator);
//   - addressed to anything else: kForbidden at "MSH-6" — data only ever goes to registered
//     participants (data-loss prevention); the caller refuses the message and records why.
// Sorted by ODS code; no duplicates. Blocks on the locator (call from the blocking pool); a null
// locator knows no patients.
// Errors: kForbidden and kUndeliverable as above; the locator's (kStorage).
core::Result<std::vector<Destination>> ResolveDestinations(const DestinationRequest& request,
                                                           const ParticipantDirectory& directory,
                                                           core::RecordLocator* locator,
                                                           std::string_view broker_ods);

// The sender of a stored message holds every patient it names: `nhs_number`, then each of
// `others`, announced to `locator` with `source` ("hl7v2:ADT^A01") at `at_ms`. Stops at the
// first failure and returns it. For a store that does not write announcements with the message
// (both ingests); blocks on the locator.
core::Status AnnounceSender(core::RecordLocator& locator, const std::string& nhs_number,
                            const std::vector<std::string>& others, const std::string& sender,
                            const std::string& source, std::int64_t at_ms);

}  // namespace tb::routing
