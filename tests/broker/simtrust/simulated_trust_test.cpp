// Loopback integration tests of a running simulated trust: mutual TLS on 127.0.0.1 ephemeral
// ports, queried with tb::net::HttpsClient, messages delivered with tb::mllp::MllpClient.
#include "broker/simtrust/simulated_trust.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/https_client.h"
#include "adapters/net/tls_context.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::simtrust {
namespace {

using namespace std::chrono_literals;
using testing::TestPki;

const std::filesystem::path kDemoPatients =
    std::filesystem::path(TB_SOURCE_DIR) / "config/demo/trusts/RGT/patients";
constexpr std::string_view kShared = "9990001235";   // at RGT and RXH
constexpr std::string_view kUnknown = "9990001510";  // valid, RXH only
constexpr std::string_view kInvalid = "9990001234";  // fails Modulus 11

std::string Identifier(std::string_view nhs) {
  return "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs);
}

core::HttpRequest Request(std::string method, std::string target, std::string body = {}) {
  core::HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  if (!request.body.empty()) {
    request.headers.Set("Content-Type", request.target.find("_search") != std::string::npos
                                            ? "application/x-www-form-urlencoded"
                                            : "application/fhir+json");
  }
  return request;
}

std::vector<rapidjson::Document> ReadJsonLines(const std::filesystem::path& file) {
  std::vector<rapidjson::Document> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto document = fhir::ParseJson(line);
    EXPECT_TRUE(document) << line;
    if (document) {
      lines.push_back(std::move(*document));
    }
  }
  return lines;
}

std::size_t EntryCount(const core::HttpResponse& response) {
  auto bundle = fhir::ParseJson(response.body);
  EXPECT_TRUE(bundle);
  const rapidjson::Value* entries = bundle ? fhir::FindArray(*bundle, "entry") : nullptr;
  return entries == nullptr ? 0 : entries->Size();
}

class SimulatedTrustTest : public ::testing::Test {
 protected:
  SimTrustConfig Config() const {
    const TestPki& pki = TestPki::Get();
    SimTrustConfig config;
    config.ods = "RGT";
    config.name = "Test RGT";
    config.listen_fhir = {"127.0.0.1", 0};
    config.listen_mllp = core::HostPort{"127.0.0.1", 0};
    config.tls = {pki.Cert(TestPki::kRgt), pki.Key(TestPki::kRgt), pki.CaCert(), pki.Crl()};
    config.patients = kDemoPatients;
    config.received_log = dir_ / "received.jsonl";
    config.clients = {"broker-a"};
    config.io_threads = 1;
    return config;
  }

  void Start(SimTrustConfig config) {
    trust_ = std::make_unique<SimulatedTrust>(std::move(config));
    core::Status started = trust_->Start();
    ASSERT_TRUE(started) << started.error().message;
    target_.host = "127.0.0.1";
    target_.port = trust_->fhir_port();
    target_.expected_cn = "RGT";
  }

  void TearDown() override {
    if (trust_) {
      trust_->Stop();
      trust_->Wait();
    }
  }

  static std::shared_ptr<boost::asio::ssl::context> ClientTls(std::string_view name) {
    const TestPki& pki = TestPki::Get();
    auto tls = net::MakeClientContext({pki.Cert(name), pki.Key(name), pki.CaCert(), pki.Crl()});
    EXPECT_TRUE(tls) << tls.error().message;
    return *tls;
  }

  core::HttpResponse Call(core::HttpRequest request, int expected_status) {
    auto response = client_.Request(target_, std::move(request), 5s);
    EXPECT_TRUE(response) << response.error().message;
    if (!response) {
      return {};
    }
    EXPECT_EQ(response->status, expected_status) << response->body;
    return std::move(*response);
  }

  testing::TempDir dir_;
  std::unique_ptr<SimulatedTrust> trust_;
  net::HttpsClient client_{ClientTls(TestPki::kBrokerA)};
  net::HttpsTarget target_;
};

TEST_F(SimulatedTrustTest, ServesSearchReadAndEverythingOverMutualTls) {
  Start(Config());
  EXPECT_NE(trust_->mllp_port(), 0);
  EXPECT_EQ(trust_->patient_count(), 4u);

  auto metadata = Call(Request("GET", "/fhir/metadata"), 200);
  EXPECT_NE(metadata.body.find("CapabilityStatement"), std::string::npos);

  auto patients = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kShared)), 200);
  EXPECT_EQ(EntryCount(patients), 1u);
  EXPECT_NE(patients.body.find(R"("id":"rgt-pat-1")"), std::string::npos);

  auto read = Call(Request("GET", "/fhir/Patient/rgt-pat-1"), 200);
  EXPECT_NE(read.body.find(std::string(kShared)), std::string::npos);

  auto labs = Call(Request("GET", "/fhir/Observation?patient:identifier=" + Identifier(kShared) +
                                      "&category=laboratory"),
                   200);
  EXPECT_GT(EntryCount(labs), 0u);
  EXPECT_EQ(labs.body.find("vital-signs"), std::string::npos);

  auto everything =
      Call(Request("GET", "/fhir/Patient/$everything?identifier=" + Identifier(kShared)), 200);
  auto by_id = Call(Request("GET", "/fhir/Patient/rgt-pat-1/$everything"), 200);
  EXPECT_GT(EntryCount(everything), 10u);
  EXPECT_EQ(EntryCount(everything), EntryCount(by_id));

  auto posted =
      Call(Request("POST", "/fhir/Patient/$everything", "identifier=" + Identifier(kShared)), 200);
  EXPECT_EQ(EntryCount(posted), EntryCount(everything));
  auto searched = Call(
      Request("POST", "/fhir/Observation/_search", "patient:identifier=" + Identifier(kShared)),
      200);
  EXPECT_GT(EntryCount(searched), EntryCount(labs));
}

TEST_F(SimulatedTrustTest, UnknownNhsNumberIsEmptyAndInvalidIs400) {
  Start(Config());
  auto unknown = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kUnknown)), 200);
  EXPECT_EQ(EntryCount(unknown), 0u);
  auto everything =
      Call(Request("GET", "/fhir/Patient/$everything?identifier=" + Identifier(kUnknown)), 200);
  EXPECT_EQ(EntryCount(everything), 0u);
  auto invalid = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kInvalid)), 400);
  EXPECT_NE(invalid.body.find("OperationOutcome"), std::string::npos);
  Call(Request("GET", "/fhir/Observation?patient:identifier=" + Identifier(kInvalid)), 400);
}

TEST_F(SimulatedTrustTest, RefusesClientCertificateNotListed) {
  Start(Config());
  net::HttpsClient other(ClientTls(TestPki::kRj1));
  auto response = other.Request(target_, Request("GET", "/fhir/metadata"), 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 403);
}

TEST_F(SimulatedTrustTest, LatencyDelaysAnswersOnATimerNotABlockedThread) {
  SimTrustConfig config = Config();
  config.latency = 400ms;
  config.io_threads = 1;
  Start(std::move(config));
  constexpr int kRequests = 4;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    client_.AsyncRequest(target_, Request("GET", "/fhir/Patient/rgt-pat-1"),
                         std::chrono::steady_clock::now() + 20s,
                         [&](core::Result<core::HttpResponse> response) {
                           ok += response && response->status == 200 ? 1 : 0;
                           ++done;
                         });
  }
  // With one I/O thread, all requests wait out their latency at the same time: the delay is a
  // timer. (A sleeping I/O thread would hold them one at a time.)
  EXPECT_TRUE(testing::WaitFor([&] { return trust_->DelayedRequestsForTest() == kRequests; }, 10s))
      << "delayed now: " << trust_->DelayedRequestsForTest();
  ASSERT_TRUE(testing::WaitFor([&] { return done.load() == kRequests; }, 20s));
  EXPECT_EQ(ok.load(), kRequests);
  // A lower bound only: the answers cannot have come before the latency.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 400ms);
}

// Stopping cancels the latency timers, so every delayed request is answered at once, with one
// I/O thread (timers on the io_context itself) and with two (each timer on its own strand).
// Were a timer not cancelled, the stop would wait out the 60 s latency, give up draining after
// 65 s and close the connections unanswered.
TEST_F(SimulatedTrustTest, StoppingAnswersRequestsStillWaitingOutTheirLatency) {
  for (const unsigned threads : {1U, 2U}) {
    SCOPED_TRACE("io_threads " + std::to_string(threads));
    SimTrustConfig config = Config();
    config.latency = 60s;
    config.io_threads = threads;
    Start(std::move(config));
    constexpr int kRequests = 3;
    std::atomic<int> ok{0};
    std::atomic<int> done{0};
    for (int i = 0; i < kRequests; ++i) {
      client_.AsyncRequest(target_, Request("GET", "/fhir/Patient/rgt-pat-1"),
                           std::chrono::steady_clock::now() + 120s,
                           [&](core::Result<core::HttpResponse> response) {
                             ok += response && response->status == 200 ? 1 : 0;
                             ++done;
                           });
    }
    ASSERT_TRUE(
        testing::WaitFor([&] { return trust_->DelayedRequestsForTest() == kRequests; }, 10s));
    trust_->Stop();
    trust_->Wait();
    EXPECT_EQ(trust_->DelayedRequestsForTest(), 0U);
    ASSERT_TRUE(testing::WaitFor([&] { return done.load() == kRequests; }, 10s));
    EXPECT_EQ(ok.load(), kRequests);
    trust_.reset();
  }
}

TEST_F(SimulatedTrustTest, LatencyBeyondTheDeadlineTimesOut) {
  SimTrustConfig config = Config();
  config.latency = 2000ms;
  Start(std::move(config));
  auto response = client_.Request(target_, Request("GET", "/fhir/metadata"), 200ms);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, core::ErrorCode::kTimeout);
}

TEST_F(SimulatedTrustTest, FailureRateOneAnswers503) {
  SimTrustConfig config = Config();
  config.failure_rate = 1.0;
  Start(std::move(config));
  for (int i = 0; i < 3; ++i) {
    auto response = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kShared)), 503);
    EXPECT_NE(response.body.find("OperationOutcome"), std::string::npos);
    EXPECT_EQ(response.headers.Get("Retry-After"), "1");
  }
  // A refused delivery is not recorded.
  Call(Request("POST", "/fhir/$process-message", "{}"), 503);
  EXPECT_TRUE(ReadJsonLines(dir_ / "received.jsonl").empty());
}

TEST_F(SimulatedTrustTest, SeededFailuresAreReproducible) {
  auto statuses = [this](std::uint64_t seed) {
    SimTrustConfig config = Config();
    config.failure_rate = 0.5;
    config.seed = seed;
    Start(std::move(config));
    std::string out;
    for (int i = 0; i < 24; ++i) {
      auto response = client_.Request(target_, Request("GET", "/fhir/metadata"), 5s);
      out += response && response->status == 200 ? '.' : (response ? 'F' : '?');
    }
    trust_->Stop();
    trust_->Wait();
    trust_.reset();
    return out;
  };
  const std::string first = statuses(7);
  EXPECT_EQ(statuses(7), first);
  EXPECT_NE(first.find('F'), std::string::npos) << first;
  EXPECT_NE(first.find('.'), std::string::npos) << first;
}

std::string Adt(std::string_view control_id, std::string_view nhs_number) {
  return "MSH|^~\\&|TB|X26|PAS|RGT|20260921141320||ADT^A01^ADT_A01|" + std::string(control_id) +
         "|P|2.5\rEVN|A01|20260921141320\rPID|1||" + std::string(nhs_number) +
         "^^^NHS^NH||Hughes^Amelia||19840312|F\rPV1|1|I\r";
}

TEST_F(SimulatedTrustTest, RecordsMessagesDeliveredOverMllpAndFhir) {
  Start(Config());
  mllp::MllpClientSettings settings;
  settings.host = "127.0.0.1";
  settings.port = trust_->mllp_port();
  mllp::MllpClient mllp(ClientTls(TestPki::kBrokerA), settings);
  auto ack = mllp.Send(Adt("CTRL0001", kShared));
  ASSERT_TRUE(ack) << ack.error().message;
  auto parsed = hl7v2::Message::Parse(*ack);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->Get("MSA-1").raw(), "AA");
  auto nak = mllp.Send("garbage");
  ASSERT_TRUE(nak) << nak.error().message;
  EXPECT_NE(nak->find("MSA|AR"), std::string::npos) << *nak;
  mllp.Close();

  const std::string message =
      R"({"resourceType":"Bundle","id":"bundle-77","type":"message","entry":[)"
      R"({"resource":{"resourceType":"MessageHeader","id":"h1","eventCoding":{"code":"ADT^A08"},)"
      R"("source":{"endpoint":"https://broker"}}},)"
      R"({"resource":{"resourceType":"Patient","id":"p","identifier":[{"system":)"
      R"("https://fhir.nhs.uk/Id/nhs-number","value":"9990001308"}]}}]})";
  auto reply = Call(Request("POST", "/fhir/$process-message", message), 200);
  EXPECT_NE(reply.body.find(R"("code":"ok")"), std::string::npos);

  auto lines = ReadJsonLines(dir_ / "received.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(fhir::FindString(lines[0], "control_id"), "CTRL0001");
  EXPECT_EQ(fhir::FindString(lines[0], "nhs_number"), kShared);
  EXPECT_EQ(fhir::FindString(lines[0], "type"), "ADT^A01");
  EXPECT_EQ(fhir::FindString(lines[0], "protocol"), "mllp");
  EXPECT_EQ(fhir::FindString(lines[0], "sender"), "broker-a");
  EXPECT_TRUE(fhir::FindString(lines[0], "received_at").has_value());
  EXPECT_EQ(fhir::FindString(lines[1], "control_id"), "bundle-77");
  EXPECT_EQ(fhir::FindString(lines[1], "nhs_number"), "9990001308");
  EXPECT_EQ(fhir::FindString(lines[1], "type"), "ADT^A08");
  EXPECT_EQ(fhir::FindString(lines[1], "protocol"), "fhir");
}

TEST_F(SimulatedTrustTest, MllpRefusesSenderNotListed) {
  Start(Config());
  mllp::MllpClientSettings settings;
  settings.host = "127.0.0.1";
  settings.port = trust_->mllp_port();
  mllp::MllpClient mllp(ClientTls(TestPki::kRj1), settings);
  auto ack = mllp.Send(Adt("CTRL0002", kShared));
  ASSERT_TRUE(ack) << ack.error().message;
  EXPECT_NE(ack->find("MSA|AR|CTRL0002"), std::string::npos) << *ack;
  EXPECT_TRUE(ReadJsonLines(dir_ / "received.jsonl").empty());
}

TEST_F(SimulatedTrustTest, BadPatientFolderStopsTheStartBeforeListening) {
  testing::WriteFile(dir_ / "patients" / "broken.json", R"({"resourceType":"Bundle"})");
  SimTrustConfig config = Config();
  config.patients = dir_ / "patients";
  SimulatedTrust trust(std::move(config));
  core::Status started = trust.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, core::ErrorCode::kConfig);
  EXPECT_NE(started.error().message.find("broken.json"), std::string::npos);
  EXPECT_EQ(trust.fhir_port(), 0);
}

TEST_F(SimulatedTrustTest, TlsProblemStopsTheStart) {
  SimTrustConfig config = Config();
  config.tls.key = dir_ / "missing.key";
  SimulatedTrust trust(std::move(config));
  core::Status started = trust.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, core::ErrorCode::kConfig);
}

TEST(RunSimulateTrust, ExitCodesForBadConfigAndFailedStart) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunSimulateTrust("/nonexistent/simtrust.json", out, err), 2);
  EXPECT_NE(err.str().find("config error"), std::string::npos) << err.str();

  testing::TempDir dir;
  testing::WriteFile(dir / "patients" / "a.json", "[]");
  testing::WriteFile(dir / "trust.json", R"({"ods": "RGT", "listen": {"fhir": "127.0.0.1:0"},
      "tls": {"cert": "x.crt", "key": "x.key", "ca": "ca.crt"}, "patients": "patients"})");
  err.str("");
  EXPECT_EQ(RunSimulateTrust(dir / "trust.json", out, err), 1);
  EXPECT_NE(err.str().find("cannot start"), std::string::npos) << err.str();
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace tb::simtrust
