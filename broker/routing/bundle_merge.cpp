#include "broker/routing/bundle_merge.h"

#include <algorithm>
#include <memory>
#include <unordered_set>
#include <utility>

#include <rapidjson/document.h>

#include "adapters/fhir/bundle.h"
#include "adapters/fhir/json.h"
#include "broker/core/nhs_number.h"

namespace tb::routing {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

// One resource or outcome entry taken from an upstream answer.
struct Item {
  std::string source;                    // meta.source after stamping
  std::size_t rank = 0;                  // 0: a trust's own answer; 1 + n: the n-th peer (by id)
  std::size_t answer = 0;                // index into the sorted answers
  rapidjson::Value* entry = nullptr;     // in its answer's Bundle
  rapidjson::Value* resource = nullptr;  // (MergeOptions::as_document moves it out)
  fhir::SearchMode mode = fhir::SearchMode::kMatch;
};

std::string Describe(TargetKind kind, std::string_view id) {
  return (kind == TargetKind::kTrust ? "trust " : "peer broker ") + std::string(id);
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// Sets resource.meta.source, creating meta when absent (or replacing a meta that is not an
// object, which is invalid FHIR anyway).
void SetMetaSource(rapidjson::Value& resource, std::string_view source, Allocator& allocator) {
  // HasMember and operator[], not MemberIterator comparisons (ambiguous in C++20 with clang).
  if (!resource.HasMember("meta")) {
    resource.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), allocator);
  }
  rapidjson::Value& meta = resource["meta"];
  if (!meta.IsObject()) {
    meta.SetObject();
  }
  if (meta.HasMember("source")) {
    meta["source"] = fhir::StringValue(source, allocator);
  } else {
    meta.AddMember("source", fhir::StringValue(source, allocator), allocator);
  }
}

std::optional<fhir::SearchMode> ParseMode(std::string_view mode) {
  if (mode == "match") {
    return fhir::SearchMode::kMatch;
  }
  if (mode == "include") {
    return fhir::SearchMode::kInclude;
  }
  if (mode == "outcome") {
    return fhir::SearchMode::kOutcome;
  }
  return std::nullopt;
}

// The OperationOutcome entry for a target that failed, timed out or could not be asked.
rapidjson::Value MakeTargetOutcome(TargetKind kind, std::string_view id,
                                   fhir::IssueSeverity severity, std::string_view issue_code,
                                   std::string_view text, Allocator& allocator) {
  rapidjson::Value outcome(rapidjson::kObjectType);
  outcome.AddMember("resourceType", "OperationOutcome", allocator);
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("source", fhir::StringValue(id, allocator), allocator);
  outcome.AddMember("meta", meta, allocator);

  rapidjson::Value identifier(rapidjson::kObjectType);
  identifier.AddMember(
      "system",
      fhir::StringValue(kind == TargetKind::kTrust ? core::kOdsCodeSystem : kBrokerIdSystem,
                        allocator),
      allocator);
  identifier.AddMember("value", fhir::StringValue(id, allocator), allocator);
  rapidjson::Value extension(rapidjson::kObjectType);
  extension.AddMember("url", fhir::StringValue(kSourceExtensionUrl, allocator), allocator);
  extension.AddMember("valueIdentifier", identifier, allocator);
  rapidjson::Value extensions(rapidjson::kArrayType);
  extensions.PushBack(extension, allocator);
  outcome.AddMember("extension", extensions, allocator);

  rapidjson::Value issue(rapidjson::kObjectType);
  issue.AddMember("severity", rapidjson::StringRef(fhir::SeverityCode(severity)), allocator);
  issue.AddMember("code", fhir::StringValue(issue_code, allocator), allocator);
  rapidjson::Value details(rapidjson::kObjectType);
  details.AddMember("text", fhir::StringValue(text, allocator), allocator);
  issue.AddMember("details", details, allocator);
  issue.AddMember("diagnostics", fhir::StringValue(text, allocator), allocator);
  rapidjson::Value issues(rapidjson::kArrayType);
  issues.PushBack(issue, allocator);
  outcome.AddMember("issue", issues, allocator);
  return outcome;
}

std::string_view IssueCode(core::ErrorCode code) { return core::Info(code).issue_code; }

// Fills `outcome` and returns the parsed Bundle when the answer can be merged.
// The Bundle is parsed in place in the answer's body, which is moved to `text`.
std::unique_ptr<rapidjson::Document> Judge(UpstreamAnswer& answer, const MergeOptions& options,
                                           TargetOutcome& outcome,
                                           std::unique_ptr<std::string>& text) {
  outcome.kind = answer.kind;
  outcome.id = answer.id;
  outcome.latency_ms = answer.latency_ms;
  const std::string who = Describe(answer.kind, answer.id);
  const auto fail = [&](TargetStatus status, core::ErrorCode code, std::string public_text,
                        std::optional<core::Error> cause = std::nullopt) {
    outcome.status = status;
    // The public text is what the Bundle shows; the cause (transport detail) is for the log.
    outcome.error = core::MakeError(code, std::move(public_text));
    if (cause) {
      outcome.detail = core::Info(cause->code).name;
      outcome.detail += ": ";
      outcome.detail += cause->message;
    }
    return std::unique_ptr<rapidjson::Document>();
  };
  const std::string timeout_text =
      who + " did not answer within " + std::to_string(options.deadline_ms) + " ms";
  if (!answer.reply) {
    if (options.shutting_down) {
      return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable,
                  who + " did not answer before the broker stopped");
    }
    return fail(TargetStatus::kTimedOut, core::ErrorCode::kTimeout, timeout_text);
  }
  core::Result<core::HttpResponse>& reply = *answer.reply;
  if (!reply) {
    if (reply.error().code == core::ErrorCode::kTimeout) {
      return fail(TargetStatus::kTimedOut, core::ErrorCode::kTimeout, timeout_text, reply.error());
    }
    return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable,
                who + " is unavailable", reply.error());
  }
  outcome.http_status = reply->status;
  if (!IsSuccess(reply->status)) {
    return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable,
                who + " answered HTTP " + std::to_string(reply->status));
  }
  const std::string bad_body = who + " did not answer with a FHIR Bundle";
  if (reply->body.size() > options.max_body_bytes) {
    return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable, bad_body,
                core::MakeError(core::ErrorCode::kTooLarge, "answer too large"));
  }
  fhir::JsonLimits limits;
  limits.max_bytes = options.max_body_bytes;
  text = std::make_unique<std::string>(std::move(reply->body));
  core::Result<rapidjson::Document> parsed = fhir::ParseJsonInPlace(*text, limits);
  if (!parsed) {
    return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable, bad_body,
                parsed.error());
  }
  if (!parsed->IsObject() || fhir::FindString(*parsed, "resourceType") != "Bundle") {
    return fail(TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable, bad_body);
  }
  if (const rapidjson::Value* entries = fhir::FindMember(*parsed, "entry");
      entries != nullptr && !entries->IsArray()) {
    return fail(
        TargetStatus::kFailed, core::ErrorCode::kUpstreamUnavailable, bad_body,
        core::MakeError(core::ErrorCode::kInvalidValue, "entry is not an array", "Bundle.entry"));
  }
  outcome.status = TargetStatus::kOk;
  outcome.more_pages = NextPageLink(*parsed).has_value();
  return std::make_unique<rapidjson::Document>(std::move(*parsed));
}

// Takes the entries of a merged answer, stamping meta.source.
void CollectItems(rapidjson::Document& bundle, const TargetOutcome& answer, std::size_t rank,
                  std::size_t answer_index, std::vector<Item>& items) {
  if (!bundle.HasMember("entry") || !bundle["entry"].IsArray()) {
    return;
  }
  Allocator& allocator = bundle.GetAllocator();
  for (rapidjson::Value& entry : bundle["entry"].GetArray()) {
    if (!entry.IsObject() || !entry.HasMember("resource") || !entry["resource"].IsObject()) {
      continue;
    }
    rapidjson::Value& resource = entry["resource"];
    Item item;
    item.rank = rank;
    item.answer = answer_index;
    item.entry = &entry;
    item.resource = &resource;
    std::optional<fhir::SearchMode> mode;
    if (const rapidjson::Value* search = fhir::FindObject(entry, "search")) {
      if (const auto code = fhir::FindString(*search, "mode")) {
        mode = ParseMode(*code);
      }
    }
    const bool outcome_resource = fhir::FindString(resource, "resourceType") == "OperationOutcome";
    item.mode =
        outcome_resource ? fhir::SearchMode::kOutcome : mode.value_or(fhir::SearchMode::kMatch);
    if (answer.kind == TargetKind::kTrust) {
      item.source = answer.id;
    } else {
      const rapidjson::Value* meta = fhir::FindObject(resource, "meta");
      const auto source = meta != nullptr ? fhir::FindString(*meta, "source") : std::nullopt;
      item.source = source && !source->empty() ? std::string(*source) : answer.id;
    }
    SetMetaSource(resource, item.source, allocator);
    items.push_back(std::move(item));
  }
}

// The de-duplication key: source + resourceType/id, or source + the whole JSON without an id.
std::string DedupKey(const Item& item) {
  std::string key = item.source;
  key += '\x1f';
  const auto type = fhir::FindString(*item.resource, "resourceType");
  const auto id = fhir::FindString(*item.resource, "id");
  if (type && id && !id->empty()) {
    key += *type;
    key += '/';
    key += *id;
  } else {
    key += '\x1e';
    key += fhir::ToJson(*item.resource);
  }
  return key;
}

// True when a passed-on OperationOutcome reports a failure or warning (a peer's trust that did
// not answer), so the merged answer is partial too; information issues do not count.
bool FlagsMissingData(const rapidjson::Value& outcome) {
  const rapidjson::Value* issues = fhir::FindArray(outcome, "issue");
  if (issues == nullptr) {
    return false;
  }
  for (const rapidjson::Value& issue : issues->GetArray()) {
    const auto severity = fhir::FindString(issue, "severity");
    if (severity == "fatal" || severity == "error" || severity == "warning") {
      return true;
    }
  }
  return false;
}

// Writes the merged searchset straight from the answers' parsed Bundles: no resource is copied
// into a new document first. Members in fhir::BundleBuilder's order (resourceType, id, type,
// timestamp, total, entry; in an entry fullUrl, resource, search), so the text is the same.
// The entry's search.score when it is a number (the merged entry keeps it), else null.
const rapidjson::Value* NumericScore(const rapidjson::Value& entry) {
  const rapidjson::Value* search = fhir::FindObject(entry, "search");
  const rapidjson::Value* score = search != nullptr ? fhir::FindMember(*search, "score") : nullptr;
  return score != nullptr && score->IsNumber() ? score : nullptr;
}

class SearchsetWriter {
 public:
  SearchsetWriter(const MergeOptions& options, std::size_t total, std::size_t size_hint) {
    text_.reserve(size_hint);
    text_ += '{';
    Member("resourceType", "Bundle");
    if (!options.bundle_id.empty()) {
      Member("id", options.bundle_id);
    }
    Member("type", fhir::BundleTypeCode(fhir::BundleType::kSearchset));
    if (!options.timestamp.empty()) {
      Member("timestamp", options.timestamp);
    }
    text_ += ",\"total\":";
    text_ += std::to_string(total);
  }

  void AddOutcome(const rapidjson::Value& resource) {
    Entry({}, resource, fhir::SearchMode::kOutcome, nullptr);
  }

  void AddItem(const Item& item) {
    Entry(fhir::FindString(*item.entry, "fullUrl").value_or(std::string_view()), *item.resource,
          item.mode, NumericScore(*item.entry));
  }

  std::string Finish() {
    if (entries_open_) {
      text_ += ']';
    }
    text_ += '}';
    return std::move(text_);
  }

 private:
  // A member after the first of an object (resourceType is never the last one written).
  void Member(std::string_view name, std::string_view value) {
    if (text_.back() != '{') {
      text_ += ',';
    }
    fhir::AppendJsonString(text_, name);
    text_ += ':';
    fhir::AppendJsonString(text_, value);
  }

  void Entry(std::string_view full_url, const rapidjson::Value& resource, fhir::SearchMode mode,
             const rapidjson::Value* score) {
    text_ += entries_open_ ? ",{" : ",\"entry\":[{";
    entries_open_ = true;
    if (!full_url.empty()) {
      Member("fullUrl", full_url);
      text_ += ',';
    }
    text_ += "\"resource\":";
    fhir::AppendJson(text_, resource);
    text_ += ",\"search\":{";
    Member("mode", fhir::SearchModeCode(mode));
    if (score != nullptr) {
      text_ += ",\"score\":";
      // As a double, as fhir::BundleBuilder writes it (an integer score is written as 1.0).
      fhir::AppendJson(text_, rapidjson::Value(score->GetDouble()));
    }
    text_ += "}}";
  }

  std::string text_;
  bool entries_open_ = false;
};

// SearchsetWriter's Bundle as a DOM (MergeOptions::as_document), the same members in the same
// order: the resources are moved out of the answers' Bundles, not copied, and fullUrl values
// point into the answers' text, so `bundle` must not outlive the answers (MergedDocument).
class SearchsetBuilder {
 public:
  SearchsetBuilder(const MergeOptions& options, std::size_t total, rapidjson::Document& bundle)
      : bundle_(bundle), allocator_(bundle.GetAllocator()) {
    bundle_.SetObject();
    bundle_.AddMember("resourceType", "Bundle", allocator_);
    if (!options.bundle_id.empty()) {
      bundle_.AddMember("id", fhir::StringValue(options.bundle_id, allocator_), allocator_);
    }
    bundle_.AddMember("type", Ref(fhir::BundleTypeCode(fhir::BundleType::kSearchset)), allocator_);
    if (!options.timestamp.empty()) {
      bundle_.AddMember("timestamp", fhir::StringValue(options.timestamp, allocator_), allocator_);
    }
    bundle_.AddMember("total", rapidjson::Value(static_cast<std::uint64_t>(total)), allocator_);
  }

  void AddOutcome(const rapidjson::Value& resource) {
    rapidjson::Value copy(resource, allocator_);  // deep: `resource` lives in a scratch Document
    Entry({}, copy, fhir::SearchMode::kOutcome, nullptr);
  }

  void AddItem(const Item& item) {
    Entry(fhir::FindString(*item.entry, "fullUrl").value_or(std::string_view()), *item.resource,
          item.mode, NumericScore(*item.entry));
  }

  void Finish() {
    if (entries_.IsArray()) {
      bundle_.AddMember("entry", entries_, allocator_);
    }
  }

 private:
  static rapidjson::Value Ref(std::string_view text) {
    return rapidjson::Value(rapidjson::StringRef(text.data(), text.size()));
  }

  void Entry(std::string_view full_url, rapidjson::Value& resource, fhir::SearchMode mode,
             const rapidjson::Value* score) {
    if (!entries_.IsArray()) {
      entries_.SetArray();
    }
    rapidjson::Value entry(rapidjson::kObjectType);
    if (!full_url.empty()) {
      entry.AddMember("fullUrl", Ref(full_url), allocator_);
    }
    entry.AddMember("resource", resource, allocator_);  // moved
    rapidjson::Value search(rapidjson::kObjectType);
    search.AddMember("mode", Ref(fhir::SearchModeCode(mode)), allocator_);
    if (score != nullptr) {
      search.AddMember("score", rapidjson::Value(score->GetDouble()), allocator_);
    }
    entry.AddMember("search", search, allocator_);
    entries_.PushBack(entry, allocator_);
  }

  rapidjson::Document& bundle_;
  rapidjson::Document::AllocatorType& allocator_;
  rapidjson::Value entries_;
};

bool TargetLess(const TargetOutcome& a, const TargetOutcome& b) {
  if (a.kind != b.kind) {
    return a.kind == TargetKind::kTrust;
  }
  return a.id < b.id;
}

}  // namespace

const char* TargetStatusCode(TargetStatus status) {
  switch (status) {
    case TargetStatus::kOk:
      return "ok";
    case TargetStatus::kFailed:
      return "failed";
    case TargetStatus::kTimedOut:
      return "timeout";
    case TargetStatus::kNotQueried:
      return "not-queried";
  }
  return "failed";
}

std::optional<std::string_view> NextPageLink(const rapidjson::Value& bundle) {
  const rapidjson::Value* links = fhir::FindArray(bundle, "link");
  if (links == nullptr) {
    return std::nullopt;
  }
  for (const rapidjson::Value& link : links->GetArray()) {
    if (link.IsObject() && fhir::FindString(link, "relation") == "next") {
      return fhir::FindString(link, "url").value_or(std::string_view());
    }
  }
  return std::nullopt;
}

JudgedAnswer JudgeAnswer(UpstreamAnswer answer, const MergeOptions& options) {
  JudgedAnswer judged;
  if (answer.reply && *answer.reply) {
    judged.body_bytes = (*answer.reply)->body.size();
  }
  judged.bundle = Judge(answer, options, judged.outcome, judged.text);
  return judged;
}

FederatedResult MergeAnswers(std::vector<UpstreamAnswer> answers,
                             std::vector<TargetOutcome> not_queried, const MergeOptions& options) {
  std::vector<JudgedAnswer> judged;
  judged.reserve(answers.size());
  for (UpstreamAnswer& answer : answers) {
    judged.push_back(JudgeAnswer(std::move(answer), options));
  }
  return MergeJudged(std::move(judged), std::move(not_queried), options);
}

FederatedResult MergeJudged(std::vector<JudgedAnswer> judged,
                            std::vector<TargetOutcome> not_queried, const MergeOptions& options) {
  std::stable_sort(judged.begin(), judged.end(), [](const JudgedAnswer& a, const JudgedAnswer& b) {
    return TargetLess(a.outcome, b.outcome);
  });

  FederatedResult result;
  std::vector<TargetOutcome> outcomes;
  outcomes.reserve(judged.size() + not_queried.size());
  std::vector<Item> items;
  std::size_t peer_rank = 0;
  std::size_t body_bytes = 0;
  for (std::size_t i = 0; i < judged.size(); ++i) {
    body_bytes += judged[i].body_bytes + judged[i].next_pages_bytes;
    const std::size_t rank = judged[i].outcome.kind == TargetKind::kPeer ? ++peer_rank : 0;
    if (judged[i].bundle) {
      CollectItems(*judged[i].bundle, judged[i].outcome, rank, i, items);
      for (JudgedAnswer& page : judged[i].next_pages) {
        CollectItems(*page.bundle, judged[i].outcome, rank, i, items);
      }
    }
    outcomes.push_back(std::move(judged[i].outcome));
  }

  // Resources by source, a trust's own answer before peers', each in its own order.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.source != b.source) {
      return a.source < b.source;
    }
    return a.rank < b.rank;
  });

  std::unordered_set<std::string> seen;
  seen.reserve(items.size());
  std::vector<const Item*> passed_outcomes;
  std::vector<const Item*> resources;
  for (const Item& item : items) {
    if (!seen.insert(DedupKey(item)).second) {
      continue;
    }
    if (item.mode == fhir::SearchMode::kOutcome) {
      passed_outcomes.push_back(&item);
      result.partial = result.partial || FlagsMissingData(*item.resource);
      continue;
    }
    resources.push_back(&item);
    if (item.mode == fhir::SearchMode::kMatch) {
      ++outcomes[item.answer].matches;
      ++result.total;
    }
  }

  for (TargetOutcome& skipped : not_queried) {
    skipped.status = TargetStatus::kNotQueried;
    outcomes.push_back(std::move(skipped));
  }
  std::stable_sort(outcomes.begin(), outcomes.end(), TargetLess);

  // The same entries, written as text or built as a DOM.
  const auto emit = [&](auto& writer) {
    rapidjson::Document scratch;
    for (const TargetOutcome& outcome : outcomes) {
      const bool failed =
          outcome.status == TargetStatus::kFailed || outcome.status == TargetStatus::kTimedOut;
      const bool flagged = outcome.status == TargetStatus::kNotQueried && outcome.flag_in_bundle;
      const bool truncated = outcome.status == TargetStatus::kOk && outcome.more_pages;
      if (!failed && !flagged && !truncated) {
        continue;
      }
      result.partial = true;
      if (truncated) {
        writer.AddOutcome(MakeTargetOutcome(
            outcome.kind, outcome.id, fhir::IssueSeverity::kWarning, "incomplete",
            Describe(outcome.kind, outcome.id) +
                " answered with part of its results; the pages after it are not included",
            scratch.GetAllocator()));
        continue;
      }
      const core::Error error = outcome.error.value_or(
          core::MakeError(core::ErrorCode::kUpstreamUnavailable,
                          Describe(outcome.kind, outcome.id) + " gave no answer"));
      const rapidjson::Value value = MakeTargetOutcome(
          outcome.kind, outcome.id,
          failed ? fhir::IssueSeverity::kWarning : fhir::IssueSeverity::kInformation,
          IssueCode(error.code), error.message, scratch.GetAllocator());
      writer.AddOutcome(value);
    }
    for (const Item* item : passed_outcomes) {
      writer.AddItem(*item);
    }
    for (const Item* item : resources) {
      writer.AddItem(*item);
    }
  };
  if (options.as_document) {
    auto merged = std::make_shared<MergedDocument>();
    SearchsetBuilder builder(options, result.total, merged->bundle);
    emit(builder);
    builder.Finish();
    merged->answers = std::move(judged);  // their Documents stay where they are
    result.document = std::move(merged);
  } else {
    SearchsetWriter writer(options, result.total, body_bytes + 1024);
    emit(writer);
    result.bundle_json = writer.Finish();
  }
  result.targets = std::move(outcomes);
  return result;
}

}  // namespace tb::routing
