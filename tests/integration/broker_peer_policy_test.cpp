// Issue 6 item 4 at a peer broker: broker-a (fronting RGT, serving the requester RJ1) asks its
// peer broker-b (fronting RXH) on RJ1's behalf and names RJ1 in X-Trustbridge-Requester.
// broker-b evaluates the patient's consents, stored at broker-b, for RJ1 as well as for broker-a:
// a patient's deny of RJ1 holds for RJ1's query through the peer, until RJ1 breaks glass.
// Only a registered peer may name an original requester.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "broker/simtrust/simulated_trust.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::HttpsResult;
using testing::Json;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";  // at RGT (behind A) and RXH (behind B)
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string TlsBlock(const std::string& id) {
  const TestPki& pki = TestPki::Get();
  return R"("tls": { "cert": ")" + pki.Cert(id).string() + R"(", "key": ")" + pki.Key(id).string() +
         R"(", "ca": ")" + pki.CaCert().string() + R"(", "crl": ")" + pki.Crl().string() + R"(" })";
}

// broker-b: RXH is its trust and may manage consents and read the journey; broker-a is a peer
// (its fhir_base is never used here: broker-b does not ask the broker a request came from).
std::string BrokerBConfig(std::uint16_t rxh_port) {
  return R"({
    "broker": { "id": "broker-b", "ods": "X27" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    )" + TlsBlock("broker-b") +
         R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "participants": [
      { "ods": "RXH", "cert_cn": "RXH", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rxh_port) + R"(/fhir",
        "scopes": ["system/*.rs", "system/Consent.crus"] }
    ],
    "peers": [ { "id": "broker-a", "cert_cn": "broker-a", "fhir_base": "https://127.0.0.1:1/fhir",
                 "scopes": ["system/*.rs"] } ]
  })";
}

// broker-a: RJ1 asks (and may break glass), RGT is a trust that may also ask; broker-b is a peer.
std::string BrokerAConfig(std::uint16_t rgt_port, std::uint16_t broker_b_port) {
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    )" + TlsBlock("broker-a") +
         R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"],
        "purposes": ["TREAT", "ETREAT"], "break_glass": true },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ],
    "peers": [ { "id": "broker-b", "cert_cn": "broker-b", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(broker_b_port) + R"(/fhir", "scopes": ["system/*.rs"] } ]
  })";
}

std::string ConsentDenying(std::string_view ods) {
  return R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kShared) + R"("}},
    "provision": {"type": "deny", "actor": [{"role": {"text": "recipient"},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": ")" +
         std::string(ods) + R"("}}}]}})";
}

const std::string kEverything =
    "/fhir/Patient/$everything?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
    std::string(kShared);

// How many match entries each trust contributed (by meta.source), and the OperationOutcomes.
struct Answer {
  std::size_t rgt = 0;
  std::size_t rxh = 0;
  std::size_t outcomes = 0;
};
Answer Count(const HttpsResult& result) {
  Answer answer;
  rapidjson::Document bundle = Json(result.body);
  if (!bundle.IsObject() || !bundle.HasMember("entry")) {
    return answer;
  }
  for (const auto& entry : bundle["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) == "OperationOutcome") {
      ++answer.outcomes;
      continue;
    }
    const std::string_view source =
        resource.HasMember("meta") && resource["meta"].HasMember("source")
            ? resource["meta"]["source"].GetString()
            : "";
    answer.rgt += source.find("RGT") != std::string_view::npos ? 1 : 0;
    answer.rxh += source.find("RXH") != std::string_view::npos ? 1 : 0;
  }
  return answer;
}

class PeerPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = StartTrust("RGT", DemoPatients("RGT"));
    rxh_ = StartTrust("RXH", DemoPatients("RXH"));
    broker_b_ = std::make_unique<RunningBroker>(BrokerBConfig(rxh_->fhir_port()));
    broker_a_ =
        std::make_unique<RunningBroker>(BrokerAConfig(rgt_->fhir_port(), broker_b_->fhir_port()));
    AnnounceByAdt(*broker_a_, "RGT", kShared);
    AnnounceByAdt(*broker_b_, "RXH", kShared);
  }

  HttpsResult AtA(const std::string& who, const std::string& target, Headers headers = {}) const {
    return HttpsRequest("127.0.0.1", broker_a_->fhir_port(), "GET", target, As(who), headers);
  }
  HttpsResult AtB(const std::string& who, const std::string& method, const std::string& target,
                  Headers headers = {}, const std::string& body = {}) const {
    if (!body.empty()) {
      headers.emplace_back("Content-Type", "application/fhir+json");
    }
    return HttpsRequest("127.0.0.1", broker_b_->fhir_port(), method, target, As(who), headers,
                        body);
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_b_;
  std::unique_ptr<RunningBroker> broker_a_;
};

TEST_F(PeerPolicyTest, ADenyOfTheRequesterHoldsAtThePeerUntilItBreaksGlass) {
  const Answer before = Count(AtA("RJ1", kEverything));
  ASSERT_GT(before.rgt, 0u);
  ASSERT_GT(before.rxh, 0u);

  // The patient's deny of RJ1 is stored at broker-b only.
  HttpsResult stored = AtB("RXH", "POST", "/fhir/Consent", {}, ConsentDenying("RJ1"));
  ASSERT_EQ(stored.status, 201) << stored.body;

  // RJ1 through the peer: broker-b answers as if it held nothing (no flag), RGT still answers.
  const Answer denied = Count(AtA("RJ1", kEverything));
  EXPECT_EQ(denied.rxh, 0u);
  EXPECT_EQ(denied.rgt, before.rgt);
  EXPECT_EQ(denied.outcomes, 0u);
  // Another requester at broker-a, through the same peer, is not affected.
  EXPECT_EQ(Count(AtA("RGT", kEverything)).rxh, before.rxh);
  // Break-glass with a reason is passed on and overrides the deny at the peer too.
  const Answer glass = Count(AtA(
      "RJ1", kEverything,
      {{"X-Purpose-Of-Use", "ETREAT"}, {"X-Break-Glass-Reason", "collapsed in ED, no history"}}));
  EXPECT_EQ(glass.rxh, before.rxh);

  // broker-b's ledger names RJ1 as the requester refused, and broker-a as where the answer went.
  HttpsResult journey =
      AtB("RXH", "POST", "/fhir/Patient/$journey",
          {{"Content-Type", "application/x-www-form-urlencoded"}},
          "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kShared));
  ASSERT_EQ(journey.status, 200) << journey.body.substr(0, 300);
  rapidjson::Document records = Json(journey.body);
  bool refused_rj1 = false;
  bool released_rj1 = false;
  for (const auto& entry : records["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) != "AuditEvent" ||
        !resource.HasMember("outcomeDesc")) {
      continue;
    }
    const std::string_view outcome = resource["outcomeDesc"].GetString();
    std::string requester;
    std::string recipient;
    for (const auto& agent : resource["agent"].GetArray()) {
      const std::string_view role = agent["type"]["coding"][0]["code"].GetString();
      const std::string who = agent["who"]["identifier"]["value"].GetString();
      if (agent["requestor"].GetBool()) {
        requester = who;
      } else if (role == "PRCP") {
        recipient = who;
      }
    }
    if (outcome.rfind("refused consent", 0) == 0) {
      refused_rj1 = refused_rj1 || (requester == "RJ1" && recipient == "broker-a");
    }
    if (outcome.rfind("break-glass released", 0) == 0) {
      released_rj1 = released_rj1 || requester == "RJ1";
    }
  }
  EXPECT_TRUE(refused_rj1) << journey.body.substr(0, 3000);
  EXPECT_TRUE(released_rj1);
}

// broker-b checks the header itself: from the peer's certificate it is honoured, from a
// participant's it is refused (403), malformed or naming another purpose it is 400.
TEST_F(PeerPolicyTest, OnlyARegisteredPeerMayNameTheOriginalRequester) {
  ASSERT_EQ(AtB("RXH", "POST", "/fhir/Consent", {}, ConsentDenying("RJ1")).status, 201);

  HttpsResult as_peer = AtB("broker-a", "GET", kEverything);
  ASSERT_EQ(as_peer.status, 200) << as_peer.body;
  EXPECT_GT(Count(as_peer).rxh, 0u);  // the peer itself is not denied
  // With the hop headers broker-a sends: broker-b then does not ask broker-a back, whose
  // fhir_base here is dead and would be flagged (a consent refusal flags the same targets as a
  // search that finds no data, docs/policy.md step 4).
  HttpsResult for_rj1 = AtB("broker-a", "GET", kEverything,
                            {{"X-Trustbridge-Requester", "RJ1;purpose=TREAT"},
                             {"X-Trustbridge-Hops", "1"},
                             {"X-Trustbridge-Visited", "broker-a"}});
  ASSERT_EQ(for_rj1.status, 200) << for_rj1.body;
  EXPECT_EQ(Count(for_rj1).rxh, 0u);
  rapidjson::Document empty = Json(for_rj1.body);
  EXPECT_EQ(empty["total"].GetUint64(), 0u);
  EXPECT_FALSE(empty.HasMember("entry"));

  HttpsResult from_participant =
      AtB("RXH", "GET", kEverything, {{"X-Trustbridge-Requester", "RJ1;purpose=TREAT"}});
  EXPECT_EQ(from_participant.status, 403) << from_participant.body;
  EXPECT_NE(from_participant.body.find("X-Trustbridge-Requester"), std::string::npos);

  for (const char* bad : {"rj1;purpose=TREAT", "RJ1", "RJ1;purpose=", "RJ1;use=TREAT",
                          "R;purpose=TREAT", "RJ1;purpose=TREAT,HRESCH"}) {
    HttpsResult malformed = AtB("broker-a", "GET", kEverything, {{"X-Trustbridge-Requester", bad}});
    EXPECT_EQ(malformed.status, 400) << bad << " " << malformed.body;
  }
  HttpsResult other_purpose =
      AtB("broker-a", "GET", kEverything, {{"X-Trustbridge-Requester", "RJ1;purpose=ETREAT"}});
  EXPECT_EQ(other_purpose.status, 400) << other_purpose.body;
}

}  // namespace
}  // namespace tb
