#include "broker/routing/destinations.h"

#include <algorithm>
#include <cstdint>

#include "broker/core/http_types.h"

namespace tb::routing {

std::string_view ReceivingFormat(const Participant& participant) {
  const bool mllp = !participant.mllp.host.empty();
  const bool fhir = !participant.fhir_base.empty();
  if (!participant.format.empty()) {
    // A format without its endpoint cannot be delivered: refused at routing (kUndeliverable),
    // not accepted and then dead at delivery.
    const bool reachable =
        participant.format == "hl7v2" ? mllp : participant.format == "fhir" && fhir;
    return reachable ? std::string_view(participant.format) : std::string_view();
  }
  if (mllp) {
    return "hl7v2";
  }
  if (fhir) {
    return "fhir";
  }
  return {};
}

bool Receives(const Participant& participant, std::string_view message_type) {
  if (participant.receives.empty()) {
    return true;
  }
  const std::string_view type = message_type.substr(0, message_type.find('^'));
  return std::any_of(
      participant.receives.begin(), participant.receives.end(),
      [&](const std::string& entry) { return entry == message_type || entry == type; });
}

namespace {

// Why a participant cannot take a message (kCan: it can). An enum, not text: the holders of every
// routed message are judged on the ingest path, the sender among them.
enum class Fit : std::uint8_t { kCan, kSender, kNotReceived, kNoEndpoint, kNoFhirMapping };

Fit FitOf(const DestinationRequest& request, const Participant& participant) {
  if (participant.ods == request.sender_ods) {
    return Fit::kSender;
  }
  if (!Receives(participant, request.message_type)) {
    return Fit::kNotReceived;
  }
  const std::string_view format = ReceivingFormat(participant);
  if (format.empty()) {
    return Fit::kNoEndpoint;
  }
  if (format == "fhir" && !request.fhir_readable) {
    return Fit::kNoFhirMapping;
  }
  return Fit::kCan;
}

std::string Why(Fit fit, const DestinationRequest& request) {
  switch (fit) {
    case Fit::kSender:
      return "the receiving facility is the sender";
    case Fit::kNotReceived:
      return "the receiving facility does not take " + request.message_type +
             " messages (its receives list)";
    case Fit::kNoEndpoint:
      return "the receiving facility has no endpoint that takes messages";
    case Fit::kNoFhirMapping:
      return "the receiving facility takes FHIR, and " + request.message_type +
             " has no FHIR mapping";
    case Fit::kCan:
      break;
  }
  return {};
}

// Adds `participant` when it can take the message.
void Consider(const DestinationRequest& request, const Participant& participant,
              std::vector<Destination>& destinations) {
  if (FitOf(request, participant) == Fit::kCan) {
    destinations.push_back(Destination{participant.ods, std::string(ReceivingFormat(participant))});
  }
}

bool ToBroker(const DestinationRequest& request, std::string_view broker_ods) {
  return request.addressed_to.empty() || core::EqualsIgnoreCase(request.addressed_to, broker_ods);
}

}  // namespace

bool RoutesByHolders(const DestinationRequest& request, std::string_view broker_ods) {
  return ToBroker(request, broker_ods) && !request.nhs_number.empty();
}

std::vector<Destination> DestinationsOfHolders(const DestinationRequest& request,
                                               const ParticipantDirectory& directory,
                                               const std::vector<std::string>& holders) {
  std::vector<Destination> destinations;
  for (const std::string& ods : holders) {
    if (const Participant* participant = directory.FindByOds(ods)) {
      Consider(request, *participant, destinations);
    }
  }
  std::sort(destinations.begin(), destinations.end(),
            [](const Destination& a, const Destination& b) { return a.ods < b.ods; });
  destinations.erase(
      std::unique(destinations.begin(), destinations.end(),
                  [](const Destination& a, const Destination& b) { return a.ods == b.ods; }),
      destinations.end());
  return destinations;
}

core::Result<std::vector<Destination>> ResolveDestinations(const DestinationRequest& request,
                                                           const ParticipantDirectory& directory,
                                                           core::RecordLocator* locator,
                                                           std::string_view broker_ods) {
  std::vector<Destination> destinations;
  if (!ToBroker(request, broker_ods)) {
    const Participant* addressee = nullptr;
    for (const Participant& participant : directory.participants()) {
      if (core::EqualsIgnoreCase(participant.ods, request.addressed_to)) {
        addressee = &participant;
      }
    }
    if (addressee == nullptr) {
      return core::MakeError(core::ErrorCode::kForbidden,
                             "the receiving facility is not a registered participant", "MSH-6");
    }
    if (const Fit fit = FitOf(request, *addressee); fit != Fit::kCan) {
      return core::MakeError(core::ErrorCode::kUndeliverable, Why(fit, request), "MSH-6");
    }
    Consider(request, *addressee, destinations);
    return destinations;
  }
  if (request.nhs_number.empty() || locator == nullptr) {
    return destinations;
  }
  std::vector<std::string> holders;
  const auto add_holders = [&](const std::string& nhs_number) -> core::Status {
    auto entries = locator->Lookup(nhs_number);
    if (!entries) {
      return entries.error();
    }
    for (core::LocatorEntry& entry : *entries) {
      holders.push_back(std::move(entry.ods));
    }
    return core::Ok();
  };
  BROKER_RETURN_IF_ERROR(add_holders(request.nhs_number));
  for (const std::string& other : request.other_nhs_numbers) {
    BROKER_RETURN_IF_ERROR(add_holders(other));
  }
  return DestinationsOfHolders(request, directory, holders);  // sorts, and drops repeats
}

core::Status AnnounceSender(core::RecordLocator& locator, const std::string& nhs_number,
                            const std::vector<std::string>& others, const std::string& sender,
                            const std::string& source, std::int64_t at_ms) {
  BROKER_RETURN_IF_ERROR(locator.Announce(nhs_number, sender, source, at_ms));
  for (const std::string& other : others) {
    BROKER_RETURN_IF_ERROR(locator.Announce(other, sender, source, at_ms));
  }
  return core::Ok();
}

}  // namespace tb::routing
