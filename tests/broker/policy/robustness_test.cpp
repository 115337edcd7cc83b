// Deterministic mutation tests: the scope and Consent parsers, the engine and the pseudonymiser
// must turn any input into a value or an error, never a crash (run under ASan/UBSan too). A
// libFuzzer target belongs in tests/fuzz.
#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "broker/policy/consent.h"
#include "broker/policy/pseudonymise.h"
#include "broker/policy/scope.h"
#include "tests/broker/policy/test_util.h"

namespace tb::policy {
namespace {

constexpr char kAlphabet[] = "{}[]\":,|?&=./*cruds0123456789 \\\x01\xC3\xA9\x7F";

std::string Mutate(std::string text, std::mt19937& random) {
  std::uniform_int_distribution<int> how(0, 2);
  std::uniform_int_distribution<std::size_t> letter(0, sizeof(kAlphabet) - 2);
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int i = 0; i < edits && !text.empty(); ++i) {
    const std::size_t at = random() % text.size();
    switch (how(random)) {
      case 0:
        text[at] = kAlphabet[letter(random)];
        break;
      case 1:
        text.erase(at, 1 + random() % 8);
        break;
      default:
        text.insert(at, 1, kAlphabet[letter(random)]);
        break;
    }
  }
  return text;
}

TEST(Robustness, MutatedScopesParseOrFail) {
  std::mt19937 random(42);
  const std::string seed =
      "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|laboratory&status=final,amended";
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    core::Result<Scope> scope = ParseScope(Mutate(seed, random));
    if (scope) {
      ++accepted;
      EXPECT_TRUE(ParseScope(ToString(*scope)).has_value());  // the canonical form parses back
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(Robustness, MutatedConsentsParseOrFailAndEvaluate) {
  std::mt19937 random(7);
  const std::string seed = R"({"resourceType": "Consent", "id": "c1", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": "9434765919"}},
    "provision": {"type": "deny", "period": {"start": "2020-01-01", "end": "2030-12-31T10:00:00Z"},
      "actor": [{"role": {"text": "r"}, "reference": {"identifier": {"system":
          "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RGT"}}}],
      "provision": [{"type": "permit", "class": [{"system": "http://hl7.org/fhir/resource-types",
          "code": "Observation"}], "securityLabel": [{"code": "HIV"}]}]}})";
  AccessRequest request;
  request.requester_ods = "RGT";
  request.resource_type = "Observation";
  request.codes.emplace();
  request.security_labels.emplace();
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    core::Result<Consent> consent = ParseConsentJson(Mutate(seed, random));
    if (consent) {
      ++accepted;
      const Decision decision = Evaluate({*consent}, request);
      EXPECT_FALSE(Describe(decision).empty());
    } else {
      EXPECT_FALSE(consent.error().message.empty());
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(Robustness, PseudonymiseAnyJson) {
  std::mt19937 random(3);
  const Pseudonymiser pseudonymiser =
      Pseudonymiser::Create("0123456789abcdef0123456789abcdef").value();
  const std::string seed = R"({"resourceType": "Patient", "id": "p1", "identifier": [{"system":
      "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}], "birthDate": "1980-05-12",
      "link": [{"other": {"reference": "Patient/p2"}}], "generalPractitioner": [{"reference":
      "https://x/Patient/", "display": "x"}], "extension": [{"valueAddress": {}}]})";
  for (int i = 0; i < 2000; ++i) {
    core::Result<rapidjson::Document> document = fhir::ParseJson(Mutate(seed, random));
    if (document) {
      Pseudonymise(*document, document->GetAllocator(), pseudonymiser);
    }
  }
}

}  // namespace
}  // namespace tb::policy
