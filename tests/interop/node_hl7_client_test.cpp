// Interop: node-hl7-client (npm, an independent MLLP implementation) sends hand-written UK
// messages to the broker over MLLP with mutual TLS and gets the acknowledgement each deserves.
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::TestPki;

// Runs `command` and returns its standard output (stderr passes through to the test log).
std::string RunCommand(const std::string& command, int& exit_code) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    exit_code = -1;
    return output;
  }
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

std::string Quote(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

class NodeHl7ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TestPki& pki = TestPki::Get();
    testing::WriteFile(dir_ / "broker.json", R"({
      "broker": { "id": "broker-a", "ods": "X26" },
      "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
      "tls": )" + pki.TlsConfigJson("broker-a", /*with_crl=*/false) +
                                                 R"(,
      "store": { "url": "sqlite:var/tb.db" },
      "participants": [ { "ods": "RJ1", "cert_cn": "RJ1" } ]
    })");
    app::ConfigLoad load = app::LoadBrokerConfig(dir_ / "broker.json");
    ASSERT_TRUE(load.config) << load.problems[0].message;
    server_ = std::make_unique<app::BrokerServer>(std::move(*load.config));
    ASSERT_TRUE(server_->Start().has_value());
    waiter_ = std::thread([this] { server_->Wait(); });
  }
  void TearDown() override {
    if (server_) {
      server_->Stop();
    }
    if (waiter_.joinable()) {
      waiter_.join();
    }
  }

  // Sends the messages (one file each, LF line endings as a text editor writes them) as RJ1 and
  // returns one "MSA-1 MSA-2" line per acknowledgement.
  std::vector<std::string> SendWithNode(const std::vector<std::string>& messages) {
    const TestPki& pki = TestPki::Get();
    std::string command = "node " + Quote(TB_NODE_SCRIPT) + " " +
                          Quote(std::filesystem::path(TB_NPM_DIR) / "node_modules") +
                          " 127.0.0.1 " + std::to_string(server_->mllp_port()) + " " +
                          Quote(pki.CaCert()) + " " + Quote(pki.Cert("RJ1")) + " " +
                          Quote(pki.Key("RJ1"));
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto file = dir_ / ("m" + std::to_string(i) + ".hl7");
      testing::WriteFile(file, messages[i]);
      command += " " + Quote(file);
    }
    int exit_code = 0;
    const std::string output = RunCommand(command, exit_code);
    EXPECT_EQ(exit_code, 0) << output;
    std::vector<std::string> lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
    }
    return lines;
  }

  testing::TempDir dir_;
  std::unique_ptr<app::BrokerServer> server_;
  std::thread waiter_;
};

TEST_F(NodeHl7ClientTest, HandWrittenUkMessagesGetTheRightAcknowledgements) {
  const std::vector<std::string> messages = {
      // UK PAS admission: NHS number in the second PID-3 repetition, escapes, a null, a Z-segment.
      "MSH|^~\\&|PAS|RJ1|TRUSTBRIDGE|X26|20261123093000||ADT^A01|NODE0001|P|2.4\n"
      "EVN|A01|20261123093000\n"
      "PID|1||RJ1H11^^^RJ1^MR~9449305552^^^NHS^NH||O'BRIEN^MARY||19671105|F|||"
      "FLAT 3\\S\\ROSE COURT^^LONDON^^SE1 9RT||\"\"\n"
      "PV1|1|I|RJ1WARD^B12^3\n"
      "ZUK|kept\n",
      // A discharge from the same sender.
      "MSH|^~\\&|PAS|RJ1|TRUSTBRIDGE|X26|20261124100000||ADT^A03|NODE0002|P|2.4\n"
      "EVN|A03|20261124100000\n"
      "PID|1||9449305552^^^NHS^NH||O'BRIEN^MARY||19671105|F\n"
      "PV1|1|I|RJ1WARD^B12^3||||||||||||||||||||||||||||||||||||||||20261124100000\n",
      // A wrong check digit: AE with ERR at PID-3.
      "MSH|^~\\&|PAS|RJ1|TRUSTBRIDGE|X26|20261124101000||ADT^A08|NODE0003|P|2.4\n"
      "EVN|A08|20261124101000\n"
      "PID|1||RJ1H12^^^RJ1^MR~9449305553^^^NHS^NH||DOE^JANE\n",
      // MSH-9 missing: refused (AR, v2.5.1 section 2.9.2.2 a) with ERR at MSH-9, not a dropped
      // connection.
      "MSH|^~\\&|PAS|RJ1|TRUSTBRIDGE|X26|20261124102000|||NODE0004|P|2.4\n"
      "PID|1||9449305552^^^NHS^NH\n",
  };
  const std::vector<std::string> acks = SendWithNode(messages);
  ASSERT_EQ(acks.size(), 4u);
  EXPECT_EQ(acks[0], "AA NODE0001");
  EXPECT_EQ(acks[1], "AA NODE0002");
  EXPECT_EQ(acks[2], "AE NODE0003");
  EXPECT_EQ(acks[3], "AR NODE0004");
}

}  // namespace
}  // namespace tb
