#include "broker/routing/fhir_message_ingest.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <rapidjson/document.h>

#include "broker/core/digest.h"
#include "broker/core/http_types.h"
#include "broker/core/nhs_number.h"
#include "broker/routing/hl7_ingest.h"
#include "broker/routing/inbound_hop.h"
#include "mappings/fhir_to_v2.h"

namespace tb::routing {

namespace {

using core::ErrorCode;
using core::MakeError;
using rapidjson::SizeType;
using rapidjson::Value;

constexpr std::string_view kV2EventSystem = "http://terminology.hl7.org/CodeSystem/v2-0003";
constexpr std::string_view kHeaderPath = "Bundle.entry[0].resource";

std::string EntryPath(SizeType index) {
  return "Bundle.entry[" + std::to_string(index) + "].resource";
}

// The message type used for routing (`receives` filters) and the queue: an HL7 v2 event code
// (v2-0003, as tb::mappings writes it) becomes "TYPE^TRIGGER" when exactly one accepted v2 type
// has that trigger (A08 -> ADT^A08, R01 -> ORU^R01), so a FHIR ADT is filtered like a v2 ADT;
// any other event stays as it was sent.
std::string MessageTypeOf(std::string_view system, std::string_view code, std::string_view uri) {
  if (code.empty()) {
    return std::string(uri);
  }
  if (system == kV2EventSystem) {
    std::string found;
    int matches = 0;
    for (const std::string& type : DefaultHl7MessageTypes()) {
      const std::size_t caret = type.find('^');
      if (caret != std::string::npos && std::string_view(type).substr(caret + 1) == code) {
        found = type;
        ++matches;
      }
    }
    if (matches == 1) {
      return found;
    }
  }
  return std::string(code);
}

// The resource an in-Bundle reference points at: an entry whose fullUrl is the reference, or
// whose resource is "Type/id" (relative, or the tail of an absolute URL). Null when none.
const Value* ResolveReference(const Value& entries, std::string_view reference) {
  for (const Value& entry : entries.GetArray()) {
    const Value* resource = fhir::FindObject(entry, "resource");
    if (resource == nullptr) {
      continue;
    }
    if (fhir::FindString(entry, "fullUrl") == reference) {
      return resource;
    }
    const auto type = fhir::FindString(*resource, "resourceType");
    const auto id = fhir::FindString(*resource, "id");
    if (!type || !id) {
      continue;
    }
    const std::string relative = std::string(*type) + "/" + std::string(*id);
    if (reference == relative ||
        (reference.size() > relative.size() && reference.ends_with("/" + relative))) {
      return resource;
    }
  }
  return nullptr;
}

// Whether `patient` links (Patient.link[].other) to `target`, a resource of the same Bundle.
bool LinksTo(const Value& patient, const Value& target, const Value& entries) {
  const Value* links = fhir::FindArray(patient, "link");
  if (links == nullptr) {
    return false;
  }
  for (const Value& link : links->GetArray()) {
    const Value* other = fhir::FindObject(link, "other");
    const auto reference = other != nullptr ? fhir::FindString(*other, "reference") : std::nullopt;
    if (reference && ResolveReference(entries, *reference) == &target) {
      return true;
    }
  }
  return false;
}

// The ODS code among `identifiers` (an Identifier or an array of them), if any.
std::optional<std::string> OdsIdentifier(const Value* identifiers) {
  if (identifiers == nullptr) {
    return std::nullopt;
  }
  auto of = [](const Value& identifier) -> std::optional<std::string> {
    if (fhir::FindString(identifier, "system") == core::kOdsCodeSystem) {
      if (const auto value = fhir::FindString(identifier, "value"); value && !value->empty()) {
        return std::string(*value);
      }
    }
    return std::nullopt;
  };
  if (identifiers->IsArray()) {
    for (const Value& identifier : identifiers->GetArray()) {
      if (auto code = of(identifier)) {
        return code;
      }
    }
    return std::nullopt;
  }
  return of(*identifiers);
}

// What a Reference (MessageHeader.sender, destination.receiver) says about an organisation.
struct NamedOrganisation {
  bool named = false;  // the reference is there and says something
  std::string ods;     // its ODS code, when it could be found
};

NamedOrganisation OrganisationOf(const Value* reference, const Value& entries) {
  NamedOrganisation result;
  if (reference == nullptr || !reference->IsObject()) {
    return result;
  }
  if (auto code = OdsIdentifier(fhir::FindMember(*reference, "identifier"))) {
    return {true, std::move(*code)};
  }
  const auto target = fhir::FindString(*reference, "reference");
  if (!target || target->empty()) {
    // Only a display: names someone we cannot identify.
    result.named = fhir::FindMember(*reference, "display") != nullptr ||
                   fhir::FindMember(*reference, "identifier") != nullptr;
    return result;
  }
  result.named = true;
  if (const Value* resource = ResolveReference(entries, *target);
      resource != nullptr && fhir::FindString(*resource, "resourceType") == "Organization") {
    result.ods = OdsIdentifier(fhir::FindMember(*resource, "identifier")).value_or("");
  }
  return result;
}

std::string_view TrimSlash(std::string_view url) {
  while (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  return url;
}

// The participant whose FHIR base is `endpoint` (compared without case and trailing '/').
const Participant* ParticipantAt(const ParticipantDirectory& directory, std::string_view endpoint) {
  for (const Participant& participant : directory.participants()) {
    if (!participant.fhir_base.empty() &&
        core::EqualsIgnoreCase(TrimSlash(participant.fhir_base), TrimSlash(endpoint))) {
      return &participant;
    }
  }
  return nullptr;
}

}  // namespace

FhirMessageIngest::FhirMessageIngest(const ParticipantDirectory& directory,
                                     core::InboundStore& store, core::RecordLocator* locator,
                                     const core::Clock& clock, FhirMessageIngestSettings settings,
                                     ledger::Ledger* ledger)
    : directory_(directory),
      store_(store),
      locator_(locator),
      ledger_(ledger),
      clock_(clock),
      settings_(std::move(settings)) {}

FhirMessageIngestResult FhirMessageIngest::Ingest(std::string_view body,
                                                  const core::PeerIdentity& peer,
                                                  std::string_view broker_base) {
  HopFacts facts;
  FhirMessageIngestResult result = Process(body, peer, broker_base, facts);
  if (ledger_ != nullptr && result.outcome != "duplicate") {
    if (facts.digest.empty()) {
      facts.digest = core::Sha256Hex(body);
    }
    RecordHop(result, peer, facts);
  }
  return result;
}

void FhirMessageIngest::RecordHop(const FhirMessageIngestResult& result,
                                  const core::PeerIdentity& peer, const HopFacts& facts) {
  const bool stored = result.outcome == "stored";
  InboundHopFacts hop;
  hop.stored = stored;
  hop.time_ms = core::ToUnixMs(clock_.Now());
  hop.control_id = result.control_id;
  hop.broker_ods = settings_.broker_ods;
  hop.sender = result.sender;
  hop.sender_address = peer.remote_address;
  hop.nhs_number = facts.nhs_number;
  hop.digest = facts.digest;
  hop.message_id = result.message_id;
  hop.destination_ods = facts.refused_destination;
  hop.other_patients = facts.other_patients;
  hop.outcome_detail = stored || result.errors.empty()
                           ? result.message_type
                           : std::string(core::Info(result.errors.front().code).name);
  RecordInboundHop(*ledger_, hop, log_);
}

FhirMessageIngestResult FhirMessageIngest::Process(std::string_view body,
                                                   const core::PeerIdentity& peer,
                                                   std::string_view broker_base, HopFacts& facts) {
  FhirMessageIngestResult result;
  auto fail = [&result](std::string outcome, core::Error error) {
    result.outcome = std::move(outcome);
    result.errors.push_back(std::move(error));
    return result;
  };

  // 1. Who sends: the certificate only. Nothing of an unknown party's body is read.
  const Participant* participant = directory_.FindByCertCn(peer.subject_cn);
  if (participant == nullptr) {
    return fail("refused",
                MakeError(ErrorCode::kForbidden,
                          "the client certificate is not registered to any participant"));
  }
  result.sender = participant->ods;

  // 2. A message Bundle with its MessageHeader first.
  auto parsed = fhir::ParseJson(body, settings_.limits);
  if (!parsed) {
    return fail("invalid", parsed.error());
  }
  const Value& bundle = *parsed;
  if (!bundle.IsObject() || fhir::FindString(bundle, "resourceType") != "Bundle") {
    return fail("invalid", MakeError(ErrorCode::kInvalidValue, "$process-message takes a Bundle",
                                     "Bundle.resourceType"));
  }
  if (fhir::FindString(bundle, "type") != "message") {
    return fail("invalid",
                MakeError(ErrorCode::kInvalidValue,
                          "$process-message takes a Bundle of type message", "Bundle.type"));
  }
  const auto bundle_id = fhir::FindString(bundle, "id");
  const Value* identifier = fhir::FindObject(bundle, "identifier");
  const auto identifier_value =
      identifier != nullptr ? fhir::FindString(*identifier, "value") : std::nullopt;
  if (bundle_id && !bundle_id->empty()) {
    result.control_id = std::string(*bundle_id);
  } else if (identifier_value && !identifier_value->empty()) {
    result.control_id = std::string(*identifier_value);
  } else {
    return fail("invalid",
                MakeError(ErrorCode::kRequiredFieldMissing,
                          "a message Bundle needs an id (or an identifier) to be deduplicated",
                          "Bundle.id"));
  }
  const Value* entries = fhir::FindArray(bundle, "entry");
  const Value* header = nullptr;
  if (entries != nullptr && !entries->Empty()) {
    header = fhir::FindObject((*entries)[0], "resource");
  }
  if (header == nullptr || fhir::FindString(*header, "resourceType") != "MessageHeader") {
    return fail("invalid", MakeError(ErrorCode::kRequiredFieldMissing,
                                     "a message Bundle starts with its MessageHeader",
                                     "Bundle.entry[0].resource"));
  }
  const auto header_id = fhir::FindString(*header, "id");
  if (!header_id || header_id->empty()) {
    return fail("invalid", MakeError(ErrorCode::kRequiredFieldMissing,
                                     "the MessageHeader needs an id: the response answers it",
                                     std::string(kHeaderPath) + ".id"));
  }
  if (const Value* coding = fhir::FindObject(*header, "eventCoding")) {
    result.event_system = std::string(fhir::FindString(*coding, "system").value_or(""));
    result.event_code = std::string(fhir::FindString(*coding, "code").value_or(""));
  }
  result.event_uri = std::string(fhir::FindString(*header, "eventUri").value_or(""));
  if (result.event_code.empty() && result.event_uri.empty()) {
    return fail("invalid",
                MakeError(ErrorCode::kRequiredFieldMissing,
                          "the MessageHeader has no event (eventCoding.code or eventUri)",
                          std::string(kHeaderPath) + ".event[x]"));
  }
  // From here on a response message can answer the request.
  result.header_id = std::string(*header_id);
  result.message_type = MessageTypeOf(result.event_system, result.event_code, result.event_uri);

  if (settings_.validator != nullptr) {
    std::vector<core::Error> problems = settings_.validator->Validate(bundle);
    if (!problems.empty()) {
      result.outcome = "invalid";
      result.errors = std::move(problems);
      return result;
    }
  }

  // 3. The patient: the first Patient with an NHS number; every NHS number must be valid, and a
  // Patient names at most one (UK Core's nhsNumber slice is 0..1). One person per message:
  // ordering is per patient, and a resource about another (a Patient with another NHS number,
  // unless it and the first Patient link to each other as records of the same person, or a
  // subject naming an NHS number of none of the message's Patients) is refused rather than
  // routed and checked as if it were theirs. Every NHS number a message carries routes it to
  // that number's holders and announces the sender as one, so a link counts only when it joins
  // the two Patients of this message: a link to anything else would let a sender claim any
  // patient (found in review).
  // Every other NHS number of the message's Patients (core::InboundMessage::other_nhs_numbers).
  std::vector<std::string> other_numbers;
  const auto add_other = [&](const std::string& number) {
    if (number != facts.nhs_number &&
        std::find(other_numbers.begin(), other_numbers.end(), number) == other_numbers.end()) {
      other_numbers.push_back(number);
    }
  };
  const Value* first_patient = nullptr;
  const auto another_patient = [&](SizeType i, std::string location) {
    return fail("invalid",
                MakeError(ErrorCode::kInvalidValue,
                          "a second patient in one message: the broker routes, checks consent and "
                          "delivers per patient, so send one message per patient",
                          EntryPath(i) + std::move(location)));
  };
  for (SizeType i = 0; i < entries->Size(); ++i) {
    const Value* resource = fhir::FindObject((*entries)[i], "resource");
    if (resource == nullptr || fhir::FindString(*resource, "resourceType") != "Patient") {
      continue;
    }
    const Value* identifiers = fhir::FindArray(*resource, "identifier");
    if (identifiers == nullptr) {
      continue;
    }
    std::string number;  // the Patient's NHS number ("": none)
    for (SizeType j = 0; j < identifiers->Size(); ++j) {
      const Value& id = (*identifiers)[j];
      if (fhir::FindString(id, "system") != core::kNhsNumberSystem) {
        continue;
      }
      const std::string_view value = fhir::FindString(id, "value").value_or("");
      const std::string location = EntryPath(i) + ".identifier[" + std::to_string(j) + "].value";
      if (!core::IsValidNhsNumber(value)) {
        return fail("invalid",
                    MakeError(ErrorCode::kInvalidValue,
                              "NHS number is not 10 digits with a valid check digit", location));
      }
      if (!number.empty() && number != value) {
        return fail("invalid", MakeError(ErrorCode::kInvalidValue,
                                         "a Patient names more than one NHS number (UK Core "
                                         "allows one)",
                                         location));
      }
      number = value;
    }
    if (number.empty()) {
      continue;
    }
    if (first_patient == nullptr) {
      facts.nhs_number = number;
      first_patient = resource;
      continue;
    }
    if (number != facts.nhs_number && !LinksTo(*resource, *first_patient, *entries) &&
        !LinksTo(*first_patient, *resource, *entries)) {
      return another_patient(i, "");
    }
    add_other(number);  // the same person's, or a linked record's
  }
  for (SizeType i = 0; i < entries->Size() && first_patient != nullptr; ++i) {
    const Value* resource = fhir::FindObject((*entries)[i], "resource");
    if (resource == nullptr || fhir::FindString(*resource, "resourceType") == "Patient") {
      continue;
    }
    for (const std::string_view member : {"subject", "patient"}) {
      const Value* reference = fhir::FindObject(*resource, member);
      const Value* id = reference != nullptr ? fhir::FindObject(*reference, "identifier") : nullptr;
      if (id == nullptr || fhir::FindString(*id, "system") != core::kNhsNumberSystem) {
        continue;
      }
      // One of the message's patients' numbers: the first Patient's, or a linked record's.
      const std::string_view value = fhir::FindString(*id, "value").value_or("");
      if (value != facts.nhs_number &&
          std::find(other_numbers.begin(), other_numbers.end(), value) == other_numbers.end()) {
        return another_patient(i, "." + std::string(member) + ".identifier");
      }
    }
  }

  // The sender named in the header, if it names one, must be the certificate's organisation.
  if (const NamedOrganisation sender =
          OrganisationOf(fhir::FindObject(*header, "sender"), *entries);
      !sender.ods.empty() && !core::EqualsIgnoreCase(sender.ods, participant->ods)) {
    return fail("refused",
                MakeError(ErrorCode::kForbidden,
                          "MessageHeader.sender names another organisation than the participant "
                          "of the client certificate",
                          std::string(kHeaderPath) + ".sender"));
  }

  // 4. Where it goes, decided before the commit so that the queue rows are written with it.
  std::vector<std::pair<std::string, std::string>> addressed;  // (ODS code or "", location)
  if (const Value* destinations = fhir::FindArray(*header, "destination")) {
    for (SizeType i = 0; i < destinations->Size(); ++i) {
      const Value& destination = (*destinations)[i];
      const std::string location =
          std::string(kHeaderPath) + ".destination[" + std::to_string(i) + "]";
      const NamedOrganisation receiver =
          OrganisationOf(fhir::FindObject(destination, "receiver"), *entries);
      const auto endpoint = fhir::FindString(destination, "endpoint");
      const Participant* at = endpoint ? ParticipantAt(directory_, *endpoint) : nullptr;
      const bool to_broker = endpoint && !broker_base.empty() &&
                             core::EqualsIgnoreCase(TrimSlash(*endpoint), TrimSlash(broker_base));
      if (!receiver.ods.empty()) {
        addressed.emplace_back(receiver.ods, location + ".receiver");
      } else if (to_broker) {
        addressed.emplace_back(settings_.broker_ods, location + ".endpoint");
      } else if (at != nullptr) {
        addressed.emplace_back(at->ods, location + ".endpoint");
      } else if (receiver.named || (endpoint && !endpoint->empty())) {
        // Named, but not as anyone registered: data never goes to an unknown party.
        return fail("refused",
                    MakeError(ErrorCode::kForbidden,
                              "the destination is not a registered participant", location));
      }
    }
  }
  if (addressed.empty()) {
    addressed.emplace_back("", std::string(kHeaderPath) + ".destination");
  }
  for (const auto& [ods, location] : addressed) {
    const DestinationRequest request{.sender_ods = participant->ods,
                                     .message_type = result.message_type,
                                     .addressed_to = ods,
                                     .nhs_number = facts.nhs_number,
                                     .other_nhs_numbers = other_numbers};
    auto resolved = ResolveDestinations(request, directory_, locator_, settings_.broker_ods);
    if (!resolved) {
      core::Error error = resolved.error();
      if (error.code == ErrorCode::kForbidden || error.code == ErrorCode::kUndeliverable) {
        if (error.code == ErrorCode::kForbidden) {
          error.message = "the destination is not a registered participant";
        }
        error.location = location;
        facts.refused_destination = ods;
        return fail("refused", std::move(error));
      }
      log_.Error("routing_failed", {{"sender", result.sender},
                                    {"type", result.message_type},
                                    {"code", std::string(core::Info(error.code).name)}});
      return fail("storage_error", std::move(error));
    }
    for (Destination& destination : *resolved) {
      const bool seen =
          std::any_of(result.destinations.begin(), result.destinations.end(),
                      [&](const Destination& other) { return other.ods == destination.ods; });
      if (!seen) {
        result.destinations.push_back(std::move(destination));
      }
    }
  }
  std::sort(result.destinations.begin(), result.destinations.end(),
            [](const Destination& a, const Destination& b) { return a.ods < b.ods; });
  // Participants that take HL7 v2 get only what the FHIR -> v2 mapping can express (the mirror
  // of HL7 v2 ingest's DestinationRequest::fhir_readable): anything else would be stored,
  // acknowledged and then fail at every delivery, a dead letter holding the patient's later
  // messages to that trust.
  const auto takes_v2 = [](const Destination& d) { return d.format == "hl7v2"; };
  if (std::any_of(result.destinations.begin(), result.destinations.end(), takes_v2) &&
      !mappings::MapFhirToV2(bundle)) {
    // A v2 participant the message names is told no, as ResolveDestinations tells one that
    // cannot take the type: leaving it out would acknowledge a message that goes nowhere.
    for (const auto& [ods, location] : addressed) {
      const std::string_view named = ods;  // a lambda may not capture a structured binding
      const bool named_v2 = std::any_of(
          result.destinations.begin(), result.destinations.end(), [&](const Destination& d) {
            return takes_v2(d) && core::EqualsIgnoreCase(d.ods, named);
          });
      if (named_v2 && !core::EqualsIgnoreCase(ods, settings_.broker_ods)) {
        facts.refused_destination = ods;
        return fail("refused",
                    MakeError(ErrorCode::kUndeliverable,
                              "the receiving facility takes HL7 v2, and this message has no "
                              "HL7 v2 mapping",
                              location));
      }
    }
    const auto left_out = std::erase_if(result.destinations, takes_v2);
    log_.Info("v2_participants_left_out", {{"sender", result.sender},
                                           {"type", result.message_type},
                                           {"participants", std::to_string(left_out)},
                                           {"reason", "no HL7 v2 mapping of this message"}});
  }

  // 5. Stored with its routes in one transaction; the answer waits for the commit.
  core::InboundMessage inbound;
  inbound.sender = participant->ods;
  for (const Destination& destination : result.destinations) {
    inbound.routes.push_back(core::OutboundRoute{destination.ods, destination.format});
  }
  inbound.protocol = "fhir";
  inbound.message_type = result.message_type;
  inbound.control_id = result.control_id;
  inbound.dedupe_key = bundle_id && !bundle_id->empty()
                           ? participant->ods + "|fhir|" + result.control_id
                           : participant->ods + "|fhir-identifier|" +
                                 std::string(fhir::FindString(*identifier, "system").value_or("")) +
                                 "|" + result.control_id;
  // Compact JSON: a resend that differs only in whitespace is a duplicate, not a conflict.
  inbound.payload = fhir::ToJson(bundle);
  inbound.content_sha256 = core::Sha256Hex(inbound.payload);
  facts.digest = inbound.content_sha256;
  inbound.nhs_number = facts.nhs_number;
  facts.other_patients = other_numbers;
  inbound.other_nhs_numbers = std::move(other_numbers);
  inbound.received_at_ms = core::ToUnixMs(clock_.Now());
  // Step 6 in the message's own transaction when the store can (one durable commit, not two).
  const bool learns = locator_ != nullptr && core::IsValidNhsNumber(inbound.nhs_number);
  if (learns && store_.WritesLocatorAnnouncements()) {
    inbound.announce = core::LocatorAnnouncement{
        inbound.nhs_number, inbound.sender, "fhir:" + inbound.message_type, inbound.received_at_ms};
  }

  auto accepted = store_.Accept(inbound);
  if (!accepted) {
    log_.Error("fhir_message_store_failed",
               {{"sender", result.sender},
                {"type", result.message_type},
                {"code", std::string(core::Info(accepted.error().code).name)}});
    // Never an "ok": the message is not durable, so the sender must keep it and resend.
    return fail("storage_error", MakeError(accepted.error().code,
                                           "the broker could not store the message; resend later"));
  }
  result.message_id = accepted->message_id;
  result.outcome = std::string(core::ToString(accepted->outcome));
  if (accepted->outcome == core::AcceptOutcome::kConflict) {
    result.destinations.clear();
    result.errors.push_back(
        MakeError(ErrorCode::kConflict,
                  "this message id was already used for a different message from this sender; "
                  "the first version stands",
                  bundle_id && !bundle_id->empty() ? "Bundle.id" : "Bundle.identifier"));
    return result;
  }
  if (accepted->outcome == core::AcceptOutcome::kDuplicate) {
    result.destinations.clear();  // routed when it was first stored, not again
    return result;
  }

  // 6. The sender holds this patient (already written with the message when `announce` is set).
  if (learns && !inbound.announce) {
    const core::Status learnt =
        AnnounceSender(*locator_, inbound.nhs_number, inbound.other_nhs_numbers, inbound.sender,
                       "fhir:" + inbound.message_type, inbound.received_at_ms);
    if (!learnt) {
      log_.Warn("locator_announce_failed",
                {{"sender", result.sender},
                 {"message_id", std::to_string(result.message_id)},
                 {"code", std::string(core::Info(learnt.error().code).name)}});
    }
  }
  return result;
}

}  // namespace tb::routing
