// The push path: a message Bundle checked for one destination (policy::CheckMessageBundle) and a
// message the broker cannot read (CheckOpaqueMessage).
#include "broker/policy/delivery.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

using testing::Json;

constexpr std::string_view kNhsNumber = "9434765919";

// An ORU-like message: MessageHeader (focus: the report), Patient, DiagnosticReport, a lab
// Observation coded HIV by the test's table, a vital-signs Observation.
std::string MessageJson() {
  return R"({"resourceType": "Bundle", "id": "m1", "type": "message", "entry": [
    {"fullUrl": "urn:uuid:h1", "resource": {"resourceType": "MessageHeader", "id": "h1",
      "eventCoding": {"code": "R01"}, "source": {"endpoint": "urn:x"},
      "focus": [{"reference": "urn:uuid:p1"}, {"reference": "urn:uuid:r1"}]}},
    {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
      "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kNhsNumber) + R"("}]}},
    {"fullUrl": "urn:uuid:r1", "resource": {"resourceType": "DiagnosticReport", "id": "r1",
      "status": "final", "code": {"text": "report"}, "subject": {"reference": "urn:uuid:p1"}}},
    {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Observation", "id": "o1",
      "status": "final", "category": [{"coding": [{"system":
        "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
      "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}}},
    {"fullUrl": "urn:uuid:o2", "resource": {"resourceType": "Observation", "id": "o2",
      "status": "final", "category": [{"coding": [{"system":
        "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
      "code": {"coding": [{"system": "http://loinc.org", "code": "75622-1"}]}}},
    {"fullUrl": "urn:uuid:o3", "resource": {"resourceType": "Observation", "id": "o3",
      "status": "final", "category": [{"coding": [{"system":
        "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
      "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}}]})";
}

std::string ConsentJson(std::string_view id, std::string_view provision) {
  return R"({"resourceType": "Consent", "id": ")" + std::string(id) + R"(", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": ")" +
         std::string(kNhsNumber) + R"("}}, "provision": )" + std::string(provision) + "}";
}

std::string DenyActor(std::string_view ods) {
  return R"({"type": "deny", "actor": [{"role": {"text": "recipient"}, "reference":
      {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ")" +
         std::string(ods) + R"("}}}]})";
}
const std::string kDenyHiv = R"({"type": "deny", "securityLabel": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})";

std::vector<Consent> Consents(const std::vector<std::string>& provisions) {
  std::vector<Consent> out;
  for (std::size_t i = 0; i < provisions.size(); ++i) {
    out.push_back(ParseConsentJson(ConsentJson("c" + std::to_string(i), provisions[i])).value());
  }
  return out;
}

RequestContext Destination(std::string ods, std::vector<std::string> scopes) {
  return DestinationContext(std::move(ods), ScopeSet::Parse(scopes).value());
}

SensitivityTable HivTable() {
  return SensitivityTable::ParseCsv("code_system,code,label\nhttp://loinc.org,75622-1,HIV\n")
      .value();
}

std::vector<std::string> EntryIds(const rapidjson::Value& bundle) {
  std::vector<std::string> ids;
  for (const rapidjson::Value& entry : bundle["entry"].GetArray()) {
    ids.emplace_back(entry["resource"]["id"].GetString());
  }
  return ids;
}

std::vector<std::string> Focus(const rapidjson::Value& bundle) {
  std::vector<std::string> refs;
  const rapidjson::Value& header = bundle["entry"][0]["resource"];
  if (header.HasMember("focus")) {
    for (const rapidjson::Value& focus : header["focus"].GetArray()) {
      refs.emplace_back(focus["reference"].GetString());
    }
  }
  return refs;
}

const TimePoint kNow = std::chrono::system_clock::now();

TEST(PushPolicy, FullScopeAndNoConsentDeliversEverythingUnchanged) {
  rapidjson::Document bundle = Json(MessageJson());
  const DeliveryCheck check =
      CheckMessageBundle(bundle, Destination("RGT", {"system/*.rs"}), {}, nullptr, kNow);
  EXPECT_EQ(check.verdict, DeliveryVerdict::kDeliver);
  EXPECT_TRUE(check.removed.empty());
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"h1", "p1", "r1", "o1", "o2", "o3"}));
  EXPECT_EQ(Focus(bundle), (std::vector<std::string>{"urn:uuid:p1", "urn:uuid:r1"}));
}

TEST(PushPolicy, AConsentDenyingTheDestinationRefusesTheWholeMessage) {
  rapidjson::Document bundle = Json(MessageJson());
  const DeliveryCheck check = CheckMessageBundle(bundle, Destination("RGT", {"system/*.rs"}),
                                                 Consents({DenyActor("RGT")}), nullptr, kNow);
  EXPECT_EQ(check.verdict, DeliveryVerdict::kRefuse);
  EXPECT_NE(check.reason.find("consent deny: Consent/c0"), std::string::npos) << check.reason;
  EXPECT_EQ(check.reason.find(kNhsNumber), std::string::npos);
  // Another destination is not concerned by that consent.
  rapidjson::Document other = Json(MessageJson());
  EXPECT_EQ(CheckMessageBundle(other, Destination("RXH", {"system/*.rs"}),
                               Consents({DenyActor("RGT")}), nullptr, kNow)
                .verdict,
            DeliveryVerdict::kDeliver);
}

TEST(PushPolicy, LabOnlyScopeGetsTheLabResultsOnlyAndFocusIsTrimmed) {
  rapidjson::Document bundle = Json(MessageJson());
  const DeliveryCheck check = CheckMessageBundle(
      bundle, Destination("RGT", {"system/Observation.rs?category=laboratory"}), {}, nullptr, kNow);
  ASSERT_EQ(check.verdict, DeliveryVerdict::kDeliver);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"h1", "o1", "o2"}));
  EXPECT_TRUE(Focus(bundle).empty());  // neither the Patient nor the report may go there
  ASSERT_EQ(check.removed.size(), 3u);
  for (const Removal& removal : check.removed) {
    EXPECT_EQ(removal.reason, WithholdReason::kScope) << removal.resource_type;
  }
}

TEST(PushPolicy, ALabelDeniedByConsentIsRemovedAndTheRestFlows) {
  rapidjson::Document bundle = Json(MessageJson());
  const SensitivityTable table = HivTable();
  const DeliveryCheck check = CheckMessageBundle(bundle, Destination("RGT", {"system/*.rs"}),
                                                 Consents({kDenyHiv}), &table, kNow);
  ASSERT_EQ(check.verdict, DeliveryVerdict::kDeliver);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"h1", "p1", "r1", "o1", "o3"}));
  ASSERT_EQ(check.removed.size(), 1u);
  EXPECT_EQ(check.removed[0].id, "o2");
  EXPECT_EQ(check.removed[0].reason, WithholdReason::kConsent);
}

TEST(PushPolicy, AnAdtToALabOnlyDestinationIsRefused) {
  rapidjson::Document bundle = Json(R"({"resourceType": "Bundle", "type": "message", "entry": [
    {"fullUrl": "urn:uuid:h1", "resource": {"resourceType": "MessageHeader", "id": "h1",
      "focus": [{"reference": "urn:uuid:p1"}]}},
    {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1"}},
    {"fullUrl": "urn:uuid:e1", "resource": {"resourceType": "Encounter", "id": "e1",
      "status": "in-progress"}}]})");
  const DeliveryCheck check = CheckMessageBundle(
      bundle, Destination("RGT", {"system/Observation.rs?category=laboratory"}), {}, nullptr, kNow);
  EXPECT_EQ(check.verdict, DeliveryVerdict::kRefuse);
  EXPECT_EQ(check.removed.size(), 2u);
  EXPECT_NE(check.reason.find("nothing the destination may receive"), std::string::npos);
}

TEST(PushPolicy, NoScopesMeansNothingIsDelivered) {
  rapidjson::Document bundle = Json(MessageJson());
  EXPECT_EQ(CheckMessageBundle(bundle, Destination("RGT", {}), {}, nullptr, kNow).verdict,
            DeliveryVerdict::kRefuse);
}

TEST(PushPolicy, SomethingThatIsNotAMessageBundleIsRefused) {
  for (const char* json :
       {R"({"resourceType": "Patient", "id": "p1"})",
        R"({"resourceType": "Bundle", "type": "collection", "entry": [{"resource":
            {"resourceType": "MessageHeader"}}, {"resource": {"resourceType": "Patient"}}]})",
        R"({"resourceType": "Bundle", "type": "message", "entry": [{"resource":
            {"resourceType": "Patient"}}, {"resource": {"resourceType": "MessageHeader"}}]})",
        R"({"resourceType": "Bundle", "type": "message"})"}) {
    rapidjson::Document bundle = Json(json);
    const DeliveryCheck check =
        CheckMessageBundle(bundle, Destination("RGT", {"system/*.rs"}), {}, nullptr, kNow);
    EXPECT_EQ(check.verdict, DeliveryVerdict::kRefuse) << json;
    EXPECT_NE(check.reason.find("invalid"), std::string::npos) << check.reason;
  }
}

TEST(PushPolicy, TheMessageLevelCheckRefusesOnlyACertainDeny) {
  const RequestContext rgt = Destination("RGT", {"system/*.rs"});
  EXPECT_EQ(CheckDestination(rgt, {}, kNow).verdict, DeliveryVerdict::kDeliver);
  EXPECT_EQ(CheckDestination(rgt, Consents({DenyActor("RGT")}), kNow).verdict,
            DeliveryVerdict::kRefuse);
  // A label deny may or may not apply to this message's content: decided per resource later.
  EXPECT_EQ(CheckDestination(rgt, Consents({kDenyHiv}), kNow).verdict, DeliveryVerdict::kDeliver);
}

TEST(PushPolicy, AnOpaqueMessageNeedsAnUnconstrainedWildcardAndNoDeny) {
  EXPECT_EQ(CheckOpaqueMessage(Destination("RGT", {"system/*.rs"}), {}, kNow).verdict,
            DeliveryVerdict::kDeliver);
  EXPECT_EQ(CheckOpaqueMessage(Destination("RGT", {"system/*.read"}), {}, kNow).verdict,
            DeliveryVerdict::kDeliver);
  EXPECT_EQ(
      CheckOpaqueMessage(Destination("RGT", {"system/Patient.rs", "system/Encounter.rs"}), {}, kNow)
          .verdict,
      DeliveryVerdict::kRefuse);
  EXPECT_EQ(
      CheckOpaqueMessage(Destination("RGT", {"system/*.rs?category=laboratory"}), {}, kNow).verdict,
      DeliveryVerdict::kRefuse);
  EXPECT_EQ(
      CheckOpaqueMessage(Destination("RGT", {"system/*.rs"}), Consents({DenyActor("RGT")}), kNow)
          .verdict,
      DeliveryVerdict::kRefuse);
}

TEST(PushPolicy, PatientNhsNumbersReadsEveryPatientAndSubjectOnce) {
  EXPECT_EQ(PatientNhsNumbers(Json(MessageJson())),
            (std::vector<std::string>{std::string(kNhsNumber)}));
  const rapidjson::Document merge = Json(R"({"resourceType": "Bundle", "type": "message",
    "entry": [
      {"resource": {"resourceType": "MessageHeader"}},
      {"resource": {"resourceType": "Patient", "identifier": [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        {"system": "https://example.org/mrn", "value": "RX1"}]}},
      {"resource": {"resourceType": "Patient", "identifier": [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9449305552"},
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}]}},
      {"resource": {"resourceType": "AllergyIntolerance", "patient": {"identifier":
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870"}}}},
      {"resource": {"resourceType": "Observation", "subject": {"identifier":
        {"system": "https://example.org/mrn", "value": "9999999999"}}}}]})");
  EXPECT_EQ(PatientNhsNumbers(merge),
            (std::vector<std::string>{"9434765919", "9449305552", "9434765870"}));
  EXPECT_TRUE(PatientNhsNumbers(Json(R"({"resourceType": "Bundle"})")).empty());
}

// A resource contained in an entry goes with it, so it is judged like an entry and its patient's
// consents are read; one contained in the MessageHeader (the envelope, never removed) refuses the
// message when the destination may not receive it.
TEST(PushPolicy, ContainedResourcesAreJudgedAndTheirPatientsCount) {
  const std::string message = R"({"resourceType": "Bundle", "type": "message", "entry": [
    {"resource": {"resourceType": "MessageHeader", "id": "h1", "eventCoding": {"code": "R01"}}},
    {"resource": {"resourceType": "Observation", "id": "o1", "status": "final", "category":
      [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "laboratory"}]}], "code": {"coding": [{"system": "http://loinc.org",
        "code": "2345-7"}]}, "contained": [{"resourceType": "Patient", "id": "pat",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number",
        "value": "9449305552"}]}]}},
    {"resource": {"resourceType": "Observation", "id": "o2", "status": "final", "category":
      [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "laboratory"}]}], "code": {"coding": [{"system": "http://loinc.org",
        "code": "2345-7"}]}}}]})";
  EXPECT_EQ(PatientNhsNumbers(Json(message)), (std::vector<std::string>{"9449305552"}));
  const RequestContext lab_only = Destination("RGT", {"system/Observation.rs?category=laboratory"});
  rapidjson::Document bundle = Json(message);
  DeliveryCheck check = CheckMessageBundle(bundle, lab_only, {}, nullptr, kNow);
  ASSERT_EQ(check.verdict, DeliveryVerdict::kDeliver);
  EXPECT_EQ(EntryIds(bundle), (std::vector<std::string>{"h1", "o2"}));
  ASSERT_EQ(check.removed.size(), 1u);
  EXPECT_EQ(check.removed[0].reason, WithholdReason::kScope);
  EXPECT_EQ(check.removed[0].embedded_type, "Patient");

  std::string in_envelope = message;
  in_envelope.replace(in_envelope.find(R"("eventCoding")"), 0,
                      R"("contained": [{"resourceType": "Condition", "id": "c"}], )");
  bundle = Json(in_envelope);
  check = CheckMessageBundle(bundle, lab_only, {}, nullptr, kNow);
  EXPECT_EQ(check.verdict, DeliveryVerdict::kRefuse);
  EXPECT_EQ(check.reason.rfind("scope: ", 0), 0u) << check.reason;
  bundle = Json(in_envelope);
  EXPECT_EQ(
      CheckMessageBundle(bundle, Destination("RGT", {"system/*.rs"}), {}, nullptr, kNow).verdict,
      DeliveryVerdict::kDeliver);
}

}  // namespace
}  // namespace tb::policy
