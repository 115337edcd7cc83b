#include "adapters/fhir/capability_statement.h"

#include <gtest/gtest.h>

#include "adapters/fhir/json.h"
#include "adapters/fhir/validate.h"

namespace tb::fhir {
namespace {

using core::ErrorCode;

CapabilitySpec BrokerSpec() {
  CapabilitySpec spec;
  spec.software_name = "trustbridge";
  spec.software_version = "0.1.0";
  spec.implementation_description = "trustbridge federated FHIR broker (broker-a)";
  spec.implementation_url = "https://broker-a.example.nhs.uk/fhir";
  spec.date = "2026-01-02T03:04:05Z";
  spec.security_description = "Mutual TLS: clients present a certificate issued by the broker CA.";
  ResourceSpec patient;
  patient.type = "Patient";
  patient.interactions = {"search-type"};
  patient.search_params = {{"identifier", "token",
                            "http://hl7.org/fhir/SearchParameter/Patient-identifier",
                            "NHS number: https://fhir.nhs.uk/Id/nhs-number|N"}};
  patient.operations = {{"everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                         ""}};
  spec.resources.push_back(patient);
  spec.system_operations = {
      {"process-message", "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
       ""}};
  return spec;
}

TEST(CapabilityStatement, DescribesWhatTheSpecSays) {
  auto statement = BuildCapabilityStatement(BrokerSpec());
  ASSERT_TRUE(statement.has_value()) << statement.error().message;
  const rapidjson::Value& cs = *statement;
  EXPECT_EQ(FindString(cs, "resourceType"), "CapabilityStatement");
  EXPECT_EQ(FindString(cs, "status"), "active");
  EXPECT_EQ(FindString(cs, "kind"), "instance");
  EXPECT_EQ(FindString(cs, "fhirVersion"), "4.0.1");
  EXPECT_EQ(FindString(cs["software"], "name"), "trustbridge");
  EXPECT_EQ(FindString(cs["software"], "version"), "0.1.0");
  EXPECT_EQ(FindString(cs["implementation"], "url"), "https://broker-a.example.nhs.uk/fhir");
  ASSERT_EQ(cs["format"].Size(), 1U);
  EXPECT_STREQ(cs["format"][0].GetString(), "application/fhir+json");

  const rapidjson::Value& rest = cs["rest"][0];
  EXPECT_EQ(FindString(rest, "mode"), "server");
  EXPECT_FALSE(rest["security"]["cors"].GetBool());
  const rapidjson::Value& coding = rest["security"]["service"][0]["coding"][0];
  EXPECT_EQ(FindString(coding, "system"),
            "http://terminology.hl7.org/CodeSystem/restful-security-service");
  EXPECT_EQ(FindString(coding, "code"), "Certificates");
  EXPECT_NE(FindString(rest["security"], "description")->find("Mutual TLS"),
            std::string_view::npos);

  ASSERT_EQ(rest["resource"].Size(), 1U);
  const rapidjson::Value& patient = rest["resource"][0];
  EXPECT_EQ(FindString(patient, "type"), "Patient");
  EXPECT_EQ(FindString(patient["interaction"][0], "code"), "search-type");
  EXPECT_EQ(FindString(patient["searchParam"][0], "name"), "identifier");
  EXPECT_EQ(FindString(patient["searchParam"][0], "type"), "token");
  EXPECT_EQ(FindString(patient["operation"][0], "name"), "everything");
  EXPECT_EQ(FindString(rest["operation"][0], "name"), "process-message");
  // Nothing the spec did not mention.
  EXPECT_EQ(FindMember(rest, "interaction"), nullptr);
}

TEST(CapabilityStatement, IsValidAgainstTheR4Schema) {
  auto validator = DefaultValidator();
  ASSERT_TRUE(validator.has_value()) << validator.error().message;
  auto statement = BuildCapabilityStatement(BrokerSpec());
  ASSERT_TRUE(statement.has_value());
  const std::vector<core::Error> errors = (*validator)->Validate(*statement);
  for (const core::Error& error : errors) {
    ADD_FAILURE() << error.location << ": " << error.message;
  }
}

TEST(CapabilityStatement, RefusesCodesThatAreNotR4) {
  CapabilitySpec spec = BrokerSpec();
  spec.resources[0].interactions.push_back("search");
  auto bad_interaction = BuildCapabilityStatement(spec);
  ASSERT_FALSE(bad_interaction.has_value());
  EXPECT_EQ(bad_interaction.error().code, ErrorCode::kInvalidValue);
  EXPECT_EQ(bad_interaction.error().location,
            "CapabilityStatement.rest.resource[0].interaction[1]");

  spec = BrokerSpec();
  spec.resources[0].search_params[0].type = "text";
  EXPECT_EQ(BuildCapabilityStatement(spec).error().location,
            "CapabilityStatement.rest.resource[0].searchParam[0].type");

  spec = BrokerSpec();
  spec.system_interactions = {"search-type"};
  EXPECT_EQ(BuildCapabilityStatement(spec).error().location,
            "CapabilityStatement.rest.interaction[0]");

  spec = BrokerSpec();
  spec.system_operations[0].definition.clear();
  EXPECT_EQ(BuildCapabilityStatement(spec).error().code, ErrorCode::kRequiredFieldMissing);

  spec = BrokerSpec();
  spec.date.clear();
  EXPECT_EQ(BuildCapabilityStatement(spec).error().location, "CapabilityStatement.date");
}

TEST(CapabilityStatement, NoCertificatesServiceWhenNotClaimed) {
  CapabilitySpec spec = BrokerSpec();
  spec.certificates = false;
  spec.security_description.clear();
  auto statement = BuildCapabilityStatement(spec);
  ASSERT_TRUE(statement.has_value());
  EXPECT_EQ(FindMember((*statement)["rest"][0], "security"), nullptr);
}

}  // namespace
}  // namespace tb::fhir
