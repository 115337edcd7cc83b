// app::ParticipantDeliverer's push-path policy with fakes: an in-memory consent store, an
// in-memory audit ledger, and a recording HTTPS endpoint as the destination trust (mutual TLS
// with the test PKI). Every attempt re-checks consent and scopes; a refusal sends nothing.
#include "broker/app/participant_deliverer.h"

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "adapters/net/https_client.h"
#include "adapters/net/https_server.h"
#include "adapters/net/tls_context.h"
#include "broker/core/clock.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/consent.h"
#include "broker/policy/consent_store.h"
#include "broker/policy/labels.h"
#include "mappings/mapping_tables.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb::app {
namespace {

namespace asio = boost::asio;
using tb::testing::TestPki;

constexpr std::string_view kNhsNumber = "9434765919";

// A trust's FHIR endpoint that takes every $process-message and keeps the bodies.
class RecordingTrust {
 public:
  explicit RecordingTrust(const std::string& name) : work_(asio::make_work_guard(io_)) {
    const TestPki& pki = TestPki::Get();
    auto tls = net::MakeServerContext({pki.Cert(name), pki.Key(name), pki.CaCert(), pki.Crl()});
    EXPECT_TRUE(tls);
    net::HttpServerSettings settings;
    settings.address = "127.0.0.1";
    settings.port = 0;
    server_ = std::make_unique<net::HttpsServer>(
        io_, *tls, settings,
        [this](core::HttpRequest request, net::Responder respond) {
          {
            std::lock_guard lock(mutex_);
            bodies_.push_back(request.body);
          }
          core::HttpResponse response;
          response.status = 200;
          response.body = R"({"resourceType": "Bundle", "type": "message"})";
          respond(std::move(response));
        },
        [](const core::Error& error) {
          core::HttpResponse response;
          response.status = 500;
          response.body = error.message;
          return response;
        });
    auto port = server_->Start();
    EXPECT_TRUE(port);
    port_ = port ? *port : 0;
    thread_ = std::thread([this] { io_.run(); });
  }
  ~RecordingTrust() {
    server_->Stop();
    EXPECT_TRUE(tb::testing::WaitFor([this] { return server_->ActiveConnections() == 0; }));
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpsServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
};

constexpr std::string_view kSecondNhsNumber = "9434765870";

std::string ConsentJson(std::string_view id, std::string_view provision,
                        std::string_view status = "active",
                        std::string_view nhs_number = kNhsNumber) {
  return R"({"resourceType": "Consent", "id": ")" + std::string(id) + R"(", "status": ")" +
         std::string(status) + R"(",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(nhs_number) + R"("}}, "provision": )" + std::string(provision) + "}";
}
const std::string kDenyRgt = R"({"type": "deny", "actor": [{"role": {"text": "recipient"},
    "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
    "value": "RGT"}}}]})";

core::OutboundItem V2Item(std::string control_id, std::string er7) {
  core::OutboundItem item;
  item.id = 1;
  item.destination = "RGT";
  item.format = "fhir";
  item.nhs_number = std::string(kNhsNumber);
  item.sender = "RJ1";
  item.protocol = "hl7v2";
  item.control_id = std::move(control_id);
  item.payload = std::move(er7);
  return item;
}

std::string Adt(const std::string& control_id) {
  return "MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A08|" + control_id +
         "|P|2.4\rEVN|A08|20261123120000\rPID|1||" + std::string(kNhsNumber) +
         "^^^NHS^NH||HUGHES^AMELIA||19840312|F\rPV1|1|I|RJ1WARD^B1^2\r";
}

std::string Oru(const std::string& control_id) {
  return "MSH|^~\\&|LAB|RJ1|TB|X26|20261123120000||ORU^R01|" + control_id + "|P|2.5\rPID|1||" +
         std::string(kNhsNumber) +
         "^^^NHS^NH||HUGHES^AMELIA||19840312|F\r"
         "OBR|1||LAB1|24331-1^Lipid panel^LN|||20261123110000\r"
         "OBX|1|NM|2093-3^Cholesterol^LN||5.1|mmol/L|||||F\r";
}

// Two patients in one message, as HL7 v2 allows in ADT^A17 (swap the two patients' beds).
std::string SwapBeds(const std::string& control_id) {
  return "MSH|^~\\&|PAS|RJ1|TB|X26|20261123120000||ADT^A17|" + control_id +
         "|P|2.4\rEVN|A17|20261123120000\rPID|1||" + std::string(kNhsNumber) +
         "^^^NHS^NH||HUGHES^AMELIA||19840312|F\rPV1|1|I|RJ1WARD^B1^2\rPID|2||" +
         std::string(kSecondNhsNumber) +
         "^^^NHS^NH||PATEL^RAVI||19790101|M\rPV1|1|I|RJ1WARD^B1^3\r";
}

// A FHIR merge notification: the surviving Patient and, linked to it, the record it replaces,
// which carries another NHS number.
std::string MergeBundle(const std::string& id) {
  return R"({"resourceType": "Bundle", "id": ")" + id + R"(", "type": "message", "entry": [
    {"fullUrl": "urn:uuid:h1", "resource": {"resourceType": "MessageHeader", "id": "h1",
      "eventCoding": {"system": "http://example.org/events", "code": "merge"},
      "source": {"endpoint": "urn:ods:RJ1"}, "focus": [{"reference": "urn:uuid:p1"}]}},
    {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
      "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kNhsNumber) + R"("}],
      "link": [{"other": {"reference": "urn:uuid:p2"}, "type": "replaces"}]}},
    {"fullUrl": "urn:uuid:p2", "resource": {"resourceType": "Patient", "id": "p2",
      "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kSecondNhsNumber) + R"("}],
      "link": [{"other": {"reference": "urn:uuid:p1"}, "type": "replaced-by"}]}}]})";
}

class DelivererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trust_ = std::make_unique<RecordingTrust>("RGT");
    const TestPki& pki = TestPki::Get();
    auto tls =
        net::MakeClientContext({pki.Cert("broker-a"), pki.Key("broker-a"), pki.CaCert(), {}});
    ASSERT_TRUE(tls);
    tls_ = *tls;
    https_ = std::make_shared<net::HttpsClient>(tls_);
    auto tables = mappings::BuiltinMappingTables();
    ASSERT_TRUE(tables);
    tables_ = *tables;
    auto ledger = ledger::Ledger::Open(ledger_store_, clock_, nullptr);
    ASSERT_TRUE(ledger);
    ledger_ = std::move(*ledger);
  }

  // A deliverer whose RGT holds `scopes`.
  std::unique_ptr<ParticipantDeliverer> Deliverer(std::vector<std::string> scopes) {
    routing::Participant rgt;
    rgt.ods = "RGT";
    rgt.cert_cn = "RGT";
    rgt.fhir_base = "https://127.0.0.1:" + std::to_string(trust_->port()) + "/fhir";
    rgt.scopes = std::move(scopes);
    rgt.format = "fhir";
    routing::Participant rj1;
    rj1.ods = "RJ1";
    rj1.cert_cn = "RJ1";
    rj1.scopes = {"system/*.rs"};
    directory_ = std::make_unique<routing::ParticipantDirectory>(
        std::vector<routing::Participant>{rgt, rj1}, std::vector<routing::Peer>{});
    return std::make_unique<ParticipantDeliverer>(*directory_, tls_, https_, *tables_, "X26",
                                                  ledger_.get(), clock_,
                                                  DeliveryPolicy{&consents_, nullptr});
  }

  std::vector<std::string> LedgerKinds(std::string_view nhs_number = kNhsNumber) {
    std::vector<std::string> kinds;
    auto journey = ledger_->Journey(std::string(nhs_number));
    EXPECT_TRUE(journey);
    for (const core::LedgerRecord& record : journey.value_or(std::vector<core::LedgerRecord>{})) {
      kinds.push_back(record.kind);
    }
    return kinds;
  }

  // With the second patient's consent refusing RGT, `item` is refused, naming that consent, and
  // nothing is sent.
  void ExpectRefusedByTheSecondPatient(ParticipantDeliverer& deliverer,
                                       const core::OutboundItem& item) {
    ASSERT_TRUE(consents_.Put(
        policy::ParseConsentJson(ConsentJson("c2", kDenyRgt, "active", kSecondNhsNumber)).value()));
    auto refused = deliverer.Deliver(item);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->outcome, core::DeliveryOutcome::kRefused) << refused->detail;
    EXPECT_NE(refused->detail.find("Consent/c2"), std::string::npos) << refused->detail;
    EXPECT_TRUE(trust_->bodies().empty());
  }

  core::SystemClock clock_;
  std::unique_ptr<RecordingTrust> trust_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::shared_ptr<net::HttpsClient> https_;
  const mappings::MappingTables* tables_ = nullptr;
  ledger::InMemoryLedgerStore ledger_store_;
  std::unique_ptr<ledger::Ledger> ledger_;
  policy::InMemoryConsentStore consents_;
  std::unique_ptr<routing::ParticipantDirectory> directory_;
};

TEST_F(DelivererTest, AConsentDenyingTheDestinationRefusesUntilItIsWithdrawn) {
  auto deliverer = Deliverer({"system/*.rs"});
  ASSERT_TRUE(consents_.Put(policy::ParseConsentJson(ConsentJson("c1", kDenyRgt)).value()));
  const core::OutboundItem item = V2Item("ADT1", Adt("ADT1"));
  auto refused = deliverer->Deliver(item);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->outcome, core::DeliveryOutcome::kRefused);
  EXPECT_NE(refused->detail.find("Consent/c1"), std::string::npos) << refused->detail;
  EXPECT_TRUE(trust_->bodies().empty());
  EXPECT_EQ(LedgerKinds(), (std::vector<std::string>{"refusal"}));

  // The patient withdraws the consent: the next attempt (a replay) is checked again.
  ASSERT_TRUE(
      consents_.Put(policy::ParseConsentJson(ConsentJson("c1", kDenyRgt, "inactive")).value()));
  auto delivered = deliverer->Deliver(item);
  ASSERT_TRUE(delivered);
  EXPECT_EQ(delivered->outcome, core::DeliveryOutcome::kDelivered) << delivered->detail;
  ASSERT_EQ(trust_->bodies().size(), 1u);
  EXPECT_NE(trust_->bodies()[0].find("\"Patient\""), std::string::npos);
  EXPECT_EQ(LedgerKinds(), (std::vector<std::string>{"refusal", "delivery"}));
}

TEST_F(DelivererTest, ALabOnlyDestinationGetsNoAdtAndOnlyTheLabResultsOfAnOru) {
  auto deliverer = Deliverer({"system/Observation.rs?category=laboratory"});
  auto adt = deliverer->Deliver(V2Item("ADT2", Adt("ADT2")));
  ASSERT_TRUE(adt);
  EXPECT_EQ(adt->outcome, core::DeliveryOutcome::kRefused);
  EXPECT_TRUE(trust_->bodies().empty());

  auto oru = deliverer->Deliver(V2Item("ORU1", Oru("ORU1")));
  ASSERT_TRUE(oru);
  ASSERT_EQ(oru->outcome, core::DeliveryOutcome::kDelivered) << oru->detail;
  ASSERT_EQ(trust_->bodies().size(), 1u);
  auto sent = fhir::ParseJson(trust_->bodies()[0]);
  ASSERT_TRUE(sent);
  std::vector<std::string> types;
  for (const auto& entry : (*sent)["entry"].GetArray()) {
    types.emplace_back(entry["resource"]["resourceType"].GetString());
  }
  ASSERT_GE(types.size(), 2u);  // the envelope and at least the cholesterol result
  EXPECT_EQ(types.front(), "MessageHeader");
  for (std::size_t i = 1; i < types.size(); ++i) {
    EXPECT_EQ(types[i], "Observation");
  }
  EXPECT_EQ(trust_->bodies()[0].find(kNhsNumber), std::string::npos) << "Patient data leaked";
  // The ADT refusal, the ORU delivery, and one record per withheld resource of the ORU.
  const std::vector<std::string> kinds = LedgerKinds();
  ASSERT_GE(kinds.size(), 3u);
  EXPECT_EQ(kinds[0], "refusal");
  EXPECT_EQ(kinds[1], "delivery");
  for (std::size_t i = 2; i < kinds.size(); ++i) {
    EXPECT_EQ(kinds[i], "refusal");
  }
}

// Whoever receives a two-patient message receives both patients' data: the second patient's
// consent refusing the destination refuses it, and the second patient's journey records it.
// Before, only the routing key's (the first PID's) consents were read, and the second patient's
// journey showed nothing.
TEST_F(DelivererTest, TheSecondPatientsConsentAppliesToATwoPatientEvent) {
  auto deliverer = Deliverer({"system/*.rs"});
  core::OutboundItem item = V2Item("A17", SwapBeds("A17"));
  item.message_type = "ADT^A17";
  ExpectRefusedByTheSecondPatient(*deliverer, item);
  EXPECT_EQ(LedgerKinds(), (std::vector<std::string>{"refusal"}));
  EXPECT_EQ(LedgerKinds(kSecondNhsNumber), (std::vector<std::string>{"refusal"}));
}

TEST_F(DelivererTest, TheLinkedRecordsConsentAppliesToAFhirMerge) {
  auto deliverer = Deliverer({"system/*.rs"});
  core::OutboundItem item = V2Item("M1", MergeBundle("M1"));
  item.protocol = "fhir";
  item.message_type = "merge";
  ExpectRefusedByTheSecondPatient(*deliverer, item);

  ASSERT_TRUE(consents_.Put(
      policy::ParseConsentJson(ConsentJson("c2", kDenyRgt, "inactive", kSecondNhsNumber)).value()));
  auto delivered = deliverer->Deliver(item);
  ASSERT_TRUE(delivered);
  EXPECT_EQ(delivered->outcome, core::DeliveryOutcome::kDelivered) << delivered->detail;
  ASSERT_EQ(trust_->bodies().size(), 1u);
  EXPECT_EQ(LedgerKinds(), (std::vector<std::string>{"refusal", "delivery"}));
  EXPECT_EQ(LedgerKinds(kSecondNhsNumber), (std::vector<std::string>{"refusal", "delivery"}));
}

}  // namespace
}  // namespace tb::app
