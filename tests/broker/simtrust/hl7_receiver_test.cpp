// Unit tests of the simulated trust's HL7 v2 intake: ACK codes and the received log.
#include "broker/simtrust/hl7_receiver.h"

#include <string>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"

namespace tb::simtrust {
namespace {

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000));
  }
};

std::string Adt(std::string_view control_id, std::string_view nhs_number) {
  return "MSH|^~\\&|BROKER|X26|PAS|RGT|20260921141320||ADT^A01^ADT_A01|" + std::string(control_id) +
         "|P|2.5\r" +
         "EVN|A01|20260921141320\r"
         "PID|1||" +
         std::string(nhs_number) +
         "^^^NHS^NH~RGT100037^^^RGT^MR||Hughes^Amelia||19840312|F\r"
         "PV1|1|I|WARD1^BED2\r";
}

core::PeerIdentity Peer(std::string cn) {
  core::PeerIdentity peer;
  peer.subject_cn = std::move(cn);
  return peer;
}

std::string AckCode(const std::string& ack) {
  auto message = hl7v2::Message::Parse(ack);
  EXPECT_TRUE(message) << ack;
  return message ? std::string(message->Get("MSA-1").raw()) : std::string();
}

std::string AckedControlId(const std::string& ack) {
  auto message = hl7v2::Message::Parse(ack);
  return message ? std::string(message->Get("MSA-2").raw()) : std::string();
}

TEST(Hl7Receiver, AcceptsAndRecordsValidMessage) {
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {}, &log, clock);
  const std::string ack = receiver.Accept(Adt("MSG0001", "9990001235"), Peer("broker-a"));
  EXPECT_EQ(AckCode(ack), "AA");
  EXPECT_EQ(AckedControlId(ack), "MSG0001");
  const auto messages = log.Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].control_id, "MSG0001");
  EXPECT_EQ(messages[0].nhs_number, "9990001235");
  EXPECT_EQ(messages[0].type, "ADT^A01");
  EXPECT_EQ(messages[0].protocol, "mllp");
  EXPECT_EQ(messages[0].sender, "broker-a");
}

TEST(Hl7Receiver, RecordsEveryCopyOfARedeliveredMessage) {
  // Duplicates are what a tester looks for when checking exactly-once delivery.
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {}, &log, clock);
  EXPECT_EQ(AckCode(receiver.Accept(Adt("DUP1", "9990001235"), Peer("broker-a"))), "AA");
  EXPECT_EQ(AckCode(receiver.Accept(Adt("DUP1", "9990001235"), Peer("broker-a"))), "AA");
  EXPECT_EQ(log.Messages().size(), 2u);
}

TEST(Hl7Receiver, NaksUnparseableInputWithoutRecording) {
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {}, &log, clock);
  const std::string ack = receiver.Accept("this is not HL7", Peer("broker-a"));
  EXPECT_EQ(AckCode(ack), "AR");
  EXPECT_TRUE(log.Messages().empty());
}

TEST(Hl7Receiver, RejectsInvalidNhsNumberWithAe) {
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {}, &log, clock);
  const std::string ack = receiver.Accept(Adt("MSG0002", "9990001236"), Peer("broker-a"));
  EXPECT_EQ(AckCode(ack), "AE");
  EXPECT_EQ(AckedControlId(ack), "MSG0002");
  EXPECT_EQ(ack.find("9990001236"), std::string::npos);
  EXPECT_TRUE(log.Messages().empty());
}

TEST(Hl7Receiver, RejectsSendersNotListed) {
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {"broker-a"}, &log, clock);
  EXPECT_EQ(AckCode(receiver.Accept(Adt("MSG0003", "9990001235"), Peer("RJ1"))), "AR");
  EXPECT_EQ(AckCode(receiver.Accept(Adt("MSG0004", "9990001235"), Peer("broker-a"))), "AA");
  ASSERT_EQ(log.Messages().size(), 1u);
  EXPECT_EQ(log.Messages()[0].control_id, "MSG0004");
}

// refuse_types: a trust that never takes a type answers AR naming MSH-9, records nothing, and
// takes everything else.
TEST(Hl7Receiver, RefusesTheTypesItIsToldToRefuse) {
  FixedClock clock;
  MemoryReceivedLog log;
  Hl7Receiver receiver("RGT", {}, &log, clock, {"ADT^A01"});
  const std::string refused = receiver.Accept(Adt("MSG0005", "9990001235"), Peer("broker-a"));
  EXPECT_EQ(AckCode(refused), "AR");
  EXPECT_NE(refused.find("|MSH^1^9|"), std::string::npos) << refused;
  EXPECT_TRUE(log.Messages().empty());
  Hl7Receiver whole_type("RGT", {}, &log, clock, {"ADT"});
  EXPECT_EQ(AckCode(whole_type.Accept(Adt("MSG0006", "9990001235"), Peer("broker-a"))), "AR");
  Hl7Receiver other("RGT", {}, &log, clock, {"ORU^R01"});
  EXPECT_EQ(AckCode(other.Accept(Adt("MSG0007", "9990001235"), Peer("broker-a"))), "AA");
  EXPECT_EQ(log.Messages().size(), 1u);
}

TEST(Hl7Receiver, RefusedFrameGetsNakQuotingItsControlId) {
  FixedClock clock;
  Hl7Receiver receiver("RGT", {}, nullptr, clock);
  const std::string nak = receiver.Refuse(Adt("BIG1", "9990001235").substr(0, 80),
                                          core::MakeError(core::ErrorCode::kTooLarge, "too big"));
  EXPECT_EQ(AckCode(nak), "AR");
  EXPECT_EQ(AckedControlId(nak), "BIG1");
}

TEST(Hl7Receiver, AcceptsWithoutALog) {
  FixedClock clock;
  Hl7Receiver receiver("RGT", {}, nullptr, clock);
  EXPECT_EQ(AckCode(receiver.Accept(Adt("MSG0005", "9990001235"), Peer("broker-a"))), "AA");
}

}  // namespace
}  // namespace tb::simtrust
