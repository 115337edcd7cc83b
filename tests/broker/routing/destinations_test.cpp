// Where an inbound message goes (issue 5 item 4): addressed, broadcast to the patient's trusts,
// or refused because the addressee is not a registered participant.
#include "broker/routing/destinations.h"

#include <gtest/gtest.h>

#include "tests/support/in_memory_record_locator.h"

namespace tb::routing {
namespace {

Participant Make(std::string ods, std::string fhir_base, std::string mllp_host,
                 std::vector<std::string> receives = {}, std::string format = {}) {
  Participant participant;
  participant.ods = ods;
  participant.cert_cn = ods;
  participant.fhir_base = std::move(fhir_base);
  participant.mllp.host = std::move(mllp_host);
  participant.mllp.port = participant.mllp.host.empty() ? 0 : 2575;
  participant.receives = std::move(receives);
  participant.format = std::move(format);
  return participant;
}

class DestinationsTest : public ::testing::Test {
 protected:
  DestinationsTest()
      : directory_({Make("RJ1", "", ""),                                    // sends only
                    Make("RGT", "https://rgt/fhir", ""),                    // FHIR only
                    Make("RXH", "", "127.0.0.1"),                           // v2 only
                    Make("RAJ", "https://raj/fhir", "127.0.0.1", {"ORU"}),  // both, results only
                    Make("RQM", "https://rqm/fhir", "127.0.0.1", {}, "fhir")},
                   {}) {
    for (const char* ods : {"RJ1", "RGT", "RXH", "RAJ", "RQM"}) {
      EXPECT_TRUE(locator_.Announce("9449305552", ods, "test", 1));
    }
  }

  core::Result<std::vector<Destination>> Resolve(std::string type, std::string to,
                                                 std::string nhs = "9449305552") {
    return ResolveDestinations({"RJ1", std::move(type), std::move(to), std::move(nhs)}, directory_,
                               &locator_, "X26");
  }

  static std::string Describe(const std::vector<Destination>& destinations) {
    std::string text;
    for (const Destination& d : destinations) {
      text += d.ods + ":" + d.format + " ";
    }
    return text;
  }

  testing::InMemoryRecordLocator locator_;
  ParticipantDirectory directory_;
};

TEST_F(DestinationsTest, AddressedToTheBrokerGoesToEveryTrustHoldingThePatientButTheSender) {
  auto destinations = Resolve("ADT^A01", "X26");
  ASSERT_TRUE(destinations);
  EXPECT_EQ(Describe(*destinations), "RGT:fhir RQM:fhir RXH:hl7v2 ");  // RAJ takes only ORU
}

TEST_F(DestinationsTest, UnaddressedIsTheSameAsAddressedToTheBroker) {
  EXPECT_EQ(Describe(*Resolve("ORU^R01", "")), "RAJ:hl7v2 RGT:fhir RQM:fhir RXH:hl7v2 ");
}

TEST_F(DestinationsTest, AddressedToAParticipantGoesThereOnly) {
  EXPECT_EQ(Describe(*Resolve("ADT^A01", "rxh")), "RXH:hl7v2 ");
  EXPECT_EQ(Describe(*Resolve("ORU^R01", "RAJ")), "RAJ:hl7v2 ");
}

// An addressee that cannot take the message is an error the sender hears (AR, 422), not a
// message acknowledged and then delivered nowhere; each reason is named.
TEST_F(DestinationsTest, AnAddresseeThatCannotTakeTheMessageIsRefusedWithTheReason) {
  const auto refusal = [this](DestinationRequest request) {
    auto resolved = ResolveDestinations(request, directory_, &locator_, "X26");
    EXPECT_FALSE(resolved) << Describe(*resolved);
    if (resolved) {
      return std::string();
    }
    EXPECT_EQ(resolved.error().code, core::ErrorCode::kUndeliverable);
    EXPECT_EQ(resolved.error().location, "MSH-6");
    return resolved.error().message;
  };
  EXPECT_EQ(refusal({"RJ1", "ADT^A01", "RAJ", "9449305552"}),
            "the receiving facility does not take ADT^A01 messages (its receives list)");
  EXPECT_EQ(refusal({"RJ1", "ADT^A06", "RGT", "9449305552", /*fhir_readable=*/false}),
            "the receiving facility takes FHIR, and ADT^A06 has no FHIR mapping");
  EXPECT_EQ(refusal({"RJ1", "ADT^A01", "RJ1", "9449305552"}),
            "the receiving facility is the sender");
  ParticipantDirectory no_endpoint({Make("RJ1", "", ""), Make("RGT", "", "")}, {});
  auto resolved = ResolveDestinations({"RJ1", "ADT^A01", "RGT", ""}, no_endpoint, nullptr, "X26");
  ASSERT_FALSE(resolved);
  EXPECT_EQ(resolved.error().message, "the receiving facility has no endpoint that takes messages");
  // Among the patient's holders, one that cannot take it is only left out: it was not named.
  EXPECT_EQ(Describe(*Resolve("ADT^A01", "")), "RGT:fhir RQM:fhir RXH:hl7v2 ");
}

// A configured format without its endpoint (v2 without `mllp`, FHIR without `fhir_base`) cannot
// be delivered: refused when addressed, left out among the holders, never acknowledged and then
// dead at delivery.
TEST_F(DestinationsTest, AConfiguredFormatWithoutItsEndpointCannotReceive) {
  ParticipantDirectory directory(
      {Make("RJ1", "", ""), Make("RQ9", "https://rq9/fhir", "", {}, "hl7v2"),
       Make("RQ8", "", "127.0.0.1", {}, "fhir")},
      {});
  for (const char* addressee : {"RQ9", "RQ8"}) {
    auto resolved =
        ResolveDestinations({"RJ1", "ADT^A01", addressee, "9449305552"}, directory, nullptr, "X26");
    ASSERT_FALSE(resolved) << addressee << ": " << Describe(*resolved);
    EXPECT_EQ(resolved.error().code, core::ErrorCode::kUndeliverable);
  }
  EXPECT_TRUE(DestinationsOfHolders({"RJ1", "ADT^A01", "", "9449305552"}, directory, {"RQ8", "RQ9"})
                  .empty());
}

// A v2 message the v2 -> FHIR mapping does not cover (fhir_readable false) never goes to a
// participant that takes FHIR: it could not read it, and the delivery would be a dead letter
// holding the patient's later messages there.
TEST_F(DestinationsTest, AMessageWithoutAFhirMappingGoesOnlyToV2Participants) {
  DestinationRequest request{"RJ1", "ADT^A06", "", "9449305552", /*fhir_readable=*/false};
  auto destinations = ResolveDestinations(request, directory_, &locator_, "X26");
  ASSERT_TRUE(destinations);
  EXPECT_EQ(Describe(*destinations), "RXH:hl7v2 ");
  EXPECT_EQ(Describe(DestinationsOfHolders(request, directory_, {"RGT", "RQM", "RXH"})),
            "RXH:hl7v2 ");
}

TEST_F(DestinationsTest, AddresseeThatIsNoParticipantIsRefused) {
  auto refused = Resolve("ADT^A01", "ZZZ99");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kForbidden);
  EXPECT_EQ(refused.error().location, "MSH-6");
}

TEST_F(DestinationsTest, NoPatientAndNoAddresseeGoesNowhere) {
  EXPECT_TRUE(Resolve("ADT^A01", "", "")->empty());
}

TEST_F(DestinationsTest, UnknownPatientGoesNowhere) {
  EXPECT_TRUE(Resolve("ADT^A01", "", "9000000009")->empty());
}

TEST_F(DestinationsTest, LocatorFailureIsAnError) {
  locator_.SetFailure(core::MakeError(core::ErrorCode::kStorage, "locked"));
  EXPECT_EQ(Resolve("ADT^A01", "").error().code, core::ErrorCode::kStorage);
}

TEST_F(DestinationsTest, RoutingByHoldersIsResolveAfterItsLocatorRead) {
  const DestinationRequest to_broker{"RJ1", "ORU^R01", "x26", "9449305552"};
  EXPECT_TRUE(RoutesByHolders(to_broker, "X26"));
  EXPECT_TRUE(RoutesByHolders({"RJ1", "ORU^R01", "", "9449305552"}, "X26"));
  EXPECT_FALSE(RoutesByHolders({"RJ1", "ORU^R01", "", ""}, "X26")) << "no patient";
  EXPECT_FALSE(RoutesByHolders({"RJ1", "ORU^R01", "RXH", "9449305552"}, "X26")) << "addressed";
  const std::vector<std::string> holders = {"RAJ", "RGT", "RJ1", "RQM", "RXH", "ZZZ99", "RGT"};
  EXPECT_EQ(Describe(DestinationsOfHolders(to_broker, directory_, holders)),
            Describe(*Resolve("ORU^R01", "x26")));
  EXPECT_EQ(
      Describe(DestinationsOfHolders({"RJ1", "ADT^A01", "", "9449305552"}, directory_, holders)),
      "RGT:fhir RQM:fhir RXH:hl7v2 ");
  EXPECT_TRUE(DestinationsOfHolders(to_broker, directory_, {}).empty());
}

TEST(ReceivingFormat, ConfiguredFormatWinsThenMllpThenFhir) {
  EXPECT_EQ(ReceivingFormat(Make("A", "https://a/fhir", "127.0.0.1", {}, "fhir")), "fhir");
  EXPECT_EQ(ReceivingFormat(Make("A", "https://a/fhir", "127.0.0.1")), "hl7v2");
  EXPECT_EQ(ReceivingFormat(Make("A", "https://a/fhir", "")), "fhir");
  EXPECT_EQ(ReceivingFormat(Make("A", "", "")), "");
}

// The sender of a two-patient message holds both: each is announced, the routing key first; a
// locator that fails is reported.
TEST(AnnounceSender, EveryPatientOfTheMessageIsAnnouncedForTheSender) {
  testing::InMemoryRecordLocator locator;
  ASSERT_TRUE(AnnounceSender(locator, "9449305552", {"9434765919"}, "RGT", "hl7v2:ADT^A17", 7));
  for (const char* nhs : {"9449305552", "9434765919"}) {
    auto holders = locator.Lookup(nhs);
    ASSERT_TRUE(holders);
    ASSERT_EQ(holders->size(), 1u) << nhs;
    EXPECT_EQ((*holders)[0].ods, "RGT");
    EXPECT_EQ((*holders)[0].source, "hl7v2:ADT^A17");
  }
  locator.SetFailure(core::MakeError(core::ErrorCode::kStorage, "down"));
  const core::Status failed = AnnounceSender(locator, "9449305552", {}, "RXH", "fhir:x", 8);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, core::ErrorCode::kStorage);
}

}  // namespace
}  // namespace tb::routing
