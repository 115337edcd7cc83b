// Fuzzes HL7 v2 ingest at the broker's edge (routing::Hl7Ingest, what the MLLP listener runs for
// every frame) with its real collaborators in memory: the store and outbound queue, the record
// locator and the audit ledger. RJ1 sends over MLLP; RGT (FHIR) and RXH (v2) hold patients, so a
// stored message about them is routed to both.
//
// Input: the first byte chooses the sender's certificate (RJ1, RGT or an unknown one) and
// whether '\n' in the rest becomes '\r' (test messages are often kept with line feeds); the rest
// is the frame. Each frame is ingested twice.
//
// Checked, besides no crash or sanitizer report:
//  - the acknowledgement parses, is an ACK whose MSA-1 is its code and whose MSA-2 is the
//    message's control id (when MSH could be read), and it is positive exactly when the message
//    was stored (or is a duplicate of a stored one);
//  - the second copy of a stored message is a duplicate: acknowledged again, stored and routed
//    once;
//  - a stored message goes only to registered participants other than its sender, and one routed
//    to a FHIR destination maps to FHIR JSON (else it was acknowledged and then could never be
//    delivered there);
//  - every frame but a duplicate leaves a ledger record (inbound or refusal) before it is
//    answered.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/message.h"
#include "broker/core/clock.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/routing/hl7_ingest.h"
#include "broker/routing/participant.h"
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
  FixedClock clock;
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size < 2 || size > 64 * 1024) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  std::string frame(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((flags & 4u) != 0) {
    for (char& c : frame) {
      c = c == '\n' ? '\r' : c;
    }
  }
  constexpr const char* kSenders[] = {"RJ1", "RGT", "EVIL", "RJ1"};
  core::PeerIdentity peer;
  peer.subject_cn = kSenders[flags & 3u];
  peer.remote_address = "127.0.0.1:50000";

  testing::InMemoryRecordLocator locator;
  for (const char* holder : {"RGT", "RXH"}) {
    Check(locator.Announce("9990001235", holder, "admin", 0).has_value());
  }
  Check(locator.Announce("9000000009", "RGT", "admin", 0).has_value());
  testing::InMemoryOutboundQueue queue(fixture.clock);
  testing::InMemoryInboundStore store(&queue, &locator);
  ledger::InMemoryLedgerStore ledger_store;
  auto ledger = ledger::Ledger::Open(ledger_store, fixture.clock, nullptr, {0, 1024});
  Check(ledger.has_value());
  routing::Hl7IngestSettings settings;
  settings.broker_ods = "X26";
  routing::Hl7Ingest ingest(fixture.directory, store, &locator, fixture.clock, settings,
                            ledger->get());

  // The control id the ACK must echo, when the frame's MSH reads.
  std::optional<std::string> control_id;
  if (auto message = hl7v2::Message::Parse(frame); message) {
    control_id = std::string(message->ControlId());
  }

  const std::int64_t before = Recorded(ledger_store);
  const routing::Hl7IngestResult first = ingest.Ingest(frame, peer);
  CheckAck(first.ack, first.outcome == "unparseable" ? std::nullopt : control_id);
  const bool stored = first.outcome == "stored";
  Check(Positive(first.ack.code) == stored);
  Check(Recorded(ledger_store) > before);

  const std::vector<core::InboundMessage> messages = store.messages();
  Check(messages.size() == (stored ? 1u : 0u));
  if (stored) {
    const core::InboundMessage& message = messages.front();
    Check(first.routes == message.routes.size());
    for (const core::OutboundRoute& route : message.routes) {
      const routing::Participant* to = fixture.directory.FindByOds(route.destination);
      Check(to != nullptr && route.destination != message.sender);
      if (route.format == "fhir") {
        auto mapped = mappings::MapV2ToFhir(message.payload, *fixture.tables);
        Check(mapped.has_value() && fhir::ParseJson(*mapped).has_value());
      }
    }
  }

  const std::int64_t between = Recorded(ledger_store);
  const routing::Hl7IngestResult second = ingest.Ingest(frame, peer);
  CheckAck(second.ack, second.outcome == "unparseable" ? std::nullopt : control_id);
  if (stored) {
    Check(second.outcome == "duplicate" && Positive(second.ack.code));
    Check(second.routes == 0 && store.messages().size() == 1);
  } else {
    Check(!Positive(second.ack.code));
    Check(Recorded(ledger_store) > between);
  }
  return 0;
}
