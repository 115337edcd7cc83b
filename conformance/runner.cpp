#include "conformance/runner.h"

#include <chrono>
#include <fstream>
#include <iterator>

#include "adapters/fhir/json.h"
#include "conformance/compare.h"
#include "conformance/operation_request.h"
#include "conformance/run_state.h"

namespace tb::conformance {
namespace {

using core::ErrorCode;
using core::MakeError;
using internal::Payload;
using internal::RunState;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// ER7 with any line endings -> canonical "\r" segment terminators.
std::string CanonicalEr7(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    }
    out.push_back(text[i] == '\n' ? '\r' : text[i]);
  }
  while (!out.empty() && out.back() == '\r') {
    out.pop_back();
  }
  out.push_back('\r');
  return out;
}

std::string HeaderLines(const core::HttpHeaders& headers) {
  std::string text;
  for (const auto& [name, value] : headers.fields) {
    text += name + ": " + value + "\n";
  }
  return text;
}

// "Patient/123" from a Location such as "https://host/fhir/Patient/123/_history/1".
std::string IdFromLocation(std::string_view location, std::string_view type) {
  if (const std::size_t history = location.find("/_history"); history != std::string::npos) {
    location = location.substr(0, history);
  }
  const std::size_t slash = location.rfind('/');
  if (slash == std::string_view::npos) {
    return std::string(location);
  }
  const std::string_view before = location.substr(0, slash);
  if (!type.empty() && !before.ends_with(type)) {
    return {};
  }
  return std::string(location.substr(slash + 1));
}

class ScriptRun {
 public:
  ScriptRun(Transport& transport, const RunOptions& options, const TestScript& script)
      : transport_(transport), options_(options), script_(script) {}

  ScriptResult Execute() {
    const Clock::time_point start = Clock::now();
    ScriptResult result;
    result.name = script_.DisplayName();
    result.file = script_.file.string();

    TestResult setup{"setup", "setup", "fixtures and TestScript.setup", {}, {}};
    const Clock::time_point setup_start = Clock::now();
    for (const std::string& name : script_.unsupported) {
      setup.actions.push_back(
          Skipped("script", "TestScript." + name, "unsupported: TestScript." + name));
    }
    LoadFixtures(setup);
    RunActions(script_.setup, setup);
    setup.duration = Since(setup_start);
    const Outcome setup_outcome = setup.Overall();
    const bool setup_failed = setup_outcome == Outcome::kFail || setup_outcome == Outcome::kError;
    result.tests.push_back(std::move(setup));

    for (const Test& test : script_.tests) {
      TestResult outcome{"test", test.name.empty() ? test.id : test.name, test.description, {}, {}};
      const Clock::time_point test_start = Clock::now();
      if (setup_failed) {
        outcome.actions.push_back(Skipped("test", "setup", "not run: setup failed"));
      } else {
        RunActions(test.actions, outcome);
      }
      outcome.duration = Since(test_start);
      result.tests.push_back(std::move(outcome));
    }

    TestResult teardown{"teardown", "teardown", "TestScript.teardown and autodelete", {}, {}};
    const Clock::time_point teardown_start = Clock::now();
    RunActions(script_.teardown, teardown);
    AutoDelete(teardown);
    teardown.duration = Since(teardown_start);
    result.tests.push_back(std::move(teardown));
    result.duration = Since(start);
    return result;
  }

 private:
  static ActionResult Skipped(std::string kind, std::string label, std::string message) {
    ActionResult result;
    result.kind = std::move(kind);
    result.label = std::move(label);
    result.outcome = Outcome::kSkip;
    result.message = std::move(message);
    return result;
  }

  static ActionResult Errored(std::string kind, std::string label, std::string message) {
    ActionResult result = Skipped(std::move(kind), std::move(label), std::move(message));
    result.outcome = Outcome::kError;
    return result;
  }

  void LoadFixtures(TestResult& setup) {
    for (const Fixture& fixture : script_.fixtures) {
      auto payload = LoadFixture(fixture);
      if (!payload) {
        setup.actions.push_back(Errored("fixture", fixture.id, payload.error().message));
        continue;
      }
      state_.sources[fixture.id] = std::move(*payload);
      if (fixture.autocreate) {
        setup.actions.push_back(AutoCreate(fixture));
      }
    }
  }

  core::Result<Payload> LoadFixture(const Fixture& fixture) {
    Payload payload;
    const std::string& reference = fixture.reference;
    if (reference.starts_with("#")) {
      for (const auto& [id, json] : script_.contained) {
        if (id == reference.substr(1)) {
          payload.SetBody(json);
          return payload;
        }
      }
      return MakeError(ErrorCode::kNotFound,
                       "fixture '" + fixture.id + "': no contained resource " + reference);
    }
    if (reference.empty() || reference.find("://") != std::string::npos) {
      return MakeError(
          ErrorCode::kNotFound,
          "fixture '" + fixture.id + "': only contained (#id) and file references are supported");
    }
    const std::filesystem::path file = script_.file.parent_path() / reference;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return MakeError(ErrorCode::kNotFound,
                       "fixture '" + fixture.id + "': cannot read " + file.string());
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (file.extension() == ".json") {
      payload.SetBody(std::move(text));
      if (!payload.json) {
        return MakeError(ErrorCode::kInvalidValue,
                         "fixture '" + fixture.id + "': " + file.string() + " is not JSON");
      }
    } else if (file.extension() == ".hl7" || file.extension() == ".er7") {
      payload.hl7 = true;
      payload.body = CanonicalEr7(text);
    } else {
      // Any other text (a form body for POST _search): as written, without a final newline.
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
      }
      payload.body = std::move(text);
    }
    return payload;
  }

  ActionResult AutoCreate(const Fixture& fixture) {
    Payload& payload = state_.sources[fixture.id];
    std::string type;
    if (payload.json && payload.json->IsObject()) {
      type = std::string(fhir::FindString(*payload.json, "resourceType").value_or(""));
    }
    Operation create;
    create.type_code = "create";
    create.resource = type;
    create.source_id = fixture.id;
    create.label = "autocreate " + fixture.id;
    ActionResult result = RunOperation(create);
    if (result.outcome == Outcome::kPass) {
      if (state_.last_response.status < 200 || state_.last_response.status > 299) {
        result.outcome = Outcome::kFail;
        result.message += " (autocreate needs a 2xx answer)";
        return result;
      }
      std::string id = IdFromLocation(state_.last_response.headers.Get("Location"), type);
      if (id.empty() && state_.last_response.json && state_.last_response.json->IsObject()) {
        id = std::string(fhir::FindString(*state_.last_response.json, "id").value_or(""));
      }
      payload.created_id = id;
    }
    return result;
  }

  void AutoDelete(TestResult& teardown) {
    for (const Fixture& fixture : script_.fixtures) {
      auto it = state_.sources.find(fixture.id);
      if (!fixture.autodelete || it == state_.sources.end() || it->second.created_id.empty()) {
        continue;
      }
      Operation remove;
      remove.type_code = "delete";
      remove.target_id = fixture.id;
      if (it->second.json && it->second.json->IsObject()) {
        remove.resource =
            std::string(fhir::FindString(*it->second.json, "resourceType").value_or(""));
      }
      remove.label = "autodelete " + fixture.id;
      teardown.actions.push_back(RunOperation(remove));
    }
  }

  void RunActions(const std::vector<Action>& actions, TestResult& into) {
    bool operation_skipped = false;
    for (const Action& action : actions) {
      if (action.operation) {
        ActionResult result = RunOperation(*action.operation);
        operation_skipped = result.outcome == Outcome::kSkip;
        into.actions.push_back(std::move(result));
        continue;
      }
      const Assert& assertion = *action.assertion;
      if (operation_skipped && assertion.source_id.empty()) {
        into.actions.push_back(
            Skipped("assert", assertion.label, "not run: the operation before it was skipped"));
        into.actions.back().description = assertion.description;
        continue;
      }
      into.actions.push_back(RunAssert(assertion));
    }
  }

  // Substitutes every ${name}. Errors name the variable, never its value.
  core::Result<std::string> Substitute(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (true) {
      const std::size_t open = text.find("${", pos);
      if (open == std::string_view::npos) {
        out.append(text.substr(pos));
        return out;
      }
      const std::size_t close = text.find('}', open + 2);
      if (close == std::string_view::npos) {
        out.append(text.substr(pos));
        return out;
      }
      out.append(text.substr(pos, open - pos));
      auto value = ResolveVariable(text.substr(open + 2, close - open - 2));
      if (!value) {
        return std::move(value).error();
      }
      out.append(*value);
      pos = close + 1;
    }
  }

  core::Result<std::string> ResolveVariable(std::string_view name) {
    if (auto it = options_.variables.find(std::string(name)); it != options_.variables.end()) {
      return it->second;
    }
    const Variable* variable = nullptr;
    for (const Variable& candidate : script_.variables) {
      if (candidate.name == name) {
        variable = &candidate;
      }
    }
    if (variable == nullptr) {
      return MakeError(ErrorCode::kNotFound, "unknown variable ${" + std::string(name) + "}");
    }
    const Payload* source = nullptr;
    if (!variable->source_id.empty()) {
      source = state_.Find(variable->source_id);
    } else if (state_.have_response) {
      source = &state_.last_response;
    }
    const std::string& expression =
        variable->expression.empty() ? variable->path : variable->expression;
    if (source != nullptr && !expression.empty()) {
      auto items = internal::EvaluateItems(expression, *source);
      if (!items) {
        return MakeError(ErrorCode::kInvalidValue,
                         "variable " + variable->name + ": " + items.error().message);
      }
      if (!items->empty()) {
        return items->front();
      }
    }
    if (source != nullptr && !variable->header_field.empty() &&
        source->headers.Has(variable->header_field)) {
      return std::string(source->headers.Get(variable->header_field));
    }
    if (!variable->default_value.empty()) {
      return variable->default_value;
    }
    return MakeError(
        ErrorCode::kNotFound,
        "variable " + variable->name + " has no value (give --var " + variable->name + "=VALUE)");
  }

  // The id a targetId names: an autocreated fixture's server id, else the resource's id, else
  // the id in a response's Location header.
  std::string TargetResourceId(const std::string& target_id, const std::string& type) {
    const Payload* target = state_.Find(target_id);
    if (target == nullptr) {
      return {};
    }
    if (!target->created_id.empty()) {
      return target->created_id;
    }
    if (target->json && target->json->IsObject()) {
      if (auto id = fhir::FindString(*target->json, "id")) {
        return std::string(*id);
      }
    }
    return IdFromLocation(target->headers.Get("Location"), type);
  }

  ActionResult RunOperation(const Operation& original) {
    ActionResult result;
    result.kind = "operation";
    result.label = original.label.empty() ? original.type_code : original.label;
    result.description = original.description;
    if (!original.unsupported.empty()) {
      std::string names;
      for (const std::string& name : original.unsupported) {
        names += (names.empty() ? "" : ", ") + name;
      }
      result.outcome = Outcome::kSkip;
      result.message = "unsupported: " + names;
      return result;
    }
    Operation op = original;
    for (std::string* field : {&op.url, &op.params, &op.resource}) {
      auto substituted = Substitute(*field);
      if (!substituted) {
        result.outcome = Outcome::kError;
        result.message = substituted.error().message;
        return result;
      }
      *field = std::move(*substituted);
    }
    std::string body;
    bool has_body = false;
    bool body_is_hl7 = false;
    if (!op.source_id.empty()) {
      const Payload* source = state_.Find(op.source_id);
      if (source == nullptr) {
        result.outcome = Outcome::kError;
        result.message = "sourceId '" + op.source_id + "' is no fixture or response";
        return result;
      }
      auto substituted = Substitute(source->body);
      if (!substituted) {
        result.outcome = Outcome::kError;
        result.message = substituted.error().message;
        return result;
      }
      body = std::move(*substituted);
      has_body = true;
      body_is_hl7 = source->hl7;
    }
    if (op.type_code == kHl7v2SendCode) {
      return SendHl7(std::move(result), op, body, has_body && body_is_hl7);
    }
    auto plan = PlanRequest(
        op, transport_.base_url(),
        op.target_id.empty() ? std::string() : TargetResourceId(op.target_id, op.resource),
        has_body);
    if (!plan) {
      result.outcome = Outcome::kError;
      result.message = plan.error().message;
      return result;
    }
    core::HttpHeaders headers;
    headers.Set("Accept", MimeTypeFor(op.accept.empty() ? "json" : op.accept));
    if (has_body) {
      headers.Set("Content-Type", MimeTypeFor(op.content_type.empty() ? "json" : op.content_type));
    }
    for (const RequestHeader& header : op.request_headers) {
      auto value = Substitute(header.value);
      if (!value) {
        result.outcome = Outcome::kError;
        result.message = value.error().message;
        return result;
      }
      headers.Set(header.field, std::move(*value));
    }
    Payload request;
    request.method = plan->method;
    request.url = plan->url;
    request.headers = headers;
    request.SetBody(body);
    result.request = {plan->method + " " + plan->url, HeaderLines(headers), body};
    state_.last_request = request;
    if (!op.request_id.empty()) {
      state_.sources[op.request_id] = request;
    }
    auto response = transport_.Http(plan->method, plan->url, std::move(headers), std::move(body));
    if (!response) {
      result.outcome = Outcome::kError;
      result.message = plan->method + " failed: " + response.error().message;
      return result;
    }
    Payload answer;
    answer.status = response->status;
    answer.headers = response->headers;
    answer.SetBody(response->body);
    result.status = response->status;
    result.response = {"HTTP " + std::to_string(response->status), HeaderLines(response->headers),
                       response->body};
    result.message = plan->method + " -> " + std::to_string(response->status);
    Remember(op, std::move(answer));
    return result;
  }

  ActionResult SendHl7(ActionResult result, const Operation& op, const std::string& message,
                       bool have_message) {
    if (!have_message) {
      result.outcome = Outcome::kError;
      result.message = "hl7v2-send needs sourceId naming an ER7 fixture (a .hl7 file)";
      return result;
    }
    result.request = {"MLLP " + transport_.mllp_endpoint(), {}, message};
    Payload request;
    request.hl7 = true;
    request.method = "MLLP";
    request.url = transport_.mllp_endpoint();
    request.body = message;
    state_.last_request = request;
    if (!op.request_id.empty()) {
      state_.sources[op.request_id] = request;
    }
    auto ack = transport_.Hl7(message);
    if (!ack) {
      result.outcome = Outcome::kError;
      result.message = "MLLP send failed: " + ack.error().message;
      return result;
    }
    Payload answer;
    answer.hl7 = true;
    answer.body = *ack;
    result.response = {"ACK", {}, *ack};
    auto code = internal::EvaluateItems("MSA-1", answer);
    result.message = "MLLP -> " + (code && !code->empty() ? code->front() : std::string("?"));
    Remember(op, std::move(answer));
    return result;
  }

  void Remember(const Operation& op, Payload answer) {
    state_.have_response = true;
    if (!op.response_id.empty()) {
      state_.sources[op.response_id] = answer;
    }
    state_.last_response = std::move(answer);
  }

  ActionResult RunAssert(const Assert& original) {
    Assert assertion = original;
    for (std::string* field : {&assertion.expression, &assertion.path, &assertion.header_field,
                               &assertion.compare_to_source_expression, &assertion.request_url,
                               &assertion.response_code}) {
      auto substituted = Substitute(*field);
      if (!substituted) {
        return Errored("assert", original.label, substituted.error().message);
      }
      *field = std::move(*substituted);
    }
    if (assertion.value) {
      auto substituted = Substitute(*assertion.value);
      if (!substituted) {
        return Errored("assert", original.label, substituted.error().message);
      }
      assertion.value = std::move(*substituted);
    }
    ActionResult result = internal::CheckAssert(assertion, state_);
    if (result.outcome == Outcome::kFail && assertion.warning_only) {
      result.outcome = Outcome::kWarning;
    }
    return result;
  }

  Transport& transport_;
  const RunOptions& options_;
  const TestScript& script_;
  RunState state_;
};

}  // namespace

ScriptResult Runner::Run(const TestScript& script) {
  ScriptRun run(transport_, options_, script);
  return run.Execute();
}

}  // namespace tb::conformance
