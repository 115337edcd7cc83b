// The API's audit records when the ledger cannot be written: nothing is released and nothing is
// changed (a Consent is recorded before it is stored), and the requester gets 503.
#include "broker/app/access_record.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/app/consent_api.h"
#include "broker/core/clock.h"
#include "broker/core/consent_records.h"
#include "broker/ledger/in_memory_ledger_store.h"
#include "broker/ledger/ledger.h"
#include "broker/policy/scope.h"

namespace tb::app {
namespace {

// Reads like an empty ledger; every write fails as a full disk would.
class FailingLedgerStore final : public core::LedgerStore {
 public:
  core::Status Append(const std::vector<core::LedgerRecord>&,
                      const core::LedgerCheckpoint*) override {
    return Failure();
  }
  core::Result<core::LedgerBatch> AppendAtHead(const core::LedgerChainer&) override {
    return Failure();
  }
  core::Result<std::optional<core::LedgerRecord>> Last() override {
    return std::optional<core::LedgerRecord>();
  }
  core::Result<std::vector<core::LedgerRecord>> ReadRange(std::int64_t, std::size_t) override {
    return std::vector<core::LedgerRecord>();
  }
  core::Result<std::vector<core::LedgerRecord>> Search(const core::LedgerQuery&) override {
    return std::vector<core::LedgerRecord>();
  }
  core::Status WriteCheckpoint(const core::LedgerCheckpoint&) override { return Failure(); }
  core::Result<std::vector<core::LedgerCheckpoint>> ReadCheckpoints() override {
    return std::vector<core::LedgerCheckpoint>();
  }

 private:
  static core::Error Failure() { return core::MakeError(core::ErrorCode::kStorage, "disk full"); }
};

class MemoryConsents final : public core::ConsentRecords {
 public:
  core::Status Put(const core::ConsentRecord& record) override {
    records[record.id] = record;
    return core::Ok();
  }
  core::Result<std::vector<core::ConsentRecord>> GetByNhsNumber(const std::string&) override {
    return std::vector<core::ConsentRecord>();
  }
  core::Result<core::ConsentRecord> GetById(const std::string&) override {
    return core::MakeError(core::ErrorCode::kNotFound, "no such consent");
  }
  std::map<std::string, core::ConsentRecord> records;
};

class AccessRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ledger::Ledger::Open(store_, clock_, nullptr);
    ASSERT_TRUE(opened);
    ledger_ = std::move(*opened);
  }

  core::SystemClock clock_;
  FailingLedgerStore store_;
  std::unique_ptr<ledger::Ledger> ledger_;
};

TEST_F(AccessRecordTest, AReadWhoseRecordCannotBeWrittenReleasesNothing) {
  HopContext context;
  context.broker_ods = "X26";
  context.requester = context.recipient = "RJ1";
  context.query = "Consent";
  const ledger::HopRecord hop =
      ReadHop(context, 1, core::ToUnixMs(std::chrono::system_clock::now()));
  EXPECT_FALSE(RecordAccess(*ledger_, hop));
  core::HttpResponse data;
  data.body = "the patient's consents";
  std::optional<core::HttpResponse> answered;
  RespondWhenAccessRecorded(ledger_.get(), hop, data,
                            [&](core::HttpResponse response) { answered = std::move(response); });
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 503);
  EXPECT_EQ(answered->body.find("the patient's consents"), std::string::npos);
  // Without a ledger (an API tested alone) the answer goes out as it is.
  RespondWhenAccessRecorded(nullptr, hop, data,
                            [&](core::HttpResponse response) { answered = std::move(response); });
  EXPECT_EQ(answered->status, 200);
}

TEST_F(AccessRecordTest, AConsentWhoseRecordCannotBeWrittenIsNotStored) {
  MemoryConsents records;
  ConsentApi api(
      &records, clock_, [](std::function<void()> work) { work(); }, ledger_.get(), "X26");
  core::HttpRequest request;
  request.method = "POST";
  request.target = "/fhir/Consent";
  request.body = R"({"resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": "9434765919"}},
    "provision": {"type": "deny"}})";
  const auto scopes = policy::ScopeSet::Parse({"system/Consent.crus"});
  ASSERT_TRUE(scopes);
  std::optional<core::HttpResponse> answered;
  api.Handle(request, *scopes, "RJ1",
             [&](core::HttpResponse response) { answered = std::move(response); });
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 503) << answered->body;
  // The storage detail stays in the log (fhir::ErrorResponse); the client hears it may retry.
  EXPECT_NE(answered->body.find("try again later"), std::string::npos) << answered->body;
  EXPECT_TRUE(records.records.empty());
}

}  // namespace
}  // namespace tb::app
