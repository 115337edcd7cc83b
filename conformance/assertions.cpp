#include <algorithm>
#include <optional>

#include "adapters/fhir/fhirpath/fhirpath.h"
#include "adapters/fhir/json.h"
#include "adapters/hl7v2/message.h"
#include "conformance/compare.h"
#include "conformance/run_state.h"

namespace tb::conformance::internal {
namespace {

using core::ErrorCode;
using core::MakeError;

// The result of one check inside an assert.
struct Check {
  Outcome outcome = Outcome::kPass;
  std::string message;
  std::string actual;
};

Check Pass(std::string message, std::string actual = {}) {
  return {Outcome::kPass, std::move(message), std::move(actual)};
}
Check Fail(std::string message, std::string actual = {}) {
  return {Outcome::kFail, std::move(message), std::move(actual)};
}
Check Broken(std::string message) { return {Outcome::kError, std::move(message), {}}; }
Check Skip(std::string message) { return {Outcome::kSkip, std::move(message), {}}; }

std::string Joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) {
    text += (text.empty() ? "" : ", ") + item;
  }
  return items.empty() ? "(empty)" : text;
}

std::string Describe(std::string_view what, std::string_view op, std::string_view expected) {
  std::string text(what);
  text += " ";
  text += op.empty() ? "equals" : op;
  if (op != "empty" && op != "notEmpty") {
    text += " '" + std::string(expected) + "'";
  }
  return text;
}

// Applies the operator to what was found and turns it into a Check.
Check Compare(std::string_view what, std::string_view op, const std::vector<std::string>& actual,
              std::string_view expected) {
  auto holds = ApplyOperator(op, actual, expected);
  if (!holds) {
    return Broken(holds.error().message);
  }
  const std::string description = Describe(what, op, expected);
  return *holds ? Pass(description, Joined(actual))
                : Fail(description + " does not hold", Joined(actual));
}

std::vector<std::string> One(std::string_view value) {
  return value.empty() ? std::vector<std::string>{} : std::vector<std::string>{std::string(value)};
}

// Does `actual` hold everything in `minimum`? Objects: every member of minimum (except id and
// meta, which servers assign) present and contained; arrays: every item of minimum contained in
// some item of actual; primitives equal. `missing` receives the first path that is not.
bool ContainsMinimum(const rapidjson::Value& actual, const rapidjson::Value& minimum,
                     const std::string& path, std::string& missing) {
  if (minimum.IsObject()) {
    if (!actual.IsObject()) {
      missing = path;
      return false;
    }
    for (auto it = minimum.MemberBegin(); it != minimum.MemberEnd(); ++it) {
      const std::string_view name = fhir::StringOf(it->name);
      if (path.find('.') == std::string::npos && (name == "id" || name == "meta")) {
        continue;
      }
      const rapidjson::Value* member = fhir::FindMember(actual, name);
      const std::string here = path + "." + std::string(name);
      if (member == nullptr || !ContainsMinimum(*member, it->value, here, missing)) {
        if (missing.empty()) {
          missing = here;
        }
        return false;
      }
    }
    return true;
  }
  if (minimum.IsArray()) {
    if (!actual.IsArray()) {
      missing = path;
      return false;
    }
    std::size_t index = 0;
    for (const rapidjson::Value& wanted : minimum.GetArray()) {
      const bool found =
          std::any_of(actual.Begin(), actual.End(), [&](const rapidjson::Value& item) {
            std::string ignored;
            return ContainsMinimum(item, wanted, path, ignored);
          });
      if (!found) {
        missing = path + "[" + std::to_string(index) + "]";
        return false;
      }
      ++index;
    }
    return true;
  }
  if (actual == minimum) {
    return true;
  }
  missing = path;
  return false;
}

// Expression or path asserts, with or without compareToSource.
Check CheckExpression(const Assert& a, const Payload& subject, const RunState& state) {
  const bool is_path = a.expression.empty();
  const std::string& expression = is_path ? a.path : a.expression;
  if (is_path && !subject.hl7 && (expression.starts_with("/") || expression.starts_with("fhir:"))) {
    return Skip("unsupported: XPath in assert.path (use expression, FHIRPath)");
  }
  if (!a.compare_to_source_id.empty()) {
    const Payload* source = state.Find(a.compare_to_source_id);
    if (source == nullptr) {
      return Broken("compareToSourceId '" + a.compare_to_source_id + "' is no fixture or response");
    }
    std::string source_expression = a.compare_to_source_expression.empty()
                                        ? a.compare_to_source_path
                                        : a.compare_to_source_expression;
    if (source_expression.empty()) {
      source_expression = expression;
    }
    auto expected = EvaluateItems(source_expression, *source);
    if (!expected) {
      return Broken("compareToSourceExpression: " + expected.error().message);
    }
    auto actual = EvaluateItems(expression, subject);
    if (!actual) {
      return Broken(actual.error().message);
    }
    if (a.op == "empty" || a.op == "notEmpty") {
      return Compare(expression, a.op, *actual, {});
    }
    // Equal collections; notEquals is its negation. Other operators compare against the
    // source's first item.
    if (a.op.empty() || a.op == "equals" || a.op == "notEquals") {
      const bool same = *actual == *expected;
      const bool holds = a.op == "notEquals" ? !same : same;
      const std::string description =
          expression + (a.op == "notEquals" ? " differs from " : " equals ") +
          a.compare_to_source_id + " " + source_expression + " (" + Joined(*expected) + ")";
      return holds ? Pass(description, Joined(*actual))
                   : Fail(description + " does not hold", Joined(*actual));
    }
    return Compare(expression, a.op, *actual, expected->empty() ? "" : expected->front());
  }
  if (a.op == "eval" || (!a.value && a.op.empty())) {
    if (subject.hl7) {
      return Skip("unsupported: a v2 path needs a value to compare with");
    }
    auto holds = EvaluateCondition(expression, subject);
    if (!holds) {
      return Broken(holds.error().message);
    }
    return *holds ? Pass(expression + " is true") : Fail(expression + " is not true", "false");
  }
  auto actual = EvaluateItems(expression, subject);
  if (!actual) {
    return Broken(actual.error().message);
  }
  return Compare(expression, a.op, *actual, a.value.value_or(""));
}

Check CheckOne(const Assert& a, const Payload& subject, const RunState& state) {
  const std::string expected = a.value.value_or("");
  if (!a.expression.empty() || !a.path.empty()) {
    return CheckExpression(a, subject, state);
  }
  if (!a.response.empty() || !a.response_code.empty() || !a.resource.empty() ||
      !a.content_type.empty()) {
    if (subject.hl7) {
      return Skip("unsupported on an HL7 v2 ACK: use path MSA-1 (and ERR-3, MSA-3)");
    }
  }
  if (!a.response.empty()) {
    const int code = ResponseCodeFor(a.response);
    if (code == 0) {
      return Broken("unknown response code '" + a.response + "'");
    }
    return Compare("response " + a.response, a.op, One(std::to_string(subject.status)),
                   std::to_string(code));
  }
  if (!a.response_code.empty()) {
    return Compare("HTTP status", a.op, One(std::to_string(subject.status)), a.response_code);
  }
  if (!a.content_type.empty()) {
    return Compare("Content-Type", a.op, One(MediaType(subject.headers.Get("Content-Type"))),
                   MediaType(MimeTypeFor(a.content_type)));
  }
  if (!a.resource.empty()) {
    std::string type;
    if (subject.json && subject.json->IsObject()) {
      type = std::string(fhir::FindString(*subject.json, "resourceType").value_or(""));
    }
    return Compare("resourceType", a.op, One(type), a.resource);
  }
  if (!a.header_field.empty()) {
    if (subject.hl7) {
      return Skip("unsupported on an HL7 v2 ACK: headerField");
    }
    const bool present = subject.headers.Has(a.header_field);
    std::vector<std::string> actual;
    if (present) {
      actual.emplace_back(subject.headers.Get(a.header_field));
    }
    const std::string op = a.op.empty() && !a.value ? "notEmpty" : a.op;
    return Compare("header " + a.header_field, op, actual, expected);
  }
  if (!a.request_method.empty()) {
    std::string wanted = a.request_method;
    std::transform(wanted.begin(), wanted.end(), wanted.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return Compare("request method", a.op, One(state.last_request.method), wanted);
  }
  if (!a.request_url.empty()) {
    return Compare("request URL", a.op, One(state.last_request.url), a.request_url);
  }
  if (!a.minimum_id.empty()) {
    const Payload* minimum = state.Find(a.minimum_id);
    if (minimum == nullptr || !minimum->json) {
      return Broken("minimumId '" + a.minimum_id + "' is no JSON fixture or response");
    }
    if (!subject.json) {
      return Fail("minimumId " + a.minimum_id + ": the body is not JSON");
    }
    std::string missing;
    const bool holds = ContainsMinimum(*subject.json, *minimum->json, "", missing);
    if (a.op == "notEquals" ? holds : !holds) {
      return Fail("minimumId " + a.minimum_id + " not met", missing.empty() ? "" : missing);
    }
    return Pass("minimumId " + a.minimum_id + " met");
  }
  return Skip("unsupported: the assert checks nothing the runner knows");
}

}  // namespace

void Payload::SetBody(std::string text) {
  body = std::move(text);
  json.reset();
  const std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (body[first] == '{' || body[first] == '[')) {
    auto parsed = fhir::ParseJson(body);
    if (parsed) {
      json = std::make_shared<const rapidjson::Document>(std::move(*parsed));
    }
  }
}

const Payload* RunState::Find(std::string_view id) const {
  auto it = sources.find(id);
  return it == sources.end() ? nullptr : &it->second;
}

core::Result<std::vector<std::string>> EvaluateItems(std::string_view expression,
                                                     const Payload& payload) {
  if (payload.hl7) {
    auto message = hl7v2::Message::Parse(payload.body);
    if (!message) {
      return MakeError(ErrorCode::kInvalidValue,
                       "the HL7 v2 message does not parse: " + message.error().message);
    }
    if (!hl7v2::ParsePath(expression)) {
      return MakeError(ErrorCode::kInvalidValue,
                       "not an HL7 v2 path (like MSA-1 or ERR-3.1): " + std::string(expression));
    }
    return One(message->Get(expression).Decoded());
  }
  if (!payload.json) {
    return MakeError(ErrorCode::kInvalidValue, "the body is not JSON");
  }
  auto items = fhirpath::Evaluate(expression, *payload.json);
  if (!items) {
    return MakeError(
        ErrorCode::kInvalidValue,
        "FHIRPath '" + std::string(expression) + "': " + items.error().message +
            (items.error().location.empty() ? std::string() : " at " + items.error().location));
  }
  std::vector<std::string> strings;
  strings.reserve(items->size());
  for (const fhirpath::Value& item : *items) {
    strings.push_back(fhirpath::ToString(item));
  }
  return strings;
}

core::Result<bool> EvaluateCondition(std::string_view expression, const Payload& payload) {
  if (!payload.json) {
    return MakeError(ErrorCode::kInvalidValue, "the body is not JSON");
  }
  auto holds = fhirpath::EvaluateBoolean(expression, *payload.json);
  if (!holds) {
    return MakeError(ErrorCode::kInvalidValue,
                     "FHIRPath '" + std::string(expression) + "': " + holds.error().message);
  }
  return *holds;
}

ActionResult CheckAssert(const Assert& assertion, const RunState& state) {
  ActionResult result;
  result.kind = "assert";
  result.label = assertion.label;
  result.description = assertion.description;
  if (!assertion.unsupported.empty()) {
    std::string names;
    for (const std::string& name : assertion.unsupported) {
      names += (names.empty() ? "" : ", ") + name;
    }
    result.outcome = Outcome::kSkip;
    result.message = "unsupported: " + names;
    return result;
  }
  const Payload* subject = nullptr;
  if (!assertion.source_id.empty()) {
    subject = state.Find(assertion.source_id);
    if (subject == nullptr) {
      result.outcome = Outcome::kError;
      result.message = "sourceId '" + assertion.source_id + "' is no fixture or response";
      return result;
    }
  } else if (assertion.direction == "request") {
    subject = &state.last_request;
  } else {
    if (!state.have_response) {
      result.outcome = Outcome::kFail;
      result.message = "no response to check (no operation got an answer)";
      return result;
    }
    subject = &state.last_response;
  }
  Check check = CheckOne(assertion, *subject, state);
  result.outcome = check.outcome;
  result.message = std::move(check.message);
  result.actual = std::move(check.actual);
  return result;
}

}  // namespace tb::conformance::internal
