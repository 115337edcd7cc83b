// Path navigation: elements and arrays, choice types, primitive extensions, type filters,
// extension(url), resolve() within a Bundle, environment variables and tree functions.
#include <gtest/gtest.h>

#include "tests/adapters/fhir/fhirpath/fhirpath_test_util.h"

namespace tb::fhirpath {
namespace {

using testing::Eval;
using testing::IsError;
using testing::Json;
using testing::Strings;

const char* const kPatient = R"({
  "resourceType": "Patient",
  "id": "p1",
  "active": true,
  "name": [
    {"use": "official", "family": "Smith", "given": ["Jane", "Ann"]},
    {"use": "nickname", "given": ["Janie"]}
  ],
  "birthDate": "1980-05-17",
  "_birthDate": {"extension": [
    {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
     "valueDateTime": "1980-05-17T14:35:00+01:00"}]},
  "deceasedBoolean": false,
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
  "extension": [
    {"url": "http://example.org/ext/a", "valueString": "first"},
    {"url": "http://example.org/ext/b", "valueCode": "second"}
  ]
})";

TEST(FhirPathNavigation, ElementsArraysAndLeadingTypeName) {
  auto patient = Json(kPatient);
  EXPECT_EQ(Eval("Patient.name.given", patient), (Strings{"Jane", "Ann", "Janie"}));
  EXPECT_EQ(Eval("name.given", patient), (Strings{"Jane", "Ann", "Janie"}));
  EXPECT_EQ(Eval("name[1].given", patient), (Strings{"Janie"}));
  EXPECT_EQ(Eval("name[5].given", patient), Strings{});
  EXPECT_EQ(Eval("name.where(use = 'official').family", patient), (Strings{"Smith"}));
  EXPECT_EQ(Eval("Patient.`active`", patient), (Strings{"true"}));
  EXPECT_EQ(Eval("Patient.name.family.count()", patient), (Strings{"1"}));
}

TEST(FhirPathNavigation, UnknownElementsAndWrongResourceTypeAreErrors) {
  auto patient = Json(kPatient);
  EXPECT_TRUE(IsError("name.given1", patient));
  EXPECT_TRUE(IsError("Observation.status", patient));
  // Absent but valid elements are simply empty.
  EXPECT_EQ(Eval("Patient.gender", patient), Strings{});
  EXPECT_EQ(Eval("Patient.contact.name.family", patient), Strings{});
}

// Errors that need no data are found when compiling: an element the cast type lacks, and
// picking by position from children()/descendants(), whose order is undefined.
TEST(FhirPathNavigation, SemanticErrorsAreFoundAtCompileTime) {
  auto compiles = [](std::string_view text) { return Expression::Compile(text).has_value(); };
  auto period_unit = Expression::Compile("(Observation.value as Period).unit");
  ASSERT_FALSE(period_unit);
  EXPECT_EQ(period_unit.error().location, "offset 30");
  EXPECT_NE(period_unit.error().message.find("Period"), std::string::npos);
  EXPECT_FALSE(compiles("Observation.value.as(Period).unit"));
  EXPECT_FALSE(compiles("Bundle.entry.resource.ofType(FHIR.Patient).status"));
  EXPECT_FALSE(compiles("Patient.children().skip(1)"));
  EXPECT_FALSE(compiles("Patient.descendants().first()"));
  EXPECT_FALSE(compiles("Patient.children()[0]"));
  // What the cast type has, types the check leaves to run time, and order restored by a filter.
  EXPECT_TRUE(compiles("(Observation.value as Quantity).unit"));
  EXPECT_TRUE(compiles("(Observation.value as Period).start"));
  EXPECT_TRUE(compiles("(Observation.value as Period).extension"));
  EXPECT_TRUE(compiles("Observation.value.ofType(Period).id"));
  EXPECT_TRUE(compiles("Bundle.entry.resource.ofType(Patient).name.family"));
  EXPECT_TRUE(compiles("Bundle.entry.resource.ofType(Resource).id"));
  EXPECT_TRUE(compiles("Bundle.entry.resource.ofType(DomainResource).text"));
  EXPECT_TRUE(compiles("Observation.value.ofType(string).value"));
  EXPECT_TRUE(compiles("(x as System.String).length()"));
  EXPECT_TRUE(compiles("Patient.children().count()"));
  EXPECT_TRUE(compiles("Patient.descendants().where(url.exists()).first()"));
  // The cast's element check agrees with navigation on data.
  auto observation = Json(R"({"resourceType": "Observation", "status": "final",
    "valuePeriod": {"start": "2020-01-01"}})");
  EXPECT_EQ(Eval("(Observation.value as Period).start", observation), Strings{"2020-01-01"});
  EXPECT_EQ(Eval("(Observation.value as Quantity).unit", observation), Strings{});
}

TEST(FhirPathNavigation, ChoiceTypesMatchTheBaseNameAndOfType) {
  auto patient = Json(kPatient);
  EXPECT_EQ(Eval("deceased", patient), (Strings{"false"}));
  EXPECT_EQ(Eval("deceased.ofType(boolean)", patient), (Strings{"false"}));
  EXPECT_EQ(Eval("deceased.ofType(dateTime)", patient), Strings{});
  EXPECT_EQ(Eval("deceased is boolean", patient), (Strings{"true"}));
  // FHIRPath spells a typed choice value[x] as value.ofType(T); valueQuantity is refused.
  EXPECT_TRUE(IsError("Patient.deceasedBoolean", patient));

  auto observation = Json(R"({"resourceType": "Observation", "status": "final",
      "code": {"text": "weight"},
      "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                        "code": "kg"}})");
  EXPECT_EQ(Eval("Observation.value.value", observation), (Strings{"72.5"}));
  EXPECT_EQ(Eval("Observation.value.ofType(Quantity).unit", observation), (Strings{"kg"}));
  EXPECT_EQ(Eval("Observation.value.ofType(Period)", observation), Strings{});
  EXPECT_EQ(Eval("(Observation.value as Quantity).code", observation), (Strings{"kg"}));
  EXPECT_EQ(Eval("Observation.value > 70 'kg'", observation), (Strings{"true"}));
  EXPECT_EQ(Eval("Observation.value = 72500 'g'", observation), (Strings{"true"}));
  EXPECT_EQ(Eval("Observation.value.is(Quantity)", observation), (Strings{"true"}));
}

TEST(FhirPathNavigation, PrimitiveExtensionsAndExtensionFunction) {
  auto patient = Json(kPatient);
  EXPECT_EQ(Eval("birthDate.extension('http://hl7.org/fhir/StructureDefinition/"
                 "patient-birthTime').value",
                 patient),
            (Strings{"1980-05-17T14:35:00+01:00"}));
  EXPECT_EQ(Eval("extension('http://example.org/ext/b').value", patient), (Strings{"second"}));
  EXPECT_EQ(Eval("extension('http://example.org/ext/none')", patient), Strings{});
  EXPECT_EQ(Eval("birthDate.hasValue()", patient), (Strings{"true"}));
  // A primitive that has only an extension has no value, but is there.
  auto only_extension = Json(R"({"resourceType": "Patient",
      "_gender": {"extension": [{"url": "http://example.org/absent", "valueCode": "masked"}]}})");
  EXPECT_EQ(Eval("gender.exists()", only_extension), (Strings{"true"}));
  EXPECT_EQ(Eval("gender.hasValue()", only_extension), (Strings{"false"}));
  EXPECT_EQ(Eval("gender.extension('http://example.org/absent').value", only_extension),
            (Strings{"masked"}));
}

TEST(FhirPathNavigation, PrimitiveTypesComeFromTheModel) {
  auto patient = Json(kPatient);
  EXPECT_EQ(Eval("birthDate.type().name", patient), (Strings{"date"}));
  EXPECT_EQ(Eval("birthDate.type().namespace", patient), (Strings{"FHIR"}));
  EXPECT_EQ(Eval("birthDate < @2000-01-01", patient), (Strings{"true"}));
  EXPECT_EQ(Eval("identifier.value is string", patient), (Strings{"true"}));
  EXPECT_EQ(Eval("name.use.first() is code", patient), (Strings{"true"}));
  EXPECT_EQ(Eval("name.use.first() is string", patient), (Strings{"true"}));  // code <: string
  EXPECT_EQ(Eval("Patient.is(DomainResource)", patient), (Strings{"true"}));
  EXPECT_TRUE(IsError("Patient.is(NoSuchType)", patient));
}

const char* const kBundle = R"({
  "resourceType": "Bundle", "type": "searchset",
  "entry": [
    {"fullUrl": "urn:uuid:6b9a2c3e-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient", "id": "pat-1", "name": [{"family": "Jones"}],
                  "managingOrganization": {"reference": "Organization/org-1"}}},
    {"fullUrl": "https://trust.example.nhs.uk/fhir/Organization/org-1",
     "resource": {"resourceType": "Organization", "id": "org-1", "name": "Example Trust"}},
    {"fullUrl": "https://trust.example.nhs.uk/fhir/Observation/obs-1",
     "resource": {"resourceType": "Observation", "id": "obs-1", "status": "final",
                  "code": {"text": "x"},
                  "subject": {"reference": "urn:uuid:6b9a2c3e-0000-4000-8000-000000000001"},
                  "performer": [{"reference": "https://trust.example.nhs.uk/fhir/Organization/org-1"},
                                {"reference": "Practitioner/missing"}],
                  "contained": [{"resourceType": "Device", "id": "dev"}],
                  "device": {"reference": "#dev"}}}
  ]})";

TEST(FhirPathNavigation, ResolveWithinABundle) {
  auto bundle = Json(kBundle);
  // By fullUrl (urn:uuid and absolute URL) and by relative Type/id.
  EXPECT_EQ(Eval("Bundle.entry.resource.ofType(Observation).subject.resolve().name.family", bundle),
            (Strings{"Jones"}));
  EXPECT_EQ(
      Eval("Bundle.entry.resource.ofType(Patient).managingOrganization.resolve().name", bundle),
      (Strings{"Example Trust"}));
  EXPECT_EQ(Eval("Bundle.entry.resource.ofType(Observation).performer.resolve().id", bundle),
            (Strings{"org-1"}));  // the missing Practitioner resolves to nothing
  EXPECT_EQ(
      Eval("Bundle.entry.resource.ofType(Observation).performer.resolve() is Organization", bundle),
      (Strings{"true"}));
}

TEST(FhirPathNavigation, ResolveContainedUsesTheResourceVariable) {
  auto bundle = Json(kBundle);
  const rapidjson::Value& observation = bundle["entry"][2]["resource"];
  Environment env;
  env.resource = &observation;
  env.root_resource = &bundle;
  EXPECT_EQ(Eval("device.resolve().id", observation, env), (Strings{"dev"}));
  EXPECT_EQ(Eval("subject.resolve().id", observation, env), (Strings{"pat-1"}));
  EXPECT_EQ(Eval("%resource.id", observation, env), (Strings{"obs-1"}));
  EXPECT_EQ(Eval("%rootResource.type", observation, env), (Strings{"searchset"}));
  EXPECT_EQ(Eval("%context.status", observation, env), (Strings{"final"}));
}

TEST(FhirPathNavigation, VariablesAndConstants) {
  auto patient = Json(kPatient);
  Environment env;
  env.variables["nhs"] = {Value::String("9000000009")};
  env.variables["two"] = {Value::Integer(1), Value::Integer(2)};
  EXPECT_EQ(Eval("identifier.where(value = %nhs).system", patient, env),
            (Strings{"https://fhir.nhs.uk/Id/nhs-number"}));
  EXPECT_EQ(Eval("%two.count()", patient, env), (Strings{"2"}));
  EXPECT_EQ(Eval("%ucum", patient, env), (Strings{"http://unitsofmeasure.org"}));
  EXPECT_EQ(Eval("%`vs-administrative-gender`", patient, env),
            (Strings{"http://hl7.org/fhir/ValueSet/administrative-gender"}));
  EXPECT_EQ(Eval("%resource.id", patient, env), (Strings{"p1"}));
  EXPECT_TRUE(IsError("%undefined", patient));
}

TEST(FhirPathNavigation, ChildrenDescendantsAndRepeat) {
  auto patient = Json(R"({"resourceType": "Patient", "id": "x",
      "contact": [{"name": {"family": "A", "given": ["B"]}}]})");
  EXPECT_EQ(Eval("Patient.children().count()", patient), (Strings{"2"}));  // id, contact
  EXPECT_EQ(Eval("Patient.descendants().count()", patient), (Strings{"5"}));
  EXPECT_EQ(Eval("Patient.descendants().ofType(HumanName).family", patient), (Strings{"A"}));
  auto questionnaire = Json(R"({"resourceType": "Questionnaire", "status": "draft",
      "item": [{"linkId": "1", "type": "group",
                "item": [{"linkId": "1.1", "type": "string"},
                         {"linkId": "1.2", "type": "group",
                          "item": [{"linkId": "1.2.1", "type": "string"}]}]}]})");
  EXPECT_EQ(Eval("Questionnaire.repeat(item).linkId", questionnaire),
            (Strings{"1", "1.1", "1.2", "1.2.1"}));
  // repeat() stops when nothing new appears, even for a projection that never empties.
  EXPECT_EQ(Eval("'a'.repeat('a')"), (Strings{"a"}));
}

}  // namespace
}  // namespace tb::fhirpath
