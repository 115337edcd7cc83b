// ParticipantDeliverer's HL7 v2 path keeps MLLP/TLS connections open between deliveries: a real
// MLLP/TLS listener on 127.0.0.1 plays the destination trust and counts the connections its
// frames came on.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/server.h"
#include "adapters/net/tls_context.h"
#include "broker/app/participant_deliverer.h"
#include "broker/core/clock.h"
#include "mappings/mapping_tables.h"
#include "tests/support/loopback_mllp_server.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::app {
namespace {

using core::DeliveryOutcome;
using testing::TestPki;
using testing::WaitFor;
using namespace std::chrono_literals;

constexpr char kAdt[] =
    "MSH|^~\\&|PAS|RJ1|TB|TB|20261123120000||ADT^A01|CTRL%d|P|2.4\r"
    "EVN|A01|20261123120000\r"
    "PID|1||12345^^^RJ1^MR||DOE^JOHN||19800101|M\r"
    "PV1|1|I\r";

// An acknowledgement of control id `id` with code `code`.
std::string Ack(const std::string& code, const std::string& id) {
  return "MSH|^~\\&|EPR|RXH|TB|TB|20261123120001||ACK|A" + id + "|P|2.4\rMSA|" + code + "|" + id +
         "\r";
}

// The payload of a reply that goes out as two MLLP frames: ReplyFn frames what it is given, so
// an end block and a start block in the middle split it in two on the wire.
std::string TwoFrames(const std::string& first, const std::string& second) {
  return first + "\x1c\r\x0b" + second;
}

std::string Adt(int n) {
  std::string text(kAdt);
  text.replace(text.find("%d"), 2, std::to_string(n));
  return text;
}

class DelivererConnectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    deliverer_.reset();  // closes its idle connections first
    server_.Stop();
  }

  // RXH: answers AA with MSA-2 = MSH-10, or `reply_` when it is set.
  void Start(mllp::MllpServerSettings settings = {}) {
    const TestPki& pki = TestPki::Get();
    auto port = server_.Start(
        TestPki::kRxh,
        [this](mllp::FrameRequest request, mllp::ReplyFn reply) {
          std::lock_guard lock(mutex_);
          connections_.insert(request.connection_id);
          ++frames_;
          if (!reply_.empty()) {
            reply(reply_);
            return;
          }
          auto message = hl7v2::Message::Parse(request.payload);
          const std::string id = message ? message->Get("MSH-10").Decoded() : std::string();
          if (answer_) {
            reply(answer_(id));
            return;
          }
          reply("MSH|^~\\&|EPR|RXH|TB|TB|20261123120001||ACK|A" + id + "|P|2.4\rMSA|AA|" + id +
                "\r");
        },
        settings);
    ASSERT_TRUE(port) << port.error().message;

    routing::Participant rxh;
    rxh.ods = "RXH";
    rxh.cert_cn = expected_cn_;
    rxh.mllp = core::HostPort{"127.0.0.1", *port};
    rxh.scopes = {"system/*.rs"};
    rxh.format = "hl7v2";
    directory_ = std::make_unique<routing::ParticipantDirectory>(
        std::vector<routing::Participant>{rxh}, std::vector<routing::Peer>{});
    auto tables = mappings::BuiltinMappingTables();
    ASSERT_TRUE(tables);
    auto client_tls = net::MakeClientContext(
        {pki.Cert(TestPki::kBrokerA), pki.Key(TestPki::kBrokerA), pki.CaCert(), {}});
    ASSERT_TRUE(client_tls) << client_tls.error().message;
    deliverer_ = std::make_unique<ParticipantDeliverer>(*directory_, *client_tls, nullptr, **tables,
                                                        "TB", nullptr, clock_);
  }

  core::Result<core::DeliveryResult> Deliver(int n) {
    core::OutboundItem item;
    item.id = n;
    item.destination = "RXH";
    item.format = "hl7v2";
    item.sender = "RJ1";
    item.protocol = "hl7v2";
    item.message_type = "ADT^A01";
    item.control_id = "CTRL" + std::to_string(n);
    item.payload = Adt(n);
    return deliverer_->Deliver(item);
  }

  std::size_t Connections() {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }
  int Frames() {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  void SetReply(std::string reply) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(reply);
  }

  testing::LoopbackMllpServer server_;
  core::SystemClock clock_;
  std::unique_ptr<routing::ParticipantDirectory> directory_;
  std::unique_ptr<ParticipantDeliverer> deliverer_;
  std::mutex mutex_;
  std::set<std::uint64_t> connections_;
  int frames_ = 0;
  std::string reply_;
  // Set before Start: the reply payload for a message with this MSH-10 (may hold several frames).
  // Called with mutex_ held.
  std::function<std::string(const std::string& id)> answer_;
  std::string nak_code_;  // under mutex_
  std::string nak_err3_;
  std::string expected_cn_ = "RXH";  // the participant's registered certificate CN
};

TEST_F(DelivererConnectionTest, DeliveriesToOneDestinationShareOneConnection) {
  Start();
  for (int n = 1; n <= 5; ++n) {
    auto result = Deliver(n);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, DeliveryOutcome::kDelivered) << result->detail;
  }
  EXPECT_EQ(Frames(), 5);
  EXPECT_EQ(Connections(), 1u);
}

TEST_F(DelivererConnectionTest, AConnectionTheDestinationDroppedWhileIdleIsReplaced) {
  mllp::MllpServerSettings settings;
  settings.idle_timeout = 200ms;
  Start(settings);
  auto first = Deliver(1);
  ASSERT_TRUE(first && first->outcome == DeliveryOutcome::kDelivered);
  ASSERT_TRUE(WaitFor([this] { return server_->ActiveConnections() == 0; }));

  auto second = Deliver(2);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->outcome, DeliveryOutcome::kDelivered) << second->detail;
  EXPECT_EQ(Frames(), 2);  // sent once, on the new connection
  EXPECT_EQ(Connections(), 2u);
}

TEST_F(DelivererConnectionTest, AnUnreadableAcknowledgementRetiresTheConnection) {
  Start();
  SetReply("this is not an acknowledgement");
  auto garbled = Deliver(1);
  ASSERT_TRUE(garbled) << garbled.error().message;
  EXPECT_EQ(garbled->outcome, DeliveryOutcome::kTransientFailure);

  SetReply("");
  auto next = Deliver(2);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->outcome, DeliveryOutcome::kDelivered) << next->detail;
  EXPECT_EQ(Connections(), 2u);  // not sent on the connection that gave the unreadable answer
}

TEST_F(DelivererConnectionTest, ARefusalKeepsTheConnectionForTheNextMessage) {
  Start();
  SetReply("MSH|^~\\&|EPR|RXH|TB|TB|20261123120001||ACK|A1|P|2.4\rMSA|AE|CTRL1\rERR|||102\r");
  auto refused = Deliver(1);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->outcome, DeliveryOutcome::kPermanentFailure);

  SetReply("");
  auto next = Deliver(2);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->outcome, DeliveryOutcome::kDelivered) << next->detail;
  EXPECT_EQ(Connections(), 1u);  // an AR is a well-formed answer: the connection is fine
}

// A destination in enhanced mode answers each message twice, a commit ACK (CA) then its
// application ACK (here AE). The second frame of message 1 must not be taken as message 2's
// answer: before, message 2 was refused on message 1's AE (and with an AA there, a message the
// destination had not yet answered would have been marked delivered).
TEST_F(DelivererConnectionTest, AStaleAckIsNotTakenAsTheNextMessagesAnswer) {
  answer_ = [](const std::string& id) { return TwoFrames(Ack("CA", id), Ack("AE", id)); };
  Start();
  for (int n = 1; n <= 3; ++n) {
    auto result = Deliver(n);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, DeliveryOutcome::kDelivered) << n << ": " << result->detail;
    EXPECT_EQ(result->detail, "CA");
  }
  EXPECT_EQ(Frames(), 3);
}

// A late duplicate of an earlier message's ACK arrives just before the real answer, on a
// connection that had nothing unread when it was taken from the pool: it is skipped by MSA-2.
TEST_F(DelivererConnectionTest, ALateDuplicateBeforeTheAnswerIsSkipped) {
  answer_ = [](const std::string& id) {
    return id == "CTRL2" ? TwoFrames(Ack("AA", "CTRL1"), Ack("AE", id)) : Ack("AA", id);
  };
  Start();
  auto first = Deliver(1);
  ASSERT_TRUE(first && first->outcome == DeliveryOutcome::kDelivered);
  auto second = Deliver(2);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->outcome, DeliveryOutcome::kPermanentFailure) << second->detail;
  auto third = Deliver(3);
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(third->outcome, DeliveryOutcome::kDelivered) << third->detail;
  EXPECT_EQ(Connections(), 1u);  // skipping a stale ACK leaves the connection in step
}

// Only acknowledgements of other messages (more than the deliverer skips): the message is not
// marked delivered, the connection is dropped and the next message goes on a new one.
TEST_F(DelivererConnectionTest, OnlyAcksOfOtherMessagesAreATransientFailure) {
  answer_ = [](const std::string& id) {
    if (id != "CTRL1") {
      return Ack("AA", id);
    }
    std::string others = Ack("AA", "OTHER0");
    for (int n = 1; n < 8; ++n) {
      others = TwoFrames(others, Ack("AA", "OTHER" + std::to_string(n)));
    }
    return others;
  };
  Start();
  auto first = Deliver(1);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->outcome, DeliveryOutcome::kTransientFailure) << first->detail;
  auto second = Deliver(2);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->outcome, DeliveryOutcome::kDelivered) << second->detail;
  EXPECT_EQ(Connections(), 2u);
}

// v2.5.1 section 2.9.2.2: AR/CR for a failure of the receiver (ERR-3 207: system down, disk
// full) means "resend later"; AE/CE means the message is wrong. Before, every NAK was final, so
// a destination broker that was out of disk dead-lettered the message.
TEST_F(DelivererConnectionTest, ARejectForAReceiverFailureIsRetriedAndAnErrorIsNot) {
  struct Case {
    const char* msa;
    const char* err3;
    DeliveryOutcome outcome;
  };
  const Case cases[] = {
      {"AR", "207", DeliveryOutcome::kTransientFailure},
      {"CR", "207", DeliveryOutcome::kTransientFailure},
      {"AR", "", DeliveryOutcome::kTransientFailure},
      {"AR", "200", DeliveryOutcome::kPermanentFailure},  // message type not supported
      {"CR", "203", DeliveryOutcome::kPermanentFailure},  // version not supported
      {"AE", "207", DeliveryOutcome::kPermanentFailure},
      {"CE", "102", DeliveryOutcome::kPermanentFailure},
  };
  answer_ = [this](const std::string& id) {  // called with mutex_ held
    return "MSH|^~\\&|EPR|RXH|TB|TB|20261123120001||ACK|A" + id + "|P|2.5\rMSA|" + nak_code_ + "|" +
           id + "\rERR||MSH^1^10|" + nak_err3_ + "|E\r";
  };
  Start();
  int n = 0;
  for (const Case& c : cases) {
    {
      std::lock_guard lock(mutex_);
      nak_code_ = c.msa;
      nak_err3_ = c.err3;
    }
    auto result = Deliver(++n);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, c.outcome) << c.msa << " " << c.err3 << ": " << result->detail;
  }
  EXPECT_EQ(Connections(), 1u);  // every one a well-formed answer
}

TEST_F(DelivererConnectionTest, AnEndpointWithAnotherParticipantsCertificateGetsNothing) {
  // The endpoint's certificate is RXH's (valid, same CA, right host), but the participant is
  // registered with CN RGT: the message must not be sent there.
  expected_cn_ = "RGT";
  Start();
  auto result = Deliver(1);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->outcome, DeliveryOutcome::kTransientFailure);
  EXPECT_NE(result->detail.find("RXH"), std::string::npos) << result->detail;
  EXPECT_EQ(Frames(), 0);
}

}  // namespace
}  // namespace tb::app
