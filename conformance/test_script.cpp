#include "conformance/test_script.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <system_error>

#include "adapters/fhir/json.h"

namespace tb::conformance {
namespace {

using core::ErrorCode;
using core::MakeError;

std::string Str(const rapidjson::Value& object, std::string_view name) {
  return std::string(fhir::FindString(object, name).value_or(std::string_view()));
}

bool Bool(const rapidjson::Value& object, std::string_view name, bool fallback) {
  const rapidjson::Value* member = fhir::FindMember(object, name);
  return member != nullptr && member->IsBool() ? member->GetBool() : fallback;
}

// Members of `object` that are not in `known` (and not id/extension, which carry no behaviour).
template <std::size_t N>
std::vector<std::string> UnknownMembers(const rapidjson::Value& object,
                                        const std::array<std::string_view, N>& known) {
  std::vector<std::string> unknown;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    const std::string_view name = fhir::StringOf(it->name);
    if (name == "id" || name == "extension" ||
        std::find(known.begin(), known.end(), name) != known.end()) {
      continue;
    }
    unknown.emplace_back(name);
  }
  return unknown;
}

constexpr std::array<std::string_view, 16> kOperationMembers = {
    "type",        "resource",         "label",    "description", "accept",
    "contentType", "encodeRequestUrl", "method",   "params",      "requestHeader",
    "requestId",   "responseId",       "sourceId", "targetId",    "url",
    "destination"};

constexpr std::array<std::string_view, 20> kAssertMembers = {"label",
                                                             "description",
                                                             "direction",
                                                             "compareToSourceId",
                                                             "compareToSourceExpression",
                                                             "compareToSourcePath",
                                                             "contentType",
                                                             "expression",
                                                             "headerField",
                                                             "minimumId",
                                                             "operator",
                                                             "path",
                                                             "requestMethod",
                                                             "requestURL",
                                                             "resource",
                                                             "response",
                                                             "responseCode",
                                                             "sourceId",
                                                             "value",
                                                             "warningOnly"};

Operation ReadOperation(const rapidjson::Value& json) {
  Operation op;
  if (const rapidjson::Value* type = fhir::FindObject(json, "type")) {
    op.type_system = Str(*type, "system");
    op.type_code = Str(*type, "code");
  }
  op.resource = Str(json, "resource");
  op.label = Str(json, "label");
  op.description = Str(json, "description");
  op.accept = Str(json, "accept");
  op.content_type = Str(json, "contentType");
  op.encode_request_url = Bool(json, "encodeRequestUrl", true);
  op.method = Str(json, "method");
  op.params = Str(json, "params");
  if (const rapidjson::Value* headers = fhir::FindArray(json, "requestHeader")) {
    for (const rapidjson::Value& header : headers->GetArray()) {
      op.request_headers.push_back({Str(header, "field"), Str(header, "value")});
    }
  }
  op.request_id = Str(json, "requestId");
  op.response_id = Str(json, "responseId");
  op.source_id = Str(json, "sourceId");
  op.target_id = Str(json, "targetId");
  op.url = Str(json, "url");
  op.unsupported = UnknownMembers(json, kOperationMembers);
  return op;
}

Assert ReadAssert(const rapidjson::Value& json) {
  Assert a;
  a.label = Str(json, "label");
  a.description = Str(json, "description");
  a.direction = Str(json, "direction");
  a.compare_to_source_id = Str(json, "compareToSourceId");
  a.compare_to_source_expression = Str(json, "compareToSourceExpression");
  a.compare_to_source_path = Str(json, "compareToSourcePath");
  a.content_type = Str(json, "contentType");
  a.expression = Str(json, "expression");
  a.header_field = Str(json, "headerField");
  a.minimum_id = Str(json, "minimumId");
  a.op = Str(json, "operator");
  a.path = Str(json, "path");
  a.request_method = Str(json, "requestMethod");
  a.request_url = Str(json, "requestURL");
  a.resource = Str(json, "resource");
  a.response = Str(json, "response");
  a.response_code = Str(json, "responseCode");
  a.source_id = Str(json, "sourceId");
  if (auto value = fhir::FindString(json, "value")) {
    a.value = std::string(*value);
  }
  a.warning_only = Bool(json, "warningOnly", false);
  a.unsupported = UnknownMembers(json, kAssertMembers);
  // navigationLinks: false asks for nothing.
  a.unsupported.erase(std::remove_if(a.unsupported.begin(), a.unsupported.end(),
                                     [&json](const std::string& name) {
                                       return name == "navigationLinks" &&
                                              !Bool(json, "navigationLinks", false);
                                     }),
                      a.unsupported.end());
  return a;
}

core::Result<std::vector<Action>> ReadActions(const rapidjson::Value& owner,
                                              const std::string& location) {
  std::vector<Action> actions;
  const rapidjson::Value* array = fhir::FindArray(owner, "action");
  if (array == nullptr) {
    return actions;
  }
  std::size_t index = 0;
  for (const rapidjson::Value& json : array->GetArray()) {
    const std::string here = location + ".action[" + std::to_string(index++) + "]";
    Action action;
    if (const rapidjson::Value* op = fhir::FindObject(json, "operation")) {
      action.operation = ReadOperation(*op);
    } else if (const rapidjson::Value* as = fhir::FindObject(json, "assert")) {
      action.assertion = ReadAssert(*as);
    } else {
      return MakeError(ErrorCode::kInvalidValue, "an action needs an operation or an assert", here);
    }
    actions.push_back(std::move(action));
  }
  return actions;
}

core::Result<std::string> ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kNotFound, "cannot read " + path.string());
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::string TestScript::DisplayName() const {
  if (!title.empty()) {
    return title;
  }
  if (!name.empty()) {
    return name;
  }
  if (!id.empty()) {
    return id;
  }
  return file.filename().string();
}

core::Result<TestScript> ParseTestScript(std::string_view json, const std::filesystem::path& file) {
  auto document = fhir::ParseJson(json);
  if (!document) {
    return MakeError(ErrorCode::kInvalidValue,
                     file.string() + ": not JSON (" + document.error().message + ")",
                     document.error().location);
  }
  const rapidjson::Value& root = *document;
  if (!root.IsObject() || fhir::FindString(root, "resourceType") != "TestScript") {
    return MakeError(ErrorCode::kInvalidValue, file.string() + ": not a TestScript resource",
                     "resourceType");
  }
  TestScript script;
  script.file = file;
  script.id = Str(root, "id");
  script.name = Str(root, "name");
  script.title = Str(root, "title");
  if (const rapidjson::Value* variables = fhir::FindArray(root, "variable")) {
    for (const rapidjson::Value& v : variables->GetArray()) {
      script.variables.push_back({Str(v, "name"), Str(v, "defaultValue"), Str(v, "expression"),
                                  Str(v, "path"), Str(v, "headerField"), Str(v, "sourceId")});
    }
  }
  if (const rapidjson::Value* fixtures = fhir::FindArray(root, "fixture")) {
    for (const rapidjson::Value& f : fixtures->GetArray()) {
      Fixture fixture{Str(f, "id"), {}, Bool(f, "autocreate", false), Bool(f, "autodelete", false)};
      if (const rapidjson::Value* resource = fhir::FindObject(f, "resource")) {
        fixture.reference = Str(*resource, "reference");
      }
      script.fixtures.push_back(std::move(fixture));
    }
  }
  if (const rapidjson::Value* contained = fhir::FindArray(root, "contained")) {
    for (const rapidjson::Value& resource : contained->GetArray()) {
      script.contained.emplace_back(Str(resource, "id"), fhir::ToJson(resource));
    }
  }
  if (const rapidjson::Value* setup = fhir::FindObject(root, "setup")) {
    auto actions = ReadActions(*setup, "TestScript.setup");
    if (!actions) {
      return std::move(actions).error();
    }
    script.setup = std::move(*actions);
  }
  if (const rapidjson::Value* tests = fhir::FindArray(root, "test")) {
    std::size_t index = 0;
    for (const rapidjson::Value& t : tests->GetArray()) {
      Test test{Str(t, "id"), Str(t, "name"), Str(t, "description"), {}};
      auto actions = ReadActions(t, "TestScript.test[" + std::to_string(index++) + "]");
      if (!actions) {
        return std::move(actions).error();
      }
      test.actions = std::move(*actions);
      script.tests.push_back(std::move(test));
    }
  }
  if (const rapidjson::Value* teardown = fhir::FindObject(root, "teardown")) {
    auto actions = ReadActions(*teardown, "TestScript.teardown");
    if (!actions) {
      return std::move(actions).error();
    }
    script.teardown = std::move(*actions);
  }
  if (fhir::FindMember(root, "modifierExtension") != nullptr) {
    script.unsupported.emplace_back("modifierExtension");
  }
  return script;
}

core::Result<std::vector<TestScript>> LoadSuite(const std::filesystem::path& path) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file() && it->path().extension() == ".json") {
        files.push_back(it->path());
      }
    }
    std::sort(files.begin(), files.end());
  } else if (std::filesystem::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return MakeError(ErrorCode::kNotFound, "no such suite: " + path.string());
  }
  const bool folder = files.size() != 1 || files[0] != path;
  std::vector<TestScript> scripts;
  for (const std::filesystem::path& file : files) {
    auto text = ReadFileText(file);
    if (!text) {
      return std::move(text).error();
    }
    if (folder) {
      // Fixtures live beside the scripts: only files that say they are TestScripts are run.
      auto document = fhir::ParseJson(*text);
      if (document && document->IsObject() &&
          fhir::FindString(*document, "resourceType") != "TestScript") {
        continue;
      }
    }
    auto script = ParseTestScript(*text, file);
    if (!script) {
      return std::move(script).error();
    }
    scripts.push_back(std::move(*script));
  }
  if (scripts.empty()) {
    return MakeError(ErrorCode::kNotFound, "no TestScript in " + path.string());
  }
  return scripts;
}

}  // namespace tb::conformance
