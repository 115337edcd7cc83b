#include "conformance/operation_request.h"

#include <algorithm>
#include <cctype>

namespace tb::conformance {
namespace {

std::string Upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string Join(std::string_view base, std::string_view path) {
  if (path.empty()) {
    return std::string(base);
  }
  if (path.front() == '/' || path.front() == '?') {
    return std::string(base) + std::string(path);
  }
  return std::string(base) + "/" + std::string(path);
}

}  // namespace

core::Result<PlannedRequest> PlanRequest(const Operation& operation, std::string_view base_url,
                                         std::string_view target_id, bool has_body) {
  const std::string& code = operation.type_code;
  const std::string& type = operation.resource;
  const std::string& params = operation.params;
  PlannedRequest plan;
  std::string path;
  std::string method;
  auto by_id = [&]() -> core::Result<std::string> {
    if (!params.empty()) {
      return type + params;
    }
    if (target_id.empty()) {
      return core::MakeError(core::ErrorCode::kInvalidValue,
                             "operation '" + code + "' needs params or a targetId with an id",
                             "operation.params");
    }
    return type + "/" + std::string(target_id);
  };
  if (code == "read" || code == "vread") {
    method = "GET";
  } else if (code == "search") {
    method = "GET";
    path = type + params;
  } else if (code == "create") {
    method = "POST";
    path = type + params;
  } else if (code == "update") {
    method = "PUT";
  } else if (code == "patch") {
    method = "PATCH";
  } else if (code == "delete") {
    method = "DELETE";
  } else if (code == "history") {
    method = "GET";
    path = !params.empty()      ? type + params
           : !target_id.empty() ? type + "/" + std::string(target_id) + "/_history"
                                : type + "/_history";
  } else if (code == "capabilities") {
    method = "GET";
    path = "metadata";
  } else if (code == "transaction" || code == "batch") {
    method = "POST";
  } else if (!code.empty()) {
    method = has_body ? "POST" : "GET";
    path = type.empty() ? std::string() : type + "/";
    if (!target_id.empty()) {
      path += std::string(target_id) + "/";
    }
    path += "$" + code + params;
  } else if (operation.url.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidValue, "an operation needs a type or a url",
                           "operation.type");
  }
  if (code == "read" || code == "vread" || code == "update" || code == "patch" ||
      code == "delete") {
    if (operation.url.empty()) {
      auto id_path = by_id();
      if (!id_path) {
        return std::move(id_path).error();
      }
      path = std::move(*id_path);
    }
  }
  if (!operation.url.empty()) {
    const std::string& url = operation.url;
    plan.url =
        url.starts_with("https://") || url.starts_with("http://") ? url : Join(base_url, url);
  } else {
    plan.url = Join(base_url, path);
  }
  if (method.empty()) {
    method = has_body ? "POST" : "GET";
  }
  plan.method = operation.method.empty() ? method : Upper(operation.method);
  if (operation.encode_request_url) {
    plan.url = EncodeRequestUrl(plan.url);
  }
  return plan;
}

std::string EncodeRequestUrl(std::string_view url) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(url.size());
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unsafe = byte <= 0x20 || byte >= 0x7F || c == '|' || c == '"' || c == '<' ||
                        c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '}';
    if (unsafe) {
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace tb::conformance
