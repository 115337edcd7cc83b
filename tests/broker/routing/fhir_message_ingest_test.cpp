// FhirMessageIngest: what a posted FHIR message Bundle becomes (stored and routed, duplicate,
// conflict, refused, invalid), what reaches the store, the locator and the ledger.
#include "broker/routing/fhir_message_ingest.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "tests/support/in_memory_inbound_store.h"
#include "tests/support/in_memory_record_locator.h"

namespace tb::routing {
namespace {

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'000'000'000));
  }
};

constexpr std::string_view kNhs = "9449305552";

// The broker's own Organization, as a v2 -> FHIR mapping of MSH-6 "X26" writes it.
constexpr std::string_view kToBroker =
    R"({"name":"TB","endpoint":"urn:trustbridge","receiver":{"reference":"urn:uuid:org-x26"}})";

// An ADT A08 (patient update) from RJ1 as a FHIR message; `destinations` is the JSON array of
// MessageHeader.destination.
std::string Message(std::string_view destinations = "", std::string_view nhs = kNhs,
                    std::string_view id = "MSG-0001", std::string_view family = "SMITH") {
  std::string text = R"({"resourceType":"Bundle","id":")" + std::string(id) +
                     R"(","type":"message","timestamp":"2026-11-23T12:00:00Z","entry":[)"
                     R"({"fullUrl":"urn:uuid:header","resource":{"resourceType":"MessageHeader",)"
                     R"("id":"hdr-0001","eventCoding":{"system":)"
                     R"("http://terminology.hl7.org/CodeSystem/v2-0003","code":"A08"},)";
  text += R"("destination":)" +
          (destinations.empty() ? "[" + std::string(kToBroker) + "]" : std::string(destinations)) +
          ",";
  text += R"("sender":{"reference":"urn:uuid:org-rj1"},)"
          R"("source":{"name":"PAS","endpoint":"https://rj1.example.nhs.uk/fhir"},)"
          R"("focus":[{"reference":"urn:uuid:patient"}]}},)"
          R"({"fullUrl":"urn:uuid:patient","resource":{"resourceType":"Patient","id":"p1",)"
          R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" +
          std::string(nhs) + R"("}],"name":[{"family":")" + std::string(family) +
          R"(","given":["JOHN"]}],"gender":"male","birthDate":"1980-01-01"}},)"
          R"({"fullUrl":"urn:uuid:org-rj1","resource":{"resourceType":"Organization","id":"o1",)"
          R"("identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code",)"
          R"("value":"RJ1"}],"name":"RJ1"}},)"
          R"({"fullUrl":"urn:uuid:org-x26","resource":{"resourceType":"Organization","id":"o2",)"
          R"("identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code",)"
          R"("value":"X26"}],"name":"Broker"}}]})";
  return text;
}

// An entry the FHIR -> v2 mapping cannot express: a visit of a Patient the message does not
// carry (the mapping never files a visit under a guessed patient).
constexpr std::string_view kUnmappableToV2 =
    R"(,{"fullUrl":"urn:uuid:enc1","resource":{"resourceType":"Encounter","id":"enc1",)"
    R"("status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/elsewhere"}}})";

std::string ToOds(std::string_view ods) {
  return R"([{"endpoint":"urn:x","receiver":{"identifier":{"system":)"
         R"("https://fhir.nhs.uk/Id/ods-organization-code","value":")" +
         std::string(ods) + R"("}}}])";
}

Participant MakeParticipant(std::string ods, std::string cert_cn, std::string fhir_base = {},
                            core::HostPort mllp = {}) {
  Participant participant;
  participant.ods = std::move(ods);
  participant.cert_cn = std::move(cert_cn);
  participant.fhir_base = std::move(fhir_base);
  participant.mllp = std::move(mllp);
  return participant;
}

core::PeerIdentity Peer(std::string cn) {
  core::PeerIdentity peer;
  peer.subject_cn = std::move(cn);
  peer.remote_address = "127.0.0.1";
  return peer;
}

class FhirMessageIngestTest : public ::testing::Test {
 protected:
  FhirMessageIngestTest()
      : store_(&queue_),
        directory_({MakeParticipant("RJ1", "rj1-pas"),
                    MakeParticipant("RGT", "RGT", "https://rgt.example.nhs.uk/fhir"),
                    MakeParticipant("RXH", "RXH", {}, core::HostPort{"127.0.0.1", 9102})},
                   {}) {}

  void SetUp() override {
    auto opened = ledger::Ledger::Open(ledger_store_, clock_, nullptr);
    ASSERT_TRUE(opened);
    ledger_ = std::move(*opened);
    FhirMessageIngestSettings settings;
    settings.broker_ods = "X26";
    ingest_ = std::make_unique<FhirMessageIngest>(directory_, store_, &locator_, clock_, settings,
                                                  ledger_.get());
  }

  FhirMessageIngestResult Send(std::string_view body, std::string cn = "rj1-pas") {
    return ingest_->Ingest(body, Peer(std::move(cn)), "https://tb.example.nhs.uk/fhir");
  }

  void HeldBy(std::string_view ods) {
    ASSERT_TRUE(locator_.Announce(std::string(kNhs), std::string(ods), "admin", 1));
  }

  std::vector<core::LedgerRecord> Records() {
    auto records = ledger_store_.ReadRange(1, 100);
    EXPECT_TRUE(records);
    return records ? *records : std::vector<core::LedgerRecord>{};
  }

  std::int64_t Queued() {
    auto counts = queue_.Counts();
    EXPECT_TRUE(counts);
    return counts ? counts->queued : -1;
  }

  FixedClock clock_;
  testing::InMemoryOutboundQueue queue_{clock_};
  testing::InMemoryInboundStore store_;
  testing::InMemoryRecordLocator locator_;
  ParticipantDirectory directory_;
  ledger::InMemoryLedgerStore ledger_store_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<FhirMessageIngest> ingest_;
};

TEST_F(FhirMessageIngestTest, StoresAndRoutesToTheTrustsHoldingThePatientInTheirFormats) {
  HeldBy("RGT");
  HeldBy("RXH");
  const FhirMessageIngestResult result = Send(Message());
  ASSERT_EQ(result.outcome, "stored") << (result.errors.empty() ? "" : result.errors[0].message);
  EXPECT_TRUE(result.errors.empty());
  EXPECT_EQ(result.sender, "RJ1");
  EXPECT_EQ(result.message_type, "ADT^A08");
  EXPECT_EQ(result.control_id, "MSG-0001");
  EXPECT_EQ(result.header_id, "hdr-0001");
  EXPECT_EQ(result.event_code, "A08");
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  const core::InboundMessage& stored = messages[0];
  EXPECT_EQ(stored.protocol, "fhir");
  EXPECT_EQ(stored.sender, "RJ1");
  EXPECT_EQ(stored.message_type, "ADT^A08");
  EXPECT_EQ(stored.control_id, "MSG-0001");
  EXPECT_EQ(stored.dedupe_key, "RJ1|fhir|MSG-0001");
  EXPECT_EQ(stored.nhs_number, kNhs);
  EXPECT_EQ(stored.received_at_ms, 1'795'000'000'000);
  ASSERT_EQ(stored.routes.size(), 2u);
  EXPECT_EQ(stored.routes[0].destination, "RGT");
  EXPECT_EQ(stored.routes[0].format, "fhir");
  EXPECT_EQ(stored.routes[1].destination, "RXH");
  EXPECT_EQ(stored.routes[1].format, "hl7v2");
  EXPECT_EQ(Queued(), 2);
}

TEST_F(FhirMessageIngestTest, StoredMessageTeachesTheLocatorThatTheSenderHoldsThePatient) {
  ASSERT_EQ(Send(Message()).outcome, "stored");
  auto entries = locator_.Lookup(std::string(kNhs));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].ods, "RJ1");
  EXPECT_EQ((*entries)[0].source, "fhir:ADT^A08");
  // Nobody else holds the patient yet: stored, acknowledged, nothing to deliver.
  EXPECT_TRUE(store_.messages()[0].routes.empty());
}

TEST_F(FhirMessageIngestTest, ResendIsAnsweredAgainButRoutedOnce) {
  HeldBy("RGT");
  ASSERT_EQ(Send(Message()).outcome, "stored");
  const FhirMessageIngestResult again = Send(Message());
  EXPECT_EQ(again.outcome, "duplicate");
  EXPECT_TRUE(again.accepted());
  EXPECT_TRUE(again.destinations.empty());
  EXPECT_EQ(store_.messages().size(), 1u);
  EXPECT_EQ(Queued(), 1);
}

TEST_F(FhirMessageIngestTest, ResendThatDiffersOnlyInWhitespaceIsStillADuplicate) {
  ASSERT_EQ(Send(Message()).outcome, "stored");
  std::string spaced = Message();
  spaced.insert(1, "\n  ");
  spaced += "\n";
  EXPECT_EQ(Send(spaced).outcome, "duplicate");
}

TEST_F(FhirMessageIngestTest, ReusedIdWithOtherContentIsAConflictAndTheFirstStands) {
  HeldBy("RGT");
  ASSERT_EQ(Send(Message()).outcome, "stored");
  const FhirMessageIngestResult other = Send(Message("", kNhs, "MSG-0001", "SMYTH"));
  EXPECT_EQ(other.outcome, "conflict");
  ASSERT_FALSE(other.errors.empty());
  EXPECT_EQ(other.errors[0].code, core::ErrorCode::kConflict);
  EXPECT_EQ(other.errors[0].location, "Bundle.id");
  ASSERT_EQ(store_.messages().size(), 1u);
  EXPECT_NE(store_.messages()[0].payload.find("SMITH"), std::string::npos);
  EXPECT_EQ(Queued(), 1);
}

TEST_F(FhirMessageIngestTest, SameIdFromAnotherSenderIsAnotherMessage) {
  ASSERT_EQ(Send(Message()).outcome, "stored");
  // RGT's certificate; its message names no sender organisation of its own.
  std::string from_rgt = Message();
  const std::string sender = R"("sender":{"reference":"urn:uuid:org-rj1"},)";
  from_rgt.erase(from_rgt.find(sender), sender.size());
  EXPECT_EQ(Send(from_rgt, "RGT").outcome, "stored");
}

TEST_F(FhirMessageIngestTest, InvalidNhsNumberIsRefusedAndNothingIsStored) {
  const FhirMessageIngestResult result = Send(Message("", "9449305553"));
  EXPECT_EQ(result.outcome, "invalid");
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].code, core::ErrorCode::kInvalidValue);
  EXPECT_EQ(result.errors[0].location, "Bundle.entry[1].resource.identifier[0].value");
  EXPECT_TRUE(result.has_header());  // a response message can still answer it
  EXPECT_TRUE(store_.messages().empty());
  EXPECT_TRUE(locator_.Lookup("9449305553")->empty());
}

TEST_F(FhirMessageIngestTest, UnregisteredDestinationIsRefusedAndTheRefusalRecorded) {
  const FhirMessageIngestResult result = Send(Message(ToOds("ZZZ99")));
  EXPECT_EQ(result.outcome, "refused");
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].code, core::ErrorCode::kForbidden);
  EXPECT_EQ(result.errors[0].location, "Bundle.entry[0].resource.destination[0].receiver");
  EXPECT_TRUE(store_.messages().empty());
  EXPECT_EQ(Queued(), 0);
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, "refusal");
  EXPECT_NE(records[0].canonical.find("ZZZ99"), std::string::npos);
  EXPECT_NE(records[0].canonical.find("kForbidden"), std::string::npos);
}

TEST_F(FhirMessageIngestTest, DestinationNamedOnlyByAnUnknownEndpointIsRefused) {
  const FhirMessageIngestResult result =
      Send(Message(R"([{"endpoint":"https://elsewhere.example.com/fhir"}])"));
  EXPECT_EQ(result.outcome, "refused");
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].location, "Bundle.entry[0].resource.destination[0]");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(FhirMessageIngestTest, ReceiverThatIsAnOrganisationWithoutOdsCodeIsRefused) {
  std::string message = Message(R"([{"endpoint":"urn:x","receiver":{"display":"Someone"}}])");
  EXPECT_EQ(Send(message).outcome, "refused");
}

TEST_F(FhirMessageIngestTest, DestinationAddressedToAParticipantGoesThereOnly) {
  HeldBy("RGT");
  HeldBy("RXH");
  const FhirMessageIngestResult result = Send(Message(ToOds("RXH")));
  ASSERT_EQ(result.outcome, "stored");
  ASSERT_EQ(result.destinations.size(), 1u);
  EXPECT_EQ(result.destinations[0].ods, "RXH");
  EXPECT_EQ(result.destinations[0].format, "hl7v2");
}

TEST_F(FhirMessageIngestTest, DestinationEndpointEqualToAParticipantsFhirBaseNamesIt) {
  const FhirMessageIngestResult result =
      Send(Message(R"([{"endpoint":"https://RGT.example.nhs.uk/fhir/"}])"));
  ASSERT_EQ(result.outcome, "stored");
  ASSERT_EQ(result.destinations.size(), 1u);
  EXPECT_EQ(result.destinations[0].ods, "RGT");
  EXPECT_EQ(result.destinations[0].format, "fhir");
}

TEST_F(FhirMessageIngestTest, DestinationEndpointOfTheBrokerItselfRoutesByTheLocator) {
  HeldBy("RGT");
  const FhirMessageIngestResult result =
      Send(Message(R"([{"endpoint":"https://tb.example.nhs.uk/fhir"}])"));
  ASSERT_EQ(result.outcome, "stored");
  ASSERT_EQ(result.destinations.size(), 1u);
  EXPECT_EQ(result.destinations[0].ods, "RGT");
}

TEST_F(FhirMessageIngestTest, NoDestinationRoutesByTheLocatorAndNeverBackToTheSender) {
  HeldBy("RGT");
  HeldBy("RJ1");
  std::string message = Message("[]");
  const FhirMessageIngestResult result = Send(message);
  ASSERT_EQ(result.outcome, "stored");
  ASSERT_EQ(result.destinations.size(), 1u);
  EXPECT_EQ(result.destinations[0].ods, "RGT");
}

TEST_F(FhirMessageIngestTest, CertificateOfNoParticipantIsRefusedBeforeTheBodyIsRead) {
  const FhirMessageIngestResult result = Send(Message(), "stranger");
  EXPECT_EQ(result.outcome, "refused");
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].code, core::ErrorCode::kForbidden);
  EXPECT_FALSE(result.has_header());
  EXPECT_TRUE(store_.messages().empty());
  ASSERT_EQ(Records().size(), 1u);
  EXPECT_EQ(Records()[0].kind, "refusal");
}

TEST_F(FhirMessageIngestTest, SenderNamingAnotherOrganisationIsRefused) {
  const FhirMessageIngestResult result = Send(Message(), "RGT");  // RJ1's message, RGT's cert
  EXPECT_EQ(result.outcome, "refused");
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].location, "Bundle.entry[0].resource.sender");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(FhirMessageIngestTest, WhatIsNotAMessageBundleIsInvalid) {
  struct Case {
    std::string body;
    std::string location;
  };
  std::string no_header = Message();
  no_header.replace(no_header.find("\"MessageHeader\""), 15, "\"Basic\"");
  std::string no_id = Message();
  no_id.erase(no_id.find(R"("id":"MSG-0001",)"), 16);
  std::string no_event = Message();
  no_event.replace(no_event.find("eventCoding"), 11, "eventThing");
  const std::vector<Case> cases = {
      {"not json", "offset 1"},
      {R"({"resourceType":"Patient"})", "Bundle.resourceType"},
      {R"({"resourceType":"Bundle","type":"collection"})", "Bundle.type"},
      {no_header, "Bundle.entry[0].resource"},
      {no_id, "Bundle.id"},
      {no_event, "Bundle.entry[0].resource.event[x]"},
  };
  for (const Case& c : cases) {
    const FhirMessageIngestResult result = Send(c.body);
    EXPECT_EQ(result.outcome, "invalid") << c.location;
    ASSERT_FALSE(result.errors.empty()) << c.location;
    EXPECT_EQ(result.errors[0].location, c.location);
    EXPECT_FALSE(result.has_header()) << c.location;
  }
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(FhirMessageIngestTest, BundleIdentifierServesWhenThereIsNoId) {
  std::string message = Message();
  message.replace(message.find(R"("id":"MSG-0001")"), 15,
                  R"("identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:m-1"})");
  ASSERT_EQ(Send(message).outcome, "stored");
  EXPECT_EQ(store_.messages()[0].control_id, "urn:uuid:m-1");
  EXPECT_EQ(store_.messages()[0].dedupe_key, "RJ1|fhir-identifier|urn:ietf:rfc:3986|urn:uuid:m-1");
}

// Participants that take HL7 v2 get only messages the FHIR -> v2 mapping can express: one with
// results for two patients cannot be one v2 message, so it goes to the FHIR trust only (before,
// RXH's copy failed at every delivery: a dead letter holding the patient's later messages).
TEST_F(FhirMessageIngestTest, AMessageWithoutAV2MappingGoesOnlyToFhirParticipants) {
  HeldBy("RGT");
  HeldBy("RXH");
  std::string message = Message();
  message.insert(message.size() - 2, kUnmappableToV2);
  const FhirMessageIngestResult result = Send(message);
  ASSERT_EQ(result.outcome, "stored") << (result.errors.empty() ? "" : result.errors[0].message);
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_EQ(messages[0].routes.size(), 1u);
  EXPECT_EQ(messages[0].routes[0].destination, "RGT");
  EXPECT_EQ(messages[0].routes[0].format, "fhir");
}

// Named in MessageHeader.destination, a v2 participant that cannot be sent this message (no
// FHIR -> v2 mapping of it), or one that does not take the type, is a refusal the sender hears
// (422, the destination's location), not a 200 for a message that goes nowhere.
TEST_F(FhirMessageIngestTest, ADestinationThatCannotTakeTheMessageIsRefused) {
  std::string message = Message(ToOds("RXH"));
  message.insert(message.size() - 2, kUnmappableToV2);
  const FhirMessageIngestResult unmappable = Send(message);
  EXPECT_EQ(unmappable.outcome, "refused");
  ASSERT_EQ(unmappable.errors.size(), 1u);
  EXPECT_EQ(unmappable.errors[0].code, core::ErrorCode::kUndeliverable);
  EXPECT_EQ(unmappable.errors[0].location, "Bundle.entry[0].resource.destination[0].receiver");
  EXPECT_NE(unmappable.errors[0].message.find("no HL7 v2 mapping"), std::string::npos);
  EXPECT_TRUE(store_.messages().empty());

  const FhirMessageIngestResult to_sender = Send(Message(ToOds("RJ1")));
  EXPECT_EQ(to_sender.outcome, "refused");
  ASSERT_EQ(to_sender.errors.size(), 1u);
  EXPECT_EQ(to_sender.errors[0].code, core::ErrorCode::kUndeliverable);
  EXPECT_EQ(to_sender.errors[0].location, "Bundle.entry[0].resource.destination[0].receiver");
  EXPECT_TRUE(store_.messages().empty());
}

// One patient per message: a second Patient (not linked as the same person) or a resource whose
// subject names another NHS number is refused, since routing and the delivery's consent check
// follow the first patient only.
TEST_F(FhirMessageIngestTest, ASecondPatientInOneMessageIsRefused) {
  const auto with = [](std::string_view entry) {
    std::string message = Message();
    message.insert(message.size() - 2, entry);
    return message;
  };
  const FhirMessageIngestResult by_subject = Send(
      with(R"(,{"fullUrl":"urn:uuid:obs2","resource":{"resourceType":"Observation","id":"obs2",)"
           R"("status":"final","code":{"text":"Hb"},"subject":{"identifier":{"system":)"
           R"("https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}}}})"));
  EXPECT_EQ(by_subject.outcome, "invalid");
  ASSERT_EQ(by_subject.errors.size(), 1u);
  EXPECT_NE(by_subject.errors[0].location.find(".subject.identifier"), std::string::npos)
      << by_subject.errors[0].location;
  EXPECT_EQ(by_subject.errors[0].message.find("9434765919"), std::string::npos);  // no PHI

  const std::string second_patient =
      R"(,{"fullUrl":"urn:uuid:p2","resource":{"resourceType":"Patient","id":"p2",)"
      R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}])";
  const FhirMessageIngestResult unlinked = Send(with(second_patient + "}}"));
  EXPECT_EQ(unlinked.outcome, "invalid");
  EXPECT_TRUE(store_.messages().empty());

  // The same person's other record (a merge) is one patient.
  const FhirMessageIngestResult merged = Send(with(
      second_patient +
      R"(,"active":false,"link":[{"other":{"reference":"urn:uuid:patient"},"type":"replaced-by"}]}})"));
  EXPECT_EQ(merged.outcome, "stored")
      << (merged.errors.empty() ? "" : merged.errors[0].message + " " + merged.errors[0].location);
}

// Every NHS number a message carries routes it to that number's holders and announces the
// sender as one: a link that joins nothing in the message, or a Patient naming two NHS numbers,
// would let a sender claim any patient and receive their messages.
TEST_F(FhirMessageIngestTest, OnlyALinkBetweenTheTwoPatientsLetsASecondOneIn) {
  const auto refused_because = [this](const std::string& message) {
    const FhirMessageIngestResult result = Send(message);
    EXPECT_EQ(result.outcome, "invalid");
    return result.errors.empty() ? std::string() : result.errors[0].message;
  };
  const std::string second_patient =
      R"(,{"fullUrl":"urn:uuid:p2","resource":{"resourceType":"Patient","id":"p2",)"
      R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}])";
  const std::string elsewhere = R"("link":[{"other":{"reference":"Patient/unrelated"}}])";
  std::string message = Message();
  message.insert(message.size() - 2, second_patient + "," + elsewhere + "}}");
  EXPECT_NE(refused_because(message).find("a second patient"), std::string::npos);

  message = Message();
  message.insert(message.size() - 2, second_patient + "}}");
  message.insert(message.find(R"("resourceType":"Patient","id":"p1")"), elsewhere + ",");
  EXPECT_NE(refused_because(message).find("a second patient"), std::string::npos);

  message = Message();
  message.insert(message.find(R"(],"name":[{"family")"),
                 R"(,{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"})");
  EXPECT_NE(refused_because(message).find("more than one NHS number"), std::string::npos);

  EXPECT_TRUE(store_.messages().empty());
  const auto holders = locator_.Lookup("9434765919");
  ASSERT_TRUE(holders);
  EXPECT_TRUE(holders->empty()) << "the sender was announced for a patient it named wrongly";
}

// A merge names the record it replaces: the trusts holding that record's NHS number need it as
// much as the survivor's, and the sender holds both.
TEST_F(FhirMessageIngestTest, AMergeReachesTheHoldersOfTheLinkedRecord) {
  ASSERT_TRUE(locator_.Announce("9434765919", "RGT", "admin", 1));
  std::string merge = Message();
  merge.insert(
      merge.size() - 2,
      R"(,{"fullUrl":"urn:uuid:p2","resource":{"resourceType":"Patient","id":"p2",)"
      R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],)"
      R"("active":false,"link":[{"other":{"reference":"urn:uuid:patient"},"type":"replaced-by"}]}})"
      // A resource filed under the retired record's number is about the same person.
      R"(,{"fullUrl":"urn:uuid:obs2","resource":{"resourceType":"Observation","id":"obs2",)"
      R"("status":"final","code":{"text":"Hb"},"subject":{"identifier":{"system":)"
      R"("https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}}}})");
  const FhirMessageIngestResult result = Send(merge);
  ASSERT_EQ(result.outcome, "stored")
      << (result.errors.empty() ? "" : result.errors[0].message + " " + result.errors[0].location);
  ASSERT_EQ(result.destinations.size(), 1u);
  EXPECT_EQ(result.destinations[0].ods, "RGT");
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].nhs_number, kNhs);
  EXPECT_EQ(messages[0].other_nhs_numbers, (std::vector<std::string>{"9434765919"}));
  const auto holders = locator_.Lookup("9434765919");
  ASSERT_TRUE(holders);
  EXPECT_TRUE(std::any_of(holders->begin(), holders->end(),
                          [](const core::LocatorEntry& entry) { return entry.ods == "RJ1"; }));
  // And both records' journeys show the message came in.
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].nhs_number, kNhs);
  EXPECT_EQ(records[1].nhs_number, "9434765919");
  EXPECT_EQ(records[1].kind, "inbound");
}

TEST_F(FhirMessageIngestTest, OtherEventCodesAreKeptAsSent) {
  std::string message = Message();
  message.replace(message.find("http://terminology.hl7.org/CodeSystem/v2-0003"), 45,
                  "https://fhir.nhs.uk/CodeSystem/message-event");
  const FhirMessageIngestResult result = Send(message);
  ASSERT_EQ(result.outcome, "stored");
  EXPECT_EQ(result.message_type, "A08");
}

TEST_F(FhirMessageIngestTest, StorageFailureIsNeverAcceptedAndNothingIsKept) {
  store_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "database or disk is full"));
  const FhirMessageIngestResult result = Send(Message());
  EXPECT_EQ(result.outcome, "storage_error");
  EXPECT_FALSE(result.accepted());
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].code, core::ErrorCode::kStorage);
  EXPECT_EQ(result.errors[0].message.find("disk"), std::string::npos);  // the log has it
  store_.SetFailure(std::nullopt);
  EXPECT_EQ(Send(Message()).outcome, "stored");
}

TEST_F(FhirMessageIngestTest, LocatorFailureBeforeRoutingIsAStorageErrorAndNothingIsStored) {
  locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "locked"));
  EXPECT_EQ(Send(Message()).outcome, "storage_error");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(FhirMessageIngestTest, StoredMessageIsAnInboundHopRecordedOnce) {
  ASSERT_EQ(Send(Message()).outcome, "stored");
  ASSERT_EQ(Send(Message()).outcome, "duplicate");
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, "inbound");
  EXPECT_EQ(records[0].nhs_number, kNhs);
  EXPECT_NE(records[0].canonical.find(store_.messages()[0].content_sha256), std::string::npos);
}

TEST_F(FhirMessageIngestTest, AnAnnouncingStoreGetsTheAnnouncementWithTheMessageNotSeparately) {
  // As SqlInboundStore: the announcement is written in the message's transaction. The store's
  // locator is not the routing one here, so a separate Announce would show up in `locator_`.
  testing::InMemoryRecordLocator store_locator;
  testing::InMemoryInboundStore announcing(nullptr, &store_locator);
  FhirMessageIngestSettings settings;
  settings.broker_ods = "X26";
  FhirMessageIngest ingest(directory_, announcing, &locator_, clock_, settings, nullptr);
  const FhirMessageIngestResult result =
      ingest.Ingest(Message(), Peer("rj1-pas"), "https://tb.example.nhs.uk/fhir");
  ASSERT_EQ(result.outcome, "stored");
  const std::vector<core::InboundMessage> messages = announcing.messages();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].announce.has_value());
  EXPECT_EQ(messages[0].announce->nhs_number, kNhs);
  EXPECT_EQ(messages[0].announce->ods, "RJ1");
  EXPECT_EQ(messages[0].announce->source, "fhir:ADT^A08");
  auto entries = store_locator.Lookup(std::string(kNhs));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_TRUE(locator_.Lookup(std::string(kNhs))->empty()) << "announced a second time";

  // A failed announcement fails the store: nothing is kept, the sender is told to resend.
  store_locator.SetFailure(core::MakeError(core::ErrorCode::kStorage, "disk full"));
  const FhirMessageIngestResult failed = ingest.Ingest(
      Message("", kNhs, "MSG-0002"), Peer("rj1-pas"), "https://tb.example.nhs.uk/fhir");
  EXPECT_EQ(failed.outcome, "storage_error");
  EXPECT_EQ(announcing.messages().size(), 1u);
}

}  // namespace
}  // namespace tb::routing
