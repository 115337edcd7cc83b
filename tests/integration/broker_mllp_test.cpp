// The broker's MLLP/TLS listener end to end: a real TLS client sends hand-written UK messages
// and gets the acknowledgement each deserves, only after the message is in the SQLite store.
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "broker/app/flags.h"
#include "broker/app/send_hl7_command.h"
#include "broker/store/store.h"
#include "tests/broker/app/run_command.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::TestPki;

std::string ConfigText() {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db", "payload_key_file": "payload.key" },
    "limits": { "mllp_frame_bytes": 4096 },
    "participants": [ { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
                      { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"] } ]
  })";
}

// Hand-written, not from any corpus: a UK PAS admission with the hospital number first and the
// NHS number in the second PID-3 repetition, an address with escapes, an explicit null, a
// Z-segment.
constexpr std::string_view kPasA01 =
    "MSH|^~\\&|PAS|RJ1|TRUSTBRIDGE|X26|20261123093000+0000||ADT^A01^ADT_A01|PAS000123|P|2.4\r"
    "EVN|A01|20261123093000\r"
    "PID|1||RJ1H998877^^^RJ1^MR~9449305552^^^NHS^NH||O'BRIEN^MARY^ANN^^MRS||19671105|F|||"
    "FLAT 3\\S\\ROSE COURT^12 HIGH ST\\T\\MARKET PL^LONDON^^SE1 9RT^GBR||\"\"\r"
    "PD1|||LAMBETH WALK GP^^G85001\r"
    "PV1|1|I|RJ1WARD^B12^3|||||C123456^JONES^ALAN^^^DR\r"
    "ZUK|local extension|kept\r";

class BrokerMllpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(dir_ / "broker.json", ConfigText());
    testing::WriteFile(dir_ / "payload.key",
                       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    app::ConfigLoad load = app::LoadBrokerConfig(dir_ / "broker.json");
    ASSERT_TRUE(load.config) << load.problems[0].message;
    server_ = std::make_unique<app::BrokerServer>(std::move(*load.config));
    core::Status started = server_->Start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
    port_ = server_->mllp_port();
    ASSERT_NE(port_, 0);
    waiter_ = std::thread([this] { server_->Wait(); });
  }
  void TearDown() override { StopBroker(); }

  void StopBroker() {
    if (server_) {
      server_->Stop();
    }
    if (waiter_.joinable()) {
      waiter_.join();
    }
    server_.reset();
  }

  mllp::MllpClient Client(const std::string& name) const {
    const TestPki& pki = TestPki::Get();
    auto tls = net::MakeClientContext({pki.Cert(name), pki.Key(name), pki.CaCert(), {}});
    EXPECT_TRUE(tls.has_value());
    mllp::MllpClientSettings settings;
    settings.port = port_;
    settings.reply_timeout = std::chrono::seconds(20);
    return mllp::MllpClient(*tls, settings);
  }

  // MSA-1 and the whole ACK of sending `message` as `name`.
  static hl7v2::Message Ack(mllp::MllpClient& client, std::string_view message) {
    auto reply = client.Send(message);
    EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().message);
    auto ack = hl7v2::Message::Parse(reply ? *reply : std::string("MSH|^~\\&|\r"));
    EXPECT_TRUE(ack.has_value());
    return std::move(*ack);
  }

  std::int64_t StoredCount() {
    StopBroker();  // the store's writer is closed and everything committed
    store::StoreSettings settings;
    settings.url = "sqlite:" + (dir_ / "var/tb.db").string();
    auto database = store::OpenDatabase(settings);
    EXPECT_TRUE(database.has_value());
    auto inbound = store::MakeInboundStore(**database);
    auto count = inbound->Count();
    EXPECT_TRUE(count.has_value());
    return count ? *count : -1;
  }

  // `trustbridge send-hl7` with RJ1's certificate against this broker.
  testing::CommandOutput SendHl7AsRj1(const std::filesystem::path& file) const {
    const TestPki& pki = TestPki::Get();
    return testing::RunCommand(
        app::SendHl7Command,
        {"--to", "127.0.0.1:" + std::to_string(port_), "--cert", pki.Cert("RJ1").string(), "--key",
         pki.Key("RJ1").string(), "--ca", pki.CaCert().string(), file.string()});
  }

  testing::TempDir dir_;
  std::unique_ptr<app::BrokerServer> server_;
  std::thread waiter_;
  std::uint16_t port_ = 0;
};

std::string With(std::string_view message, std::string_view from, std::string_view to) {
  std::string text(message);
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  return text;
}

TEST_F(BrokerMllpTest, UkPasAdmissionIsStoredThenAcknowledgedAA) {
  mllp::MllpClient client = Client("RJ1");
  hl7v2::Message ack = Ack(client, kPasA01);
  EXPECT_EQ(ack.Get("MSA-1").Decoded(), "AA");
  EXPECT_EQ(ack.Get("MSA-2").Decoded(), "PAS000123");
  // Resent (the sender missed our ACK): acknowledged again, stored once.
  EXPECT_EQ(Ack(client, kPasA01).Get("MSA-1").Decoded(), "AA");
  client.Close();
  EXPECT_EQ(StoredCount(), 1);
}

TEST_F(BrokerMllpTest, PayloadsAreSealedAtRest) {
  mllp::MllpClient client = Client("RJ1");
  ASSERT_EQ(Ack(client, kPasA01).Get("MSA-1").Decoded(), "AA");
  client.Close();
  StopBroker();
  const std::string file =
      testing::ReadFile(dir_ / "var/tb.db") + (std::filesystem::exists(dir_ / "var/tb.db-wal")
                                                   ? testing::ReadFile(dir_ / "var/tb.db-wal")
                                                   : std::string());
  EXPECT_EQ(file.find("O'BRIEN"), std::string::npos);
  EXPECT_EQ(file.find("RJ1H998877"), std::string::npos);
}

TEST_F(BrokerMllpTest, EachHandWrittenCaseGetsTheRightCode) {
  struct Case {
    const char* name;
    std::string message;
    const char* cert;
    const char* msa1;
    const char* err_location;  // ERR-2 as SEG^seq^field, or "" for none
  };
  const std::vector<Case> cases = {
      {"lf line endings", With(With(kPasA01, "PAS000123", "PAS000124"), "\r", "\n"), "RJ1", "AA",
       ""},
      {"custom delimiters",
       "MSH#*$!@#PAS#RJ1#TB#X26#20261123093000##ADT*A08#PAS000125#P#2.5.1\r"
       "EVN#A08#20261123093000\r"
       "PID#1##RJ1H1*** RJ1*MR~9449305552***NHS*NH##SMITH*JO\r",
       "RJ1", "AA", ""},
      {"bad check digit", With(With(kPasA01, "9449305552", "9449305553"), "PAS000123", "PAS000126"),
       "RJ1", "AE", "PID^1^3"},
      {"missing MSH-9", With(With(kPasA01, "ADT^A01^ADT_A01", ""), "PAS000123", "PAS000127"), "RJ1",
       "AR", "MSH^1^9"},  // v2.5.1 section 2.9.2.2 a
      {"facility of another trust", With(kPasA01, "PAS000123", "PAS000128"), "RXH", "AR",
       "MSH^1^4"},
      {"reused control id, other content", With(kPasA01, "O'BRIEN", "OBRIEN"), "RJ1", "AE",
       "MSH^1^10"},
  };
  // The first version of PAS000123 must exist for the conflict case.
  {
    mllp::MllpClient client = Client("RJ1");
    ASSERT_EQ(Ack(client, kPasA01).Get("MSA-1").Decoded(), "AA");
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    mllp::MllpClient client = Client(c.cert);
    hl7v2::Message ack = Ack(client, c.message);
    EXPECT_EQ(ack.Get("MSA-1").Decoded(), c.msa1);
    if (*c.err_location != '\0') {
      EXPECT_TRUE(ack.Get("ERR-2").raw().starts_with(c.err_location)) << ack.Get("ERR-2").raw();
    } else {
      EXPECT_EQ(ack.CountSegments("ERR"), 0u);
    }
  }
  EXPECT_EQ(StoredCount(), 3);  // the first, LF endings, custom delimiters
}

TEST_F(BrokerMllpTest, CertificateOfNoParticipantGetsAR) {
  mllp::MllpClient client = Client("RGT");  // a valid certificate, not in this broker's config
  EXPECT_EQ(Ack(client, With(kPasA01, "|PAS|RJ1|", "|PAS|RGT|")).Get("MSA-1").Decoded(), "AR");
}

TEST_F(BrokerMllpTest, GarbageGetsANakNotADroppedConnection) {
  mllp::MllpClient client = Client("RJ1");
  hl7v2::Message nak = Ack(client, "this is not HL7");
  EXPECT_EQ(nak.Get("MSA-1").Decoded(), "AR");
  EXPECT_GE(nak.CountSegments("ERR"), 1u);
  // The connection stays usable.
  EXPECT_EQ(Ack(client, kPasA01).Get("MSA-1").Decoded(), "AA");
}

TEST_F(BrokerMllpTest, OversizeFrameGetsANakAndTheConnectionCloses) {
  mllp::MllpClient client = Client("RJ1");
  std::string big = With(kPasA01, "PAS000123", "PAS000199");
  big += "NTE|1||" + std::string(8000, 'x') + "\r";
  hl7v2::Message nak = Ack(client, big);
  EXPECT_EQ(nak.Get("MSA-1").Decoded(), "AR");
  EXPECT_EQ(nak.Get("MSA-2").Decoded(), "PAS000199");
  // The broker closes the connection: nothing more arrives on it.
  EXPECT_FALSE(client.Receive().has_value());
  EXPECT_EQ(StoredCount(), 0);
}

TEST_F(BrokerMllpTest, SendHl7CommandPrintsEachAck) {
  testing::WriteFile(dir_ / "two.hl7",
                     With(With(kPasA01, "PAS000123", "PAS000301"), "\r", "\n") + "\n" +
                         With(With(kPasA01, "PAS000123", "PAS000302"), "\r", "\r\n"));
  const testing::CommandOutput run = SendHl7AsRj1(dir_ / "two.hl7");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("MSA|AA|PAS000301\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("MSA|AA|PAS000302\n"), std::string::npos) << run.out;
}

TEST_F(BrokerMllpTest, SendHl7CommandExitsOneOnARefusal) {
  testing::WriteFile(dir_ / "bad.hl7", With(kPasA01, "9449305552", "9449305553"));
  const testing::CommandOutput run = SendHl7AsRj1(dir_ / "bad.hl7");
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.out.find("MSA|AE|PAS000123"), std::string::npos) << run.out;
}

TEST(SplitHl7Messages, SplitsOnMshAndDropsBatchEnvelopes) {
  const auto messages = app::SplitHl7Messages(
      "FHS|^~\\&\nBHS|^~\\&\nMSH|^~\\&|A\nPID|1\n\nMSH|^~\\&|B\r\nPID|2\r\nBTS|2\nFTS|1\n");
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "MSH|^~\\&|A\rPID|1\r");
  EXPECT_EQ(messages[1], "MSH|^~\\&|B\rPID|2\r");
}

// The same rule as the parser: in a CR (or CRLF) message a lone LF is data. Before, send-hl7
// split "Normal<LF>END||||||F" into two segments, and the broker stored a bogus END segment.
TEST(SplitHl7Messages, ALoneLfInACrMessageIsDataAsInTheParser) {
  const auto messages = app::SplitHl7Messages(
      "MSH|^~\\&|A\rOBX|1|TX|RPT||Normal\nEND||||||F\r\n\n"
      "MSH|^~\\&|B\r\nOBX|1|TX|RPT||a\n\nb|F\r\nMSH|^~\\&|C\nPID|3\n");
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], "MSH|^~\\&|A\rOBX|1|TX|RPT||Normal\nEND||||||F\r");
  EXPECT_EQ(messages[1], "MSH|^~\\&|B\rOBX|1|TX|RPT||a\n\nb|F\r");
  EXPECT_EQ(messages[2], "MSH|^~\\&|C\rPID|3\r");
}

}  // namespace
}  // namespace tb
