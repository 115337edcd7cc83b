// Issue 7 item 4 end to end: after a federated query by a transfer team, the audit trail is
// searchable as FHIR Provenance and AuditEvent (by patient, agent, date, outcome, type), paged by
// keyset links; a participant without the audit scopes is refused and the refusal is itself in
// the trail; and `trustbridge audit verify` still passes on the store afterwards.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapters/hl7v2/message.h"
#include "adapters/mllp/client.h"
#include "adapters/net/tls_context.h"
#include "broker/app/audit_command.h"
#include "broker/simtrust/simulated_trust.h"
#include "tests/broker/app/run_command.h"
#include "tests/integration/broker_harness.h"
#include "tests/support/https_test_client.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait_for.h"

namespace tb {
namespace {

using testing::AnnounceByAdt;
using testing::As;
using testing::DemoPatients;
using testing::HttpsRequest;
using testing::Json;
using testing::RunningBroker;
using testing::StartTrust;
using testing::TestPki;

constexpr std::string_view kShared = "9990001235";  // at RGT and RXH (demo data)
constexpr std::string_view kPatientParam =
    "patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C";

// RJ1 (the transfer team) may read everything, audit included; RGT only Patient, so it is refused
// the audit trail.
std::string ConfigText(std::uint16_t rgt_port, std::uint16_t rxh_port) {
  const TestPki& pki = TestPki::Get();
  const auto trust = [](const char* ods, std::uint16_t port, const char* scopes) {
    return R"({ "ods": ")" + std::string(ods) + R"(", "cert_cn": ")" + ods +
           R"(", "fhir_base": "https://127.0.0.1:)" + std::to_string(port) +
           R"(/fhir", "scopes": )" + scopes + " }";
  };
  return R"({
    "broker": { "id": "broker-a", "ods": "X26" },
    "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
    "tls": { "cert": ")" +
         pki.Cert(TestPki::kBrokerA).string() + R"(", "key": ")" +
         pki.Key(TestPki::kBrokerA).string() + R"(", "ca": ")" + pki.CaCert().string() +
         R"(", "crl": ")" + pki.Crl().string() + R"(" },
    "store": { "url": "sqlite:var/tb.db" },
    "participants": [
      { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] }, )" +
         trust("RGT", rgt_port, R"(["system/Patient.rs"])") + ", " +
         trust("RXH", rxh_port, R"(["system/*.rs"])") + R"( ]
  })";
}

struct Entry {
  std::int64_t id = 0;
  std::string type;  // resourceType
  std::string json;  // the resource
};

struct Page {
  std::vector<Entry> entries;
  std::string next;  // the next link's path and query, empty on the last page
};

std::string ToText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

// One record of the patient's journey, from its Provenance ("<seq>-p") and AuditEvent ("<seq>-a").
struct JourneyHop {
  std::string recorded;
  std::string type;                           // AuditEvent.type.code (DICOM)
  std::string subtype;                        // AuditEvent.subtype[0].code, or empty
  std::map<std::string, std::string> agents;  // Provenance agent role -> ODS code
};

std::string FirstCode(const rapidjson::Value& codeable) {
  const rapidjson::Value& coding = codeable.IsArray() ? codeable[0]["coding"] : codeable["coding"];
  return coding[0]["code"].GetString();
}

// The journey's records by seq; fails the test unless the bundle lists them in seq order.
std::map<std::int64_t, JourneyHop> JourneyHops(const rapidjson::Document& bundle) {
  std::map<std::int64_t, JourneyHop> hops;
  std::int64_t last_seq = 0;
  for (const auto& entry : bundle["entry"].GetArray()) {
    const rapidjson::Value& resource = entry["resource"];
    const std::string id = resource["id"].GetString();
    const std::int64_t seq = std::stoll(id);
    EXPECT_GE(seq, last_seq) << id;
    last_seq = seq;
    JourneyHop& hop = hops[seq];
    if (id.ends_with("-p")) {
      hop.recorded = resource["recorded"].GetString();
      for (const auto& agent : resource["agent"].GetArray()) {
        hop.agents[FirstCode(agent["type"])] = agent["who"]["identifier"]["value"].GetString();
      }
    } else {
      hop.type = resource["type"]["code"].GetString();
      if (resource.HasMember("subtype")) {
        hop.subtype = resource["subtype"][0]["code"].GetString();
      }
    }
  }
  return hops;
}

class LedgerSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rgt_ = StartTrust("RGT", DemoPatients("RGT"), std::chrono::milliseconds(0));
    rxh_ = StartTrust("RXH", DemoPatients("RXH"), std::chrono::milliseconds(0));
    broker_ = std::make_unique<RunningBroker>(ConfigText(rgt_->fhir_port(), rxh_->fhir_port()));
    AnnounceByAdt(*broker_, "RGT", kShared);
    AnnounceByAdt(*broker_, "RXH", kShared);
    // The federated query whose trail the tests read.
    auto answer = Get("/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" +
                      std::string(kShared));
    ASSERT_EQ(answer.status, 200) << answer.body;
    // RXH's ADT is pushed to RGT (which holds the patient) by the delivery worker, which records
    // the delivery once RGT has acknowledged it and then one refusal per resource withheld:
    // wait for all of them so that every test reads a ledger that no longer grows (two searches
    // of one test saw 3 and then 4 records).
    ASSERT_TRUE(tb::testing::WaitFor([this] { return PushRecorded(); }, std::chrono::seconds(20)));
  }

  // Whether the push to RGT has its delivery record and every withheld record it announces
  // (the delivery's outcomeDesc ends "withheld=N").
  bool PushRecorded() const {
    const std::vector<Entry> events =
        SearchAll(std::string("/fhir/AuditEvent?") + std::string(kPatientParam) +
                  std::string(kShared) + "&agent=RGT&type=110106,110113");
    std::size_t refusals = 0;
    std::optional<std::size_t> announced;
    for (const Entry& entry : events) {
      const std::size_t at = entry.json.find("withheld=");
      if (entry.json.find(R"("code":"110113")") != std::string::npos) {
        ++refusals;
      } else if (at != std::string::npos) {
        announced = std::stoul(entry.json.substr(at + 9));
      }
    }
    return announced.has_value() && refusals >= *announced;
  }

  testing::HttpsResult Get(const std::string& target, const char* who = "RJ1") const {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET", target, As(who));
  }

  // One searchset page; fails the test on anything but 200.
  Page Search(const std::string& target) const {
    Page page;
    auto result = Get(target);
    EXPECT_EQ(result.status, 200) << target << "\n" << result.body.substr(0, 500);
    if (result.status != 200) {
      return page;
    }
    rapidjson::Document bundle = Json(result.body);
    EXPECT_STREQ(bundle["type"].GetString(), "searchset");
    for (const auto& link : bundle["link"].GetArray()) {
      const std::string url = link["url"].GetString();
      if (std::string(link["relation"].GetString()) == "next") {
        page.next = url.substr(url.find("/fhir/"));
      }
    }
    for (const auto& entry : bundle["entry"].GetArray()) {
      const auto& resource = entry["resource"];
      page.entries.push_back(Entry{std::stoll(resource["id"].GetString()),
                                   resource["resourceType"].GetString(), ToText(resource)});
    }
    return page;
  }

  std::vector<Entry> SearchAll(const std::string& target, int* pages = nullptr) const {
    std::vector<Entry> all;
    std::string next = target;
    int count = 0;
    while (!next.empty() && count < 50) {
      Page page = Search(next);
      all.insert(all.end(), page.entries.begin(), page.entries.end());
      next = page.next;
      ++count;
    }
    if (pages != nullptr) {
      *pages = count;
    }
    return all;
  }

  std::unique_ptr<simtrust::SimulatedTrust> rgt_;
  std::unique_ptr<simtrust::SimulatedTrust> rxh_;
  std::unique_ptr<RunningBroker> broker_;
};

TEST_F(LedgerSearchTest, AuditEventsOfTheFederatedQueryNameRequesterAndEveryTrustAsked) {
  const std::string patient = std::string(kPatientParam) + std::string(kShared);
  // Subtype search-type: the federated query's hops, and the reads of this trail (SetUp's
  // searches, DICOM 110101 "Audit Log Used"), which are recorded like any other disclosure.
  std::vector<Entry> trail;
  std::size_t trail_reads = 0;
  for (Entry& entry : SearchAll("/fhir/AuditEvent?" + patient + "&subtype=search-type")) {
    if (entry.json.find(R"("code":"110101")") != std::string::npos) {
      ++trail_reads;
    } else {
      trail.push_back(std::move(entry));
    }
  }
  EXPECT_GE(trail_reads, 1u);
  // One query hop per trust asked, then the response to RJ1, newest first.
  ASSERT_EQ(trail.size(), 3u);
  EXPECT_NE(trail[0].json.find(R"("code":"110106")"), std::string::npos) << trail[0].json;
  EXPECT_NE(trail[0].json.find(R"("action":"R")"), std::string::npos) << trail[0].json;
  std::string asked;
  for (const Entry& entry : trail) {
    EXPECT_EQ(entry.type, "AuditEvent");
    EXPECT_NE(entry.json.find(std::string(kShared)), std::string::npos);
    EXPECT_NE(entry.json.find(R"("value":"RJ1"}},"requestor":true)"), std::string::npos)
        << entry.json;
    asked += entry.json;
  }
  EXPECT_GT(trail[0].id, trail[1].id);
  EXPECT_GT(trail[1].id, trail[2].id);
  EXPECT_NE(asked.find(R"("value":"RGT")"), std::string::npos);
  EXPECT_NE(asked.find(R"("value":"RXH")"), std::string::npos);

  // By type: the two queries (110112) only; by outcome: all succeeded.
  EXPECT_EQ(SearchAll("/fhir/AuditEvent?" + patient + "&type=110112").size(), 2u);
  EXPECT_TRUE(SearchAll("/fhir/AuditEvent?" + patient + "&outcome=8").empty());
  // By date: everything is from today, nothing from the future.
  EXPECT_TRUE(SearchAll("/fhir/AuditEvent?" + patient + "&date=ge2100-01-01").empty());
  const std::size_t everything = SearchAll("/fhir/AuditEvent?" + patient).size();
  EXPECT_GE(everything, 5u);  // 2 inbound, 2 queries, 1 response (+ deliveries, trail reads)
  // The same with a date range that holds everything, plus the record of the search just made.
  EXPECT_EQ(SearchAll("/fhir/AuditEvent?" + patient + "&date=gt2020-01-01&date=lt2100").size(),
            everything + 1);
}

TEST_F(LedgerSearchTest, ProvenanceByAgentAndPagingByKeysetLinks) {
  const std::string patient = std::string(kPatientParam) + std::string(kShared);
  // RGT's hops about the patient: its ADT in, and the query sent to it; oldest first.
  const std::vector<Entry> rgt = SearchAll("/fhir/Provenance?" + patient + "&agent=RGT&_sort=date");
  ASSERT_GE(rgt.size(), 2u);
  for (const Entry& entry : rgt) {
    EXPECT_EQ(entry.type, "Provenance");
    EXPECT_NE(entry.json.find(R"("value":"RGT")"), std::string::npos) << entry.json;
  }
  EXPECT_LT(rgt[0].id, rgt[1].id);
  EXPECT_NE(rgt[0].json.find(R"("code":"CREATE")"), std::string::npos) << rgt[0].json;
  EXPECT_EQ(SearchAll("/fhir/Provenance?agent:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F"
                      "ods-organization-code%7CRGT&" +
                      patient + "&_sort=date")
                .size(),
            rgt.size());

  // Every page of two, following the next links, gives the unpaged answer in the same order
  // (RGT's hops: each search here adds a record of RJ1's reading the trail, which names RJ1).
  const std::vector<Entry> whole = SearchAll("/fhir/Provenance?" + patient + "&agent=RGT");
  int pages = 0;
  const std::vector<Entry> paged =
      SearchAll("/fhir/Provenance?" + patient + "&agent=RGT&_count=2", &pages);
  ASSERT_EQ(paged.size(), whole.size());
  EXPECT_EQ(pages, static_cast<int>((whole.size() + 1) / 2));
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(paged[i].id, whole[i].id);
  }
}

// Issue 7 Tests: the journey after the transfer scenario (RGT and RXH announce the patient, the
// transfer team RJ1 asks for the record) lists the hops in order; Done when: it names the
// requester and every trust that answered.
TEST_F(LedgerSearchTest, TheJourneyAfterTheTransferListsItsHopsInOrder) {
  auto result = HttpsRequest(
      "127.0.0.1", broker_->fhir_port(), "POST", "/fhir/Patient/$journey", As("RJ1"),
      {{"Content-Type", "application/x-www-form-urlencoded"}},
      "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kShared));
  ASSERT_EQ(result.status, 200) << result.body.substr(0, 500);
  const std::map<std::int64_t, JourneyHop> hops = JourneyHops(Json(result.body));

  std::string last_recorded;
  std::vector<std::string> story;  // all but the push path (its timing is the queue's)
  std::size_t trail_reads = 0;
  for (const auto& [seq, hop] : hops) {
    EXPECT_GE(hop.recorded, last_recorded) << seq;  // ISO instants in UTC sort as text
    last_recorded = hop.recorded;
    if (hop.type == "110107") {
      story.push_back("inbound from " + hop.agents.at("custodian"));
    } else if (hop.type == "110112") {
      story.push_back("query to " + hop.agents.at("informant") + " for " +
                      hop.agents.at("enterer"));
    } else if (hop.type == "110106" && hop.subtype == "search-type") {
      story.push_back("response to " + hop.agents.at("enterer"));
    } else if (hop.type == "110101") {
      ++trail_reads;  // SetUp's searches of the trail: who read it is on it too
      EXPECT_EQ(hop.agents.at("enterer"), "RJ1") << seq;
    } else {
      // The push path: an announcement delivered to the other trust, or what was withheld from
      // it (RGT may read only Patient), from its sender to its destination.
      EXPECT_TRUE(hop.type == "110106" || hop.type == "110113") << seq << " " << hop.type;
      EXPECT_EQ(hop.agents.count("custodian"), 1u) << seq;
      EXPECT_EQ(hop.agents.count("informant"), 1u) << seq;
    }
  }
  // The trusts are asked in parallel: their two query records may come in either order.
  ASSERT_EQ(story.size(), 5u) << result.body.substr(0, 3000);
  EXPECT_EQ(story[0], "inbound from RGT");
  EXPECT_EQ(story[1], "inbound from RXH");
  const std::vector<std::string> queries = {story[2], story[3]};
  EXPECT_THAT(queries,
              ::testing::UnorderedElementsAre("query to RGT for RJ1", "query to RXH for RJ1"));
  EXPECT_EQ(story[4], "response to RJ1");
  EXPECT_GE(trail_reads, 1u);
}

// Issue 7 Tests, routing: RXH's ADT (HL7 v2) is pushed to RGT, which holds the patient and takes
// FHIR. The push leaves a delivery record from RXH to RGT saying a v2-to-FHIR mapping made what
// was sent (a derivation of the ADT's digest), then one refusal per resource withheld from RGT
// (it may read Patient only), each naming the resource type and why.
TEST_F(LedgerSearchTest, ThePushedAdtLeavesADeliveryAndAWithheldRecordPerResource) {
  const std::string patient = std::string(kPatientParam) + std::string(kShared);
  // The push's Provenances (custodian RXH, informant RGT), oldest first: the delivery is written
  // first, the withheld resources right after it.
  std::vector<rapidjson::Document> pushed;
  std::vector<std::int64_t> ids;
  ASSERT_TRUE(tb::testing::WaitFor(
      [&] {
        pushed.clear();
        ids.clear();
        for (const Entry& entry :
             SearchAll("/fhir/Provenance?" + patient + "&agent=RGT&_sort=date")) {
          rapidjson::Document provenance = Json(entry.json);
          std::map<std::string, std::string> agents;
          for (const auto& agent : provenance["agent"].GetArray()) {
            agents[FirstCode(agent["type"])] = agent["who"]["identifier"]["value"].GetString();
          }
          if (agents["custodian"] == "RXH" && agents["informant"] == "RGT") {
            pushed.push_back(std::move(provenance));
            ids.push_back(entry.id);
          }
        }
        return pushed.size() >= 2;
      },
      std::chrono::seconds(20)));
  const rapidjson::Value& delivery = pushed.front();
  EXPECT_STREQ(delivery["activity"]["coding"][0]["code"].GetString(), "v2-fhir-transformation");
  EXPECT_STREQ(delivery["entity"][0]["role"].GetString(), "derivation");
  EXPECT_EQ(std::string(delivery["entity"][0]["what"]["identifier"]["value"].GetString()).size(),
            64u);

  // Their AuditEvents (same ids): an Export to RGT, then Security Alerts for what was withheld.
  std::map<std::int64_t, std::string> events;
  for (const Entry& entry :
       SearchAll("/fhir/AuditEvent?" + patient + "&agent=RGT&type=110106,110113")) {
    events[entry.id] = entry.json;
  }
  ASSERT_EQ(events.count(ids.front()), 1u);
  EXPECT_NE(events[ids.front()].find(R"("code":"110106")"), std::string::npos)
      << events[ids.front()];
  for (std::size_t i = 1; i < ids.size(); ++i) {
    const std::string& withheld = events[ids[i]];
    EXPECT_NE(withheld.find(R"("code":"110113")"), std::string::npos) << withheld;
    EXPECT_NE(withheld.find(R"("outcome":"4","outcomeDesc":"withheld scope )"), std::string::npos)
        << withheld;
  }
}

// Issue 7 Tests, routing refused: an HL7 v2 message the broker NAKs leaves a refusal record
// naming the sender and why (no inbound), and a patient only when the NHS number was valid.
TEST_F(LedgerSearchTest, ANakedMessageLeavesARefusalNamingTheSender) {
  mllp::MllpClient client = testing::EngineOf(*broker_, "RXH");
  const auto send = [&](const std::string& facility, const std::string& control_id,
                        const std::string& nhs_number) {
    auto ack = client.Send("MSH|^~\\&|PAS|" + facility + "|TB||20261123100000||ADT^A28|" +
                           control_id + "|P|2.4\rEVN|A28|20261123100000\rPID|1||" + nhs_number +
                           "^^^NHS^NH||TEST^PATIENT\r");
    EXPECT_TRUE(ack) << ack.error().message;
    auto parsed = hl7v2::Message::Parse(ack ? *ack : std::string());
    return parsed ? parsed->Get("MSA-1").Decoded() : std::string("unparsed");
  };
  // RXH's certificate, RGT's name in MSH-4: refused, about a valid patient.
  EXPECT_NE(send("RGT", "SPOOF1", std::string(kShared)), "AA");
  // An NHS number that fails its check digit: refused, and not recorded as a patient.
  EXPECT_NE(send("RXH", "BADNHS1", "9990001236"), "AA");

  // RXH's refusals as the requester (not the alerts of what was withheld from RGT when RXH's
  // announcement was pushed there: those name RXH as the source).
  std::vector<Entry> alerts;
  for (Entry& alert : SearchAll("/fhir/AuditEvent?agent=RXH&type=110113&_sort=date")) {
    if (alert.json.find(R"("value":"RXH"}},"requestor":true)") != std::string::npos) {
      alerts.push_back(std::move(alert));
    }
  }
  ASSERT_EQ(alerts.size(), 2u);
  for (const Entry& alert : alerts) {
    EXPECT_NE(alert.json.find(R"("outcome":"4")"), std::string::npos) << alert.json;
  }
  EXPECT_NE(alerts[0].json.find(std::string(kShared)), std::string::npos) << alerts[0].json;
  EXPECT_EQ(alerts[1].json.find("9990001236"), std::string::npos) << alerts[1].json;
  // Neither became an inbound record: the patient's only inbound hops are the two announcements.
  EXPECT_EQ(SearchAll("/fhir/AuditEvent?" + std::string(kPatientParam) + std::string(kShared) +
                      "&type=110107")
                .size(),
            2u);
}

// A journey grows with every read of the patient's record, so it is paged like the ledger's
// searches: `_count` records a page, oldest first, and a next link that continues after the
// page's last seq (for a POST, the identifier stays in the form: POST it again to the link).
TEST_F(LedgerSearchTest, TheJourneyIsPagedOldestFirstAndTheNextLinkContinuesIt) {
  const std::string form =
      "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(kShared);
  const auto post = [&](const std::string& target) {
    return HttpsRequest("127.0.0.1", broker_->fhir_port(), "POST", target, As("RJ1"),
                        {{"Content-Type", "application/x-www-form-urlencoded"}}, form);
  };
  const auto seqs_of = [](const rapidjson::Document& bundle) {
    std::vector<std::int64_t> seqs;
    for (const auto& [seq, hop] : JourneyHops(bundle)) {
      seqs.push_back(seq);
    }
    return seqs;
  };
  const auto next_of = [](const rapidjson::Document& bundle) {
    for (const auto& link : bundle["link"].GetArray()) {
      if (std::string_view(link["relation"].GetString()) == "next") {
        const std::string url = link["url"].GetString();
        return url.substr(url.find("/fhir/"));
      }
    }
    return std::string();
  };
  auto whole = post("/fhir/Patient/$journey");
  ASSERT_EQ(whole.status, 200) << whole.body.substr(0, 500);
  const rapidjson::Document whole_bundle = Json(whole.body);
  const std::vector<std::int64_t> every = seqs_of(whole_bundle);
  ASSERT_GE(every.size(), 5u);
  EXPECT_TRUE(whole_bundle.HasMember("total"));  // one page: the count is known
  EXPECT_TRUE(next_of(whole_bundle).empty());

  std::vector<std::int64_t> paged;
  std::string target = "/fhir/Patient/$journey?_count=2";
  std::size_t pages = 0;
  while (!target.empty() && pages < 100) {
    auto page = post(target);
    ASSERT_EQ(page.status, 200) << target << " " << page.body.substr(0, 500);
    const rapidjson::Document bundle = Json(page.body);
    const std::vector<std::int64_t> seqs = seqs_of(bundle);
    target = next_of(bundle);
    EXPECT_LE(seqs.size(), 2u);
    if (!target.empty()) {
      EXPECT_EQ(seqs.size(), 2u);
      EXPECT_FALSE(bundle.HasMember("total"));
      EXPECT_NE(target.find("_count=2"), std::string::npos) << target;
      EXPECT_NE(target.find("_cursor=" + std::to_string(seqs.back())), std::string::npos) << target;
      EXPECT_EQ(target.find(kShared), std::string::npos) << "NHS number in a link: " << target;
    }
    for (const std::int64_t seq : seqs) {
      EXPECT_TRUE(paged.empty() || seq > paged.back()) << seq;  // oldest first, never repeated
      paged.push_back(seq);
    }
    ++pages;
  }
  EXPECT_TRUE(target.empty()) << "the pages did not end";
  // Every record of the whole journey, then the reads of it (each recorded after its answer).
  ASSERT_GT(paged.size(), every.size());
  EXPECT_TRUE(std::equal(every.begin(), every.end(), paged.begin()));

  // A GET keeps its identifier in the link; a bad _count is a 400.
  auto get = HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET",
                          "/fhir/Patient/$journey?" + form + "&_count=1", As("RJ1"));
  ASSERT_EQ(get.status, 200) << get.body.substr(0, 500);
  const std::string next = next_of(Json(get.body));
  EXPECT_NE(next.find(form), std::string::npos) << next;
  EXPECT_EQ(HttpsRequest("127.0.0.1", broker_->fhir_port(), "GET",
                         "/fhir/Patient/$journey?" + form + "&_count=two", As("RJ1"))
                .status,
            400);
}

// A message about two patients (ADT^A24 links a newborn's record to its mother's) is recorded in
// both patients' journeys, in the message's own transaction: before, the second patient's trail
// did not show that the broker took in their data.
TEST_F(LedgerSearchTest, ATwoPatientEventIsAnInboundHopInBothPatientsJourneys) {
  constexpr std::string_view kNewborn = "9434765870";
  mllp::MllpClient client = testing::EngineOf(*broker_, "RXH");
  auto ack = client.Send(
      "MSH|^~\\&|PAS|RXH|TB||20261125100000||ADT^A24|LINK1|P|2.4\r"
      "EVN|A24|20261125100000\rPID|1||" +
      std::string(kShared) + "^^^NHS^NH||TEST^MOTHER\rPID|2||" + std::string(kNewborn) +
      "^^^NHS^NH||TEST^BABY\r");
  ASSERT_TRUE(ack) << ack.error().message;
  auto parsed = hl7v2::Message::Parse(*ack);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->Get("MSA-1").Decoded(), "AA") << *ack;
  const auto inbound = [this](std::string_view patient) {
    return SearchAll("/fhir/AuditEvent?" + std::string(kPatientParam) + std::string(patient) +
                     "&type=110107");
  };
  EXPECT_EQ(inbound(kShared).size(), 3u);  // the two announcements and the link
  const std::vector<Entry> newborn = inbound(kNewborn);
  ASSERT_EQ(newborn.size(), 1u);
  EXPECT_NE(newborn[0].json.find("ADT^A24"), std::string::npos) << newborn[0].json;
}

TEST_F(LedgerSearchTest, BadRequestsAre400AndARefusalIsRecorded) {
  auto invalid = Get("/fhir/AuditEvent?" + std::string(kPatientParam) + "9990001236");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_NE(invalid.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(Get("/fhir/AuditEvent?entity-name=x").status, 400);      // unknown parameter
  EXPECT_EQ(Get("/fhir/Provenance?outcome=0").status, 400);          // AuditEvent only
  EXPECT_EQ(Get("/fhir/AuditEvent?date=xx2026-01-01").status, 400);  // unknown prefix

  // RGT may read patients, not the audit trail.
  const std::string patient = std::string(kPatientParam) + std::string(kShared);
  auto refused = Get("/fhir/AuditEvent?" + patient, "RGT");
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(Get("/fhir/Provenance", "RGT").status, 403);
  // Both refusals are security alerts in the trail, newest first, the first one about the
  // patient. (The trail may hold other alerts naming RGT: pushes its scopes withheld from it.)
  const auto mine = [](const std::vector<Entry>& entries) {
    std::vector<Entry> found;
    for (const Entry& entry : entries) {
      if (entry.json.find("no search scope on") != std::string::npos) {
        found.push_back(entry);
      }
    }
    return found;
  };
  const std::vector<Entry> alerts = mine(SearchAll("/fhir/AuditEvent?type=110113&agent=RGT"));
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_NE(alerts[0].json.find("no search scope on Provenance"), std::string::npos);
  EXPECT_NE(alerts[0].json.find(R"("outcome":"4")"), std::string::npos) << alerts[0].json;
  EXPECT_NE(alerts[1].json.find(std::string(kShared)), std::string::npos) << alerts[1].json;
  const std::vector<Entry> about_patient = mine(SearchAll("/fhir/AuditEvent?outcome=4&" + patient));
  ASSERT_EQ(about_patient.size(), 1u);
  EXPECT_EQ(about_patient[0].id, alerts[1].id);

  broker_->Stop();
  testing::CommandOutput verify = testing::RunCommand(
      app::AuditCommand, {"verify", "--config", broker_->config_file().string()});
  EXPECT_EQ(verify.code, 0) << verify.err;
}

}  // namespace
}  // namespace tb
