#include "broker/routing/destinations.h"

#include <algorithm>

#include "broker/core/http_types.h"

namespace tb::routing {

std::string_view ReceivingFormat(const Participant& participant) {
  if (!participant.format.empty()) {
    return participant.format;
  }
  if (!participant.mllp.host.empty()) {
    return "hl7v2";
  }
  if (!participant.fhir_base.empty()) {
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

core::Result<std::vector<Destination>> ResolveDestinations(const DestinationRequest& request,
                                                           const ParticipantDirectory& directory,
                                                           core::RecordLocator* locator,
                                                           std::string_view broker_ods) {
  std::vector<Destination> destinations;
  auto consider = [&](const Participant& participant) {
    if (participant.ods == request.sender_ods || !Receives(participant, request.message_type)) {
      return;
    }
    const std::string_view format = ReceivingFormat(participant);
    if (format.empty()) {
      return;
    }
    destinations.push_back(Destination{participant.ods, std::string(format)});
  };

  const bool to_broker =
      request.addressed_to.empty() || core::EqualsIgnoreCase(request.addressed_to, broker_ods);
  if (!to_broker) {
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
    consider(*addressee);
    return destinations;
  }
  if (request.nhs_number.empty() || locator == nullptr) {
    return destinations;
  }
  auto holders = locator->Lookup(request.nhs_number);
  if (!holders) {
    return holders.error();
  }
  for (const core::LocatorEntry& entry : *holders) {
    if (const Participant* participant = directory.FindByOds(entry.ods)) {
      consider(*participant);
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

}  // namespace tb::routing
