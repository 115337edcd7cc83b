#include "adapters/hl7v2/validate.h"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"

namespace tb::hl7v2 {
namespace {

Message Parse(std::string text) {
  auto parsed = Message::Parse(std::move(text));
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  return std::move(parsed).value();
}

std::string WithMsh(std::string_view msh_rest, std::string_view pid3) {
  std::string text = "MSH|^~\\&|PAS|RA1|BRK|NHS|";
  text += msh_rest;
  text += "\rPID|1||";
  text += pid3;
  text += "||SMITH^JANE\r";
  return text;
}

constexpr std::string_view kGoodMsh = "20240501093000||ADT^A01^ADT_A01|C1|P|2.5";
constexpr const char* kHospitalNumber = "RA123^^^RA1^MR";

ValidationRules AdtRules() {
  ValidationRules rules;
  rules.message_types = {"ADT^A01", "ADT^A08", "ACK"};
  return rules;
}

struct ValidationCase {
  std::string_view name;
  std::string msh_rest;
  std::string pid3;
  std::vector<std::pair<core::ErrorCode, std::string>> expected;  // code, location
};

void PrintTo(const ValidationCase& c, std::ostream* out) { *out << c.name; }

class ValidateTable : public testing::TestWithParam<ValidationCase> {};

TEST_P(ValidateTable, ReportsExactlyTheExpectedErrors) {
  const ValidationCase& c = GetParam();
  const Message msg = Parse(WithMsh(c.msh_rest, c.pid3));
  const std::vector<core::Error> errors = Validate(msg, AdtRules());
  std::vector<std::pair<core::ErrorCode, std::string>> got;
  for (const core::Error& e : errors) {
    got.emplace_back(e.code, e.location);
  }
  EXPECT_EQ(got, c.expected);
}

using core::ErrorCode;

INSTANTIATE_TEST_SUITE_P(
    Edge, ValidateTable,
    testing::Values(
        ValidationCase{"Valid", std::string(kGoodMsh), "9434765919^^^NHS^NH", {}},
        ValidationCase{"NhsNumberInSecondRepetition",
                       std::string(kGoodMsh),
                       "RA123^^^RA1^MR~9434765919^^^NHS^NH",
                       {}},
        ValidationCase{"BadCheckDigit",
                       std::string(kGoodMsh),
                       "9434765918^^^NHS^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"BadCheckDigitInSecondRepetition",
                       std::string(kGoodMsh),
                       "RA123^^^RA1^MR~9434765918^^^NHS^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"NotTenDigits",
                       std::string(kGoodMsh),
                       "943476591^^^NHS^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        // Spaces are how some systems write the number; the mapping reads the digits.
        ValidationCase{"WrittenWithSpaces", std::string(kGoodMsh), "943 476 5919^^^NHS^NH", {}},
        ValidationCase{"NhsNbrAuthority",
                       std::string(kGoodMsh),
                       "9434765918^^^NHSNBR^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"NhsNumberUriAuthority",
                       std::string(kGoodMsh),
                       "9434765918^^^&https://fhir.nhs.uk/Id/nhs-number&URI^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        // Another authority makes it another identifier, whatever its type code (as mapped).
        ValidationCase{"OtherAuthorityOfTypeNhIsSomethingElse",
                       std::string(kGoodMsh),
                       "9434765918^^^RX1^NH",
                       {}},
        ValidationCase{"OtherOidWithNhsNamespaceIsSomethingElse",
                       std::string(kGoodMsh),
                       "9434765918^^^NHS&2.16.840.1.113883.19&ISO^NH",
                       {}},
        ValidationCase{"NhsOidAuthority",
                       std::string(kGoodMsh),
                       "9434765918^^^&2.16.840.1.113883.2.1.4.1&ISO^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"OtherAuthorityNotChecked", std::string(kGoodMsh), "123^^^RA1^NH", {}},
        // Assigned by the NHS, whatever the type code, or unassigned with type NH/NHS and ten
        // characters: the v2 -> FHIR mapping reads each as an NHS number and refuses the message
        // when it is invalid, so the edge does too (found by the message ingest fuzz target).
        ValidationCase{"NhsAuthorityButNotNhType",
                       std::string(kGoodMsh),
                       "123^^^NHS^MR",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"NhsTypeCode",
                       std::string(kGoodMsh),
                       "9434765918^^^NHS^NHS",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{"UnassignedTenCharactersOfTypeNh",
                       std::string(kGoodMsh),
                       "9434765918^^^^NH",
                       {{ErrorCode::kInvalidValue, "PID-3"}}},
        ValidationCase{
            "UnassignedShorterOfTypeNhIsSomethingElse", std::string(kGoodMsh), "12345^^^^NH", {}},
        ValidationCase{"MissingMsh9",
                       "20240501093000|||C1|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-9.1"}}},
        ValidationCase{"UnknownType",
                       "20240501093000||ORU^R01|C1|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kUnsupportedMessage, "MSH-9.1"}}},
        ValidationCase{"UnknownTrigger",
                       "20240501093000||ADT^A40|C1|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kUnsupportedEvent, "MSH-9.2"}}},
        ValidationCase{"MissingTrigger",
                       "20240501093000||ADT|C1|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-9.2"}}},
        ValidationCase{"TypeOnlyRuleAcceptsAnyTrigger",
                       "20240501093000||ACK^A01|C1|P|2.5",
                       kHospitalNumber,
                       {}},
        ValidationCase{"MissingControlIdProcessingVersion",
                       "20240501093000||ADT^A01|||",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-10"},
                        {ErrorCode::kRequiredFieldMissing, "MSH-11"},
                        {ErrorCode::kRequiredFieldMissing, "MSH-12"}}},
        ValidationCase{"NullControlId",
                       "20240501093000||ADT^A01|\"\"|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-10"}}},
        ValidationCase{"MissingTimeFromV25",
                       "||ADT^A01|C1|P|2.5",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-7"}}},
        ValidationCase{"MissingTimeBeforeV25IsFine", "||ADT^A01|C1|P|2.4", kHospitalNumber, {}},
        ValidationCase{"AdtPatientWithoutIdentifier",
                       std::string(kGoodMsh),
                       "",
                       {{ErrorCode::kRequiredFieldMissing, "PID-3"}}},
        ValidationCase{"MissingTimeInV3xIsNotFine",
                       "||ADT^A01|C1|P|3.0",
                       kHospitalNumber,
                       {{ErrorCode::kRequiredFieldMissing, "MSH-7"}}},
        ValidationCase{"ManyProblemsAtOnce",
                       "||ORU^R01|||2.5",
                       "1^^^NHS^NH",
                       {{ErrorCode::kRequiredFieldMissing, "MSH-7"},
                        {ErrorCode::kUnsupportedMessage, "MSH-9.1"},
                        {ErrorCode::kRequiredFieldMissing, "MSH-10"},
                        {ErrorCode::kRequiredFieldMissing, "MSH-11"},
                        {ErrorCode::kInvalidValue, "PID-3"}}}),
    [](const testing::TestParamInfo<ValidationCase>& p) { return std::string(p.param.name); });

TEST(Validate, ChecksEveryPidAndNamesTheOccurrence) {
  const Message msg = Parse(
      "MSH|^~\\&|A|B|C|D|2024||ADT^A17|C1|P|2.5\r"
      "PID|1||9434765919^^^NHS^NH\rPV1|1\r"
      "PID|2||9434765910^^^NHS^NH\rPV1|1\r");
  const std::vector<core::Error> errors = Validate(msg, {});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].location, "PID[2]-3");
  EXPECT_EQ(errors[0].message.find("943476591"), std::string::npos);  // no PHI in messages
}

// The segments each accepted type requires: without them no destination could use the message,
// and the v2 -> FHIR mapping (for a destination that takes FHIR) refuses it (found by the HL7 v2
// ingest fuzz target: an ORU^R01 without OBR was acknowledged, then dead-lettered for RGT).
TEST(Validate, EachTypeHasTheSegmentsItRequires) {
  const auto problems = [](std::string text) {
    std::vector<std::string> found;
    for (const core::Error& error : Validate(Parse(std::move(text)), {})) {
      found.push_back(error.location);
    }
    return found;
  };
  const std::string msh = "MSH|^~\\&|PAS|RA1|BRK|NHS|2024||";
  const std::string pid = "PID|1||9434765919^^^NHS^NH\r";
  EXPECT_EQ(problems(msh + "ADT^A01|C1|P|2.5\rEVN|A01\rPV1|1|I\r"),
            std::vector<std::string>{"PID"});
  EXPECT_EQ(problems(msh + "ADT^A40|C1|P|2.5\r" + pid), std::vector<std::string>{"MRG"});
  EXPECT_EQ(problems(msh + "ADT^A34|C1|P|2.5\r" + pid + "MRG|\r"),
            std::vector<std::string>{"MRG-1"});
  EXPECT_TRUE(problems(msh + "ADT^A40|C1|P|2.5\r" + pid + "MRG|H1^^^RA1^MR\r").empty());
  EXPECT_EQ(problems(msh + "ORU^R01|C1|P|2.5\r" + pid + "OBX|1|NM|718-7^Hb^LN||13\r"),
            std::vector<std::string>{"OBR"});
  EXPECT_TRUE(problems(msh + "ORU^R01|C1|P|2.5\rOBR|1\rOBX|1|NM|718-7^Hb^LN||13\r").empty());
  EXPECT_EQ(problems(msh + "ORM^O01|C1|P|2.5\r" + pid), std::vector<std::string>{"OBR"});
  EXPECT_TRUE(problems(msh + "ORM^O01|C1|P|2.5\r" + pid + "ORC|NW\r").empty());
  EXPECT_TRUE(problems(msh + "OML^O21|C1|P|2.5\r" + pid + "OBR|1\r").empty());
  // Types without a rule here (MDM, SIU, ACK) are checked for their MSH fields only.
  EXPECT_TRUE(problems(msh + "MDM^T02|C1|P|2.5\rTXA|1\r").empty());
}

// MRG-1 (the merged record's identifiers) is read as PID-3 is.
TEST(Validate, ChecksTheMergedRecordsNhsNumbers) {
  const std::string msh = "MSH|^~\\&|PAS|RA1|BRK|NHS|2024||ADT^A40|C1|P|2.5\r";
  const std::string pid = "PID|1||9434765919^^^NHS^NH\r";
  EXPECT_TRUE(Validate(Parse(msh + pid + "MRG|9449305552^^^NHS^NH\r"), {}).empty());
  const std::vector<core::Error> errors =
      Validate(Parse(msh + pid + "MRG|9449305553^^^NHS^NH\r"), {});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].location, "MRG-1");
}

// Every CX field the v2 -> FHIR mapping reads an identifier from is checked: an invalid NHS
// number there makes the mapping refuse the whole message.
TEST(Validate, ChecksEveryIdentifierFieldTheMappingReads) {
  const std::string msh = "MSH|^~\\&|PAS|RA1|BRK|NHS|2024||ADT^A01|C1|P|2.5\r";
  const std::string pid = "PID|1||9434765919^^^NHS^NH\r";
  const auto location_of_error = [&](const std::string& segments) {
    const std::vector<core::Error> errors = Validate(Parse(msh + segments), {});
    return errors.size() == 1 ? errors[0].location : "errors: " + std::to_string(errors.size());
  };
  EXPECT_EQ(location_of_error("PID|1|9434765918^^^NHS^NH|9434765919^^^NHS^NH\r"), "PID-2");
  EXPECT_EQ(location_of_error("PID|1||9434765919^^^NHS^NH|9434765918^^^NHS^NH\r"), "PID-4");
  EXPECT_EQ(location_of_error(pid + "PV1|1|I|||9434765918^^^NHS^NH\r"), "PV1-5");
  EXPECT_EQ(location_of_error(pid + "PV1|1|I" + std::string(17, '|') + "9434765918^^^NHS^NH\r"),
            "PV1-19");
  EXPECT_EQ(
      location_of_error(pid + "NK1|1|Doe^Jane" + std::string(31, '|') + "9434765918^^^NHS^NH\r"),
      "NK1-33");
  EXPECT_EQ(
      location_of_error(pid + "NK1|1\rNK1|2" + std::string(32, '|') + "9434765918^^^NHS^NH\r"),
      "NK1[2]-33");
  EXPECT_TRUE(Validate(Parse(msh + pid + "PV1|1|I" + std::string(17, '|') + "V123^^^RX1^VN\r"), {})
                  .empty());
}

// The namespaces that name the NHS number are the rules' (from the mapping tables), not fixed.
TEST(Validate, ReadsTheNamespacesTheRulesName) {
  const Message message = Parse(WithMsh(kGoodMsh, "9434765918^^^NHSE^MR"));
  EXPECT_TRUE(Validate(message, {}).empty());
  ValidationRules rules;
  rules.nhs_number_namespaces = {"NHSE"};
  ASSERT_EQ(Validate(message, rules).size(), 1u);
  EXPECT_EQ(ExtractNhsNumber(message, rules.nhs_number_namespaces), "9434765918");
  EXPECT_EQ(ExtractNhsNumber(message), std::nullopt);
}

// One patient per message: the broker routes, checks consent and maps per patient, and the
// v2 -> FHIR mapping filed a second PID's results under the first PID's Patient.
TEST(Validate, ASecondPatientInOneMessageIsRefused) {
  const std::string msh = "MSH|^~\\&|LAB|RJ1|BRK|NHS|2024||ORU^R01|C1|P|2.5\r";
  const std::string results = "OBR|1||F1|CBC\rOBX|1|NM|HB^Hb||130|g/L\r";
  const auto pid = [](const std::string& pid3) { return "PID|1||" + pid3 + "|\r"; };
  const Message two =
      Parse(msh + pid("9434765919^^^NHS^NH") + results + pid("9449305552^^^NHS^NH") + results);
  const std::vector<core::Error> errors = Validate(two, {});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kUnsupportedMessage);
  EXPECT_EQ(errors[0].location, "PID[2]");
  EXPECT_EQ(PidOfAnotherPatient(two), 2u);
  // The same patient again (the same PID-3, or an NHS number in common) is one patient.
  EXPECT_TRUE(Validate(Parse(msh + pid("9434765919^^^NHS^NH") + results +
                             pid("9434765919^^^NHS^NH") + results),
                       {})
                  .empty());
  EXPECT_EQ(PidOfAnotherPatient(Parse(msh + pid("RX1^^^RX1^MR~9434765919^^^NHS^NH") + results +
                                      pid("9434765919^^^NHS^NH") + results)),
            std::nullopt);
  // Without NHS numbers only the same PID-3 is the same patient; the third PID is reported
  // when the second is the first's.
  EXPECT_EQ(PidOfAnotherPatient(
                Parse(msh + pid("RX1^^^RX1^MR") + pid("RX1^^^RX1^MR") + pid("RX2^^^RX1^MR"))),
            3u);
  EXPECT_EQ(PidOfAnotherPatient(
                Parse(msh + pid("RX1^^^RX1^MR~9434765919^^^NHS^NH") + pid("RX1^^^RX1^MR"))),
            2u);
  // An event about two patients by definition keeps its second PID.
  const std::string a24 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A24|C1|P|2.5\rEVN|A24\r";
  EXPECT_TRUE(
      Validate(Parse(a24 + pid("9434765919^^^NHS^NH") + pid("9449305552^^^NHS^NH")), {}).empty());
}

// Every NHS number a message names routes it to that number's holders and announces the sender
// as one of them: a PID naming two, or an MRG naming one outside a merge, would let a sender
// claim any patient (found in review).
TEST(Validate, ARecordNamesOneNhsNumberAndOnlyAMergeNamesARetiredOne) {
  const std::string a08 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A08|C1|P|2.5\rEVN|A08\r";
  const auto location_of_error = [](const std::string& text) {
    const std::vector<core::Error> errors = Validate(Parse(text), {});
    return errors.size() == 1 ? errors[0].location : "errors: " + std::to_string(errors.size());
  };
  EXPECT_EQ(location_of_error(a08 + "PID|1||9434765919^^^NHS^NH~9449305552^^^NHS^NH\r"), "PID-3");
  EXPECT_EQ(location_of_error(a08 + "PID|1|9449305552^^^NHS^NH|9434765919^^^NHS^NH\r"), "PID-2");
  const std::string a24 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A24|C1|P|2.5\rEVN|A24\r";
  EXPECT_EQ(location_of_error(a24 + "PID|1||9434765919^^^NHS^NH\r"
                                    "PID|2||9449305552^^^NHS^NH|9434765870^^^NHS^NH\r"),
            "PID[2]-4");
  // The same number twice, or beside local numbers, is one.
  EXPECT_TRUE(
      Validate(Parse(a08 + "PID|1|9434765919^^^NHS^NH|RX1^^^RX1^MR~9434765919^^^NHS^NH\r"), {})
          .empty());
  EXPECT_EQ(location_of_error(a08 + "PID|1||9434765919^^^NHS^NH\rMRG|9449305552^^^NHS^NH\r"),
            "MRG-1");
  const std::string a40 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A40|C1|P|2.5\rEVN|A40\r";
  EXPECT_TRUE(
      Validate(Parse(a40 + "PID|1||9434765919^^^NHS^NH\rMRG|9449305552^^^NHS^NH\r"), {}).empty());
}

// Whoever receives a two-patient event receives both patients' data: the delivery reads every
// patient's NHS number (and checks each one's consents).
TEST(PatientNhsNumbers, EveryPidsNumbersOnceTheRoutingKeyFirst) {
  const std::string a24 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A24|C1|P|2.5\rEVN|A24\r";
  const auto pid = [](const std::string& pid3) { return "PID|1||" + pid3 + "|\r"; };
  const Message two = Parse(a24 + pid("RX1^^^RX1^MR~9434765919^^^NHS^NH") +
                            pid("9449305552^^^NHS^NH~9434765919^^^NHS^NH"));
  EXPECT_EQ(PatientNhsNumbers(two), (std::vector<std::string>{"9434765919", "9449305552"}));
  EXPECT_EQ(PatientNhsNumbers(two).front(), ExtractNhsNumber(two));
  // Only what the namespaces make an NHS number.
  EXPECT_EQ(PatientNhsNumbers(Parse(a24 + pid("9434765919^^^NHSNBR^NH") + pid("RX2^^^RX1^MR"))),
            (std::vector<std::string>{"9434765919"}));
  EXPECT_TRUE(PatientNhsNumbers(Parse(a24 + pid("RX1^^^RX1^MR"))).empty());
  EXPECT_TRUE(PatientNhsNumbers(Parse(a24)).empty());
  // Every field the mapping writes a Patient's identifiers from: PID-2 and PID-4 after PID-3,
  // and a merge's retired record (MRG-1, MRG-2), which the mapping writes as a linked Patient.
  const std::string a40 = "MSH|^~\\&|PAS|RJ1|BRK|NHS|2024||ADT^A40|C1|P|2.5\rEVN|A40\r";
  EXPECT_EQ(
      PatientNhsNumbers(Parse(a40 + "PID|1|9449305552^^^NHS^NH|RX1^^^RX1^MR~9434765919^^^NHS^NH\r"
                                    "MRG|9434765870^^^NHS^NH~RX0^^^RX1^MR\r")),
      (std::vector<std::string>{"9434765919", "9449305552", "9434765870"}));
}

TEST(Validate, VersionAndProcessingIdSets) {
  ValidationRules rules;
  rules.versions = {"2.5", "2.5.1"};
  rules.processing_ids = {"P"};
  const Message msg = Parse(WithMsh("2024||ADT^A01|C1|T|2.4", kHospitalNumber));
  const std::vector<core::Error> errors = Validate(msg, rules);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].code, ErrorCode::kUnsupportedProcessingId);
  EXPECT_EQ(errors[1].code, ErrorCode::kUnsupportedVersion);
}

TEST(Validate, NhsCheckCanBeTurnedOff) {
  ValidationRules rules;
  rules.check_nhs_number = false;
  EXPECT_TRUE(Validate(Parse(WithMsh(kGoodMsh, "1^^^NHS^NH")), rules).empty());
}

TEST(ExtractNhsNumber, FindsItInWhicheverRepetition) {
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "RA1^^^RA1^MR~9434765919^^^NHS^NH"))),
            "9434765919");
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "9434765919^^^NHS^NH"))), "9434765919");
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "RA1^^^RA1^MR"))), std::nullopt);
  EXPECT_EQ(ExtractNhsNumber(Parse("MSH|^~\\&\rEVN|A01\r")), std::nullopt);
  // The routing key is the number the mapping writes: spaces dropped, any NHS authority or
  // type code, never an identifier another authority assigned.
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "943 476 5919^^^NHS^NH"))), "9434765919");
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "9434765919^^^NHSNBR^MR"))), "9434765919");
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "9434765919^^^^NHS"))), "9434765919");
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "9434765919^^^RX1^NH"))), std::nullopt);
  // Returned unchecked: validation is the caller's (or Validate's) job.
  EXPECT_EQ(ExtractNhsNumber(Parse(WithMsh(kGoodMsh, "~~123^^^NHS^NH"))), "123");
}

}  // namespace
}  // namespace tb::hl7v2
