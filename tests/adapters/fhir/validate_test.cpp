#include "adapters/fhir/validate.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/fhir/embedded_schema.h"
#include "adapters/fhir/json.h"

namespace tb::fhir {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const Validator& Shared() {
  auto validator = DefaultValidator();
  EXPECT_TRUE(validator.has_value()) << validator.error().message << " " << DefaultSchemaPath();
  return **validator;
}

std::vector<core::Error> ValidateText(std::string_view text) {
  auto document = ParseJson(text);
  EXPECT_TRUE(document.has_value()) << document.error().message;
  if (!document.has_value()) {
    return {};
  }
  return Shared().Validate(*document);
}

std::vector<std::string> Locations(const std::vector<core::Error>& errors) {
  std::vector<std::string> out;
  for (const core::Error& error : errors) {
    out.push_back(error.location);
  }
  return out;
}

std::string Describe(const std::vector<core::Error>& errors) {
  std::string out;
  for (const core::Error& error : errors) {
    out += "\n  " + std::string(core::Info(error.code).name) + " at " + error.location + ": " +
           error.message;
  }
  return out;
}

// Every JSON file in `dir` validates with exactly the errors listed for it (by location).
void ExpectFolderValid(const fs::path& dir,
                       const std::map<std::string, std::vector<std::string>>& exceptions) {
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << dir;
  for (const fs::path& file : files) {
    auto document = ParseJson(ReadFile(file));
    ASSERT_TRUE(document.has_value()) << file << ": " << document.error().message;
    if (FindMember(*document, "resourceType") == nullptr) {
      continue;  // not a resource (e.g. a JSON Patch request body)
    }
    const std::vector<core::Error> errors = Shared().Validate(*document);
    const auto expected = exceptions.find(file.filename().string());
    const std::vector<std::string> want =
        expected == exceptions.end() ? std::vector<std::string>{} : expected->second;
    EXPECT_EQ(Locations(errors), want) << file.filename() << Describe(errors);
  }
}

TEST(Validator, DefaultSchemaLoads) {
  auto validator = DefaultValidator();
  ASSERT_TRUE(validator.has_value()) << validator.error().message;
  EXPECT_TRUE((*validator)->IsResourceType("Patient"));
  EXPECT_TRUE((*validator)->IsResourceType("Bundle"));
  EXPECT_FALSE((*validator)->IsResourceType("Patients"));
  EXPECT_FALSE((*validator)->IsResourceType("ResourceList"));
}

TEST(Validator, EmbeddedSchemaIsTheShippedFile) {
  std::ifstream in(std::string(DefaultSchemaPath()), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  ASSERT_GT(text.str().size(), 1'000'000u);
  EXPECT_TRUE(EmbeddedSchema() == text.str());
}

TEST(Validator, LoadFailuresAreConfigErrors) {
  auto missing = Validator::Load("/nonexistent/fhir.schema.json");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kConfig);
  EXPECT_EQ(missing.error().location, "/nonexistent/fhir.schema.json");
  auto not_json = Validator::FromJson("{");
  ASSERT_FALSE(not_json.has_value());
  EXPECT_EQ(not_json.error().code, ErrorCode::kConfig);
  auto not_fhir = Validator::FromJson(R"({"type":"object"})");
  ASSERT_FALSE(not_fhir.has_value());
  EXPECT_EQ(not_fhir.error().code, ErrorCode::kConfig);
}

TEST(Validator, AcceptsAMinimalPatient) {
  const auto errors = ValidateText(R"({"resourceType":"Patient","identifier":[{
      "system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
      "birthDate":"1970-01-01","gender":"female"})");
  EXPECT_TRUE(errors.empty()) << Describe(errors);
}

TEST(Validator, ReportsBadNhsNumberAtItsValue) {
  const auto errors = ValidateText(R"({"resourceType":"Patient","identifier":[
      {"system":"https://example.org/mrn","value":"12345"},
      {"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"}]})");
  ASSERT_EQ(errors.size(), 1U) << Describe(errors);
  EXPECT_EQ(errors[0].code, ErrorCode::kInvalidValue);
  EXPECT_EQ(errors[0].location, "Patient.identifier[1].value");
  EXPECT_EQ(errors[0].message.find("9434765918"), std::string::npos);
}

TEST(Validator, ReportsNhsNumbersInReferencesToo) {
  const auto errors = ValidateText(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"subject":{"identifier":{
      "system":"https://fhir.nhs.uk/Id/nhs-number","value":"123"}}})");
  EXPECT_EQ(Locations(errors), std::vector<std::string>{"Observation.subject.identifier.value"});
}

TEST(Validator, ReportsWrongTypeForBirthDate) {
  const auto number = ValidateText(
      R"({"resourceType":"Patient","identifier":[{"value":"x"}],"birthDate":19700101})");
  ASSERT_EQ(number.size(), 1U) << Describe(number);
  EXPECT_EQ(number[0].code, ErrorCode::kInvalidValue);
  EXPECT_EQ(number[0].location, "Patient.birthDate");

  const auto format = ValidateText(
      R"({"resourceType":"Patient","identifier":[{"value":"x"}],"birthDate":"01/01/1970"})");
  ASSERT_EQ(format.size(), 1U) << Describe(format);
  EXPECT_EQ(format[0].location, "Patient.birthDate");
  EXPECT_EQ(format[0].message.find("1970"), std::string::npos);
}

TEST(Validator, ReportsUnknownElement) {
  const auto errors = ValidateText(
      R"({"resourceType":"Patient","identifier":[{"value":"x"}],"name":[{"family":"X",
      "nickname":"Y"}]})");
  ASSERT_EQ(errors.size(), 1U) << Describe(errors);
  EXPECT_EQ(errors[0].code, ErrorCode::kInvalidValue);
  EXPECT_EQ(errors[0].location, "Patient.name[0].nickname");
}

TEST(Validator, UnsafeElementNamesAreNotEchoed) {
  const auto errors = ValidateText(
      R"({"resourceType":"Patient","identifier":[{"value":"x"}],"Jane Smith 1970":1})");
  ASSERT_EQ(errors.size(), 1U) << Describe(errors);
  EXPECT_EQ(errors[0].location, "Patient.*");
}

TEST(Validator, ReportsMissingRequiredElementByName) {
  const auto complex = ValidateText(R"({"resourceType":"Observation","status":"final"})");
  ASSERT_EQ(Locations(complex), std::vector<std::string>{"Observation.code"});
  EXPECT_EQ(complex[0].code, ErrorCode::kRequiredFieldMissing);
  // Required primitives come from the table the schema cannot express.
  const auto primitive = ValidateText(R"({"resourceType":"Bundle"})");
  ASSERT_EQ(Locations(primitive), std::vector<std::string>{"Bundle.type"});
  EXPECT_EQ(primitive[0].code, ErrorCode::kRequiredFieldMissing);
  // A primitive given only by its extension counts as present.
  EXPECT_TRUE(ValidateText(R"({"resourceType":"Bundle","_type":{"extension":[{"url":"u",
      "valueBoolean":true}]}})")
                  .empty());
}

TEST(Validator, ReportsCodesOutsideRequiredValueSet) {
  const auto errors =
      ValidateText(R"({"resourceType":"Patient","identifier":[{"value":"x"}],"gender":"F"})");
  ASSERT_EQ(errors.size(), 1U) << Describe(errors);
  EXPECT_EQ(errors[0].code, ErrorCode::kUnknownCode);
  EXPECT_EQ(errors[0].location, "Patient.gender");
}

TEST(Validator, RejectsNonResources) {
  EXPECT_EQ(Locations(ValidateText(R"({"id":"x"})")), std::vector<std::string>{"resourceType"});
  EXPECT_EQ(Locations(ValidateText(R"({"resourceType":"Patients"})")),
            std::vector<std::string>{"resourceType"});
  EXPECT_EQ(Locations(ValidateText(R"({"resourceType":7})")),
            std::vector<std::string>{"resourceType"});
  EXPECT_EQ(Locations(ValidateText(R"([1])")), std::vector<std::string>{"resourceType"});
}

TEST(Validator, PatientNeedsAnIdentifierUnlessDisabled) {
  const auto errors = ValidateText(R"({"resourceType":"Patient"})");
  EXPECT_EQ(Locations(errors), std::vector<std::string>{"Patient.identifier"});
  EXPECT_EQ(errors[0].code, ErrorCode::kRequiredFieldMissing);

  ValidatorOptions options;
  options.require_patient_identifier = false;
  auto lenient = Validator::Load(std::string(DefaultSchemaPath()), options);
  ASSERT_TRUE(lenient.has_value());
  auto document = ParseJson(R"({"resourceType":"Patient"})");
  EXPECT_TRUE(lenient->Validate(*document).empty());
}

TEST(Validator, UkCorePatientProfileNeedsIdentifierSystemAndValue) {
  const auto errors = ValidateText(R"({"resourceType":"Patient","meta":{"profile":[
      "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient|2.0.0"]},
      "identifier":[{"value":"x"},{"system":"https://example.org/mrn"}]})");
  EXPECT_EQ(Locations(errors), (std::vector<std::string>{"Patient.identifier[0].system",
                                                         "Patient.identifier[1].value"}));
}

std::string WithVerificationStatus(std::string_view system, std::string_view code) {
  return R"({"resourceType":"Patient","identifier":[{"extension":[{"url":
      "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
      "valueCodeableConcept":{"coding":[{"system":")" +
         std::string(system) + R"(","code":")" + std::string(code) +
         R"("}]}}],"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]})";
}

TEST(Validator, NhsNumberVerificationStatusUsesUkCoreCodes) {
  const std::string england =
      "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
  const std::string wales =
      "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusWales";
  for (const char* code : {"01", "02", "03", "04", "05", "06", "07", "08"}) {
    EXPECT_TRUE(ValidateText(WithVerificationStatus(england, code)).empty()) << code;
  }
  EXPECT_TRUE(ValidateText(WithVerificationStatus(wales, "nn")).empty());
  EXPECT_TRUE(ValidateText(WithVerificationStatus(
                               "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "NI"))
                  .empty());
  // Retired system still sent by PDS with the England codes: tolerated.
  EXPECT_TRUE(
      ValidateText(
          WithVerificationStatus(
              "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus", "01"))
          .empty());

  for (const auto& [system, code] : std::vector<std::pair<std::string, std::string>>{
           {england, "09"}, {england, "nn"}, {england, "1"}, {"http://snomed.info/sct", "01"}}) {
    const auto errors = ValidateText(WithVerificationStatus(system, code));
    ASSERT_EQ(errors.size(), 1U) << system << " " << code << Describe(errors);
    EXPECT_EQ(errors[0].code, ErrorCode::kUnknownCode);
    EXPECT_EQ(errors[0].location,
              "Patient.identifier[0].extension[0].valueCodeableConcept.coding[0]");
  }
}

TEST(Validator, ValidatesEveryBundleEntryWithItsLocation) {
  const auto errors = ValidateText(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient","identifier":[{
        "system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}},
      {"resource":{"resourceType":"Patient","identifier":[{"value":"x"}],"birthDate":"1970-13-01"}},
      {"resource":{"resourceType":"Patient","identifier":[{
        "system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765918"}]}},
      {"resource":{"resourceType":"Observation","status":"final","code":{},"valueFoo":1}}]})");
  EXPECT_EQ(Locations(errors),
            (std::vector<std::string>{"Bundle.entry[1].resource.birthDate",
                                      "Bundle.entry[2].resource.identifier[0].value",
                                      "Bundle.entry[3].resource.valueFoo"}))
      << Describe(errors);
}

TEST(Validator, ValidatesContainedResources) {
  const auto errors = ValidateText(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p",
      "identifier":[{"value":"x"}],"active":"yes"}]})");
  EXPECT_EQ(Locations(errors), std::vector<std::string>{"Observation.contained[0].active"});
}

TEST(Validator, IsSafeToShareAcrossThreads) {
  // Two compiled copies for four threads: exercises both the on-demand compile and waiting.
  ValidatorOptions options;
  options.instances = 2;
  auto loaded = Validator::Load(std::string(DefaultSchemaPath()), options);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  const Validator& validator = *loaded;
  auto good = ParseJson(R"({"resourceType":"Patient","identifier":[{
      "system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
      "birthDate":"1970-01-01","telecom":[{"system":"phone","value":"0113 000 0000"}]})");
  auto bad = ParseJson(R"({"resourceType":"Patient","identifier":[{"value":"x"}],
      "birthDate":"1970-1-1"})");
  ASSERT_TRUE(good.has_value() && bad.has_value());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (!validator.Validate(*good).empty() || validator.Validate(*bad).size() != 1) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

// UK Core R4 examples (NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN), converted from XML by
// tools/fhir_xml_to_json.py; see data/SOURCES.md.
TEST(ValidatorExamples, UkCoreExamples) {
  ExpectFolderValid(
      fs::path(TB_SOURCE_DIR) / "tests/adapters/fhir/data/ukcore",
      {
          // 9912003890 fails Modulus 11 (noted in shared/testdata/ukcore/SOURCES.md).
          {"UKCore-Patient-BabyPatient-Example.json", {"Patient.identifier[0].value"}},
          // Snippets without any identifier: valid UK Core, but the broker's rule 3
          // (a Patient needs an identifier to be routed) refuses them.
          {"Extension-UKCore-NHSNumberUnavailableReason-Example.json", {"Patient.identifier"}},
          {"UKCore-Patient-Sn-Makaton-Example.json", {"Patient.identifier"}},
          {"UKCore-Patient-Sn-MultipleLanguages-Example.json", {"Patient.identifier"}},
          {"UKCore-Patient-Sn-Photo-Example.json", {"Patient.identifier"}},
          {"UKCore-Patient-Sn-SingleLanguage-Example.json", {"Patient.identifier"}},
      });
}

TEST(ValidatorExamples, R4SpecificationExamples) {
  ExpectFolderValid(
      fs::path(TB_SHARED_TESTDATA_DIR) / "fhir-r4/examples-r4-spec",
      {
          // Deliberately invalid test case: a Bundle without its required type.
          {"bundle-with-no-type.json", {"Bundle.type"}},
          // Really invalid: R4 Consent has no top-level period (it is
          // Consent.provision.period); this file is a fhir-test-cases input.
          {"myconsent-resource.json", {"Consent.period"}},
          // Valid R4; the embedded Patient has no identifier (broker rule 3).
          {"parameters-example.json", {"Parameters.parameter[2].resource.identifier"}},
      });
}

TEST(ValidatorExamples, PdsSandboxResponses) {
  ExpectFolderValid(
      fs::path(TB_SHARED_TESTDATA_DIR) / "ukcore/pds-fhir-api/sandbox-mocks",
      {
          // 9000000015 fails Modulus 11 (see shared/testdata nhs-numbers-observed.csv).
          {"PatientCompoundName.json", {"Bundle.entry[0].resource.identifier[0].value"}},
      });
}

TEST(ValidatorExamples, PdsPatientResponses) {
  ExpectFolderValid(fs::path(TB_SHARED_TESTDATA_DIR) / "ukcore/pds-fhir-api/patient-responses", {});
}

TEST(ValidatorExamples, NrlPointers) {
  ExpectFolderValid(fs::path(TB_SHARED_TESTDATA_DIR) / "ukcore/nrl-pointers",
                    {
                        // Really invalid: ValueSet.contact is a single object, not an array.
                        {"NRLF-RecordCategory-ValueSet.json", {"ValueSet.contact"}},
                        {"NRLF-RecordType-ValueSet.json", {"ValueSet.contact"}},
                    });
}

}  // namespace
}  // namespace tb::fhir
