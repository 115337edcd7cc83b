// Unit tests of the simulated trust's FHIR API as a function of the request (no sockets, no disk).
#include "broker/simtrust/fhir_api.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/json.h"

namespace tb::simtrust {
namespace {

constexpr std::string_view kNhs1 = "9990001235";
constexpr std::string_view kNhs2 = "9990001308";
constexpr std::string_view kUnknownNhs = "9990001375";  // valid, not held
constexpr std::string_view kInvalidNhs = "9990001236";  // fails Modulus 11

class FixedClock final : public core::Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000));
  }
};

std::string Observation(const std::string& id, const std::string& patient,
                        const std::string& category) {
  return R"({"resource":{"resourceType":"Observation","id":")" + id +
         R"(","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":")" +
         category +
         R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/)" +
         patient + R"("}}})";
}

std::string PatientBundle(const std::string& id, std::string_view nhs,
                          const std::vector<std::string>& others) {
  std::string json =
      R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":")" +
      id + R"(","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" +
      std::string(nhs) + R"("}]}})";
  for (const std::string& other : others) {
    json += "," + other;
  }
  return json + "]}";
}

core::HttpRequest Request(std::string method, std::string target, std::string body = {}) {
  core::HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  request.peer.subject_cn = "broker-a";
  return request;
}

std::string Identifier(std::string_view nhs) {
  return "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C" + std::string(nhs);
}

class SimFhirApiTest : public ::testing::Test {
 protected:
  SimFhirApiTest() {
    EXPECT_TRUE(store_.AddBundle(
        PatientBundle(
            "p1", kNhs1,
            {Observation("o1", "p1", "laboratory"), Observation("o2", "p1", "vital-signs"),
             R"({"resource":{"resourceType":"Condition","id":"c1"}})"}),
        "p1.json"));
    EXPECT_TRUE(store_.AddBundle(
        PatientBundle("p2", kNhs2, {Observation("o3", "p2", "laboratory")}), "p2.json"));
    SimFhirApiSettings settings;
    settings.ods = "RGT";
    settings.name = "Test trust";
    settings.base_url = "https://127.0.0.1:9201/fhir";
    settings.clients = {"broker-a"};
    api_ = std::make_unique<SimFhirApi>(settings, store_, &received_, clock_);
  }

  // The API again, answering searchsets a page of `page_size` at a time.
  void PageBy(std::size_t page_size) {
    SimFhirApiSettings settings;
    settings.ods = "RGT";
    settings.base_url = "https://127.0.0.1:9201/fhir";
    settings.page_size = page_size;
    api_ = std::make_unique<SimFhirApi>(settings, store_, &received_, clock_);
  }

  // The URL of the searchset's "next" link, or "".
  static std::string NextLink(const rapidjson::Document& bundle) {
    if (const rapidjson::Value* links = fhir::FindArray(bundle, "link")) {
      for (const auto& link : links->GetArray()) {
        if (fhir::FindString(link, "relation") == "next") {
          return std::string(fhir::FindString(link, "url").value_or(""));
        }
      }
    }
    return {};
  }

  // Sends the request and parses the JSON answer.
  rapidjson::Document Call(const core::HttpRequest& request, int expected_status) {
    last_ = api_->Handle(request);
    EXPECT_EQ(last_.status, expected_status) << request.method << " " << request.target << "\n"
                                             << last_.body;
    EXPECT_EQ(last_.headers.Get("Content-Type"), "application/fhir+json; charset=utf-8");
    auto document = fhir::ParseJson(last_.body);
    EXPECT_TRUE(document) << last_.body;
    return document ? std::move(*document) : rapidjson::Document();
  }

  // The "Type/id" of each entry of a searchset.
  static std::vector<std::string> EntryKeys(const rapidjson::Document& bundle) {
    std::vector<std::string> keys;
    if (const rapidjson::Value* entries = fhir::FindArray(bundle, "entry")) {
      for (const auto& entry : entries->GetArray()) {
        const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
        keys.push_back(std::string(fhir::FindString(*resource, "resourceType").value_or("")) + "/" +
                       std::string(fhir::FindString(*resource, "id").value_or("")));
      }
    }
    return keys;
  }

  static std::string IssueCode(const rapidjson::Document& outcome) {
    const rapidjson::Value* issues = fhir::FindArray(outcome, "issue");
    if (issues == nullptr || issues->Empty()) {
      return {};
    }
    return std::string(fhir::FindString((*issues)[0], "code").value_or(""));
  }

  FixedClock clock_;
  PatientStore store_;
  MemoryReceivedLog received_;
  std::unique_ptr<SimFhirApi> api_;
  core::HttpResponse last_;
};

using Keys = std::vector<std::string>;

TEST_F(SimFhirApiTest, MetadataDescribesWhatIsServed) {
  auto statement = Call(Request("GET", "/fhir/metadata"), 200);
  EXPECT_EQ(fhir::FindString(statement, "resourceType"), "CapabilityStatement");
  const std::string json = fhir::ToJson(statement);
  EXPECT_NE(json.find(R"("type":"Observation")"), std::string::npos);
  EXPECT_NE(json.find(R"("name":"everything")"), std::string::npos);
  EXPECT_NE(json.find(R"("name":"process-message")"), std::string::npos);
}

TEST_F(SimFhirApiTest, SearchesPatientByNhsNumber) {
  auto bundle = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kNhs1)), 200);
  EXPECT_EQ(fhir::FindString(bundle, "type"), "searchset");
  EXPECT_EQ(bundle["total"].GetInt(), 1);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Patient/p1"});
  EXPECT_EQ(fhir::FindString(bundle["entry"][0], "fullUrl"),
            "https://127.0.0.1:9201/fhir/Patient/p1");
  // The NHS number stays out of the self link.
  EXPECT_EQ(last_.body.find("identifier=https"), std::string::npos);
}

TEST_F(SimFhirApiTest, UnknownNhsNumberGivesEmptySearchset) {
  auto bundle = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kUnknownNhs)), 200);
  EXPECT_EQ(bundle["total"].GetInt(), 0);
  EXPECT_TRUE(EntryKeys(bundle).empty());
}

TEST_F(SimFhirApiTest, InvalidNhsNumberIs400WithOperationOutcome) {
  auto outcome = Call(Request("GET", "/fhir/Patient?identifier=" + Identifier(kInvalidNhs)), 400);
  EXPECT_EQ(fhir::FindString(outcome, "resourceType"), "OperationOutcome");
  EXPECT_EQ(IssueCode(outcome), "value");
  EXPECT_EQ(last_.body.find(std::string(kInvalidNhs)), std::string::npos);  // not echoed
  Call(Request("GET", "/fhir/Observation?patient:identifier=" + Identifier(kInvalidNhs)), 400);
  Call(Request("GET", "/fhir/Patient?identifier=12345"), 400);
}

TEST_F(SimFhirApiTest, SearchesClinicalResourcesByPatientIdentifier) {
  auto bundle =
      Call(Request("GET", "/fhir/Observation?patient:identifier=" + Identifier(kNhs1)), 200);
  EXPECT_EQ(EntryKeys(bundle), (Keys{"Observation/o1", "Observation/o2"}));
  bundle = Call(Request("GET", "/fhir/Condition?subject:identifier=" + Identifier(kNhs1)), 200);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Condition/c1"});
  bundle = Call(Request("GET", "/fhir/Observation?patient:identifier=" + Identifier(kNhs2)), 200);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Observation/o3"});
}

TEST_F(SimFhirApiTest, SearchesByPatientReferenceAndCategory) {
  auto bundle = Call(Request("GET", "/fhir/Observation?patient=Patient/p1"), 200);
  EXPECT_EQ(EntryKeys(bundle), (Keys{"Observation/o1", "Observation/o2"}));
  bundle = Call(Request("GET", "/fhir/Observation?subject=p1&category=vital-signs"), 200);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Observation/o2"});
  bundle = Call(Request("GET",
                        "/fhir/Observation?category=http://terminology.hl7.org/CodeSystem/"
                        "observation-category|laboratory"),
                200);
  EXPECT_EQ(EntryKeys(bundle), (Keys{"Observation/o1", "Observation/o3"}));
  bundle = Call(Request("GET", "/fhir/Observation?patient=Patient/nobody"), 200);
  EXPECT_TRUE(EntryKeys(bundle).empty());
}

TEST_F(SimFhirApiTest, PostSearchTakesParametersFromTheFormBody) {
  auto bundle = Call(Request("POST", "/fhir/Observation/_search",
                             "patient:identifier=" + Identifier(kNhs1) + "&category=laboratory"),
                     200);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Observation/o1"});
  bundle = Call(Request("POST", "/fhir/Patient/_search", "identifier=" + Identifier(kNhs2)), 200);
  EXPECT_EQ(EntryKeys(bundle), Keys{"Patient/p2"});
  Call(Request("POST", "/fhir/Patient/_search", "identifier=" + Identifier(kInvalidNhs)), 400);
}

TEST_F(SimFhirApiTest, ReadsResourceById) {
  auto observation = Call(Request("GET", "/fhir/Observation/o3"), 200);
  EXPECT_EQ(fhir::FindString(observation, "id"), "o3");
  auto missing = Call(Request("GET", "/fhir/Observation/o99"), 404);
  EXPECT_EQ(IssueCode(missing), "not-found");
  Call(Request("GET", "/fhir/Patient/o1"), 404);  // ids are per type
}

TEST_F(SimFhirApiTest, EverythingByIdAndByNhsNumber) {
  const Keys all = {"Patient/p1", "Observation/o1", "Observation/o2", "Condition/c1"};
  EXPECT_EQ(EntryKeys(Call(Request("GET", "/fhir/Patient/p1/$everything"), 200)), all);
  EXPECT_EQ(EntryKeys(Call(
                Request("GET", "/fhir/Patient/$everything?identifier=" + Identifier(kNhs1)), 200)),
            all);
  EXPECT_EQ(
      EntryKeys(Call(
          Request("POST", "/fhir/Patient/$everything", "identifier=" + Identifier(kNhs1)), 200)),
      all);
  EXPECT_TRUE(EntryKeys(Call(Request("GET", "/fhir/Patient/$everything?identifier=" +
                                                Identifier(kUnknownNhs)),
                             200))
                  .empty());
  Call(Request("GET", "/fhir/Patient/$everything?identifier=" + Identifier(kInvalidNhs)), 400);
  Call(Request("GET", "/fhir/Patient/$everything"), 400);
  Call(Request("GET", "/fhir/Patient/nobody/$everything"), 404);
}

// With page_size, a longer searchset comes a page at a time: each page says the whole total and
// links the next under the trust's base; the last links none; an unknown token or offset is 404.
TEST_F(SimFhirApiTest, PagesLongSearchsetsWhenAskedTo) {
  PageBy(3);
  const std::string base = "https://127.0.0.1:9201/fhir";
  rapidjson::Document first = Call(Request("GET", "/fhir/Patient/p1/$everything"), 200);
  EXPECT_EQ(EntryKeys(first), (Keys{"Patient/p1", "Observation/o1", "Observation/o2"}));
  EXPECT_EQ(fhir::GetInt64(first, "total").value_or(-1), 4);
  const std::string next = NextLink(first);
  ASSERT_EQ(next.rfind(base + "/_page?token=", 0), 0u) << next;
  rapidjson::Document second = Call(Request("GET", next.substr(next.find("/fhir/"))), 200);
  EXPECT_EQ(EntryKeys(second), (Keys{"Condition/c1"}));
  EXPECT_EQ(fhir::GetInt64(second, "total").value_or(-1), 4);
  EXPECT_EQ(NextLink(second), "");
  // Short searchsets are whole.
  rapidjson::Document whole = Call(Request("GET", "/fhir/Patient/p2/$everything"), 200);
  EXPECT_EQ(EntryKeys(whole).size(), 2u);
  EXPECT_EQ(NextLink(whole), "");
  Call(Request("GET", "/fhir/_page?token=nope&offset=3"), 404);
  const std::string past =
      next.substr(next.find("/fhir/"), next.find("&offset=") - next.find("/fhir/")) + "&offset=9";
  Call(Request("GET", past), 404);
  Call(Request("POST", "/fhir/_page?token=nope&offset=3"), 405);
}

TEST_F(SimFhirApiTest, SearchsetTextIsWhatBundleBuilderWrites) {
  // Searchsets are written from entry texts prepared at start: the text must be the one
  // BundleBuilder writes for the same id, timestamp, link and resources.
  const std::vector<std::string> targets = {"/fhir/Patient/p1/$everything",
                                            "/fhir/Observation?patient=p1",
                                            "/fhir/Patient?identifier=" + Identifier(kUnknownNhs)};
  for (const std::string& target : targets) {
    auto answer = Call(Request("GET", target), 200);
    fhir::BundleBuilder expected(fhir::BundleType::kSearchset);
    expected.SetId(std::string(fhir::FindString(answer, "id").value_or("")));
    expected.SetTimestamp(std::string(fhir::FindString(answer, "timestamp").value_or("")));
    expected.SetTotal(answer["total"].GetUint64());
    expected.AddLink("self", std::string(fhir::FindString(answer["link"][0], "url").value_or("")));
    for (const std::string& key : EntryKeys(answer)) {
      const auto slash = key.find('/');
      const StoredResource* resource = store_.Find(key.substr(0, slash), key.substr(slash + 1));
      ASSERT_NE(resource, nullptr) << key;
      expected.AddResource(*resource->json, "https://127.0.0.1:9201/fhir/" + key);
    }
    EXPECT_EQ(last_.body, expected.BuildJson()) << target;
  }
}

TEST_F(SimFhirApiTest, RefusesClientsNotListed) {
  core::HttpRequest request = Request("GET", "/fhir/metadata");
  request.peer.subject_cn = "RJ1";
  auto outcome = Call(request, 403);
  EXPECT_EQ(IssueCode(outcome), "forbidden");
}

TEST_F(SimFhirApiTest, UnknownRoutesAndMethods) {
  Call(Request("GET", "/other"), 404);
  Call(Request("GET", "/fhir/Patient/p1/_history"), 404);
  Call(Request("DELETE", "/fhir/Patient/p1"), 405);
  Call(Request("GET", "/fhir/$process-message"), 405);
  Call(Request("GET", "/fhir/lowercase"), 404);
}

std::string MessageBundle(std::string_view id, std::string_view event, std::string_view nhs) {
  return R"({"resourceType":"Bundle","id":")" + std::string(id) +
         R"(","type":"message","entry":[{"resource":{"resourceType":"MessageHeader","id":"mh1","eventCoding":{"system":"https://fhir.nhs.uk/CodeSystem/message-event","code":")" +
         std::string(event) +
         R"("},"source":{"endpoint":"https://broker"}}},{"resource":{"resourceType":"Patient","id":"x","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":")" +
         std::string(nhs) + R"("}]}}]})";
}

TEST_F(SimFhirApiTest, ProcessMessageRecordsTheMessageAndAnswersWithResponseHeader) {
  auto reply = Call(
      Request("POST", "/fhir/$process-message", MessageBundle("msg-1", "ADT^A01", kNhs1)), 200);
  EXPECT_EQ(fhir::FindString(reply, "type"), "message");
  const rapidjson::Value& header = reply["entry"][0]["resource"];
  EXPECT_EQ(fhir::FindString(header, "resourceType"), "MessageHeader");
  EXPECT_EQ(fhir::FindString(header["response"], "identifier"), "mh1");
  EXPECT_EQ(fhir::FindString(header["response"], "code"), "ok");

  const auto messages = received_.Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].control_id, "msg-1");
  EXPECT_EQ(messages[0].nhs_number, kNhs1);
  EXPECT_EQ(messages[0].type, "ADT^A01");
  EXPECT_EQ(messages[0].protocol, "fhir");
  EXPECT_EQ(messages[0].sender, "broker-a");
  EXPECT_EQ(ToJsonLine(messages[0]),
            R"({"control_id":"msg-1","nhs_number":"9990001235","type":"ADT^A01",)"
            R"("protocol":"fhir","sender":"broker-a","received_at":"2026-09-21T14:13:20.000Z"})");

  // POST [base] takes the same message.
  Call(Request("POST", "/fhir", MessageBundle("msg-2", "admit", kNhs2)), 200);
  ASSERT_EQ(received_.Messages().size(), 2u);
  EXPECT_EQ(received_.Messages()[1].type, "admit");
}

TEST_F(SimFhirApiTest, PostBaseAcceptsTransactionBundles) {
  auto reply = Call(Request("POST", "/fhir",
                            R"({"resourceType":"Bundle","id":"tx-1","type":"transaction","entry":[)"
                            R"({"resource":{"resourceType":"Observation","id":"a"}},)"
                            R"({"resource":{"resourceType":"Observation","id":"b"}}]})"),
                    200);
  EXPECT_EQ(fhir::FindString(reply, "type"), "transaction-response");
  EXPECT_EQ(reply["entry"].Size(), 2u);
  ASSERT_EQ(received_.Messages().size(), 1u);
  EXPECT_EQ(received_.Messages()[0].control_id, "tx-1");
  EXPECT_EQ(received_.Messages()[0].type, "transaction");
  EXPECT_EQ(received_.Messages()[0].nhs_number, "");
}

TEST_F(SimFhirApiTest, RefusesBadDeliveriesWithoutRecordingThem) {
  Call(Request("POST", "/fhir/$process-message", "{not json"), 400);
  Call(Request("POST", "/fhir/$process-message", R"({"resourceType":"Patient"})"), 400);
  Call(Request("POST", "/fhir/$process-message",
               R"({"resourceType":"Bundle","id":"t","type":"transaction"})"),
       400);
  Call(Request("POST", "/fhir", R"({"resourceType":"Bundle","id":"c","type":"collection"})"), 400);
  Call(Request("POST", "/fhir/$process-message", MessageBundle("msg-3", "ADT^A01", kInvalidNhs)),
       400);
  auto missing_id = Call(Request("POST", "/fhir/$process-message",
                                 R"({"resourceType":"Bundle","type":"message","entry":[)"
                                 R"({"resource":{"resourceType":"MessageHeader","id":"h",)"
                                 R"("eventCoding":{"code":"x"}}}]})"),
                         400);
  EXPECT_EQ(IssueCode(missing_id), "required");
  Call(Request("POST", "/fhir/$process-message",
               R"({"resourceType":"Bundle","id":"m","type":"message","entry":[)"
               R"({"resource":{"resourceType":"Patient","id":"p"}}]})"),
       400);
  EXPECT_TRUE(received_.Messages().empty());
}

// SimulatedTrust answers what MayWrite calls a read on its I/O thread: every route that can
// append to the received log must be classed as a write.
TEST(SimFhirApiMayWrite, OnlyMessageIntakeMayWrite) {
  EXPECT_FALSE(SimFhirApi::MayWrite(Request("GET", "/fhir/Patient?identifier=x")));
  EXPECT_FALSE(SimFhirApi::MayWrite(Request("GET", "/fhir/metadata")));
  EXPECT_FALSE(SimFhirApi::MayWrite(Request("POST", "/fhir/Observation/_search")));
  EXPECT_FALSE(SimFhirApi::MayWrite(Request("POST", "/fhir/Patient/$everything")));
  EXPECT_FALSE(SimFhirApi::MayWrite(Request("POST", "/fhir/Patient/p1/$everything?x=1")));
  EXPECT_TRUE(SimFhirApi::MayWrite(Request("POST", "/fhir")));
  EXPECT_TRUE(SimFhirApi::MayWrite(Request("POST", "/fhir/")));
  EXPECT_TRUE(SimFhirApi::MayWrite(Request("POST", "/fhir/$process-message")));
  EXPECT_TRUE(SimFhirApi::MayWrite(Request("POST", "/fhir/$process-message?_search")));
  EXPECT_TRUE(SimFhirApi::MayWrite(Request("PUT", "/fhir/Patient/p1")));
}

TEST(PatientStore, RefusesBundlesThatBreakTheFolderContract) {
  PatientStore store;
  EXPECT_FALSE(store.AddBundle("[]", "a.json"));
  EXPECT_FALSE(store.AddBundle(R"({"resourceType":"Bundle","type":"collection","entry":[]})",
                               "no-patient.json"));
  EXPECT_FALSE(store.AddBundle(PatientBundle("p1", kInvalidNhs, {}), "bad-nhs.json"));
  EXPECT_FALSE(store.AddBundle(
      PatientBundle("p1", kNhs1, {R"({"resource":{"resourceType":"Patient","id":"p2"}})"}),
      "two-patients.json"));
  EXPECT_FALSE(store.AddBundle(
      PatientBundle("p1", kNhs1, {R"({"resource":{"resourceType":"Observation"}})"}),
      "no-id.json"));
  ASSERT_TRUE(store.AddBundle(PatientBundle("p1", kNhs1, {}), "ok.json"));
  auto again = store.AddBundle(PatientBundle("p9", kNhs1, {}), "same-nhs.json");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("same-nhs.json"), std::string::npos);
  EXPECT_FALSE(store.AddBundle(PatientBundle("p1", kNhs2, {}), "same-id.json"));
  EXPECT_EQ(store.patient_count(), 1u);
  EXPECT_EQ(store.resource_count(), 1u);
}

}  // namespace
}  // namespace tb::simtrust
