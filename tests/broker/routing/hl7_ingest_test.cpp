// Hl7Ingest: the acknowledgement for every outcome at the MLLP edge, and what reaches the store.
#include "broker/routing/hl7_ingest.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
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

// A UK PAS admission: hospital number first, NHS number in the second PID-3 repetition.
constexpr std::string_view kA01 =
    "MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A01|MSG0001|P|2.4\r"
    "EVN|A01|20261123120000\r"
    "PID|1||H123456^^^RJ1^MR~9449305552^^^NHS^NH||SMITH^JOHN||19800101|M\r"
    "PV1|1|I\r";

std::string With(std::string_view message, std::string_view from, std::string_view to) {
  std::string text(message);
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  return text;
}

Participant MakeParticipant(std::string ods, std::string cert_cn) {
  Participant participant;
  participant.ods = std::move(ods);
  participant.cert_cn = std::move(cert_cn);
  return participant;
}

core::PeerIdentity Peer(std::string cn) {
  core::PeerIdentity peer;
  peer.subject_cn = std::move(cn);
  return peer;
}

class Hl7IngestTest : public ::testing::Test {
 protected:
  Hl7IngestTest()
      : directory_({MakeParticipant("RJ1", "rj1-pas"), MakeParticipant("RGT", "RGT")}, {}),
        ingest_(directory_, store_, &locator_, clock_, BrokerSettings()) {}

  static Hl7IngestSettings BrokerSettings() {
    Hl7IngestSettings settings;
    settings.broker_ods = "X26";
    return settings;
  }

  Hl7IngestResult Send(std::string_view message, std::string cn = "rj1-pas") {
    return ingest_.Ingest(message, Peer(std::move(cn)));
  }

  static std::string Field(const hl7v2::Ack& ack, std::string_view path) {
    auto parsed = hl7v2::Message::Parse(ack.er7);
    EXPECT_TRUE(parsed.has_value());
    return parsed ? parsed->Get(path).Decoded() : std::string();
  }

  FixedClock clock_;
  testing::InMemoryInboundStore store_;
  testing::InMemoryRecordLocator locator_;
  ParticipantDirectory directory_;
  Hl7Ingest ingest_;
};

TEST_F(Hl7IngestTest, StoresAValidMessageThenAcknowledgesAA) {
  Hl7IngestResult result = Send(kA01);
  EXPECT_EQ(result.outcome, "stored");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAA);
  EXPECT_EQ(Field(result.ack, "MSA-2"), "MSG0001");
  EXPECT_EQ(Field(result.ack, "MSH-9.1"), "ACK");
  EXPECT_EQ(Field(result.ack, "MSH-3"), "TB");
  EXPECT_EQ(Field(result.ack, "MSH-5"), "PAS");
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  const core::InboundMessage& stored = messages[0];
  EXPECT_EQ(stored.sender, "RJ1");
  EXPECT_EQ(stored.protocol, "hl7v2");
  EXPECT_EQ(stored.message_type, "ADT^A01");
  EXPECT_EQ(stored.control_id, "MSG0001");
  EXPECT_EQ(stored.dedupe_key, "RJ1|PAS|RJ1|MSG0001");
  EXPECT_EQ(stored.nhs_number, "9449305552");  // from the second repetition
  EXPECT_EQ(stored.payload, kA01);
  EXPECT_EQ(stored.received_at_ms, 1'795'000'000'000);
}

TEST_F(Hl7IngestTest, StoredMessageTeachesTheLocatorWhoHoldsThePatient) {
  ASSERT_EQ(Send(kA01).outcome, "stored");
  auto entries = locator_.Lookup("9449305552");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].ods, "RJ1");
  EXPECT_EQ((*entries)[0].source, "hl7v2:ADT^A01");
}

TEST_F(Hl7IngestTest, RefusedMessagesTeachTheLocatorNothing) {
  Send(With(kA01, "|PAS|RJ1|", "|PAS|RGT|"));  // RJ1's certificate speaking for RGT
  Send(kA01, "RGT");                           // RGT's certificate, RJ1's facility
  EXPECT_TRUE(locator_.Lookup("9449305552")->empty());
}

TEST_F(Hl7IngestTest, LocatorFailureBeforeRoutingIsAnErrorAckAndNothingIsStored) {
  // Without the locator the destinations are unknown: storing the message unrouted would lose
  // its deliveries, so the sender is told to resend.
  locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "locked"));
  Hl7IngestResult result = Send(kA01);
  EXPECT_EQ(result.outcome, "storage_error");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, StoredMessageIsRoutedToTheOtherTrustsHoldingThePatient) {
  ASSERT_TRUE(locator_.Announce("9449305552", "RGT", "admin", 1));
  ASSERT_EQ(Send(kA01).outcome, "stored");
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  // RGT has no endpoint in this directory, so it cannot receive; a participant with one would
  // be listed (tests/broker/routing/destinations_test.cpp covers the rules).
  EXPECT_TRUE(messages[0].routes.empty());
}

TEST_F(Hl7IngestTest, OnlyAStoredMessageWithDestinationsCountsRoutes) {
  // The count tells the transport whether the delivery worker has new work (a wake-up per
  // message would make it look for nothing).
  EXPECT_EQ(Send(kA01).routes, 0u);  // nobody else holds the patient

  Participant receiver = MakeParticipant("RGT", "RGT");
  receiver.mllp.host = "127.0.0.1";
  receiver.mllp.port = 2575;
  ParticipantDirectory directory({MakeParticipant("RJ1", "rj1-pas"), receiver}, {});
  Hl7Ingest ingest(directory, store_, &locator_, clock_, BrokerSettings());
  ASSERT_TRUE(locator_.Announce("9449305552", "RGT", "admin", 1));
  const std::string second = With(kA01, "MSG0001", "MSG0002");
  Hl7IngestResult stored = ingest.Ingest(second, Peer("rj1-pas"));
  ASSERT_EQ(stored.outcome, "stored");
  EXPECT_EQ(stored.routes, 1u);
  Hl7IngestResult duplicate = ingest.Ingest(second, Peer("rj1-pas"));
  ASSERT_EQ(duplicate.outcome, "duplicate");
  EXPECT_EQ(duplicate.routes, 0u);  // queued once, with the first copy
}

// A type the v2 -> FHIR mapping does not cover reaches the trusts that take v2 only, whether the
// ingest reads the holders itself or the store routes in its commit: a FHIR trust could never be
// sent it (each copy was a dead letter holding the patient's later messages there).
TEST_F(Hl7IngestTest, ATypeWithoutAFhirMappingGoesToV2TrustsOnly) {
  Participant v2_trust = MakeParticipant("RXH", "RXH");
  v2_trust.mllp = core::HostPort{"127.0.0.1", 2575};
  Participant fhir_trust = MakeParticipant("RGT", "RGT");
  fhir_trust.fhir_base = "https://rgt.example.nhs.uk/fhir";
  ParticipantDirectory directory({MakeParticipant("RJ1", "rj1-pas"), fhir_trust, v2_trust}, {});
  for (const char* holder : {"RGT", "RXH"}) {
    ASSERT_TRUE(locator_.Announce("9449305552", holder, "admin", 1));
  }
  testing::InMemoryInboundStore routing_store(nullptr, &locator_);
  routing_store.RouteByHoldersInCommit();
  Hl7Ingest reads_holders(directory, store_, &locator_, clock_, BrokerSettings());
  Hl7Ingest routes_in_commit(directory, routing_store, &locator_, clock_, BrokerSettings());
  const std::string a06 = With(With(kA01, "ADT^A01", "ADT^A06"), "EVN|A01", "EVN|A06");
  for (Hl7Ingest* ingest : {&reads_holders, &routes_in_commit}) {
    const Hl7IngestResult stored = ingest->Ingest(a06, Peer("rj1-pas"));
    ASSERT_EQ(stored.outcome, "stored");
    EXPECT_EQ(stored.routes, 1u);
  }
  for (const testing::InMemoryInboundStore* store : {&store_, &routing_store}) {
    const std::vector<core::InboundMessage> messages = store->messages();
    ASSERT_EQ(messages.size(), 1u);
    ASSERT_EQ(messages[0].routes.size(), 1u);
    EXPECT_EQ(messages[0].routes[0].destination, "RXH");
  }
  // An A01 (mapped to FHIR) goes to both.
  EXPECT_EQ(reads_holders.Ingest(With(kA01, "MSG0001", "MSG0002"), Peer("rj1-pas")).routes, 2u);
}

// An event about two patients (here ADT^A24, linking a newborn's record to its mother's) reaches
// the trusts that hold either patient, and teaches the locator that the sender holds both:
// before, only the first patient's trusts got it, whether the ingest read the holders itself or
// the store routed in its commit.
TEST_F(Hl7IngestTest, ATwoPatientEventGoesToTheHoldersOfEitherPatient) {
  Participant first_holder = MakeParticipant("RXH", "RXH");
  first_holder.mllp = core::HostPort{"127.0.0.1", 2575};
  Participant second_holder = MakeParticipant("RGT", "RGT");
  second_holder.mllp = core::HostPort{"127.0.0.1", 2576};
  ParticipantDirectory directory({MakeParticipant("RJ1", "rj1-pas"), first_holder, second_holder},
                                 {});
  testing::InMemoryRecordLocator store_locator;
  for (core::RecordLocator* locator : {static_cast<core::RecordLocator*>(&locator_),
                                       static_cast<core::RecordLocator*>(&store_locator)}) {
    ASSERT_TRUE(locator->Announce("9449305552", "RXH", "admin", 1));
    ASSERT_TRUE(locator->Announce("9434765870", "RGT", "admin", 1));
  }
  testing::InMemoryInboundStore routing_store(nullptr, &store_locator);
  routing_store.RouteByHoldersInCommit();
  Hl7Ingest reads_holders(directory, store_, &locator_, clock_, BrokerSettings());
  Hl7Ingest routes_in_commit(directory, routing_store, &store_locator, clock_, BrokerSettings());
  const std::string a24 = With(With(kA01, "ADT^A01", "ADT^A24"), "EVN|A01", "EVN|A24") +
                          "PID|2||H765432^^^RJ1^MR~9434765870^^^NHS^NH||SMITH^BABY||20261120|F\r";
  for (Hl7Ingest* ingest : {&reads_holders, &routes_in_commit}) {
    const Hl7IngestResult stored = ingest->Ingest(a24, Peer("rj1-pas"));
    ASSERT_EQ(stored.outcome, "stored") << stored.ack.er7;
    EXPECT_EQ(stored.routes, 2u);
  }
  for (const testing::InMemoryInboundStore* store : {&store_, &routing_store}) {
    const std::vector<core::InboundMessage> messages = store->messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].nhs_number, "9449305552");
    EXPECT_EQ(messages[0].other_nhs_numbers, (std::vector<std::string>{"9434765870"}));
    ASSERT_EQ(messages[0].routes.size(), 2u);
    EXPECT_EQ(messages[0].routes[0].destination, "RGT");
    EXPECT_EQ(messages[0].routes[1].destination, "RXH");
  }
  for (core::RecordLocator* locator : {static_cast<core::RecordLocator*>(&locator_),
                                       static_cast<core::RecordLocator*>(&store_locator)}) {
    for (const char* patient : {"9449305552", "9434765870"}) {
      const auto entries = locator->Lookup(patient);
      ASSERT_TRUE(entries);
      EXPECT_TRUE(std::any_of(entries->begin(), entries->end(), [](const core::LocatorEntry& e) {
        return e.ods == "RJ1";
      })) << patient;
    }
  }
}

// A merge whose retired record had another NHS number (MRG-1) reaches the trusts holding that
// number too, as a FHIR merge naming a linked record does; the v2 -> FHIR mapping writes that
// record as a linked Patient, so its consents apply on delivery as well.
TEST_F(Hl7IngestTest, AMergeReachesTheHoldersOfTheRetiredRecord) {
  Participant holder = MakeParticipant("RGT", "RGT");
  holder.mllp = core::HostPort{"127.0.0.1", 2576};
  ParticipantDirectory directory({MakeParticipant("RJ1", "rj1-pas"), holder}, {});
  ASSERT_TRUE(locator_.Announce("9434765870", "RGT", "admin", 1));
  Hl7Ingest ingest(directory, store_, &locator_, clock_, BrokerSettings());
  const std::string a40 = With(With(kA01, "ADT^A01", "ADT^A40"), "EVN|A01", "EVN|A40") +
                          "MRG|9434765870^^^NHS^NH~H999^^^RJ1^MR\r";
  const Hl7IngestResult stored = ingest.Ingest(a40, Peer("rj1-pas"));
  ASSERT_EQ(stored.outcome, "stored") << stored.ack.er7;
  EXPECT_EQ(stored.routes, 1u);
  const std::vector<core::InboundMessage> messages = store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].nhs_number, "9449305552");
  EXPECT_EQ(messages[0].other_nhs_numbers, (std::vector<std::string>{"9434765870"}));
}

TEST_F(Hl7IngestTest, MessageAddressedToAnUnregisteredFacilityIsRefusedAR) {
  Hl7IngestResult result = Send(With(kA01, "|TB|X26|", "|TB|ZZZ99|"));
  EXPECT_EQ(result.outcome, "refused");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "ERR-2.3"), "6");
  EXPECT_TRUE(store_.messages().empty());
}

// Addressed (MSH-6) to a participant that cannot take it: the sender hears why (AR, ERR-3 200
// at MSH-6) instead of an AA for a message that would go nowhere.
TEST_F(Hl7IngestTest, MessageAddressedToAParticipantThatCannotTakeItIsRefusedAR) {
  Participant fhir_trust = MakeParticipant("RGT", "RGT");
  fhir_trust.fhir_base = "https://rgt.example.nhs.uk/fhir";
  ParticipantDirectory directory({MakeParticipant("RJ1", "rj1-pas"), fhir_trust}, {});
  Hl7Ingest ingest(directory, store_, &locator_, clock_, BrokerSettings());
  const std::string to_rgt = With(kA01, "|TB|X26|", "|TB|RGT|");
  const std::string a06 = With(With(to_rgt, "ADT^A01", "ADT^A06"), "EVN|A01", "EVN|A06");
  const Hl7IngestResult refused = ingest.Ingest(a06, Peer("rj1-pas"));
  EXPECT_EQ(refused.outcome, "refused");
  EXPECT_EQ(refused.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(refused.ack, "ERR-2.3"), "6");
  EXPECT_EQ(Field(refused.ack, "ERR-3.1"), "200");
  EXPECT_NE(Field(refused.ack, "ERR-8").find("has no FHIR mapping"), std::string::npos)
      << refused.ack.er7;
  EXPECT_TRUE(store_.messages().empty());
  // The A01 it can take goes there.
  const Hl7IngestResult stored = ingest.Ingest(to_rgt, Peer("rj1-pas"));
  EXPECT_EQ(stored.outcome, "stored");
  EXPECT_EQ(stored.routes, 1u);
}

class Hl7IngestLedgerTest : public Hl7IngestTest {
 protected:
  void SetUp() override {
    auto opened = ledger::Ledger::Open(ledger_store_, clock_, nullptr);
    ASSERT_TRUE(opened);
    ledger_ = std::move(*opened);
    Hl7IngestSettings settings;
    settings.broker_ods = "X26";
    audited_ =
        std::make_unique<Hl7Ingest>(directory_, store_, &locator_, clock_, settings, ledger_.get());
  }
  std::vector<core::LedgerRecord> Records() {
    auto records = ledger_store_.ReadRange(1, 100);
    EXPECT_TRUE(records);
    return records ? *records : std::vector<core::LedgerRecord>{};
  }

  ledger::InMemoryLedgerStore ledger_store_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<Hl7Ingest> audited_;
};

TEST_F(Hl7IngestLedgerTest, StoredMessageIsAnInboundHopWithItsDigest) {
  ASSERT_EQ(audited_->Ingest(kA01, Peer("rj1-pas")).outcome, "stored");
  EXPECT_EQ(audited_->Ingest(kA01, Peer("rj1-pas")).outcome, "duplicate");  // recorded once
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, "inbound");
  EXPECT_EQ(records[0].nhs_number, "9449305552");
  EXPECT_NE(records[0].canonical.find(store_.messages()[0].content_sha256), std::string::npos);
}

// Each patient of a two-patient event has the inbound hop in their journey.
TEST_F(Hl7IngestLedgerTest, ATwoPatientEventIsAnInboundHopForEachPatient) {
  const std::string a24 = With(With(kA01, "ADT^A01", "ADT^A24"), "EVN|A01", "EVN|A24") +
                          "PID|2||9434765870^^^NHS^NH||SMITH^BABY||20261120|F\r";
  ASSERT_EQ(audited_->Ingest(a24, Peer("rj1-pas")).outcome, "stored");
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, "inbound");
  EXPECT_EQ(records[0].nhs_number, "9449305552");
  EXPECT_EQ(records[1].kind, "inbound");
  EXPECT_EQ(records[1].nhs_number, "9434765870");
}

TEST_F(Hl7IngestLedgerTest, RefusalsAreRecordedWithTheirReason) {
  audited_->Ingest(kA01, Peer("RGT"));                                        // facility mismatch
  audited_->Ingest(With(kA01, "9449305552", "9449305553"), Peer("rj1-pas"));  // bad check digit
  audited_->Ingest("not hl7 at all", Peer("rj1-pas"));
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 3u);
  for (const core::LedgerRecord& record : records) {
    EXPECT_EQ(record.kind, "refusal");
  }
  EXPECT_NE(records[0].canonical.find("kForbidden"), std::string::npos);
  EXPECT_EQ(records[1].nhs_number, "");  // an invalid NHS number is not recorded as a patient
  EXPECT_NE(records[1].canonical.find("kInvalidValue"), std::string::npos);
}

// A message refused for where it was sent names that destination in its record.
TEST_F(Hl7IngestLedgerTest, ARefusedDestinationIsInTheRecord) {
  audited_->Ingest(With(kA01, "|TB|X26|", "|TB|ZZZ99|"), Peer("rj1-pas"));  // not registered
  audited_->Ingest(With(kA01, "|TB|X26|", "|TB|RGT|"), Peer("rj1-pas"));    // no endpoint
  const std::vector<core::LedgerRecord> records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, "refusal");
  EXPECT_NE(records[0].canonical.find("ZZZ99"), std::string::npos) << records[0].canonical;
  EXPECT_NE(records[0].canonical.find("kForbidden"), std::string::npos);
  EXPECT_EQ(records[1].kind, "refusal");
  EXPECT_NE(records[1].canonical.find("\"RGT\""), std::string::npos) << records[1].canonical;
  EXPECT_NE(records[1].canonical.find("kUndeliverable"), std::string::npos);
}

// A store whose commit happens when the test says so, as SqlInboundStore's committer reports
// AcceptAsync callers after the batch's commit.
class DeferredInboundStore final : public core::InboundStore {
 public:
  core::Result<core::AcceptResult> Accept(const core::InboundMessage& message) override {
    return inner_.Accept(message);
  }
  void AcceptAsync(core::InboundMessage message, AcceptCallback done) override {
    std::lock_guard lock(mutex_);
    waiting_.emplace_back(std::move(message), std::move(done));
  }
  core::Result<std::int64_t> Count() override { return inner_.Count(); }
  bool WritesLocatorAnnouncements() const override { return true; }

  // Commits what waits and reports it, in arrival order.
  void CommitAll() {
    std::vector<std::pair<core::InboundMessage, AcceptCallback>> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(waiting_);
    }
    for (auto& [message, done] : batch) {
      done(inner_.Accept(message));
    }
  }
  std::size_t waiting() {
    std::lock_guard lock(mutex_);
    return waiting_.size();
  }
  std::size_t stored() const { return inner_.messages().size(); }

 private:
  testing::InMemoryInboundStore inner_;
  std::mutex mutex_;
  std::vector<std::pair<core::InboundMessage, AcceptCallback>> waiting_;
};

TEST_F(Hl7IngestLedgerTest, IngestAsyncAnswersOnlyOnceTheMessageAndItsHopAreDurable) {
  DeferredInboundStore deferred;
  Hl7Ingest ingest(directory_, deferred, &locator_, clock_, BrokerSettings(), ledger_.get());
  std::promise<std::pair<Hl7IngestResult, std::size_t>> answered;
  ingest.IngestAsync(kA01, Peer("rj1-pas"), [&](Hl7IngestResult result) {
    // What the ledger holds when the answer goes out.
    answered.set_value({std::move(result), Records().size()});
  });
  std::future<std::pair<Hl7IngestResult, std::size_t>> answer = answered.get_future();
  ASSERT_EQ(deferred.waiting(), 1u) << "the message was handed to the store";
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "answered before the store committed";
  EXPECT_TRUE(Records().empty()) << "the hop was recorded before the message was stored";

  deferred.CommitAll();
  const auto [result, hops] = answer.get();
  EXPECT_EQ(result.outcome, "stored");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAA);
  EXPECT_EQ(Field(result.ack, "MSA-2"), "MSG0001");
  EXPECT_EQ(deferred.stored(), 1u);
  EXPECT_EQ(hops, 1u) << "answered before its hop was durable";
}

TEST_F(Hl7IngestTest, IngestAsyncRefusesWithoutTheStoreAndAStorageFailureIsNeverAA) {
  DeferredInboundStore deferred;
  Hl7Ingest ingest(directory_, deferred, &locator_, clock_, BrokerSettings());
  std::optional<Hl7IngestResult> refused;
  ingest.IngestAsync(kA01, Peer("RGT"), [&](Hl7IngestResult result) { refused = result; });
  ASSERT_TRUE(refused.has_value()) << "a refusal needs no commit: answered at once";
  EXPECT_EQ(refused->ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(deferred.waiting(), 0u);

  // The store fails the message: AR (resend later), and the in-flight count goes back to zero.
  testing::InMemoryInboundStore failing;
  failing.SetFailure(core::MakeError(core::ErrorCode::kStorage, "disk full"));
  Hl7Ingest failing_ingest(directory_, failing, &locator_, clock_, BrokerSettings());
  std::optional<Hl7IngestResult> failed;
  failing_ingest.IngestAsync(kA01, Peer("rj1-pas"),
                             [&](Hl7IngestResult result) { failed = result; });
  failing_ingest.WaitForInFlight();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->outcome, "storage_error");
  EXPECT_EQ(failed->ack.code, hl7v2::AckCode::kAR);
}

TEST_F(Hl7IngestTest, ResendIsAcknowledgedAgainButStoredOnce) {
  ASSERT_EQ(Send(kA01).outcome, "stored");
  Hl7IngestResult again = Send(kA01);
  EXPECT_EQ(again.outcome, "duplicate");
  EXPECT_EQ(again.ack.code, hl7v2::AckCode::kAA);
  EXPECT_EQ(store_.messages().size(), 1u);
}

TEST_F(Hl7IngestTest, ResendWithOtherLineEndingsIsStillADuplicate) {
  ASSERT_EQ(Send(kA01).outcome, "stored");
  std::string lf(kA01);
  for (char& c : lf) {
    if (c == '\r') {
      c = '\n';
    }
  }
  lf.pop_back();  // and no terminator after the last segment
  EXPECT_EQ(Send(lf).outcome, "duplicate");
}

TEST_F(Hl7IngestTest, ReusedControlIdWithOtherContentIsRefusedAndFirstVersionStands) {
  ASSERT_EQ(Send(kA01).outcome, "stored");
  Hl7IngestResult result = Send(With(kA01, "SMITH^JOHN", "SMITH^JANE"));
  EXPECT_EQ(result.outcome, "conflict");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAE);
  EXPECT_EQ(Field(result.ack, "ERR-3.1"), "205");
  EXPECT_EQ(Field(result.ack, "ERR-2.1"), "MSH");
  EXPECT_EQ(Field(result.ack, "ERR-2.3"), "10");
  ASSERT_EQ(store_.messages().size(), 1u);
  EXPECT_NE(store_.messages()[0].payload.find("SMITH^JOHN"), std::string::npos);
}

TEST_F(Hl7IngestTest, CertificateOfNoParticipantIsRefusedAR) {
  Hl7IngestResult result = Send(kA01, "somebody-else");
  EXPECT_EQ(result.outcome, "refused");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "ERR-3.1"), "207");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, SendingFacilityOfAnotherOrganisationIsRefusedAR) {
  // RGT's certificate, but MSH-4 says RJ1: one trust may not speak for another.
  Hl7IngestResult result = Send(kA01, "RGT");
  EXPECT_EQ(result.outcome, "refused");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "ERR-2.1"), "MSH");
  EXPECT_EQ(Field(result.ack, "ERR-2.3"), "4");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, SendingFacilityIsComparedWithoutCaseAndMayBeEmpty) {
  EXPECT_EQ(Send(With(kA01, "|PAS|RJ1|", "|PAS|rj1|")).outcome, "stored");
  EXPECT_EQ(Send(With(With(kA01, "|PAS|RJ1|", "|PAS||"), "MSG0001", "MSG0002")).outcome, "stored");
}

TEST_F(Hl7IngestTest, EnhancedModeRefusalIsCR) {
  std::string enhanced = With(kA01, "|P|2.4\r", "|P|2.4|||AL|NE\r");
  Hl7IngestResult result = Send(enhanced, "RGT");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kCR);
}

TEST_F(Hl7IngestTest, EnhancedModeAcceptIsCAOnlyAfterStorage) {
  Hl7IngestResult result = Send(With(kA01, "|P|2.4\r", "|P|2.4|||AL|NE\r"));
  EXPECT_EQ(result.outcome, "stored");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kCA);
  EXPECT_EQ(store_.messages().size(), 1u);
}

TEST_F(Hl7IngestTest, BadNhsNumberCheckDigitIsAEPointingAtPid3) {
  Hl7IngestResult result = Send(With(kA01, "9449305552", "9449305553"));
  EXPECT_EQ(result.outcome, "invalid");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAE);
  EXPECT_EQ(Field(result.ack, "ERR-2.1"), "PID");
  EXPECT_EQ(Field(result.ack, "ERR-2.3"), "3");
  EXPECT_EQ(Field(result.ack, "ERR-3.1"), "102");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, MissingMessageTypeIsRefusedWithErrAtMsh9) {
  Hl7IngestResult result = Send(With(kA01, "ADT^A01", ""));
  EXPECT_EQ(result.outcome, "invalid");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);  // v2.5.1 section 2.9.2.2 a
  EXPECT_EQ(Field(result.ack, "ERR-2.1"), "MSH");
  EXPECT_EQ(Field(result.ack, "ERR-2.3"), "9");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, UnknownTriggerIsRefusedAR201) {
  Hl7IngestResult result = Send(With(kA01, "ADT^A01", "ADT^Z99"));
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "ERR-3.1"), "201");
}

TEST_F(Hl7IngestTest, ConfiguredTypesNarrowWhatIsAccepted) {
  Hl7IngestSettings settings;
  settings.rules.message_types = {"ORU^R01"};
  Hl7Ingest narrow(directory_, store_, nullptr, clock_, settings);
  EXPECT_EQ(narrow.Ingest(kA01, Peer("rj1-pas")).ack.code, hl7v2::AckCode::kAR);
}

TEST_F(Hl7IngestTest, UnparseableInputGetsANakQuotingWhatCouldBeRead) {
  Hl7IngestResult result =
      Send("MSH|^~\\&|PAS|RJ1|TB|X26|20261123||ADT^A01|MSG0009|P|2.4\rpid|bad\r");
  EXPECT_EQ(result.outcome, "unparseable");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "MSA-2"), "MSG0009");
  EXPECT_TRUE(store_.messages().empty());
}

TEST_F(Hl7IngestTest, GarbageGetsANakToo) {
  Hl7IngestResult result = Send("hello, is this the HL7 port?");
  EXPECT_EQ(result.outcome, "unparseable");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(result.ack, "MSA-1"), "AR");
}

// MSH-15 NE, MSH-16 AL: no accept ACK, but the application ACK after the store (the broker's
// application processing). Before, the message was stored and nothing was ever sent.
TEST_F(Hl7IngestTest, NoAcceptAckButAnApplicationAckGetsTheApplicationAckAfterTheStore) {
  const std::string ne_al = With(kA01, "|P|2.4\r", "|P|2.4|||NE|AL\r");
  Hl7IngestResult stored = Send(ne_al);
  EXPECT_EQ(stored.outcome, "stored");
  EXPECT_EQ(stored.ack.code, hl7v2::AckCode::kAA);
  EXPECT_TRUE(stored.ack.should_send);
  EXPECT_EQ(Field(stored.ack, "MSA-2"), "MSG0001");
  EXPECT_EQ(store_.messages().size(), 1u);

  store_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "database or disk is full"));
  Hl7IngestResult failed = Send(With(ne_al, "MSG0001", "MSG0002"));
  EXPECT_EQ(failed.outcome, "storage_error");
  EXPECT_EQ(failed.ack.code, hl7v2::AckCode::kAR);
  EXPECT_TRUE(failed.ack.should_send);
  store_.SetFailure(std::nullopt);

  // NE/NE still gets nothing, as asked.
  Hl7IngestResult silent =
      Send(With(With(kA01, "|P|2.4\r", "|P|2.4|||NE|NE\r"), "MSG0001", "MSG0003"));
  EXPECT_EQ(silent.outcome, "stored");
  EXPECT_FALSE(silent.ack.should_send);
}

// Ordinary messages keep the key they always had (stored keys still dedupe their resends);
// messages whose parts hold '|' (another field separator) or an escaped MSH-10 no longer share
// a key with a different message.
TEST(Hl7DedupeKey, IsUnchangedForOrdinaryMessagesAndUnambiguousForOthers) {
  EXPECT_EQ(Hl7DedupeKey("RJ1", "PAS", "RJ1", "MSG0001", "MSG0001", '\\'), "RJ1|PAS|RJ1|MSG0001");
  EXPECT_EQ(Hl7DedupeKey("RJ1", "PAS^1", "", "M1", "M1", '\\'), "RJ1|PAS^1||M1");

  // MSH-1 '#': MSH-3 "A|B" with MSH-4 "C" and MSH-3 "A" with MSH-4 "B|C" were both RJ1|A|B|C|M1.
  const std::string first = Hl7DedupeKey("RJ1", "A|B", "C", "M1", "M1", '\\');
  const std::string second = Hl7DedupeKey("RJ1", "A", "B|C", "M1", "M1", '\\');
  EXPECT_NE(first, second);
  EXPECT_NE(first, "RJ1|A|B|C|M1");
  EXPECT_EQ(first, "RJ1||3:A|B|1:C|2:M1");

  // MSH-10 "X\F\Y" decodes to "X|Y": it was RJ1|PAS|RJ1|X|Y, the key of MSH-4 "RJ1|X" too.
  const std::string escaped = Hl7DedupeKey("RJ1", "PAS", "RJ1", "X\\F\\Y", "X|Y", '\\');
  EXPECT_NE(escaped, Hl7DedupeKey("RJ1", "PAS", "RJ1|X", "Y", "Y", '\\'));
  // Two escapes that decode alike are two control ids.
  EXPECT_NE(Hl7DedupeKey("RJ1", "PAS", "RJ1", "A\\T\\B", "A&B", '\\'),
            Hl7DedupeKey("RJ1", "PAS", "RJ1", "A&B", "A&B", '\\'));
}

TEST_F(Hl7IngestTest, StorageFailureIsNeverAcknowledgedAA) {
  store_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "database or disk is full"));
  Hl7IngestResult result = Send(kA01);
  EXPECT_EQ(result.outcome, "storage_error");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  // The database's own words stay in the log; the sender is told to resend.
  EXPECT_EQ(result.ack.er7.find("disk"), std::string::npos);
  store_.SetFailure(std::nullopt);
  EXPECT_EQ(Send(kA01).outcome, "stored");  // once space returns, the resend is accepted
}

TEST_F(Hl7IngestTest, CustomDelimitersEscapesAndNullsAreAccepted) {
  constexpr std::string_view kCustom =
      "MSH#*$!@#PAS#RJ1#TB#X26#20261123120000##ADT*A08#MSG0100#P#2.5.1\r"
      "EVN#A08#20261123120000\r"
      "PID#1##9449305552***NHS*NH##O!@T!@CONNOR*SEAN##\"\"#M#####1 HIGH ST@.br@FLAT 2\r"
      "ZPI#local#data\r"
      "PV1#1#O\r";
  Hl7IngestResult result = Send(kCustom);
  EXPECT_EQ(result.outcome, "stored") << result.ack.er7;
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAA);
  ASSERT_EQ(store_.messages().size(), 1u);
  EXPECT_EQ(store_.messages()[0].nhs_number, "9449305552");
  EXPECT_EQ(store_.messages()[0].message_type, "ADT^A08");
  // The ACK speaks the sender's delimiters.
  EXPECT_EQ(result.ack.er7.substr(0, 8), "MSH#*$!@");
}

TEST_F(Hl7IngestTest, EveryAckGetsItsOwnControlId) {
  const std::string first = Field(Send(kA01).ack, "MSH-10");
  const std::string second = Field(Send(kA01).ack, "MSH-10");
  EXPECT_EQ(first.size(), 20u);
  EXPECT_NE(first, second);
}

TEST_F(Hl7IngestTest, OversizeFrameNakQuotesTheHeader) {
  hl7v2::Ack nak = ingest_.RefuseFrame(
      kA01.substr(0, 70), core::MakeError(core::ErrorCode::kTooLarge, "frame over 1024 bytes"));
  EXPECT_EQ(nak.code, hl7v2::AckCode::kAR);
  EXPECT_EQ(Field(nak, "MSA-2"), "MSG0001");
}

// A store that writes announcements in its own transaction (as SqlInboundStore does) gets the
// announcement with the message, and the ingest makes no separate Announce: the store's locator
// is not the routing one here, so a separate call would show up in `locator_`.
class Hl7IngestAnnouncingStoreTest : public Hl7IngestTest {
 protected:
  Hl7IngestAnnouncingStoreTest()
      : announcing_(nullptr, &store_locator_),
        announcing_ingest_(directory_, announcing_, &locator_, clock_, BrokerSettings()) {}

  testing::InMemoryRecordLocator store_locator_;
  testing::InMemoryInboundStore announcing_;
  Hl7Ingest announcing_ingest_;
};

TEST_F(Hl7IngestAnnouncingStoreTest, TheAnnouncementIsStoredWithTheMessageNotSeparately) {
  const Hl7IngestResult result = announcing_ingest_.Ingest(kA01, Peer("rj1-pas"));
  ASSERT_EQ(result.outcome, "stored");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAA);
  const std::vector<core::InboundMessage> messages = announcing_.messages();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].announce.has_value());
  EXPECT_EQ(messages[0].announce->nhs_number, "9449305552");
  EXPECT_EQ(messages[0].announce->ods, "RJ1");
  EXPECT_EQ(messages[0].announce->source, "hl7v2:ADT^A01");
  EXPECT_EQ(messages[0].announce->at_ms, 1'795'000'000'000);
  auto entries = store_locator_.Lookup("9449305552");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].ods, "RJ1");
  EXPECT_TRUE(locator_.Lookup("9449305552")->empty()) << "announced a second time, separately";
}

TEST_F(Hl7IngestAnnouncingStoreTest, AFailedAnnouncementIsAnErrorAckAndNothingIsStored) {
  store_locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "disk full"));
  const Hl7IngestResult result = announcing_ingest_.Ingest(kA01, Peer("rj1-pas"));
  EXPECT_EQ(result.outcome, "storage_error");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_TRUE(announcing_.messages().empty());
}

TEST_F(Hl7IngestAnnouncingStoreTest, AMessageWithoutAPatientAnnouncesNothing) {
  const std::string no_patient = With(kA01, "~9449305552^^^NHS^NH", "");
  ASSERT_EQ(announcing_ingest_.Ingest(no_patient, Peer("rj1-pas")).outcome, "stored");
  const std::vector<core::InboundMessage> messages = announcing_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_FALSE(messages[0].announce.has_value());
}

// A store that routes by the locator's holders in its own transaction (SqlInboundStore on
// SQLite): the ingest reads no locator itself, so it never blocks and an I/O thread may run it.
class Hl7IngestRoutingInCommitTest : public Hl7IngestTest {
 protected:
  Hl7IngestRoutingInCommitTest()
      : directory_with_receiver_({MakeParticipant("RJ1", "rj1-pas"), Receiver()}, {}),
        routing_store_(nullptr, &store_locator_),
        routing_ingest_(directory_with_receiver_, routing_store_, &store_locator_, clock_,
                        BrokerSettings()) {
    routing_store_.RouteByHoldersInCommit();
  }

  static Participant Receiver() {
    Participant receiver = MakeParticipant("RGT", "RGT");
    receiver.mllp.host = "127.0.0.1";
    receiver.mllp.port = 2575;
    return receiver;
  }

  testing::InMemoryRecordLocator store_locator_;
  ParticipantDirectory directory_with_receiver_;
  testing::InMemoryInboundStore routing_store_;
  Hl7Ingest routing_ingest_;
};

TEST_F(Hl7IngestRoutingInCommitTest, OnlyAStoreThatRoutesInItsCommitLetsIngestSkipTheBlockingPool) {
  EXPECT_TRUE(routing_ingest_.IngestsWithoutBlocking());
  EXPECT_FALSE(ingest_.IngestsWithoutBlocking()) << "it reads the locator itself";
  Hl7Ingest no_locator(directory_, store_, nullptr, clock_, BrokerSettings());
  EXPECT_TRUE(no_locator.IngestsWithoutBlocking());
}

TEST_F(Hl7IngestRoutingInCommitTest, TheStoreRoutesByTheHoldersItReadsAndOnlyOnce) {
  ASSERT_TRUE(store_locator_.Announce("9449305552", "RGT", "admin", 1));
  const Hl7IngestResult stored = routing_ingest_.Ingest(kA01, Peer("rj1-pas"));
  ASSERT_EQ(stored.outcome, "stored");
  EXPECT_EQ(stored.ack.code, hl7v2::AckCode::kAA);
  EXPECT_EQ(stored.routes, 1u);
  const Hl7IngestResult duplicate = routing_ingest_.Ingest(kA01, Peer("rj1-pas"));
  ASSERT_EQ(duplicate.outcome, "duplicate");
  EXPECT_EQ(duplicate.routes, 0u);
  const std::vector<core::InboundMessage> messages = routing_store_.messages();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_EQ(messages[0].routes.size(), 1u);
  EXPECT_EQ(messages[0].routes[0].destination, "RGT");  // not the sender RJ1, now a holder too
  EXPECT_EQ(messages[0].routes[0].format, "hl7v2");
}

TEST_F(Hl7IngestRoutingInCommitTest, AMessageAddressedToAParticipantIsRoutedBeforeTheStore) {
  const Hl7IngestResult stored =
      routing_ingest_.Ingest(With(kA01, "|TB|X26|", "|TB|RGT|"), Peer("rj1-pas"));
  ASSERT_EQ(stored.outcome, "stored");
  EXPECT_EQ(stored.routes, 1u);
  EXPECT_EQ(routing_store_.messages().at(0).routes.size(), 1u);
}

TEST_F(Hl7IngestRoutingInCommitTest, AFailedHolderReadIsAnErrorAckAndNothingIsStored) {
  store_locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "locked"));
  const Hl7IngestResult result = routing_ingest_.Ingest(kA01, Peer("rj1-pas"));
  EXPECT_EQ(result.outcome, "storage_error");
  EXPECT_EQ(result.ack.code, hl7v2::AckCode::kAR);
  EXPECT_TRUE(routing_store_.messages().empty());
}

}  // namespace
}  // namespace tb::routing
