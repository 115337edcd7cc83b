// Hostile and malformed FHIR JSON into MapFhirToV2: every input gets an ER7 message or an error
// value, never a crash, an assertion or a hang. Deterministic (fixed seeds), a few seconds at most.
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "mappings/fhir_to_v2.h"

namespace tb::mappings {
namespace {

// A Bundle that touches every branch of the mapper: Patient with all PID/PD1 sources, Encounter
// with a location chain and participants, a report with observations of every value type,
// components, a panel, notes and a presented form, contained resources.
const char* const kSample = R"({"resourceType":"Bundle","type":"collection","entry":[
 {"fullUrl":"urn:uuid:p","resource":{"resourceType":"Patient","id":"p1",
  "contained":[{"resourceType":"Organization","id":"gp","name":"GP","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"B1"}]}],
  "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919",
    "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
      "valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland","code":"01"}]}}]},
    {"system":"urn:oid:1.2","value":"X","type":{"coding":[{"code":"MR"}]},"period":{"start":"2020","end":"2021-01"},
     "assigner":{"display":"A","identifier":{"value":"B"}}}],
  "name":[{"use":"official","family":"F","given":["G","H"],"prefix":["Dr"],"suffix":["S"],"text":"T"}],
  "gender":"female","birthDate":"1970-01-01",
  "_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T01:02:03Z"}]},
  "address":[{"use":"home","type":"postal","line":["a","b","c"],"city":"c","district":"d","state":"s","postalCode":"p","country":"GB","text":"t","period":{"start":"2020"}}],
  "telecom":[{"system":"phone","value":"1","use":"home"},{"system":"email","value":"e"},{"system":"phone","value":"2","use":"work"}],
  "communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"en"}]},"preferred":true}],
  "maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]},
  "multipleBirthInteger":2,"deceasedBoolean":false,
  "contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"C"},{"system":"urn:x","code":"z"}]}],
    "name":{"family":"K"},"address":{"line":["l"]},"telecom":[{"system":"phone","value":"3"}],"gender":"male","period":{"start":"2020"}}],
  "generalPractitioner":[{"reference":"#gp"},{"reference":"Practitioner/dr","type":"Practitioner"},
    {"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"B2"}}]}},
 {"resource":{"resourceType":"RelatedPerson","patient":{"reference":"Patient/p1"},"birthDate":"1950",
  "relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"MTH"}]}],
  "name":[{"family":"M"}],"address":[{"city":"c"}],"identifier":[{"value":"i"}]}},
 {"resource":{"resourceType":"Practitioner","id":"dr","identifier":[{"system":"https://fhir.hl7.org.uk/Id/gmc-number","value":"G1"}],
  "name":[{"family":"W","given":["J","K"],"prefix":["Dr"],"suffix":["X"]}]}},
 {"resource":{"resourceType":"Location","id":"bed","name":"B7","partOf":{"reference":"Location/ward"},
  "physicalType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/location-physical-type","code":"bd"}]},
  "managingOrganization":{"reference":"Organization/org"}}},
 {"resource":{"resourceType":"Organization","id":"org","name":"Trust",
  "identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RJ1"}]}},
 {"resource":{"resourceType":"Location","id":"ward","name":"W","identifier":[{"value":"W1"}],
  "physicalType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/location-physical-type","code":"wa"}]}}},
 {"resource":{"resourceType":"Encounter","id":"e1","status":"finished",
  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
  "subject":{"reference":"urn:uuid:p"},"identifier":[{"value":"V","type":{"coding":[{"code":"VN"}]}}],
  "type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0007","code":"E"}]}],
  "serviceType":{"coding":[{"code":"MED"}]},
  "participant":[{"type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"ATND"}]}],"individual":{"reference":"Practitioner/dr"}},
    {"type":[{"coding":[{"code":"REF"}]}],"individual":{"display":"Ref","identifier":{"value":"R"}}}],
  "period":{"start":"2024-01-01T00:00:00Z","end":"2024-01-02"},
  "location":[{"location":{"reference":"Location/bed"},"status":"active"},{"location":{"display":"Old"},"status":"completed"}],
  "hospitalization":{"admitSource":{"coding":[{"code":"1"}]},"dischargeDisposition":{"coding":[{"code":"2"}]}},
  "reasonCode":[{"coding":[{"system":"http://snomed.info/sct","code":"1"}],"text":"r"}]}},
 {"resource":{"resourceType":"DiagnosticReport","id":"r","status":"final","subject":{"reference":"Patient/p1"},
  "encounter":{"reference":"Encounter/e1"},"identifier":[{"value":"F1","system":"urn:x"},{"value":"P1","type":{"coding":[{"code":"PLAC"}]}}],
  "code":{"coding":[{"system":"http://loinc.org","code":"1"},{"code":"2"}],"text":"t"},
  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"HM"}]}],
  "effectivePeriod":{"start":"2024","end":"2025"},"issued":"2024-01-01T00:00:00.5+01:00","conclusion":"c\nd",
  "presentedForm":[{"contentType":"application/pdf","data":"AAAA"},{"contentType":"text/html","url":"http://x"}],
  "result":[{"reference":"Observation/o1"},{"reference":"Observation/panel"},{"reference":"Patient/p1"}]}},
 {"resource":{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p1"},
  "code":{"coding":[{"system":"http://loinc.org","code":"a"}]},"effectiveDateTime":"2024-01-01T00:00:00Z",
  "valueQuantity":{"value":1.5,"unit":"u","system":"http://unitsofmeasure.org","code":"u","comparator":"<"},
  "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H"}]}],
  "referenceRange":[{"low":{"value":1},"high":{"value":2},"text":"1-2"}],"method":{"text":"m"},"issued":"2024",
  "note":[{"text":"n"}],"dataAbsentReason":{"coding":[{"code":"x","display":"y"}]}}},
 {"resource":{"resourceType":"Observation","id":"panel","status":"final","subject":{"reference":"Patient/p1"},
  "code":{"text":"panel"},"hasMember":[{"reference":"Observation/c1"},{"reference":"Observation/panel"}]}},
 {"resource":{"resourceType":"Observation","id":"c1","status":"amended","subject":{"reference":"Patient/p1"},
  "code":{"text":"bp"},"effectiveInstant":"2024-01-01T00:00:00Z",
  "component":[{"code":{"text":"s"},"valueRange":{"low":{"value":1,"unit":"g"},"high":{"value":2}}},
    {"code":{"text":"d"},"valueRatio":{"numerator":{"value":1,"comparator":">"},"denominator":{"value":3}}},
    {"code":{"text":"e"},"valueString":"x\ny"},{"code":{"text":"f"},"valueCodeableConcept":{"text":"only text"}},
    {"code":{"text":"g"},"valueDateTime":"2024"},{"code":{"text":"h"},"valueBoolean":false},
    {"code":{"text":"i"},"valueInteger":-3},{"code":{"text":"j"},"valueTime":"10:00:00"},
    {"code":{"text":"k"},"valuePeriod":{"start":"2024","end":"2025"}},
    {"code":{"text":"l"},"valueAttachment":{"contentType":"image/png","data":"AA=="}}]}}
]})";

bool Valid(const core::Error& e) { return !e.message.empty(); }

// Maps and checks the property: an error with a message, or ER7 that parses back.
void Check(const std::string& json, std::size_t* errors = nullptr, bool adt = false) {
  FhirToV2Options options;
  options.message = adt ? FhirToV2Message::kAdt : FhirToV2Message::kAuto;
  options.timestamp = "20240101000000+0000";
  core::Result<std::string> out = MapFhirToV2(json, options);
  if (!out) {
    EXPECT_TRUE(Valid(out.error()));
    if (errors != nullptr) {
      ++*errors;
    }
    return;
  }
  core::Result<hl7v2::Message> msg = hl7v2::Message::Parse(*out);
  ASSERT_TRUE(msg.has_value()) << *out;
  EXPECT_GE(msg->SegmentCount(), 2u);
}

TEST(FhirToV2Robustness, SampleMapsCleanly) {
  FhirToV2Options options;
  options.timestamp = "20240101000000+0000";
  core::Result<std::string> out = MapFhirToV2(kSample, options);
  ASSERT_TRUE(out.has_value()) << out.error().message << " at " << out.error().location;
  const hl7v2::Message m = *hl7v2::Message::Parse(*out);
  EXPECT_EQ(m.Get("MSH-9.1").raw(), "ORU");
  EXPECT_EQ(m.Get("PV1-3.1").raw(), "W");
  EXPECT_EQ(m.Get("PV1-3.3").raw(), "B7");
  EXPECT_EQ(m.Get("PV1-3.4").raw(), "RJ1");  // the bed's managing organisation (ODS code)
  EXPECT_EQ(m.Get("PD1-3(1).10").raw(), "B1");
  EXPECT_EQ(m.Get("PD1-4.1").raw(), "G1");
  // o1, the panel's member c1 (10 components), the panel itself only once, two presented forms.
  EXPECT_EQ(m.CountSegments("OBX"), 1u + 10u + 2u);
}

// Every node of the sample replaced by every other JSON type.
TEST(FhirToV2Robustness, WrongTypesEverywhereAreErrorsOrMessages) {
  core::Result<rapidjson::Document> sample = fhir::ParseJson(kSample);
  ASSERT_TRUE(sample.has_value());
  // Collect JSON pointers of every node.
  std::vector<std::string> pointers;
  std::vector<std::pair<const rapidjson::Value*, std::string>> stack = {{&*sample, ""}};
  while (!stack.empty()) {
    auto [value, pointer] = stack.back();
    stack.pop_back();
    if (!pointer.empty()) {
      pointers.push_back(pointer);
    }
    if (value->IsObject()) {
      for (auto it = value->MemberBegin(); it != value->MemberEnd(); ++it) {
        stack.push_back({&it->value, pointer + "/" + it->name.GetString()});
      }
    } else if (value->IsArray()) {
      for (rapidjson::SizeType i = 0; i < value->Size(); ++i) {
        stack.push_back({&(*value)[i], pointer + "/" + std::to_string(i)});
      }
    }
  }
  ASSERT_GT(pointers.size(), 300u);
  const char* const replacements[] = {"null", "0",  "-1.5e300", "\"\"", "\"x|^~\\\\&\"",
                                      "true", "[]", "{}",       "[{}]", "[\"a\",1]"};
  std::size_t errors = 0;
  std::size_t runs = 0;
  constexpr std::size_t kCount = std::size(replacements);
  for (std::size_t i = 0; i < pointers.size(); ++i) {
    const std::string& pointer = pointers[i];
    // Two replacements per node, rotating, so every type lands everywhere across neighbours
    // while the test stays within a few seconds.
    for (std::size_t k = 0; k < 2; ++k) {
      const char* const replacement = replacements[(i * 2 + k) % kCount];
      rapidjson::Document doc;
      doc.CopyFrom(*sample, doc.GetAllocator());
      rapidjson::Document repl;
      repl.Parse(replacement);
      ASSERT_FALSE(repl.HasParseError());
      rapidjson::Value* target = rapidjson::Pointer(pointer.c_str()).Get(doc);
      ASSERT_NE(target, nullptr) << pointer;
      target->CopyFrom(repl, doc.GetAllocator());
      Check(fhir::ToJson(doc), &errors, /*adt=*/i % 2 == 1);
      ++runs;
    }
  }
  // Most wrong types are reported, not silently ignored.
  EXPECT_GT(errors, runs / 2);
}

// Random byte edits of the sample (fixed seed): truncations, flips, insertions of delimiters.
TEST(FhirToV2Robustness, MutatedBytes) {
  std::mt19937 rng(20240301);
  const std::string sample = kSample;
  const std::string alphabet = "{}[]\",:\\|^~&0123456789.-eE ntfTZ#/\n\r\t\x01\xC3\xFF";
  for (int i = 0; i < 1500; ++i) {
    std::string json = sample;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !json.empty(); ++e) {
      const std::size_t pos = rng() % json.size();
      switch (rng() % 4) {
        case 0:
          json[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          json.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          json.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          json.resize(pos);
          break;
      }
    }
    Check(json);
  }
}

TEST(FhirToV2Robustness, DeepNestingIsRefused) {
  std::string deep = R"({"resourceType":"Patient","extension":)";
  deep += std::string(100000, '[');
  deep += std::string(100000, ']');
  deep += "}";
  core::Result<std::string> out = MapFhirToV2(deep);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, core::ErrorCode::kTooLarge);
}

TEST(FhirToV2Robustness, HugeStringsAreEscapedNotTruncated) {
  std::string family;
  for (int i = 0; i < 100000; ++i) {
    family += "a|^~\\&";
  }
  std::string text;
  for (int i = 0; i < 50000; ++i) {
    text += "line|\\n";
  }
  const std::string json = R"({"resourceType":"Bundle","type":"collection","entry":[
    {"resource":{"resourceType":"Patient","id":"p","name":[{"family":")" +
                           [&] {
                             std::string escaped;
                             for (char c : family) {
                               if (c == '\\') {
                                 escaped += "\\\\";
                               } else {
                                 escaped += c;
                               }
                             }
                             return escaped;
                           }() +
                           R"("}]}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},
      "subject":{"reference":"Patient/p"},"valueString":")" +
                           text + R"("}}]})";
  core::Result<std::string> out = MapFhirToV2(json);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  const hl7v2::Message m = *hl7v2::Message::Parse(*out);
  EXPECT_EQ(m.Get("PID-5.1").Decoded(), family);
  EXPECT_EQ(m.Get("OBX-2").raw(), "FT");
  EXPECT_EQ(m.Get("OBX-5").Text().size(), 50000u * 6u);
}

TEST(FhirToV2Robustness, ManyObservationsOrRepetitionsHitTheCaps) {
  std::string json = R"({"resourceType":"Bundle","type":"collection","entry":[
    {"resource":{"resourceType":"Patient","id":"p"}})";
  for (int i = 0; i < 300; ++i) {
    json +=
        R"(,{"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueInteger":1}})";
  }
  json += "]}";
  FhirToV2Options small;
  small.max_segments = 200;
  core::Result<std::string> out = MapFhirToV2(json, small);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, core::ErrorCode::kTooLarge);

  std::string ids = R"({"resourceType":"Patient","identifier":[)";
  for (int i = 0; i < 150; ++i) {
    ids += (i == 0 ? "" : ",") + std::string(R"({"system":"urn:x","value":"v)") +
           std::to_string(i) + "\"}";
  }
  ids += "]}";
  out = MapFhirToV2(ids);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, core::ErrorCode::kTooLarge);
  EXPECT_EQ(out.error().location, "PID[1]-3");
}

TEST(FhirToV2Robustness, OddReferencesResolveToNothing) {
  for (const char* ref : {"", "/", "#", "Patient/", "/p1", "//", "Patient/p1/_history/",
                          "urn:uuid:", "#p1", "http://x/Patient/p1/_history/2"}) {
    const std::string json = std::string(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient","id":"p1"}},
      {"resource":{"resourceType":"Encounter","status":"planned","subject":{"reference":")") +
                             ref + R"("},"location":[{"location":{"reference":")" + ref + R"("}}],
       "participant":[{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":")" +
                             ref + R"("}}]}}]})";
    Check(json);
  }
}

}  // namespace
}  // namespace tb::mappings
