// Golden tests against the Microsoft FHIR-Converter input/expected pairs in
// shared/testdata/v2-to-fhir/microsoft-fhir-converter-expected. The expected Bundles come from
// Microsoft's Liquid templates, not from this mapper, so the comparison is on clinical content
// (see docs/mappings.md, "Golden tests", for what is compared and each deliberate difference).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "adapters/hl7v2/message.h"
#include "tests/mappings/v2_to_fhir_test_util.h"
#include "tests/support/temp_dir.h"

namespace tb::mappings {
namespace {

using testing::Json;
using testing::PassesValidator;
using testing::Resolve;
using testing::Resource;
using testing::Resources;
using testing::Str;

const std::filesystem::path kPairs =
    std::filesystem::path(TB_SHARED_TESTDATA_DIR) / "v2-to-fhir/microsoft-fhir-converter-expected";

// Seconds since the epoch of a FHIR dateTime with a time of day; nullopt for dates.
std::optional<std::int64_t> Instant(std::string_view t) {
  if (t.size() < 19 || t[10] != 'T') {
    return std::nullopt;
  }
  const auto num = [&](std::size_t pos, std::size_t len) {
    return std::stoi(std::string(t.substr(pos, len)));
  };
  using namespace std::chrono;
  const sys_days day{year{num(0, 4)} / month{static_cast<unsigned>(num(5, 2))} /
                     std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  std::int64_t seconds =
      day.time_since_epoch().count() * 86400LL + num(11, 2) * 3600 + num(14, 2) * 60 + num(17, 2);
  const std::size_t zone = t.find_first_of("+-Z", 19);
  if (zone != std::string_view::npos && t[zone] != 'Z') {
    const int offset = num(zone + 1, 2) * 3600 + num(zone + 4, 2) * 60;
    seconds -= t[zone] == '-' ? -offset : offset;
  }
  return seconds;
}

void ExpectSameTime(std::string_view ours, std::string_view theirs, std::string_view what) {
  const auto a = Instant(ours);
  const auto b = Instant(theirs);
  if (a && b) {
    EXPECT_EQ(*a, *b) << what << ": " << ours << " vs " << theirs;
  } else {
    EXPECT_EQ(ours, theirs) << what;
  }
}

std::vector<std::string> StringsOf(const rapidjson::Value& object, std::string_view array,
                                   std::string_view member) {
  std::vector<std::string> out;
  if (const auto* list = fhir::FindArray(object, array)) {
    for (const auto& item : list->GetArray()) {
      out.push_back(Str(item, member));
    }
  }
  return out;
}

std::string FirstCode(const rapidjson::Value& cc) {
  const auto* codings = fhir::FindArray(cc, "coding");
  return codings != nullptr && !codings->Empty() ? Str((*codings)[0], "code") : std::string();
}

// FirstCode of resource.code, "" when absent.
std::string CodeOf(const rapidjson::Value& resource) {
  const auto* code = fhir::FindObject(resource, "code");
  return code != nullptr ? FirstCode(*code) : std::string();
}

class GoldenPair : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    er7_ = tb::testing::ReadFile(kPairs / (GetParam() + ".hl7"));
    auto message = hl7v2::Message::Parse(er7_);
    ASSERT_TRUE(message.has_value()) << message.error().message;
    for (std::size_t i = 1; i <= message->SegmentCount(); ++i) {
      const auto segment = message->Segment(i);
      if (segment.id() == "PID") {
        pid_ = std::string(segment.raw());
      } else if (segment.id() == "OBX") {
        obx_codes_.insert(std::string(segment.Field(3).Component(1).raw()));
      } else if (segment.id() == "OBR") {
        obr_codes_.insert(std::string(segment.Field(4).Component(1).raw()));
      }
    }
    auto expected =
        fhir::ParseJson(tb::testing::ReadFile(kPairs / (GetParam() + "-expected.json")));
    ASSERT_TRUE(expected.has_value());
    expected_ = std::move(*expected);
    auto ours = MapV2ToFhir(er7_, testing::Tables());
    ASSERT_TRUE(ours.has_value()) << ours.error().message << " at " << ours.error().location;
    auto parsed = fhir::ParseJson(*ours);
    ASSERT_TRUE(parsed.has_value());
    ours_ = std::move(*parsed);
  }

  std::string er7_;
  std::string pid_;
  std::set<std::string> obx_codes_;
  std::set<std::string> obr_codes_;
  rapidjson::Document expected_;
  rapidjson::Document ours_;
};

TEST_P(GoldenPair, PassesTheValidator) { EXPECT_TRUE(PassesValidator(ours_)); }

TEST_P(GoldenPair, PatientMatches) {
  const auto* theirs = Resource(expected_, "Patient");
  const auto* ours = Resource(ours_, "Patient");
  ASSERT_NE(ours, nullptr);
  if (theirs == nullptr) {
    GTEST_SKIP() << "no Patient in the expected Bundle";
  }
  EXPECT_EQ(Str(*ours, "gender"), Str(*theirs, "gender"));
  EXPECT_EQ(Str(*ours, "birthDate"), Str(*theirs, "birthDate"));
  ASSERT_TRUE(ours->HasMember("name"));
  EXPECT_EQ(Str((*ours)["name"][0], "family"), Str((*theirs)["name"][0], "family"));
  EXPECT_EQ(fhir::StringOf((*ours)["name"][0]["given"][0]),
            fhir::StringOf((*theirs)["name"][0]["given"][0]));
  // Identifiers: every identifier the reference took from PID is ours, and we add none that the
  // reference does not have.
  const auto our_ids = StringsOf(*ours, "identifier", "value");
  const auto their_ids = StringsOf(*theirs, "identifier", "value");
  for (const auto& id : their_ids) {
    if (pid_.find(id) != std::string::npos) {
      EXPECT_NE(std::find(our_ids.begin(), our_ids.end(), id), our_ids.end()) << id;
    }
  }
  for (const auto& id : our_ids) {
    EXPECT_NE(std::find(their_ids.begin(), their_ids.end(), id), their_ids.end()) << id;
  }
  if (theirs->HasMember("address") && ours->HasMember("address")) {
    const auto& a = (*ours)["address"][0];
    const auto& b = (*theirs)["address"][0];
    EXPECT_EQ(Str(a, "city"), Str(b, "city"));
    EXPECT_EQ(Str(a, "postalCode"), Str(b, "postalCode"));
    EXPECT_EQ(Str(a, "state"), Str(b, "state"));
    EXPECT_NE(fhir::StringOf(a["line"][0]).find(fhir::StringOf(b["line"][0])), std::string::npos);
  }
}

TEST_P(GoldenPair, EncounterMatches) {
  const auto* theirs = Resource(expected_, "Encounter");
  const auto* ours = Resource(ours_, "Encounter");
  if (theirs == nullptr) {
    GTEST_SKIP() << "no Encounter in the expected Bundle";
  }
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(Str((*ours)["class"], "code"), Str((*theirs)["class"], "code"));
  EXPECT_EQ(Str((*ours)["class"], "system"), Str((*theirs)["class"], "system"));
  EXPECT_EQ(Str(*ours, "status"), Str(*theirs, "status"));
  if (const auto* period = fhir::FindObject(*theirs, "period")) {
    ASSERT_TRUE(ours->HasMember("period"));
    ExpectSameTime(Str((*ours)["period"], "start"), Str(*period, "start"), "period.start");
    ExpectSameTime(Str((*ours)["period"], "end"), Str(*period, "end"), "period.end");
  }
  // The current location (PV1-3): the reference names its point of care, ours the whole place.
  auto message = hl7v2::Message::Parse(er7_);
  ASSERT_TRUE(message.has_value());
  const std::string point_of_care(message->Get("PV1-3.1.1").raw());
  bool reference_has_it = false;
  for (const auto* location : Resources(expected_, "Location")) {
    reference_has_it = reference_has_it || Str(*location, "name") == point_of_care;
  }
  EXPECT_TRUE(reference_has_it) << point_of_care;
  ASSERT_TRUE(ours->HasMember("location"));
  const auto* our_location = Resolve(ours_, (*ours)["location"][0]["location"]);
  ASSERT_NE(our_location, nullptr);
  EXPECT_NE(Str(*our_location, "name").find(point_of_care), std::string::npos)
      << Str(*our_location, "name") << " vs " << point_of_care;
}

TEST_P(GoldenPair, ObservationsMatch) {
  const auto ours = Resources(ours_, "Observation");
  std::size_t compared = 0;
  std::vector<bool> used(ours.size(), false);
  for (const auto* theirs : Resources(expected_, "Observation")) {
    const std::string code = CodeOf(*theirs);
    if (obx_codes_.count(code) == 0) {
      continue;  // derived by the reference from other segments (PDA, ACC, ...)
    }
    // The same code may occur twice (ORU-R01-01); prefer the one with the same status.
    std::optional<std::size_t> pick;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      if (!used[i] && CodeOf(*ours[i]) == code &&
          (!pick || (Str(*ours[i], "status") == Str(*theirs, "status") &&
                     Str(*ours[*pick], "status") != Str(*theirs, "status")))) {
        pick = i;
      }
    }
    const rapidjson::Value* match = nullptr;
    if (pick) {
      used[*pick] = true;
      match = ours[*pick];
    }
    ASSERT_NE(match, nullptr) << code;
    ++compared;
    EXPECT_EQ(Str(*match, "status"), Str(*theirs, "status")) << code;
    if (const auto* quantity = fhir::FindObject(*theirs, "valueQuantity")) {
      ASSERT_TRUE(match->HasMember("valueQuantity")) << code;
      EXPECT_DOUBLE_EQ((*match)["valueQuantity"]["value"].GetDouble(),
                       (*quantity)["value"].GetDouble());
      EXPECT_EQ(Str((*match)["valueQuantity"], "unit"), Str(*quantity, "unit"));
    }
    if (const auto* cc = fhir::FindObject(*theirs, "valueCodeableConcept")) {
      ASSERT_TRUE(match->HasMember("valueCodeableConcept")) << code;
      EXPECT_EQ(FirstCode((*match)["valueCodeableConcept"]), FirstCode(*cc));
      EXPECT_EQ(Str((*match)["valueCodeableConcept"]["coding"][0], "system"),
                Str((*cc)["coding"][0], "system"));
    }
    if (theirs->HasMember("effectiveDateTime")) {
      ExpectSameTime(Str(*match, "effectiveDateTime"), Str(*theirs, "effectiveDateTime"),
                     "effectiveDateTime");
    }
    std::vector<std::string> our_flags;
    if (const auto* list = fhir::FindArray(*match, "interpretation")) {
      for (const auto& flag : list->GetArray()) {
        our_flags.push_back(FirstCode(flag));
      }
    }
    if (const auto* list = fhir::FindArray(*theirs, "interpretation")) {
      for (const auto& flag : list->GetArray()) {
        EXPECT_NE(std::find(our_flags.begin(), our_flags.end(), FirstCode(flag)), our_flags.end())
            << code << " interpretation " << FirstCode(flag);
      }
    }
  }
  RecordProperty("observations_compared", static_cast<int>(compared));
}

TEST_P(GoldenPair, ReportsAllergiesAndConditionsMatch) {
  for (const auto* theirs : Resources(expected_, "DiagnosticReport")) {
    const std::string code = CodeOf(*theirs);
    if (obr_codes_.count(code) == 0) {
      continue;
    }
    const rapidjson::Value* match = nullptr;
    for (const auto* ours : Resources(ours_, "DiagnosticReport")) {
      if (CodeOf(*ours) == code && match == nullptr) {
        match = ours;
      }
    }
    ASSERT_NE(match, nullptr) << code;
    EXPECT_EQ(Str(*match, "status"), Str(*theirs, "status")) << code;
    // Every result the reference lists is one of ours (by code).
    std::vector<std::string> our_results;
    for (const auto& ref : (*match)["result"].GetArray()) {
      const auto* observation = Resolve(ours_, ref);
      ASSERT_NE(observation, nullptr);
      our_results.push_back(CodeOf(*observation));
    }
    EXPECT_GE(our_results.size(), (*theirs)["result"].Size()) << code;
  }
  const auto their_allergies = Resources(expected_, "AllergyIntolerance");
  const auto our_allergies = Resources(ours_, "AllergyIntolerance");
  ASSERT_EQ(our_allergies.size(), their_allergies.size());
  for (std::size_t i = 0; i < our_allergies.size(); ++i) {
    EXPECT_EQ(CodeOf(*our_allergies[i]), CodeOf(*their_allergies[i]));
  }
  std::vector<std::string> their_conditions;
  for (const auto* condition : Resources(expected_, "Condition")) {
    their_conditions.push_back(CodeOf(*condition));
  }
  for (const auto* condition : Resources(ours_, "Condition")) {
    const std::string code = CodeOf(*condition);
    EXPECT_NE(std::find(their_conditions.begin(), their_conditions.end(), code),
              their_conditions.end())
        << code;
  }
}

INSTANTIATE_TEST_SUITE_P(MicrosoftFhirConverter, GoldenPair,
                         ::testing::Values("ADT-A01-01", "ADT-A02-01", "ADT-A03-01", "ADT-A08-01",
                                           "ADT-A28-01", "ADT-A31-01", "ADT-A40-01", "ADT01-28",
                                           "LAB-ORU-1", "ORU-R01-01"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The message types we do not map are refused with a clear error, not half-mapped.
TEST(GoldenPairUnsupported, OtherMessageTypesAreRefused) {
  for (const char* name : {"MDM-T01-01", "MDM-T02-01", "SIU-S12-01", "VXU-V04-01"}) {
    auto result = MapV2ToFhir(tb::testing::ReadFile(kPairs / (std::string(name) + ".hl7")),
                              testing::Tables());
    ASSERT_FALSE(result.has_value()) << name;
    EXPECT_EQ(result.error().code, core::ErrorCode::kUnsupportedMessage) << name;
  }
  // The HL7 v2-to-FHIR IG's own sample input is an MDM^T02 (its ADT^A01 sample Bundle ships
  // without the message it came from, so it cannot serve as a pair).
  auto ig = MapV2ToFhir(
      tb::testing::ReadFile(std::filesystem::path(TB_SHARED_TESTDATA_DIR) /
                            "v2-to-fhir/hl7-v2-to-fhir-ig/samples/Message.hl7_MDM_T02.txt"),
      testing::Tables());
  ASSERT_FALSE(ig.has_value());
  EXPECT_EQ(ig.error().code, core::ErrorCode::kUnsupportedMessage);
}

}  // namespace
}  // namespace tb::mappings
