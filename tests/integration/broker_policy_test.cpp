// Issue 6 end to end: least privilege and consent in the running broker. Independent HTTPS
// clients with their own certificates ask a broker in front of simulated trusts (the demo
// patients; RGT and RXH both hold 9990001235), with hand-written Consents stored through
// /fhir/Consent.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/app/broker_server.h"
#include "broker/app/config.h"
#include "broker/simtrust/simulated_trust.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace tb {
namespace {

namespace fs = std::filesystem;
using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::HttpsResult;
using testing::Json;
using testing::RunningBroker;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";   // at RGT and RXH
constexpr std::string_view kRgtOnly = "9990001375";  // at RGT only
constexpr std::string_view kHivLabCode = "1988-5";   // labelled HIV by the test's table
// 32 bytes, hex.
constexpr std::string_view kKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

using Headers = std::vector<std::pair<std::string, std::string>>;

// RJ1: a transfer team that may read everything, manage consents, break glass and do research.
// RGT: a trust whose scope is lab results only, direct care only, no break-glass.
// RXH: a trust with full read for direct care.
// `peers`: the config's "peers" array, if any.
std::string BrokerConfigText(std::uint16_t rgt_port, std::uint16_t rxh_port,
                             std::string_view peers = "[]") {
  const TestPki& pki = TestPki::Get();
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": )" +
         pki.TlsConfigJson("broker-a") + R"(,
    "store": { "url": "sqlite:var/tb.db" },
    "policy": { "sensitivity_table": "labels.csv", "pseudonym_key_file": "pseudonym.key" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs", "system/Consent.crus"],
        "purposes": ["TREAT", "ETREAT", "HRESCH"], "break_glass": true },
      { "ods": "RGT", "cert_cn": "RGT", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rgt_port) + R"(/fhir",
        "scopes": ["system/Observation.rs?category=laboratory"] },
      { "ods": "RXH", "cert_cn": "RXH", "fhir_base": "https://127.0.0.1:)" +
         std::to_string(rxh_port) + R"(/fhir", "scopes": ["system/*.rs"] }
    ],
    "peers": )" +
         std::string(peers) + R"(
  })";
}

// The sensitivity table and pseudonym key every policy test broker gets beside its config.
std::vector<std::pair<std::string, std::string>> PolicyFiles() {
  return {{"labels.csv",
           "code_system,code,label\nhttp://loinc.org," + std::string(kHivLabCode) + ",HIV\n"},
          {"pseudonym.key", std::string(kKeyHex) + "\n"}};
}

std::vector<const rapidjson::Value*> Matches(const rapidjson::Document& bundle) {
  std::vector<const rapidjson::Value*> resources;
  if (!bundle.IsObject() || !bundle.HasMember("entry")) {
    return resources;
  }
  for (const auto& entry : bundle["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) != "OperationOutcome") {
      resources.push_back(&resource);
    }
  }
  return resources;
}

bool HasCategory(const rapidjson::Value& observation, std::string_view code) {
  if (!observation.HasMember("category")) {
    return false;
  }
  for (const auto& category : observation["category"].GetArray()) {
    for (const auto& coding : category["coding"].GetArray()) {
      if (std::string_view(coding["code"].GetString()) == code) {
        return true;
      }
    }
  }
  return false;
}

bool HasCode(const rapidjson::Value& resource, std::string_view code) {
  if (!resource.HasMember("code") || !resource["code"].HasMember("coding")) {
    return false;
  }
  for (const auto& coding : resource["code"]["coding"].GetArray()) {
    if (std::string_view(coding["code"].GetString()) == code) {
      return true;
    }
  }
  return false;
}

std::string Everything(std::string_view nhs_number) {
  return "/fhir/Patient/$everything?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
         std::string(nhs_number);
}
std::string Search(std::string_view type, std::string_view nhs_number) {
  const bool patient = type == "Patient";
  return "/fhir/" + std::string(type) + (patient ? "?identifier=" : "?patient:identifier=") +
         "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs_number);
}

// A patient-privacy Consent for `nhs_number` with the given root provision.
std::string ConsentJson(std::string_view nhs_number, std::string_view provision,
                        std::string_view status = "active") {
  return R"({"resourceType": "Consent", "status": ")" + std::string(status) + R"(",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(nhs_number) + R"("}},
    "provision": )" +
         std::string(provision) + "}";
}
std::string DenyOrganisation(std::string_view ods) {
  return R"({"type": "deny", "actor": [{"role": {"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
      "reference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                   "value": ")" +
         std::string(ods) + R"("}}}]})";
}
constexpr std::string_view kDenyResearch =
    R"({"type": "deny", "purpose": [{"system":
        "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]})";
constexpr std::string_view kDenyHiv =
    R"({"type": "deny", "securityLabel": [{"system":
        "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})";

// The AuditEvent.outcomeDesc of every record in the patient's journey, in ledger order.
std::vector<std::string> JourneyOutcomes(const rapidjson::Document& journey) {
  std::vector<std::string> outcomes;
  if (!journey.IsObject() || !journey.HasMember("entry")) {
    return outcomes;
  }
  for (const auto& entry : journey["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) == "AuditEvent" &&
        resource.HasMember("outcomeDesc")) {
      outcomes.emplace_back(resource["outcomeDesc"].GetString());
    }
  }
  return outcomes;
}

// The AuditEvent whose outcomeDesc starts with `prefix`, or null.
const rapidjson::Value* FindAuditEvent(const rapidjson::Document& journey,
                                       std::string_view prefix) {
  if (!journey.IsObject() || !journey.HasMember("entry")) {
    return nullptr;
  }
  for (const auto& entry : journey["entry"].GetArray()) {
    const auto& resource = entry["resource"];
    if (std::string_view(resource["resourceType"].GetString()) == "AuditEvent" &&
        resource.HasMember("outcomeDesc") &&
        std::string_view(resource["outcomeDesc"].GetString()).rfind(prefix, 0) == 0) {
      return &resource;
    }
  }
  return nullptr;
}

// The ODS code of the requesting agent of an AuditEvent.
std::string Requester(const rapidjson::Value& audit_event) {
  for (const auto& agent : audit_event["agent"].GetArray()) {
    if (agent["requestor"].GetBool()) {
      return agent["who"]["identifier"]["value"].GetString();
    }
  }
  return {};
}

bool AnyStartsWith(const std::vector<std::string>& texts, std::string_view prefix) {
  return std::any_of(texts.begin(), texts.end(),
                     [&](const std::string& text) { return text.rfind(prefix, 0) == 0; });
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = testing::StartTrust("RGT", DemoPatients("RGT"));
    rxh_ = testing::StartTrust("RXH", DemoPatients("RXH"));
    broker_ = std::make_unique<RunningBroker>(
        BrokerConfigText(rgt_->fhir_port(), rxh_->fhir_port(), Peers()), PolicyFiles());
    AnnounceByAdt(*broker_, "RGT", kShared);
    AnnounceByAdt(*broker_, "RXH", kShared);
    AnnounceByAdt(*broker_, "RGT", kRgtOnly);
  }

  HttpsResult Call(const std::string& who, const std::string& method, const std::string& target,
                   Headers headers = {}, const std::string& body = {}) const {
    if (!body.empty()) {
      headers.emplace_back("Content-Type", "application/fhir+json");
    }
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), method, target, As(who), headers, body);
  }

  // Stores a Consent as RJ1 (which holds Consent scopes); returns its id.
  std::string PostConsent(const std::string& json) const {
    HttpsResult created = Call("RJ1", "POST", "/fhir/Consent", {}, json);
    EXPECT_EQ(created.status, 201) << created.body;
    rapidjson::Document stored = Json(created.body);
    if (!stored.IsObject() || !stored.HasMember("id")) {
      return {};
    }
    return stored["id"].GetString();
  }

  // The broker's peers ("peers" in its config).
  virtual std::string Peers() const { return "[]"; }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_;
};

// The same broker with a peer broker that is down (nothing listens on port 1): every search
// asks it, and every answer flags it.
class PolicyWithDeadPeerTest : public PolicyTest {
 protected:
  std::string Peers() const override {
    return R"([{ "id": "broker-b", "cert_cn": "broker-b", "fhir_base": "https://127.0.0.1:1/fhir",
                 "scopes": ["system/*.rs"] }])";
  }
};

// A Bundle's JSON without what differs between any two answers (id, timestamp).
std::string WithoutIdAndTimestamp(const std::string& body) {
  rapidjson::Document bundle = Json(body);
  if (!bundle.IsObject()) {
    return body;
  }
  bundle.RemoveMember("id");
  bundle.RemoveMember("timestamp");
  return fhir::ToJson(bundle);
}

TEST_F(PolicyTest, LabOnlyScopeGetsLabResultsNoVitalSignsAndCannotReadPatient) {
  HttpsResult observations = Call("RGT", "GET", Search("Observation", kShared));
  ASSERT_EQ(observations.status, 200) << observations.body;
  rapidjson::Document bundle = Json(observations.body);
  const auto matches = Matches(bundle);
  ASSERT_FALSE(matches.empty()) << observations.body.substr(0, 400);
  for (const rapidjson::Value* resource : matches) {
    EXPECT_STREQ((*resource)["resourceType"].GetString(), "Observation");
    EXPECT_TRUE(HasCategory(*resource, "laboratory"));
    EXPECT_FALSE(HasCategory(*resource, "vital-signs"));
  }
  EXPECT_EQ(bundle["total"].GetUint64(), matches.size());

  // The same requester's $everything: only lab Observations survive.
  HttpsResult everything = Call("RGT", "GET", Everything(kShared));
  ASSERT_EQ(everything.status, 200) << everything.body;
  // The document must outlive the loop (a temporary inside the range expression would not).
  const rapidjson::Document everything_bundle = Json(everything.body);
  for (const rapidjson::Value* resource : Matches(everything_bundle)) {
    EXPECT_STREQ((*resource)["resourceType"].GetString(), "Observation");
    EXPECT_TRUE(HasCategory(*resource, "laboratory"));
  }

  HttpsResult patient = Call("RGT", "GET", Search("Patient", kShared));
  EXPECT_EQ(patient.status, 403);
  EXPECT_NE(patient.body.find("OperationOutcome"), std::string::npos);
  // An _include of a type the scopes do not grant is refused too.
  HttpsResult include =
      Call("RGT", "GET", Search("Observation", kShared) + "&_include=Observation:subject:Patient");
  EXPECT_EQ(include.status, 403);
}

TEST_F(PolicyTest, ConsentDenyingAnOrganisationEmptiesItsEverythingUntilItBreaksGlass) {
  HttpsResult before = Call("RJ1", "GET", Everything(kShared));
  ASSERT_EQ(before.status, 200) << before.body;
  const std::size_t all = Matches(Json(before.body)).size();
  ASSERT_GT(all, 10u);

  const std::string id = PostConsent(ConsentJson(kShared, DenyOrganisation("RJ1")));
  ASSERT_FALSE(id.empty());

  // Refused: an empty searchset, exactly what a patient with no data gives.
  HttpsResult denied = Call("RJ1", "GET", Everything(kShared));
  ASSERT_EQ(denied.status, 200) << denied.body;
  rapidjson::Document empty = Json(denied.body);
  EXPECT_STREQ(empty["type"].GetString(), "searchset");
  EXPECT_EQ(empty["total"].GetInt(), 0);
  EXPECT_FALSE(empty.HasMember("entry"));
  HttpsResult unknown = Call("RJ1", "GET", Everything("9449305552"));  // held by nobody
  ASSERT_EQ(unknown.status, 200);
  rapidjson::Document nothing = Json(unknown.body);
  EXPECT_EQ(nothing.HasMember("entry"), empty.HasMember("entry"));
  EXPECT_EQ(nothing.MemberCount(), empty.MemberCount());

  // Another organisation is not affected.
  HttpsResult other = Call("RXH", "GET", Everything(kShared));
  ASSERT_EQ(other.status, 200);
  EXPECT_EQ(Matches(Json(other.body)).size(), all);

  // ETREAT without a reason: 400. With a reason: the whole record.
  HttpsResult no_reason = Call("RJ1", "GET", Everything(kShared), {{"X-Purpose-Of-Use", "ETREAT"}});
  EXPECT_EQ(no_reason.status, 400) << no_reason.body;
  EXPECT_NE(no_reason.body.find("X-Break-Glass-Reason"), std::string::npos);
  HttpsResult glass = Call("RJ1", "GET", Everything(kShared),
                           {{"X-Purpose-Of-Use", "ETREAT"},
                            {"X-Break-Glass-Reason", "unconscious in ED, no other history"}});
  ASSERT_EQ(glass.status, 200) << glass.body;
  EXPECT_EQ(Matches(Json(glass.body)).size(), all);

  // Withdrawal (status inactive) takes effect on the next request.
  HttpsResult read = Call("RJ1", "GET", "/fhir/Consent/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  rapidjson::Document consent = Json(read.body);
  EXPECT_STREQ(consent["meta"]["versionId"].GetString(), "1");
  HttpsResult withdrawn = Call("RJ1", "PUT", "/fhir/Consent/" + id, {},
                               ConsentJson(kShared, DenyOrganisation("RJ1"), "inactive"));
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_STREQ(Json(withdrawn.body)["meta"]["versionId"].GetString(), "2");
  HttpsResult after = Call("RJ1", "GET", Everything(kShared));
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(Matches(Json(after.body)).size(), all);
}

TEST_F(PolicyTest, PurposeAndBreakGlassAreCheckedAgainstTheParticipant) {
  // RGT may not break glass.
  HttpsResult glass = Call("RGT", "GET", Search("Observation", kShared),
                           {{"X-Purpose-Of-Use", "ETREAT"}, {"X-Break-Glass-Reason", "emergency"}});
  EXPECT_EQ(glass.status, 403) << glass.body;
  // HRESCH is not one of RXH's purposes.
  HttpsResult research = Call("RXH", "GET", Everything(kShared), {{"X-Purpose-Of-Use", "HRESCH"}});
  EXPECT_EQ(research.status, 403) << research.body;
  // Malformed purposes are 400.
  for (const char* bad : {"treat", "TREAT,HRESCH", "", "NOPE"}) {
    HttpsResult malformed = Call("RXH", "GET", Everything(kShared), {{"X-Purpose-Of-Use", bad}});
    EXPECT_EQ(malformed.status, 400) << bad << " " << malformed.body;
    EXPECT_NE(malformed.body.find("OperationOutcome"), std::string::npos);
  }
  // A multi-line reason is 400.
  HttpsResult reason = Call("RJ1", "GET", Everything(kShared),
                            {{"X-Purpose-Of-Use", "ETREAT"}, {"X-Break-Glass-Reason", "a\tb"}});
  EXPECT_EQ(reason.status, 400) << reason.body;
}

TEST_F(PolicyTest, ResearchOnAnOptedOutPatientIsEmptyAndOtherwisePseudonymised) {
  ASSERT_FALSE(PostConsent(ConsentJson(kShared, kDenyResearch)).empty());
  const Headers research{{"X-Purpose-Of-Use", "HRESCH"}};

  HttpsResult opted_out = Call("RJ1", "GET", Everything(kShared), research);
  ASSERT_EQ(opted_out.status, 200) << opted_out.body;
  rapidjson::Document empty = Json(opted_out.body);
  EXPECT_EQ(empty["total"].GetInt(), 0);
  EXPECT_TRUE(Matches(empty).empty());
  // Direct care for the same patient continues.
  HttpsResult care = Call("RJ1", "GET", Everything(kShared));
  EXPECT_GT(Matches(Json(care.body)).size(), 10u);

  HttpsResult other = Call("RJ1", "GET", Everything(kRgtOnly), research);
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.body.find(std::string(kRgtOnly)), std::string::npos);
  rapidjson::Document bundle = Json(other.body);
  const auto matches = Matches(bundle);
  ASSERT_FALSE(matches.empty());
  bool saw_patient = false;
  for (const rapidjson::Value* resource : matches) {
    if (std::string_view((*resource)["resourceType"].GetString()) != "Patient") {
      continue;
    }
    saw_patient = true;
    EXPECT_FALSE(resource->HasMember("name"));
    EXPECT_FALSE(resource->HasMember("address"));
    EXPECT_FALSE(resource->HasMember("telecom"));
    ASSERT_TRUE(resource->HasMember("identifier"));
    EXPECT_STREQ((*resource)["identifier"][0]["system"].GetString(),
                 "urn:trustbridge:pseudonym:nhs-number:hmac-sha256");
    if (resource->HasMember("birthDate")) {
      EXPECT_EQ((*resource)["birthDate"].GetStringLength(), 4u);
    }
  }
  EXPECT_TRUE(saw_patient);
}

TEST_F(PolicyTest, HivLabelledResultIsWithheldWhileTheRestFlows) {
  HttpsResult before = Call("RJ1", "GET", Search("Observation", kShared));
  ASSERT_EQ(before.status, 200) << before.body;
  rapidjson::Document all = Json(before.body);
  std::size_t hiv = 0;
  for (const rapidjson::Value* resource : Matches(all)) {
    hiv += HasCode(*resource, kHivLabCode) ? 1 : 0;
  }
  ASSERT_GT(hiv, 0u) << "the demo data should hold the code the table labels HIV";
  // The table's label is written into meta.security on the way out.
  EXPECT_NE(before.body.find(R"("code":"HIV")"), std::string::npos);

  ASSERT_FALSE(PostConsent(ConsentJson(kShared, kDenyHiv)).empty());
  HttpsResult after = Call("RJ1", "GET", Search("Observation", kShared));
  ASSERT_EQ(after.status, 200) << after.body;
  rapidjson::Document filtered = Json(after.body);
  const auto matches = Matches(filtered);
  EXPECT_EQ(matches.size(), Matches(all).size() - hiv);
  for (const rapidjson::Value* resource : matches) {
    EXPECT_FALSE(HasCode(*resource, kHivLabCode));
  }
  EXPECT_EQ(filtered["total"].GetUint64(), matches.size());  // total does not count them
}

// _summary=count and _total are answered by the broker from the filtered result: the trusts hold
// the HIV-coded result and would count it; the broker does not.
TEST_F(PolicyTest, CountsComeFromTheFilteredResultNeverFromTheTrusts) {
  ASSERT_FALSE(PostConsent(ConsentJson(kShared, kDenyHiv)).empty());
  HttpsResult search = Call("RJ1", "GET", Search("Observation", kShared));
  ASSERT_EQ(search.status, 200) << search.body;
  const std::size_t released = Matches(Json(search.body)).size();
  ASSERT_GT(released, 0u);

  HttpsResult count = Call("RJ1", "GET", Search("Observation", kShared) + "&_summary=count");
  ASSERT_EQ(count.status, 200) << count.body;
  rapidjson::Document counted = Json(count.body);
  EXPECT_FALSE(counted.HasMember("entry")) << count.body.substr(0, 300);
  EXPECT_EQ(counted["total"].GetUint64(), released);

  HttpsResult accurate = Call("RJ1", "GET", Search("Observation", kShared) + "&_total=accurate");
  EXPECT_EQ(Json(accurate.body)["total"].GetUint64(), released);
  HttpsResult none = Call("RJ1", "GET", Search("Observation", kShared) + "&_total=none");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_FALSE(Json(none.body).HasMember("total"));
  EXPECT_EQ(Call("RJ1", "GET", Search("Observation", kShared) + "&_total=exact").status, 400);

  // A lab-only requester's count is its own filtered count too.
  HttpsResult lab = Call("RGT", "GET", Search("Observation", kShared));
  HttpsResult lab_count = Call("RGT", "GET", Search("Observation", kShared) + "&_summary=count");
  EXPECT_EQ(Json(lab_count.body)["total"].GetUint64(), Matches(Json(lab.body)).size());
}

std::string LinkUrl(const rapidjson::Value& bundle, std::string_view relation) {
  if (!bundle.IsObject() || !bundle.HasMember("link")) {
    return {};
  }
  for (const auto& link : bundle["link"].GetArray()) {
    if (std::string_view(link["relation"].GetString()) == relation) {
      return link["url"].GetString();
    }
  }
  return {};
}

std::vector<std::string> MatchIds(const rapidjson::Document& bundle) {
  std::vector<std::string> ids;
  for (const rapidjson::Value* resource : Matches(bundle)) {
    ids.emplace_back((*resource)["id"].GetString());
  }
  return ids;
}

// _count pages the merged, filtered result: the pages together are the unpaged answer, each
// page carries the filtered total, and the pages belong to the requester alone.
TEST_F(PolicyTest, CountPagesTheFilteredResultForTheRequesterOnly) {
  HttpsResult whole = Call("RJ1", "GET", Search("Observation", kShared));
  ASSERT_EQ(whole.status, 200) << whole.body;
  std::vector<std::string> expected = MatchIds(Json(whole.body));
  ASSERT_GE(expected.size(), 2u);

  HttpsResult first = Call("RJ1", "GET", Search("Observation", kShared) + "&_count=1");
  ASSERT_EQ(first.status, 200) << first.body;
  rapidjson::Document page = Json(first.body);
  EXPECT_EQ(page["total"].GetUint64(), expected.size());
  std::vector<std::string> paged = MatchIds(page);
  EXPECT_EQ(paged.size(), 1u);
  std::string next = LinkUrl(page, "next");
  ASSERT_EQ(next.rfind("/fhir/_page?token=", 0), 0u) << first.body.substr(0, 400);
  EXPECT_EQ(next.find(kShared), std::string::npos);  // no NHS number in the link

  // Another requester cannot read the pages: 404, as for an unknown token.
  EXPECT_EQ(Call("RXH", "GET", next).status, 404);
  EXPECT_EQ(
      Call("RJ1", "GET", "/fhir/_page?token=0123456789abcdef0123456789abcdef&offset=1").status,
      404);

  for (int guard = 0; !next.empty() && guard < 100; ++guard) {
    HttpsResult more = Call("RJ1", "GET", next);
    ASSERT_EQ(more.status, 200) << more.body;
    rapidjson::Document later = Json(more.body);
    EXPECT_EQ(later["total"].GetUint64(), expected.size());
    for (std::string& id : MatchIds(later)) {
      paged.push_back(std::move(id));
    }
    EXPECT_FALSE(LinkUrl(later, "previous").empty());
    next = LinkUrl(later, "next");
  }
  std::sort(expected.begin(), expected.end());
  std::sort(paged.begin(), paged.end());
  EXPECT_EQ(paged, expected);
}

// Each page is filtered again when served: a consent written while the requester pages applies
// to the next page and to its total.
TEST_F(PolicyTest, AConsentWrittenMidPagingAppliesToTheNextPage) {
  HttpsResult first = Call("RJ1", "GET", Search("Observation", kShared) + "&_count=1");
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string next = LinkUrl(Json(first.body), "next");
  ASSERT_FALSE(next.empty()) << first.body.substr(0, 400);
  ASSERT_FALSE(PostConsent(ConsentJson(kShared, DenyOrganisation("RJ1"))).empty());
  HttpsResult after = Call("RJ1", "GET", next);
  ASSERT_EQ(after.status, 200) << after.body;
  rapidjson::Document page = Json(after.body);
  EXPECT_TRUE(Matches(page).empty()) << after.body.substr(0, 400);
  EXPECT_EQ(page["total"].GetUint64(), 0u);
  EXPECT_TRUE(LinkUrl(page, "next").empty());
}

// _include of a type the scopes grant is allowed, but included resources of types outside the
// scopes (an include without a named target) never come back.
TEST_F(PolicyTest, IncludesCannotPullInUngrantedTypes) {
  HttpsResult named =
      Call("RGT", "GET", Search("Observation", kShared) + "&_revinclude=Provenance:target");
  EXPECT_EQ(named.status, 403);
  HttpsResult wildcard = Call("RGT", "GET", Search("Observation", kShared) + "&_include=*");
  ASSERT_EQ(wildcard.status, 200) << wildcard.body;
  const rapidjson::Document wildcard_bundle = Json(wildcard.body);
  for (const rapidjson::Value* resource : Matches(wildcard_bundle)) {
    EXPECT_STREQ((*resource)["resourceType"].GetString(), "Observation");
  }
  EXPECT_EQ(wildcard.body.find("\"Patient\""), std::string::npos);
}

// Prefer: return=OperationOutcome (FHIR R4 http.html#ops) on a create or update answers with an
// OperationOutcome: a warning per element the broker stores but cannot evaluate, or one
// information issue; return=minimal answers with no body; the default is the stored resource.
TEST_F(PolicyTest, ConsentWritesAnswerAsThePreferHeaderAsks) {
  const std::string with_data = ConsentJson(kShared, R"({"type": "deny", "data": [{"meaning":
      "instance", "reference": {"reference": "Condition/1"}}]})");
  HttpsResult warned =
      Call("RJ1", "POST", "/fhir/Consent", {{"Prefer", "return=OperationOutcome"}}, with_data);
  ASSERT_EQ(warned.status, 201) << warned.body;
  EXPECT_EQ(warned.Header("Location").rfind("Consent/", 0), 0U);
  rapidjson::Document outcome = Json(warned.body);
  ASSERT_TRUE(outcome.IsObject()) << warned.body;
  EXPECT_EQ(std::string(outcome["resourceType"].GetString()), "OperationOutcome");
  ASSERT_EQ(outcome["issue"].Size(), 1U) << warned.body;
  EXPECT_EQ(std::string(outcome["issue"][0]["severity"].GetString()), "warning");
  EXPECT_EQ(std::string(outcome["issue"][0]["expression"][0].GetString()),
            "Consent.provision.data");

  HttpsResult clean = Call("RJ1", "POST", "/fhir/Consent", {{"Prefer", "return=OperationOutcome"}},
                           ConsentJson(kShared, kDenyResearch));
  ASSERT_EQ(clean.status, 201) << clean.body;
  outcome = Json(clean.body);
  ASSERT_EQ(outcome["issue"].Size(), 1U) << clean.body;
  EXPECT_EQ(std::string(outcome["issue"][0]["severity"].GetString()), "information");

  HttpsResult minimal = Call("RJ1", "POST", "/fhir/Consent",
                             {{"Prefer", "handling=strict; return=minimal"}}, with_data);
  ASSERT_EQ(minimal.status, 201) << minimal.body;
  EXPECT_TRUE(minimal.body.empty()) << minimal.body;
  const std::string location = minimal.Header("Location");
  ASSERT_EQ(location.rfind("Consent/", 0), 0U);

  HttpsResult plain = Call("RJ1", "POST", "/fhir/Consent", {}, with_data);
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(std::string(Json(plain.body)["resourceType"].GetString()), "Consent");

  // The same on an update.
  const std::string id = location.substr(8, location.find('/', 8) - 8);
  HttpsResult updated =
      Call("RJ1", "PUT", "/fhir/Consent/" + id, {{"Prefer", "return=OperationOutcome"}}, with_data);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(std::string(Json(updated.body)["issue"][0]["severity"].GetString()), "warning");
}

// A PUT naming another patient used to move the Consent: patient A lost their refusal without
// a word in A's journey, and patient B got a consent they never gave. The patient of a stored
// Consent never changes: 400, and the stored record and A's refusal stay as they were.
TEST_F(PolicyTest, ConsentUpdateCannotMoveAConsentToAnotherPatient) {
  const std::string id = PostConsent(ConsentJson(kShared, DenyOrganisation("RJ1")));
  ASSERT_FALSE(id.empty());
  HttpsResult moved =
      Call("RJ1", "PUT", "/fhir/Consent/" + id, {}, ConsentJson(kRgtOnly, DenyOrganisation("RJ1")));
  EXPECT_EQ(moved.status, 400) << moved.body;
  EXPECT_NE(moved.body.find("Consent.patient"), std::string::npos) << moved.body;

  HttpsResult read = Call("RJ1", "GET", "/fhir/Consent/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  rapidjson::Document stored = Json(read.body);
  EXPECT_STREQ(stored["meta"]["versionId"].GetString(), "1");
  EXPECT_STREQ(stored["patient"]["identifier"]["value"].GetString(), std::string(kShared).c_str());
  // A's refusal still holds; B has no consent and gets its data.
  HttpsResult a = Call("RJ1", "GET", Everything(kShared));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(Matches(Json(a.body)).empty());
  HttpsResult b = Call("RJ1", "GET", Everything(kRgtOnly));
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_FALSE(Matches(Json(b.body)).empty());
  HttpsResult b_consents = Call("RJ1", "GET",
                                "/fhir/Consent?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                                "nhs-number%7C" +
                                    std::string(kRgtOnly));
  ASSERT_EQ(b_consents.status, 200);
  EXPECT_EQ(Json(b_consents.body)["total"].GetInt(), 0);
}

// An update is written only over the version it was read at: a client that says which one
// (If-Match, the ETag it was given) and is late gets 412, and the other writer's change stays
// (a withdrawal is never silently replaced).
TEST_F(PolicyTest, AConsentUpdateFromAStaleVersionIsRefused) {
  const std::string id = PostConsent(ConsentJson(kShared, DenyOrganisation("RJ1")));
  ASSERT_FALSE(id.empty());
  HttpsResult withdrawn = Call("RJ1", "PUT", "/fhir/Consent/" + id, {{"If-Match", "W/\"1\""}},
                               ConsentJson(kShared, DenyOrganisation("RJ1"), "inactive"));
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_EQ(withdrawn.Header("ETag"), "W/\"2\"");
  HttpsResult late = Call("RJ1", "PUT", "/fhir/Consent/" + id, {{"If-Match", "W/\"1\""}},
                          ConsentJson(kShared, kDenyResearch));
  EXPECT_EQ(late.status, 412) << late.body;
  HttpsResult malformed = Call("RJ1", "PUT", "/fhir/Consent/" + id, {{"If-Match", "2"}},
                               ConsentJson(kShared, kDenyResearch));
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  HttpsResult read = Call("RJ1", "GET", "/fhir/Consent/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  rapidjson::Document stored = Json(read.body);
  EXPECT_STREQ(stored["meta"]["versionId"].GetString(), "2");
  EXPECT_STREQ(stored["status"].GetString(), "inactive");
}

TEST_F(PolicyTest, ConsentEndpointsNeedConsentScopesAndValidConsents) {
  const std::string json = ConsentJson(kShared, kDenyResearch);
  HttpsResult create = Call("RGT", "POST", "/fhir/Consent", {}, json);
  EXPECT_EQ(create.status, 403) << create.body;
  HttpsResult search = Call("RGT", "GET",
                            "/fhir/Consent?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                            "nhs-number%7C" +
                                std::string(kShared));
  EXPECT_EQ(search.status, 403) << search.body;

  HttpsResult invalid = Call("RJ1", "POST", "/fhir/Consent", {},
                             R"({"resourceType": "Consent", "status": "active"})");
  EXPECT_EQ(invalid.status, 400) << invalid.body;
  EXPECT_NE(invalid.body.find("Consent.scope"), std::string::npos);

  HttpsResult created = Call("RJ1", "POST", "/fhir/Consent", {}, json);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Json(created.body)["id"].GetString();
  EXPECT_EQ(created.Header("Location"), "Consent/" + id + "/_history/1");
  HttpsResult found = Call("RJ1", "GET",
                           "/fhir/Consent?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                           "nhs-number%7C" +
                               std::string(kShared));
  ASSERT_EQ(found.status, 200) << found.body;
  rapidjson::Document bundle = Json(found.body);
  EXPECT_EQ(bundle["total"].GetInt(), 1);
  EXPECT_EQ(std::string(bundle["entry"][0]["resource"]["id"].GetString()), id);
  EXPECT_EQ(Call("RJ1", "GET", "/fhir/Consent/nope").status, 404);
  EXPECT_EQ(Call("RGT", "GET", "/fhir/Consent/" + id).status, 403);

  // RGT's refused search names the patient, so the refusal is in the patient's journey.
  HttpsResult journey = Call("RJ1", "GET",
                             "/fhir/Patient/$journey?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                             "nhs-number%7C" +
                                 std::string(kShared));
  ASSERT_EQ(journey.status, 200);
  const rapidjson::Document records = Json(journey.body);
  const rapidjson::Value* refused =
      FindAuditEvent(records, "refused scope (403 kForbidden): Consent");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(Requester(*refused), "RGT");
  // So are RJ1's write (an import of the Consent, its version and digest) and its search (the
  // patient's choices released to RJ1): who changed or read them is recorded like any other
  // disclosure (docs/ledger.md, "What the ledger records").
  const rapidjson::Value* written = FindAuditEvent(records, "create status=active");
  ASSERT_NE(written, nullptr);
  EXPECT_EQ(Requester(*written), "RJ1");
  EXPECT_STREQ((*written)["type"]["code"].GetString(), "110107");
  EXPECT_NE(fhir::ToJson(*written).find("urn:trustbridge:sha256"), std::string::npos);
  std::size_t consent_reads = 0;
  for (const std::string& outcome : JourneyOutcomes(records)) {
    consent_reads += outcome == "released=1" ? 1 : 0;  // the search; the 404 released nothing
  }
  EXPECT_EQ(consent_reads, 1u);
}

// Issue 6 item 1 and issue 7 item 1: a scope refusal at the API, each resource removed by scope
// or consent (type, reason, count: never ids or content) and each break-glass release leave a
// ledger record, and the patient's journey shows them.
TEST_F(PolicyTest, RefusalsRemovalsAndBreakGlassReleasesAreInTheJourney) {
  // A 403 for want of scopes (lab-only RGT asks for Patient), and a purpose RXH may not use.
  EXPECT_EQ(Call("RGT", "GET", Search("Patient", kShared)).status, 403);
  EXPECT_EQ(Call("RXH", "GET", Everything(kShared), {{"X-Purpose-Of-Use", "HRESCH"}}).status, 403);
  // RGT's $everything: everything but lab Observations is removed by scope.
  ASSERT_EQ(Call("RGT", "GET", Everything(kShared)).status, 200);
  // The HIV-labelled result is removed by consent.
  const std::string hiv_consent = PostConsent(ConsentJson(kShared, kDenyHiv));
  ASSERT_FALSE(hiv_consent.empty());
  HttpsResult observations = Call("RJ1", "GET", Search("Observation", kShared));
  ASSERT_EQ(observations.status, 200) << observations.body;
  // Break-glass over the same deny releases it, with the reason recorded.
  HttpsResult glass = Call("RJ1", "GET", Search("Observation", kShared),
                           {{"X-Purpose-Of-Use", "ETREAT"},
                            {"X-Break-Glass-Reason", "unconscious in ED, no other history"}});
  ASSERT_EQ(glass.status, 200) << glass.body;
  EXPECT_NE(glass.body.find(kHivLabCode), std::string::npos);

  HttpsResult journey =
      Call("RJ1", "POST", "/fhir/Patient/$journey",
           {{"Content-Type", "application/x-www-form-urlencoded"}},
           "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kShared));
  ASSERT_EQ(journey.status, 200) << journey.body.substr(0, 400);
  const rapidjson::Document records = Json(journey.body);
  const std::vector<std::string> outcomes = JourneyOutcomes(records);

  const rapidjson::Value* scope = FindAuditEvent(records, "refused scope (403 kForbidden)");
  ASSERT_NE(scope, nullptr) << ::testing::PrintToString(outcomes);
  EXPECT_EQ(Requester(*scope), "RGT");
  EXPECT_STREQ((*scope)["type"]["display"].GetString(), "Security Alert");
  const rapidjson::Value* purpose = FindAuditEvent(records, "refused purpose (403 kForbidden)");
  ASSERT_NE(purpose, nullptr);
  EXPECT_EQ(Requester(*purpose), "RXH");

  EXPECT_TRUE(AnyStartsWith(outcomes, "withheld scope Patient count="));
  EXPECT_TRUE(AnyStartsWith(outcomes, "withheld scope Encounter count="));
  const rapidjson::Value* consent = FindAuditEvent(records, "withheld consent Observation count=");
  ASSERT_NE(consent, nullptr);
  EXPECT_EQ(Requester(*consent), "RJ1");
  // The Provenance of the same record names the deciding consent as its policy.
  EXPECT_NE(journey.body.find("urn:trustbridge:consent:deny: Consent/" + hiv_consent +
                              " Consent.provision"),
            std::string::npos);

  const rapidjson::Value* released = FindAuditEvent(records, "break-glass released Observation");
  ASSERT_NE(released, nullptr);
  EXPECT_STREQ((*released)["purposeOfEvent"][0]["coding"][0]["code"].GetString(), "ETREAT");
  EXPECT_TRUE(std::any_of(outcomes.begin(), outcomes.end(), [](const std::string& text) {
    return text.find("break-glass reason: unconscious in ED, no other history") !=
           std::string::npos;
  }));

  // Never ids of the withheld resources or their content: only types, reasons and counts.
  for (const std::string& outcome : outcomes) {
    EXPECT_EQ(outcome.find(kHivLabCode), std::string::npos) << outcome;
    EXPECT_EQ(outcome.find(kShared), std::string::npos) << outcome;
  }
}

TEST(PolicyConfig, MalformedScopesAndPurposesAreConfigErrorsNamingTheirPath) {
  const std::string text = R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0" },
    "tls": { "cert": "c.crt", "key": "c.key", "ca": "ca.crt" },
    "store": { "url": "sqlite::memory:" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/Patient.rs"] },
      { "ods": "RGT", "cert_cn": "RGT", "scopes": ["system/Observation.rs", "system/Observation.sr"],
        "purposes": ["ETREAT"] }
    ],
    "peers": [ { "id": "broker-b", "cert_cn": "broker-b", "fhir_base": "https://127.0.0.1:1/fhir",
                 "scopes": ["openid"] } ]
  })";
  app::ConfigLoad load = app::ParseBrokerConfig(text, fs::temp_directory_path(), false);
  EXPECT_FALSE(load.config);
  std::vector<std::string> locations;
  for (const core::Error& problem : load.problems) {
    EXPECT_EQ(problem.code, core::ErrorCode::kConfig);
    locations.push_back(problem.location);
  }
  EXPECT_NE(std::find(locations.begin(), locations.end(), "/participants/1/scopes/1"),
            locations.end());
  EXPECT_NE(std::find(locations.begin(), locations.end(), "/peers/0/scopes/0"), locations.end());
  // ETREAT listed without break_glass: true.
  bool purpose_problem = false;
  for (const std::string& location : locations) {
    purpose_problem = purpose_problem || location.rfind("/participants/1/", 0) == 0;
  }
  EXPECT_TRUE(purpose_problem);
  EXPECT_GE(locations.size(), 3u);
}

TEST(PolicyConfig, PolicyFilesAreResolvedAndChecked) {
  const std::string text = R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0" },
    "tls": { "cert": "c.crt", "key": "c.key", "ca": "ca.crt" },
    "store": { "url": "sqlite::memory:" },
    "policy": { "sensitivity_table": "labels.csv", "pseudonym_key_file": "key.hex" },
    "participants": [ { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] } ]
  })";
  app::ConfigLoad load = app::ParseBrokerConfig(text, "/etc/tb", false);
  ASSERT_TRUE(load.config) << load.problems[0].message;
  EXPECT_EQ(load.config->policy.sensitivity_table, fs::path("/etc/tb/labels.csv"));
  EXPECT_EQ(load.config->policy.pseudonym_key_file, fs::path("/etc/tb/key.hex"));
  testing::TempDir dir;
  app::ConfigLoad missing = app::ParseBrokerConfig(text, dir.path(), true);
  bool named = false;
  for (const core::Error& problem : missing.problems) {
    named = named || problem.location == "/policy/pseudonym_key_file";
  }
  EXPECT_TRUE(named);
}

// A consent refusal at ingress must look exactly like a search that finds no data. Such a
// search still asks the peers and flags one that is down; the refusal used to answer an empty
// searchset without that flag, which told the requester that the patient had refused them.
TEST_F(PolicyWithDeadPeerTest, AConsentRefusalFlagsADeadPeerLikeAPatientNobodyHolds) {
  ASSERT_FALSE(PostConsent(ConsentJson(kShared, DenyOrganisation("RJ1"))).empty());
  for (const std::string& target :
       {Everything(kShared), Search("Observation", kShared) + "&_summary=count"}) {
    const std::string unknown_target = target.substr(0, target.find(kShared)) +
                                       "9449305552" +  // held by nobody
                                       target.substr(target.find(kShared) + kShared.size());
    HttpsResult refused = Call("RJ1", "GET", target);
    HttpsResult unknown = Call("RJ1", "GET", unknown_target);
    ASSERT_EQ(refused.status, 200) << refused.body;
    ASSERT_EQ(unknown.status, 200) << unknown.body;
    if (target.find("_summary=count") == std::string::npos) {  // a count has no entries
      EXPECT_NE(unknown.body.find("peer broker broker-b is unavailable"), std::string::npos)
          << unknown.body;
    }
    EXPECT_EQ(WithoutIdAndTimestamp(refused.body), WithoutIdAndTimestamp(unknown.body)) << target;
    EXPECT_TRUE(Matches(Json(refused.body)).empty());
  }
  // Nothing about the patient was fetched: the ledger says so, as before.
  HttpsResult journey = Call("RJ1", "GET",
                             "/fhir/Patient/$journey?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                             "nhs-number%7C" +
                                 std::string(kShared));
  ASSERT_EQ(journey.status, 200);
  EXPECT_TRUE(
      AnyStartsWith(JourneyOutcomes(Json(journey.body)), "refused consent: nothing fetched"))
      << journey.body.substr(0, 2000);
}

// X-Trustbridge-Hops and X-Trustbridge-Visited, like X-Trustbridge-Requester, are for peer
// brokers only: from a participant they silently dropped the peer from the fan-out (no flag
// saying that part was missing). Now 403 naming the header, recorded, as for the requester one.
TEST_F(PolicyWithDeadPeerTest, HopHeadersFromAParticipantAreRefused) {
  const std::string target = Everything("9449305552");
  for (const auto& [header, value] : std::vector<std::pair<std::string, std::string>>{
           {"X-Trustbridge-Hops", "5"}, {"X-Trustbridge-Visited", "broker-b"}}) {
    HttpsResult refused = Call("RJ1", "GET", target, {{header, value}});
    EXPECT_EQ(refused.status, 403) << header << " " << refused.body;
    EXPECT_NE(refused.body.find(header), std::string::npos) << refused.body;
  }
  // Without them the peer is asked, and flagged.
  HttpsResult plain = Call("RJ1", "GET", target);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_NE(plain.body.find("peer broker broker-b is unavailable"), std::string::npos)
      << plain.body;
}

}  // namespace
}  // namespace tb
