// Fuzzes what a trust's or a peer broker's answer goes through before it reaches a requester:
// JudgeAnswer and the merge (as text and as a DOM), then the release pipeline of FhirApi
// (sensitivity labels, scopes and consents per resource, a page, pseudonymisation). The answers
// come from other organisations' servers, so they are untrusted input as much as a request is.
//
// Input: answers separated by "\n\x1e\n" (one part is answered by every target); the first byte
// also chooses how many targets answer (1-3), whether the first is a peer broker, whether the
// second failed with HTTP 500, whether the requester gets a page and pseudonymised data, and
// whether the search was about one patient (ReleasePolicy::patient).
//
// Checked, besides no crash or sanitizer report:
//  - the text merge and the DOM merge give the same Bundle, which reads back as a searchset
//    whose total counts its match entries and whose entries each name their source;
//  - filtering is idempotent: a second pass over the released Bundle withholds nothing;
//  - after pseudonymisation no Identifier keeps the NHS number system;
//  - whatever is released writes out as JSON that reads back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/json.h"
#include "broker/policy/consent.h"
#include "broker/policy/filter.h"
#include "broker/policy/labels.h"
#include "broker/policy/paging.h"
#include "broker/policy/pseudonymise.h"
#include "broker/policy/scope.h"
#include "broker/routing/bundle_merge.h"
#include "tests/fuzz/fhir_checks.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tb;

constexpr std::string_view kSeparator = "\n\x1e\n";
constexpr const char* kTargets[] = {"RJ1", "RGT", "RXH"};

using tb::fuzz::Check;
using tb::fuzz::CheckNoNhsNumberSystem;

std::vector<std::string_view> SplitAnswers(std::string_view text) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = text.find(kSeparator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return parts;
    }
    text.remove_prefix(at + kSeparator.size());
  }
}

std::vector<routing::UpstreamAnswer> Answers(std::uint8_t flags,
                                             const std::vector<std::string_view>& parts) {
  const std::size_t targets = 1 + (flags & 3u) % 3;
  std::vector<routing::UpstreamAnswer> answers;
  for (std::size_t i = 0; i < targets; ++i) {
    routing::UpstreamAnswer answer;
    const bool peer = i == 0 && (flags & 4u) != 0;
    answer.kind = peer ? routing::TargetKind::kPeer : routing::TargetKind::kTrust;
    answer.id = peer ? "broker-b" : kTargets[i];
    core::HttpResponse response;
    response.status = i == 1 && (flags & 32u) != 0 ? 500 : 200;
    response.body = std::string(parts[i % parts.size()]);
    answer.reply = core::Result<core::HttpResponse>(std::move(response));
    answer.latency_ms = static_cast<std::int64_t>(i);
    answers.push_back(std::move(answer));
  }
  return answers;
}

// The release policy of a requester allowed Patients and laboratory Observations, whose patient
// refused HIV-labelled data and anything for RGT.
struct Policy {
  Policy() {
    auto scopes = policy::ScopeSet::Parse(
        {"system/Patient.rs", "system/Encounter.rs",
         "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
         "observation-category|laboratory"});
    Check(scopes.has_value());
    context.requester_ods = "RJ1";
    context.scopes = std::move(*scopes);
    auto labels = policy::SensitivityTable::ParseCsv("http://loinc.org,75622-1,HIV\n");
    Check(labels.has_value());
    table = std::move(*labels);
    for (const std::string_view provision : {
             R"({"type": "deny", "securityLabel": [{"system":
                 "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}]})",
             R"({"type": "deny", "actor": [{"role": {"text": "recipient"}, "reference":
                 {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                 "value": "RGT"}}}]})"}) {
      auto consent = policy::ParseConsentJson(
          R"({"resourceType": "Consent", "id": "c1", "status": "active",
              "scope": {"coding": [{"system":
                "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
              "patient": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": "9434765919"}}, "provision": )" +
          std::string(provision) + "}");
      Check(consent.has_value());
      consents.push_back(std::move(*consent));
    }
    auto made = policy::Pseudonymiser::Create("fuzz-key-fuzz-key-fuzz-key-fuzz-key");
    Check(made.has_value());
    pseudonymiser.emplace(std::move(*made));
    release.request = &context;
    release.consents = &consents;
    release.table = &table;
    release.add_labels = true;
  }
  policy::RequestContext context;
  policy::SensitivityTable table;
  std::vector<policy::Consent> consents;
  std::optional<policy::Pseudonymiser> pseudonymiser;
  policy::ReleasePolicy release;
};

// A searchset whose total counts its match entries and whose every resource other than an
// outcome names the trust it came from in meta.source.
void CheckMerged(const rapidjson::Value& bundle, std::size_t total) {
  Check(bundle.IsObject());
  Check(fhir::FindString(bundle, "resourceType") == "Bundle");
  Check(fhir::FindString(bundle, "type") == "searchset");
  std::size_t matches = 0;
  if (const rapidjson::Value* entries = fhir::FindArray(bundle, "entry")) {
    for (const rapidjson::Value& entry : entries->GetArray()) {
      Check(entry.IsObject());
      const rapidjson::Value* search = fhir::FindObject(entry, "search");
      const auto mode = search != nullptr ? fhir::FindString(*search, "mode") : std::nullopt;
      const rapidjson::Value* resource = fhir::FindObject(entry, "resource");
      Check(resource != nullptr);
      if (mode == "outcome" || fhir::FindString(*resource, "resourceType") == "OperationOutcome") {
        continue;
      }
      if (!mode || *mode == "match") {
        ++matches;
      }
      const rapidjson::Value* meta = fhir::FindObject(*resource, "meta");
      const auto source = meta != nullptr ? fhir::FindString(*meta, "source") : std::nullopt;
      Check(source.has_value() && !source->empty());
    }
  }
  Check(matches == total);
}

void CheckReadsBack(const rapidjson::Value& value) {
  const std::string text = fhir::ToJson(value);
  auto again = fhir::ParseJson(text);
  Check(again.has_value() && fhir::ToJson(*again) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Policy policy;
  if (size == 0 || size > 256 * 1024) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  const std::vector<std::string_view> parts =
      SplitAnswers(std::string_view(reinterpret_cast<const char*>(data), size));

  routing::MergeOptions options;
  options.bundle_id = "req-1";
  options.timestamp = "2026-11-24T00:00:00.000Z";
  routing::TargetOutcome mllp_only;
  mllp_only.id = "R00";
  mllp_only.error = core::MakeError(core::ErrorCode::kUnsupportedMessage, "no FHIR endpoint");
  mllp_only.flag_in_bundle = true;

  const routing::FederatedResult text =
      routing::MergeAnswers(Answers(flags, parts), {mllp_only}, options);
  std::vector<routing::JudgedAnswer> judged;
  for (routing::UpstreamAnswer& answer : Answers(flags, parts)) {
    judged.push_back(routing::JudgeAnswer(std::move(answer), options));
  }
  options.as_document = true;
  routing::FederatedResult merged = routing::MergeJudged(std::move(judged), {mllp_only}, options);
  Check(merged.document != nullptr);
  rapidjson::Document& bundle = merged.document->bundle;
  Check(fhir::ToJson(bundle) == text.bundle_json);
  Check(merged.total == text.total && merged.partial == text.partial);

  auto reread = fhir::ParseJson(text.bundle_json);
  Check(reread.has_value());
  CheckMerged(*reread, text.total);

  // With flag 64 the search was about one patient, so what names another is withheld too.
  policy::ReleasePolicy release = policy.release;
  if ((flags & 64u) != 0) {
    release.patient = "9434765919";
  }
  policy::FilterReport report = policy::FilterBundle(bundle, release);
  if ((flags & 16u) != 0) {
    policy::FilterReport page_report;
    rapidjson::Document page = policy::BuildPage(
        bundle, policy::PageSpec{1, 2, "/fhir/_page?token=T", false}, release, page_report);
    bundle.Swap(page);
  }
  const policy::FilterReport again = policy::FilterBundle(bundle, release);
  Check(again.removed.empty());
  (void)policy::Summarise(report);
  if ((flags & 8u) != 0) {
    (void)policy::Pseudonymise(bundle, bundle.GetAllocator(), *policy.pseudonymiser);
    CheckNoNhsNumberSystem(bundle);
  }
  CheckReadsBack(bundle);
  return 0;
}
