// Fuzzes message ingest at the broker's edge with its real collaborators in memory (the store
// and outbound queue, the record locator, the audit ledger): HL7 v2 frames through
// routing::Hl7Ingest (what the MLLP listener runs) and FHIR message Bundles through
// routing::FhirMessageIngest (what $process-message runs). RJ1 sends; RGT (FHIR) and RXH (v2)
// hold patients, so a stored message about them is routed to both, each in its own format.
//
// Input: the first byte chooses the sender's certificate (RJ1, RGT or an unknown one), whether
// '\n' in the rest becomes '\r' (test messages are often kept with line feeds) and whether the
// rest is an HL7 v2 frame or a FHIR message Bundle. Each message is ingested twice.
//
// Checked, besides no crash or sanitizer report:
//  - HL7 v2: the acknowledgement parses, is an ACK whose MSA-1 is its code and whose MSA-2 is
//    the message's control id (when MSH could be read), and it is positive exactly when the
//    message was stored (or is a duplicate of a stored one);
//  - the second copy of a stored message is a duplicate: acknowledged again, stored and routed
//    once;
//  - a stored message goes only to registered participants other than its sender, and in a form
//    each can take: a v2 message routed to a FHIR participant maps to FHIR JSON, a FHIR message
//    routed to a v2 participant maps to HL7 v2 (else it was acknowledged and then could never be
//    delivered there);
//  - every message but a duplicate leaves a ledger record (inbound or refusal) before it is
//    answered;
//  - a stored message names every patient the delivery will check consents for: each valid NHS
//    number the deliverer reads from it (hl7v2::PatientNhsNumbers, policy::PatientNhsNumbers) is
//    its routing key or one of its other_nhs_numbers, and the locator lists the sender as a
//    holder of each.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/message.h"
#include "adapters/hl7v2/validate.h"
#include "broker/core/clock.h"
#include "broker/core/nhs_number.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/delivery.h"
#include "broker/routing/fhir_message_ingest.h"
#include "broker/routing/hl7_ingest.h"
#include "broker/routing/participant.h"
#include "mappings/fhir_to_v2.h"
#include "mappings/mapping_tables.h"
#include "mappings/v2_to_fhir.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/in_memory_inbound_store.h"
#include "tests/support/in_memory_record_locator.h"

namespace {

using namespace tb;
using tb::fuzz::Check;

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'521'600'000));
  }
};

routing::Participant MakeParticipant(std::string ods, std::string fhir_base, std::string mllp) {
  routing::Participant participant;
  participant.ods = ods;
  participant.cert_cn = ods;
  participant.fhir_base = std::move(fhir_base);
  if (!mllp.empty()) {
    Check(core::ParseHostPort(mllp, participant.mllp));
  }
  return participant;
}

struct Fixture {
  Fixture()
      : directory({MakeParticipant("RJ1", "", "127.0.0.1:9102"),
                   MakeParticipant("RGT", "https://127.0.0.1:9201/fhir", ""),
                   MakeParticipant("RXH", "", "127.0.0.1:9302")},
                  {}) {
    auto loaded = mappings::BuiltinMappingTables();
    Check(loaded.has_value());
    tables = *loaded;
  }
  routing::ParticipantDirectory directory;
  const mappings::MappingTables* tables = nullptr;
};

std::int64_t Recorded(ledger::InMemoryLedgerStore& store) {
  auto last = store.Last();
  Check(last.has_value());
  return *last ? (*last)->seq : 0;
}

bool Positive(hl7v2::AckCode code) {
  return code == hl7v2::AckCode::kAA || code == hl7v2::AckCode::kCA;
}

// The acknowledgement reads back as an ACK that says what `ack.code` says, about `control_id`
// (nullopt: the frame's MSH could not be read).
void CheckAck(const hl7v2::Ack& ack, const std::optional<std::string>& control_id) {
  auto parsed = hl7v2::Message::Parse(ack.er7);
  Check(parsed.has_value());
  Check(parsed->MessageType() == "ACK");
  Check(parsed->Get("MSA-1").raw() == hl7v2::ToString(ack.code));
  if (control_id) {
    Check(parsed->Get("MSA-2").raw() == *control_id);
  }
}

// TB_FUZZ_TRACE=1: what each message became, to check that seeds reach their path.
void Trace(const char* protocol, const std::string& outcome, std::size_t routes) {
  static const bool trace = std::getenv("TB_FUZZ_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "%s %s, %zu routes\n", protocol, outcome.c_str(), routes);
  }
}

// Where a stored message went: registered participants other than its sender, each able to take
// it in its format.
void CheckRoutes(const core::InboundMessage& message, const Fixture& fixture) {
  for (const core::OutboundRoute& route : message.routes) {
    const routing::Participant* to = fixture.directory.FindByOds(route.destination);
    Check(to != nullptr && route.destination != message.sender);
    if (message.protocol == "hl7v2" && route.format == "fhir") {
      auto mapped = mappings::MapV2ToFhir(message.payload, *fixture.tables);
      Check(mapped.has_value() && fhir::ParseJson(*mapped).has_value());
    }
    if (message.protocol == "fhir" && route.format == "hl7v2") {
      auto mapped = mappings::MapFhirToV2(message.payload);
      Check(mapped.has_value() && hl7v2::Message::Parse(*mapped).has_value());
    }
  }
}

// The patients of a stored message are the ones its delivery reads (so routing, the locator and
// the consent check agree on whose message it is), and the sender now holds each.
void CheckPatients(const core::InboundMessage& message, testing::InMemoryRecordLocator& locator) {
  std::vector<std::string> read;
  if (message.protocol == "hl7v2") {
    auto parsed = hl7v2::Message::Parse(message.payload);
    Check(parsed.has_value());
    read = hl7v2::PatientNhsNumbers(*parsed);
  } else {
    auto parsed = fhir::ParseJson(message.payload);
    Check(parsed.has_value());
    read = policy::PatientNhsNumbers(*parsed);
  }
  std::vector<std::string> patients = message.other_nhs_numbers;
  if (!message.nhs_number.empty()) {
    patients.push_back(message.nhs_number);
  }
  for (const std::string& number : read) {
    if (core::IsValidNhsNumber(number) && !message.nhs_number.empty()) {
      Check(std::find(patients.begin(), patients.end(), number) != patients.end());
    }
  }
  if (!core::IsValidNhsNumber(message.nhs_number)) {
    return;
  }
  for (const std::string& patient : patients) {
    auto holders = locator.Lookup(patient);
    Check(holders.has_value());
    Check(std::any_of(holders->begin(), holders->end(), [&](const core::LocatorEntry& entry) {
      return entry.ods == message.sender;
    }));
  }
}

// The stores one input's messages go to, fresh for each input.
struct Stores {
  Stores() : queue(clock), store(&queue, &locator) {
    for (const char* holder : {"RGT", "RXH"}) {
      Check(locator.Announce("9990001235", holder, "admin", 0).has_value());
    }
    Check(locator.Announce("9000000009", "RGT", "admin", 0).has_value());
    auto opened = ledger::Ledger::Open(ledger_store, clock, nullptr, {0, 1024});
    Check(opened.has_value());
    ledger = std::move(*opened);
  }
  FixedClock clock;
  testing::InMemoryRecordLocator locator;
  testing::InMemoryOutboundQueue queue;
  testing::InMemoryInboundStore store;
  ledger::InMemoryLedgerStore ledger_store;
  std::unique_ptr<ledger::Ledger> ledger;
};

void IngestV2(const std::string& frame, const core::PeerIdentity& peer, const Fixture& fixture,
              Stores& stores) {
  routing::Hl7IngestSettings settings;
  settings.broker_ods = "X26";
  routing::Hl7Ingest ingest(fixture.directory, stores.store, &stores.locator, stores.clock,
                            settings, stores.ledger.get());
  // The control id the ACK must echo, when the frame's MSH reads.
  std::optional<std::string> control_id;
  if (auto message = hl7v2::Message::Parse(frame); message) {
    control_id = std::string(message->ControlId());
  }

  const std::int64_t before = Recorded(stores.ledger_store);
  const routing::Hl7IngestResult first = ingest.Ingest(frame, peer);
  Trace("hl7v2", first.outcome, first.routes);
  CheckAck(first.ack, first.outcome == "unparseable" ? std::nullopt : control_id);
  const bool stored = first.outcome == "stored";
  Check(Positive(first.ack.code) == stored);
  Check(Recorded(stores.ledger_store) > before);
  const std::vector<core::InboundMessage> messages = stores.store.messages();
  Check(messages.size() == (stored ? 1u : 0u));
  if (stored) {
    Check(first.routes == messages.front().routes.size());
    CheckRoutes(messages.front(), fixture);
    CheckPatients(messages.front(), stores.locator);
  }

  const std::int64_t between = Recorded(stores.ledger_store);
  const routing::Hl7IngestResult second = ingest.Ingest(frame, peer);
  CheckAck(second.ack, second.outcome == "unparseable" ? std::nullopt : control_id);
  if (stored) {
    Check(second.outcome == "duplicate" && Positive(second.ack.code));
    Check(second.routes == 0 && stores.store.messages().size() == 1);
  } else {
    Check(!Positive(second.ack.code));
    Check(Recorded(stores.ledger_store) > between);
  }
}

void IngestFhir(const std::string& body, const core::PeerIdentity& peer, const Fixture& fixture,
                Stores& stores) {
  routing::FhirMessageIngestSettings settings;
  settings.broker_ods = "X26";
  routing::FhirMessageIngest ingest(fixture.directory, stores.store, &stores.locator, stores.clock,
                                    settings, stores.ledger.get());
  const std::string base = "https://broker.test/fhir";
  const std::int64_t before = Recorded(stores.ledger_store);
  const routing::FhirMessageIngestResult first = ingest.Ingest(body, peer, base);
  Trace("fhir", first.outcome, first.destinations.size());
  const bool stored = first.outcome == "stored";
  Check(stored == first.errors.empty());
  Check(Recorded(stores.ledger_store) > before);
  const std::vector<core::InboundMessage> messages = stores.store.messages();
  Check(messages.size() == (stored ? 1u : 0u));
  if (stored) {
    Check(first.destinations.size() == messages.front().routes.size());
    CheckRoutes(messages.front(), fixture);
    CheckPatients(messages.front(), stores.locator);
  }
  const routing::FhirMessageIngestResult second = ingest.Ingest(body, peer, base);
  if (stored) {
    Check(second.outcome == "duplicate" && stores.store.messages().size() == 1);
  } else {
    Check(second.outcome != "stored" && second.outcome != "duplicate");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture fixture;
  if (size < 2 || size > 64 * 1024) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((flags & 4u) != 0) {
    for (char& c : text) {
      c = c == '\n' ? '\r' : c;
    }
  }
  constexpr const char* kSenders[] = {"RJ1", "RGT", "EVIL", "RJ1"};
  core::PeerIdentity peer;
  peer.subject_cn = kSenders[flags & 3u];
  peer.remote_address = "127.0.0.1:50000";
  Stores stores;
  if ((flags & 8u) != 0) {
    IngestFhir(text, peer, fixture, stores);
  } else {
    IngestV2(text, peer, fixture, stores);
  }
  return 0;
}
